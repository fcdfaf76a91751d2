"""POST /actors/{id}/messages throughput and latency, against a minimal Flask app doing one LPUSH.

Both apps run under the same gunicorn settings (the Dockerfile's: actors_api.gunicorn_config,
the actors_api.gunicorn_worker.ThreadWorker class, one worker per core, 16 threads) on one
private redis-server. wrk drives them in alternate blocks (ours then the baseline, the
baseline then ours, ...) for several rounds, so both see the same machine; each block prints
requests/s, p50, p99 and the load average, and each scenario ends with the ratio
ours/baseline of every round (median and spread). With --route, ours also runs with the fast
lane off (every post through Flask's request machinery, as the baseline's) as a third side.

Scenarios, in this order:
  empty    a fresh actor
  queued   the same actor with --queued messages (default 1,000,000) waiting in its mailbox
           (loaded through the real submit script, pipelined)
  listing  as 'queued', while a client reads that actor's execution listing in a loop
           (the default page, as an Abaco client gets it; --listing-limit 1000 asks for the
           largest page a request may have)

Needs wrk (Debian: apt-get install wrk) and redis-server; nothing runs the messages (no
spawner), so the mailbox only grows. Targets (issue 15): ours >= 0.8x the baseline's
requests/s and p99 < 20 ms, flat with a million messages queued and during a listing.

    python bench/accept.py [--rounds 5] [--seconds 5] [--connections 16] [--queued 1000000]
                           [--route] [--scenarios empty,queued,listing] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis as redis_lib
import requests

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from bench.common import children, cpu_seconds  # noqa: E402
from actors_core.config import Config  # noqa: E402
from actors_core.ids import new_id  # noqa: E402
from actors_core.store import Store  # noqa: E402
from actors_core.tokens import mint  # noqa: E402
from tests.integration.platform import RedisServer, free_port  # noqa: E402

SECRET = "bench-accept-secret-0123456789abcdef0123"


class Gunicorn:
    """One app under gunicorn with the settings both apps share."""

    def __init__(self, name: str, app: str, args, environment: dict, pythonpath: str = None):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # the production settings (Dockerfile): the config (metrics across workers) and the
        # JSON-refusing gthread worker, for the baseline too
        command = [sys.executable, "-m", "gunicorn", "-c", "python:actors_api.gunicorn_config",
                   "--bind", f"127.0.0.1:{self.port}", "--workers", str(args.workers),
                   "--worker-class", "actors_api.gunicorn_worker.ThreadWorker",
                   "--threads", str(args.gthreads), "--log-level", "warning"]
        if pythonpath:
            command += ["--pythonpath", pythonpath]
        self.process = subprocess.Popen(command + [app], env=environment, cwd=REPO,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn for {name} did not start")

    def pids(self) -> list:
        """The master and its worker processes."""
        return [self.process.pid, *children(self.process.pid)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def run_wrk(args, url: str, token: str) -> dict:
    environment = dict(os.environ, BENCH_TOKEN=token)
    done = subprocess.run(
        ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{args.seconds}s",
         "-s", str(BENCH / "wrk_post.lua"), url],
        env=environment, capture_output=True, text=True, timeout=args.seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH "):
            result = json.loads(line[len("BENCH "):])
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            return result
    raise RuntimeError(f"wrk printed no result: {done.stdout} {done.stderr}")


class Listing:
    """A client reading an actor's execution listing over and over, while the blocks run."""

    def __init__(self, url: str, token: str, limit: int):
        self.url, self.limit = url, limit
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.seconds, self.sizes = [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            started = time.perf_counter()
            params = {"limit": self.limit} if self.limit else {}
            response = self.session.get(self.url, params=params, timeout=120)
            self.seconds.append(time.perf_counter() - started)
            self.sizes.append(len(response.content))
            response.raise_for_status()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(180)
        return False


def cpu_of(pids) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def interleaved(args, label: str, sides: dict, ours_path: str, token: str, redis=None,
                redis_pid: int = None):
    """Blocks of each side in turn (A B C, C B A, ...); per round, each of ours' ratios to the
    baseline (and Redis's own time per command, which the machine's load hardly moves)."""
    rows, ratios = [], {name: [] for name in sides if name != "baseline"}
    if redis is not None:
        redis.config_resetstat()
    print(f"\n== {label}: {args.rounds} rounds of {args.seconds} s blocks, "
          f"{args.connections} connections")
    print(f"{'round':>5} {'app':>8} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'non2xx':>6} "
          f"{'load 1m':>7} {'app CPU us/req':>14} {'redis us/req':>12}")
    for number in range(args.rounds):
        order = list(sides.items())
        if number % 2:
            order = order[::-1]
        round_results = {}
        for name, server in order:
            path = "/actors/bench/messages" if name == "baseline" else ours_path
            pids = server.pids()
            before = cpu_of(pids), cpu_of([redis_pid] if redis_pid else [])
            result = run_wrk(args, server.url + path, token)
            after = cpu_of(pids), cpu_of([redis_pid] if redis_pid else [])
            result["load"] = os.getloadavg()[0]
            # CPU per request (what the load moves least): the app's processes, and Redis
            result["app_cpu_us"] = (after[0] - before[0]) / max(result["requests"], 1) * 1e6
            result["redis_cpu_us"] = (after[1] - before[1]) / max(result["requests"], 1) * 1e6
            round_results[name] = result
            rows.append((number, name, result))
            print(f"{number + 1:>5} {name:>8} {result['rps']:>9.0f} {result['p50_us'] / 1000:>7.2f} "
                  f"{result['p99_us'] / 1000:>7.2f} {result['non2xx'] + result['socket_errors']:>6} "
                  f"{result['load']:>7.2f} {result['app_cpu_us']:>14.0f} "
                  f"{result['redis_cpu_us']:>12.0f}", flush=True)
        for name in ratios:
            ratio = round_results[name]["rps"] / round_results["baseline"]["rps"]
            ratios[name].append(ratio)
            print(f"{'':>5} {name + '/base':>8} {ratio:>9.2f}x   (load {os.getloadavg()[0]:.2f})",
                  flush=True)
    ours_rows = [r for _, name, r in rows if name == "ours"]
    base_rows = [r for _, name, r in rows if name == "baseline"]
    everything = [r for _, _, r in rows]
    summary = {
        "scenario": label,
        "ratio_median": statistics.median(ratios["ours"]), "ratio_min": min(ratios["ours"]),
        "ratio_max": max(ratios["ours"]),
        "ours_rps_median": statistics.median(r["rps"] for r in ours_rows),
        "base_rps_median": statistics.median(r["rps"] for r in base_rows),
        "ours_p50_ms_median": statistics.median(r["p50_us"] for r in ours_rows) / 1000,
        "ours_p99_ms_median": statistics.median(r["p99_us"] for r in ours_rows) / 1000,
        "ours_p99_ms_max": max(r["p99_us"] for r in ours_rows) / 1000,
        "base_p50_ms_median": statistics.median(r["p50_us"] for r in base_rows) / 1000,
        "base_p99_ms_median": statistics.median(r["p99_us"] for r in base_rows) / 1000,
        "ours_app_cpu_us_median": statistics.median(r["app_cpu_us"] for r in ours_rows),
        "base_app_cpu_us_median": statistics.median(r["app_cpu_us"] for r in base_rows),
        "ours_redis_cpu_us_median": statistics.median(r["redis_cpu_us"] for r in ours_rows),
        "base_redis_cpu_us_median": statistics.median(r["redis_cpu_us"] for r in base_rows),
        "errors": sum(r["non2xx"] + r["socket_errors"] for r in everything),
        "load_min": min(r["load"] for r in everything),
        "load_max": max(r["load"] for r in everything),
    }
    if "route" in ratios:
        route_rows = [r for _, name, r in rows if name == "route"]
        summary.update(route_ratio_median=statistics.median(ratios["route"]),
                       route_ratio_min=min(ratios["route"]), route_ratio_max=max(ratios["route"]),
                       route_rps_median=statistics.median(r["rps"] for r in route_rows),
                       route_p99_ms_median=statistics.median(r["p99_us"] for r in route_rows) / 1000)
    if redis is not None:
        stats = redis.info("commandstats")
        for command in ("evalsha", "lpush"):
            summary[f"redis_{command}_us"] = stats.get(f"cmdstat_{command}", {}).get("usec_per_call")
        print(f"   Redis's own time per call: the submit script (EVALSHA) "
              f"{summary['redis_evalsha_us']} us, the baseline's LPUSH {summary['redis_lpush_us']} us")
    print(f"{label}: ours/baseline {summary['ratio_median']:.2f}x (spread "
          f"{summary['ratio_min']:.2f}-{summary['ratio_max']:.2f}); ours "
          f"{summary['ours_rps_median']:.0f} req/s p50 {summary['ours_p50_ms_median']:.2f} ms "
          f"p99 {summary['ours_p99_ms_median']:.2f} ms (max {summary['ours_p99_ms_max']:.2f}); "
          f"baseline {summary['base_rps_median']:.0f} req/s p50 {summary['base_p50_ms_median']:.2f} "
          f"ms p99 {summary['base_p99_ms_median']:.2f} ms; load {summary['load_min']:.1f}-"
          f"{summary['load_max']:.1f}", flush=True)
    print(f"{label}: CPU per request, app + Redis: ours {summary['ours_app_cpu_us_median']:.0f} + "
          f"{summary['ours_redis_cpu_us_median']:.0f} us, baseline "
          f"{summary['base_app_cpu_us_median']:.0f} + {summary['base_redis_cpu_us_median']:.0f} us",
          flush=True)
    if "route" in ratios:
        print(f"{label}: route (fast lane off)/baseline {summary['route_ratio_median']:.2f}x "
              f"(spread {summary['route_ratio_min']:.2f}-{summary['route_ratio_max']:.2f}), "
              f"{summary['route_rps_median']:.0f} req/s p99 {summary['route_p99_ms_median']:.2f} ms",
              flush=True)
    return summary


def preload(store: Store, actor_id: str, count: int) -> None:
    actor = store.actors.get_internal(actor_id)
    started, done, step = time.monotonic(), 0, 50_000
    while done < count:
        chunk = min(step, count - done)
        done += store.executions.submit_many(actor, ({
            "id": new_id(), "executor": "bench", "content_type": "application/json",
            "environment": {}} for _ in range(chunk)), b'{"n": 1}', batch=1000)
        print(f"   queued {done:,} in {time.monotonic() - started:.0f} s", flush=True)
    used = store.redis.info("memory")["used_memory_human"]
    print(f"   {store.executions.queued_count(actor_id):,} messages waiting; redis uses {used}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk block")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count(),
                        help="gunicorn workers (both apps; default one per core)")
    parser.add_argument("--gthreads", type=int, default=16, help="gunicorn threads per worker")
    parser.add_argument("--queued", type=int, default=1_000_000)
    parser.add_argument("--listing-limit", type=int, default=0,
                        help="page size the listing client asks for (0: none, the default page)")
    parser.add_argument("--scenarios", default="empty,queued,listing")
    parser.add_argument("--route", action="store_true",
                        help="also run ours with the fast lane off (ACTORS_FAST_LANE=0): every "
                             "post through Flask's request machinery")
    parser.add_argument("--json", help="also write the summaries to this file")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("bench/accept.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    scenarios = args.scenarios.split(",")

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}; "
          f"hiredis: {redis_lib.utils.HIREDIS_AVAILABLE}; gunicorn -w {args.workers} "
          f"-k ThreadWorker --threads {args.gthreads}; wrk -t{args.wrk_threads} -c{args.connections}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-accept-"))
    redis_server = RedisServer(workdir)
    environment = dict(os.environ, ACTORS_REDIS_URL=redis_server.url, ACTORS_JWT_SECRET=SECRET,
                       PYTHONPATH=str(REPO))
    servers = []
    try:
        ours = Gunicorn("ours", "actors_api:create_app()", args, environment)
        servers.append(ours)
        sides = {"ours": ours}
        if args.route:
            route = Gunicorn("route", "actors_api:create_app()", args,
                             dict(environment, ACTORS_FAST_LANE="0"))
            servers.append(route)
            sides["route"] = route
        base = Gunicorn("baseline", "minimal_app:create_app()", args, environment,
                        pythonpath=str(BENCH))
        servers.append(base)
        sides["baseline"] = base
        config = Config(jwt_secret=SECRET, redis_url=redis_server.url)
        store = Store(redis_lib.Redis.from_url(redis_server.url), config)
        token = mint(config, "bench", ttl=6 * 3600)
        created = requests.post(ours.url + "/actors", json={"image": "actors/echo"},
                                headers={"Authorization": f"Bearer {token}"}, timeout=30)
        created.raise_for_status()
        actor_id = created.json()["result"]["id"]
        path = f"/actors/{actor_id}/messages"
        summaries = []
        if "empty" in scenarios:
            summaries.append(interleaved(args, "empty", sides, path, token, store.redis,
                                         redis_server.process.pid))
        if "queued" in scenarios or "listing" in scenarios:
            print(f"\n-- queueing {args.queued:,} messages for actor {actor_id}")
            preload(store, actor_id, args.queued)
        if "queued" in scenarios:
            summaries.append(interleaved(args, f"queued ({args.queued:,})", sides, path, token,
                                         store.redis, redis_server.process.pid))
        if "listing" in scenarios:
            url = f"{ours.url}/actors/{actor_id}/executions"
            with Listing(url, token, args.listing_limit) as listing:
                summary = interleaved(args, f"queued ({args.queued:,}) + listing", sides,
                                      path, token, store.redis, redis_server.process.pid)
            summary["listing_requests"] = len(listing.seconds)
            summary["listing_ms_median"] = statistics.median(listing.seconds) * 1000
            summary["listing_ms_max"] = max(listing.seconds) * 1000
            summary["listing_bytes"] = statistics.median(listing.sizes)
            print(f"   the listing client read {len(listing.seconds)} pages of "
                  f"{args.listing_limit or 'default size'} "
                  f"({summary['listing_bytes'] / 1024:.0f} KiB each): median "
                  f"{summary['listing_ms_median']:.0f} ms, max {summary['listing_ms_max']:.0f} ms")
            summaries.append(summary)
        print("\nsummary")
        for summary in summaries:
            ok = summary["ratio_median"] >= 0.8 and summary["ours_p99_ms_median"] < 20
            print(f"  {summary['scenario']:<32} {summary['ratio_median']:.2f}x "
                  f"({summary['ratio_min']:.2f}-{summary['ratio_max']:.2f}), p99 "
                  f"{summary['ours_p99_ms_median']:.1f} ms, load {summary['load_min']:.1f}-"
                  f"{summary['load_max']:.1f}: {'meets' if ok else 'misses'} the target")
        if args.json:
            Path(args.json).write_text(json.dumps(summaries, indent=2))
    finally:
        for server in servers:
            server.stop()
        redis_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
