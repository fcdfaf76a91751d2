"""Posting throughput alone vs while clients read the status feed live.

The API runs as in production: gunicorn's gthread worker (1 process, 16
threads) over a private redis-server. Posters send messages to one actor
(whose queue no spawner serves, so only the API and Redis are measured);
readers, in another process, follow the actor's status feed over SSE (each
event the posts create reaches every reader) and, optionally, poll
executions' ``?since=`` pages. Blocks of posting alone (A) and posting while
reading (B) are interleaved in swapped order (A B, B A, A B ...), so drift on a
shared machine hits both alike; each pair gives a ratio B/A. Prints every block
with the load average, the median ratio with its spread, the events the
readers got, and the machine's load.

    python bench/status_feed.py [--pairs 5] [--seconds 4] [--posters 4] [--readers 4]

Target: the median ratio is at least 0.90 (posting within 10% of posting alone).
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from actors_core.config import Config  # noqa: E402
from actors_core.tokens import mint  # noqa: E402
from tests.integration.platform import (RedisServer, free_port,  # noqa: E402
                                        platform_environment)


def start_gunicorn(environment: dict, workdir: Path, threads: int):
    port = free_port()
    log = open(workdir / "gunicorn.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", str(threads), "-w", "1",
         "-b", f"127.0.0.1:{port}", "actors_api:create_app()"],
        env=environment, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(url + "/actors", timeout=5)
            return process, url
        except requests.RequestException:  # not listening yet, or still importing the app
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start; see {workdir / 'gunicorn.log'}")
            time.sleep(0.2)


def post_block(url: str, token: str, actor_id: str, posters: int, seconds: float) -> tuple:
    """(messages per second, execution ids) over one block."""
    stop = time.monotonic() + seconds
    counts, ids = [0] * posters, []

    def poster(number: int) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {token}"
            while time.monotonic() < stop:
                response = session.post(f"{url}/actors/{actor_id}/messages",
                                        data={"message": "bench"}, timeout=30)
                response.raise_for_status()
                counts[number] += 1
                if counts[number] % 50 == 1:
                    ids.append(response.json()["result"]["execution_id"])

    started = time.monotonic()
    threads = [threading.Thread(target=poster, args=(n,)) for n in range(posters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started), ids


def reader_process(url: str, token: str, actor_id: str, readers: int, pollers: int,
                   execution_ids: list, stop, received, poll_seconds: float) -> None:
    """Follow the actor feed over SSE (``readers`` streams) and poll execution pages.

    The SSE readers count frames without decoding them and resume with
    ``Last-Event-ID`` when a stream closes (as EventSource does): a cheap client,
    so what is measured is the server's cost, not this machine's JSON parsing.
    """
    import re

    last_id = re.compile(rb"id: (\d+)\n(?!.*id: )", re.S)
    headers = {"Authorization": f"Bearer {token}"}

    def sse(number: int) -> None:
        position = requests.get(f"{url}/actors/{actor_id}/status", params={"limit": 1},
                                headers=headers, timeout=30).json()["result"]["head"]
        with requests.Session() as session:
            while not stop.is_set():
                with session.get(f"{url}/actors/{actor_id}/status", stream=True, timeout=30,
                                 headers={**headers, "Accept": "text/event-stream",
                                          "Last-Event-ID": str(position)}) as response:
                    for chunk in response.raw.stream(65536, decode_content=False):
                        frames = chunk.count(b"\nid: ") + chunk.startswith(b"id: ")
                        if frames:
                            with received.get_lock():
                                received.value += frames
                            match = last_id.search(chunk)
                            if match:
                                position = int(match.group(1))
                        if stop.is_set():
                            return

    def poll(number: int) -> None:
        with requests.Session() as session:
            session.headers.update(headers)
            index = number
            while not stop.wait(poll_seconds):
                eid = execution_ids[index % len(execution_ids)]
                index += 1
                page = session.get(f"{url}/actors/{actor_id}/executions/{eid}/status",
                                   params={"since": 0}, timeout=30).json()["result"]
                with received.get_lock():
                    received.value += len(page["events"])

    threads = [threading.Thread(target=sse, args=(n,), daemon=True) for n in range(readers)]
    threads += [threading.Thread(target=poll, args=(n,), daemon=True) for n in range(pollers)]
    for thread in threads:
        thread.start()
    stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--posters", type=int, default=4)
    parser.add_argument("--readers", type=int, default=4, help="SSE followers of the actor feed")
    parser.add_argument("--pollers", type=int, default=2, help="clients polling ?since= pages")
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="each poller's interval")
    parser.add_argument("--threads", type=int, default=16, help="gunicorn gthread threads")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        workdir = Path(workdir)
        redis = RedisServer(workdir)
        environment = platform_environment(redis.url, workdir)
        server, url = start_gunicorn(environment, workdir, args.threads)
        token = mint(Config(jwt_secret=environment["ACTORS_JWT_SECRET"]), "bench",
                     roles=("admin",))
        try:
            actor = requests.post(f"{url}/actors", json={"image": "actors/echo",
                                                         "queue": "bench-unserved"},
                                  headers={"Authorization": f"Bearer {token}"},
                                  timeout=30).json()["result"]
            _, warm_ids = post_block(url, token, actor["id"], args.posters, 1.0)  # warm-up
            load_before = os.getloadavg()
            alone, reading, ratios, delivered = [], [], [], []
            for pair in range(args.pairs):
                def alone_block():
                    return post_block(url, token, actor["id"], args.posters, args.seconds)[0]

                def reading_block():
                    stop = multiprocessing.Event()
                    received = multiprocessing.Value("l", 0)
                    reader = multiprocessing.Process(target=reader_process, args=(
                        url, token, actor["id"], args.readers, args.pollers, warm_ids, stop,
                        received, args.poll_seconds))
                    reader.start()
                    time.sleep(0.5)  # the readers are connected and have caught up
                    before = received.value
                    rate, _ = post_block(url, token, actor["id"], args.posters, args.seconds)
                    got = received.value - before
                    stop.set()
                    reader.join(timeout=10)
                    if reader.is_alive():
                        reader.terminate()
                    delivered.append(got / args.seconds)
                    return rate

                if pair % 2 == 0:  # A B, then B A: neither side always goes first
                    rate_a, rate_b = alone_block(), reading_block()
                else:
                    rate_b = reading_block()
                    rate_a = alone_block()
                alone.append(rate_a)
                reading.append(rate_b)
                ratios.append(rate_b / rate_a)
                print(f"pair {pair + 1}: alone {rate_a:7.1f} msg/s   while reading {rate_b:7.1f} "
                      f"msg/s   ratio {rate_b / rate_a:.3f}   "
                      f"readers got {delivered[-1]:8.0f} events/s   "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
            load_after = os.getloadavg()
        finally:
            server.terminate()
            server.wait(30)
            redis.stop()

    median = statistics.median(ratios)
    print()
    print(f"posting alone:        {statistics.fmean(alone):7.1f} msg/s "
          f"(sd {statistics.pstdev(alone):.1f})")
    print(f"posting while reading: {statistics.fmean(reading):7.1f} msg/s "
          f"(sd {statistics.pstdev(reading):.1f}); readers: {args.readers} SSE + "
          f"{args.pollers} pollers, {statistics.fmean(delivered):.0f} events/s delivered")
    print(f"ratio while reading / alone: median {median:.3f}, min {min(ratios):.3f}, "
          f"max {max(ratios):.3f} over {len(ratios)} interleaved pairs (order swapped each pair)")
    print(f"machine: {os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after")
    print(f"target (within 10%): {'met' if median >= 0.90 else 'NOT met'}")


if __name__ == "__main__":
    main()
