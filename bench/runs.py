"""Runs: how long a big run takes to be accepted, and how fast its status reads while it runs.

The API runs as in production (gunicorn gthread, 1 process, 16 threads) over a private
redis-server. Each repetition:

1. POST /runs with ``--items`` items over a 3-stage pipeline (a -> b -> c): the time of
   the request as the client sees it;
2. reads ``GET /runs/{id}?limit=0`` (status and counts) and ``GET /runs/{id}`` (the first
   100 items with every stage) while the run is idle (A) and while it runs (B), in
   alternating order (A B, then B A, ...), so drift on a shared machine hits both alike.

"While it runs" is simulated spawners, in ``--drivers`` processes: the same store calls a
spawner makes (submit the ready stages as the advance job does, claim, ask the run, finish),
without containers, so every stage of every item goes through the run's transitions. The
rate they reach is printed too. Prints each repetition, medians with min-max spread, and
the machine's load.

    python bench/runs.py [--reps 5] [--items 1000] [--reads 100] [--seconds 4] [--drivers 2]

Targets: accepted in well under a second; the status read in a few milliseconds, and not
much slower while the run moves.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from actors_core.config import Config  # noqa: E402
from actors_core.tokens import mint  # noqa: E402
from status_feed import start_gunicorn  # noqa: E402
from tests.integration.platform import RedisServer, platform_environment  # noqa: E402


def drive(redis_url: str, run_id: str, actor_ids: list, stop, finished) -> None:
    """A simulated spawner: submit what is ready, claim, start, finish, as fast as it can."""
    from actors_core.enums import ExecutionStatus
    from actors_core.store import Store

    config = Config(redis_url=redis_url, jwt_secret="bench-" * 8)
    store = Store.from_config(config)
    store.timeline.identify("spawner", f"bench-{os.getpid()}")
    name = f"bench-{os.getpid()}"
    while not stop.is_set():
        store.runs.submit_fresh(run_id)
        moved = 0
        for actor_id in actor_ids:
            eid = store.executions.claim_next(actor_id, name, f"{actor_id}-1")
            if eid is None:
                continue
            record = store.executions.get_internal(eid)
            if store.runs.stage_starting(record) is None:
                store.executions.finish(record, ExecutionStatus.COMPLETE, 600, exit_code=0)
            else:
                store.executions.finish(record, ExecutionStatus.COMPLETE, 600)
            moved += 1
            with finished.get_lock():
                finished.value += 1
        if not moved:
            if store.runs.get(run_id)["status"] != "RUNNING":
                return
            time.sleep(0.01)


def timed_get(session, url: str) -> float:
    started = time.perf_counter()
    answer = session.get(url, timeout=30)
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200, answer.text
    return elapsed * 1000


def reads(session, base: str, run_id: str, count: int, seconds: float) -> tuple:
    """``count`` status reads and a quarter as many 100-item pages, spread over ``seconds``."""
    pause = seconds / (count * 1.25)
    counts, pages = [], []
    for number in range(count):
        counts.append(timed_get(session, f"{base}/runs/{run_id}?limit=0"))
        time.sleep(pause)
        if number % 4 == 0:
            pages.append(timed_get(session, f"{base}/runs/{run_id}"))
            time.sleep(pause)
    return counts, pages


def spread(values: list) -> str:
    return (f"median {statistics.median(values):7.1f}  (min {min(values):.1f}, "
            f"max {max(values):.1f})")


def p95(values: list) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=100)
    parser.add_argument("--drivers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0, help="Each block of reads.")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-runs-"))
    redis = RedisServer(workdir)
    environment = platform_environment(redis.url, workdir, ACTORS_METRICS="0")
    gunicorn, base = start_gunicorn(environment, workdir, threads=16)
    config = Config(redis_url=redis.url, jwt_secret=environment["ACTORS_JWT_SECRET"])
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {mint(config, 'bench', roles=('admin',))}"
    queue = f"bench-{uuid.uuid4().hex[:6]}"  # no spawner serves it: only API, Redis, drivers
    actors = [session.post(f"{base}/actors", json={"image": "bench", "queue": queue},
                           timeout=30).json()["result"]["id"] for _ in range(3)]
    body = {"stages": [{"name": "a", "actor": actors[0]},
                       {"name": "b", "actor": actors[1], "needs": ["a"]},
                       {"name": "c", "actor": actors[2], "needs": ["b"]}],
            "items": [{"STUDENT": f"s{n:05d}", "SCORE": n % 100} for n in range(args.items)],
            "env": {"COURSE": "cs241"}}
    print(f"{args.items} items x 3 stages, {args.reps} repetitions, {args.drivers} simulated "
          f"spawner(s); load before: {os.getloadavg()[0]:.2f}")
    accepted, idle_counts, idle_pages, busy_counts, busy_pages, rates = [], [], [], [], [], []
    try:
        for rep in range(args.reps):
            started = time.perf_counter()
            answer = session.post(f"{base}/runs", json=body, timeout=60)
            accepted.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, answer.text
            run_id = answer.json()["result"]["id"]
            order = ("idle", "busy") if rep % 2 == 0 else ("busy", "idle")
            line = [f"rep {rep + 1}: accepted in {accepted[-1]:6.1f} ms"]
            for phase in order:
                if phase == "idle":
                    counts, pages = reads(session, base, run_id, args.reads, args.seconds)
                    idle_counts += counts
                    idle_pages += pages
                    line.append(f"idle read {statistics.median(counts):5.1f} ms "
                                f"(100 items {statistics.median(pages):5.1f})")
                    continue
                stop, finished = multiprocessing.Event(), multiprocessing.Value("i", 0)
                drivers = [multiprocessing.Process(target=drive, args=(
                    redis.url, run_id, actors, stop, finished)) for _ in range(args.drivers)]
                for driver in drivers:
                    driver.start()
                while finished.value == 0:  # the first stage is being submitted
                    time.sleep(0.05)
                began, before = time.perf_counter(), finished.value
                counts, pages = reads(session, base, run_id, args.reads, args.seconds)
                rate = (finished.value - before) / (time.perf_counter() - began)
                stop.set()
                for driver in drivers:
                    driver.join(30)
                busy_counts += counts
                busy_pages += pages
                rates.append(rate)
                line.append(f"busy read {statistics.median(counts):5.1f} ms "
                            f"(100 items {statistics.median(pages):5.1f}) at {rate:5.0f} "
                            "executions/s")
            print("  ".join(line))
        print()
        print(f"POST /runs ({args.items} x 3) ms:        {spread(accepted)}")
        print(f"GET /runs/{{id}}?limit=0 idle ms:     {spread(idle_counts)}  p95 "
              f"{p95(idle_counts):.1f}")
        print(f"GET /runs/{{id}}?limit=0 running ms:  {spread(busy_counts)}  p95 "
              f"{p95(busy_counts):.1f}")
        print(f"GET /runs/{{id}} (100 items) idle:    {spread(idle_pages)}")
        print(f"GET /runs/{{id}} (100 items) running: {spread(busy_pages)}")
        print(f"simulated spawners moved {statistics.median(rates):.0f} executions/s (median) "
              "while the reads ran")
        print(f"load after: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    finally:
        gunicorn.terminate()
        gunicorn.wait(10)
        redis.stop()


if __name__ == "__main__":
    main()
