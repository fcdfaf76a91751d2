"""Message-to-COMPLETE latency of a trivial actor vs the raw Docker lifecycle, interleaved.

Baseline, in the same run on the same image: docker SDK create/start/wait/logs, timed up
to the moment the output is read; ``remove()`` follows untimed, as ours removes its
container after the record says COMPLETE. Ours: POST a message with
``_abaco_synchronous=true`` (it answers the moment the execution is COMPLETE, with its
output) through the real API, Redis and a spawner. Blocks of each side alternate in
swapped order (raw, ours, ours, raw, ...) so drift in the machine's load falls on both;
every figure is the median over the blocks with its range, beside the load average.

    python bench/dispatch.py [--runs 10] [--rounds 4] [--image actors/echo:latest]
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors_core.tokens import mint  # noqa: E402
from bench.common import interleaved, load, spread  # noqa: E402
from tests.integration.platform import (ApiClient, ApiServer, RedisServer,  # noqa: E402
                                        SpawnerProcess, platform_environment)


def raw_lifecycle(client, image: str) -> tuple:
    """(seconds to the output, finished time): the same end point as ours."""
    started = time.perf_counter()
    container = client.containers.create(image, environment={"MSG": "bench"})
    container.start()
    container.wait()
    output = container.logs()
    finished = time.perf_counter()
    container.remove(force=True)  # untimed, but before this worker's next run
    assert b"Contents of MSG: bench" in output, output[:200]
    return finished - started, finished


def ours(api: ApiClient, actor_id: str) -> tuple:
    started = time.perf_counter()
    response = api.post(f"/actors/{actor_id}/messages", data={"message": "bench"},
                        params={"_abaco_synchronous": "true"})
    finished = time.perf_counter()
    if response.status_code != 200 or "Contents of MSG: bench" not in response.text:
        raise RuntimeError(f"unexpected answer {response.status_code}: {response.text[:200]}")
    return finished - started, finished


def block(call, runs: int, parallel: int) -> dict:
    """``runs`` calls at ``parallel`` at once: median latency and throughput to the last end."""
    started = time.perf_counter()
    if parallel == 1:
        results = [call() for _ in range(runs)]
    else:
        with ThreadPoolExecutor(parallel) as pool:
            results = list(pool.map(lambda _: call(), range(runs)))
    latencies = [latency for latency, _ in results]
    return {"median": statistics.median(latencies),
            "throughput": runs / (max(end for _, end in results) - started)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="calls per block")
    parser.add_argument("--rounds", type=int, default=4, help="blocks of each side")
    parser.add_argument("--image", default="actors/echo:latest")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

    docker_client = docker.from_env()
    with tempfile.TemporaryDirectory() as workdir:
        workdir = Path(workdir)
        redis = RedisServer(workdir)
        environment = platform_environment(redis.url, workdir, ACTORS_SYNC_TIMEOUT=120)
        api_server = ApiServer(environment)
        spawner = SpawnerProcess(environment, name="bench", slots=4,
                                 log_path=workdir / "spawner.log")
        try:
            api = ApiClient(api_server.url, mint(api_server.config, "bench",
                                                 roles=("privileged",)))
            actor = api.create_actor(args.image, max_workers=4)
            api.wait_actor(actor["id"])
            sides = {"raw": lambda: raw_lifecycle(docker_client, args.image),
                     "ours": lambda: ours(api, actor["id"])}
            for parallel in (1, 4):
                for call in sides.values():  # warm-up
                    block(call, parallel, parallel)
                results, loads = {"raw": [], "ours": []}, [os.getloadavg()[0]]
                for _, side in interleaved(args.rounds, ("raw", "ours")):
                    results[side].append(block(sides[side], args.runs, parallel))
                    loads.append(os.getloadavg()[0])
                print(f"\n{args.image}, parallelism {parallel}: {args.rounds} blocks of "
                      f"{args.runs} per side, interleaved; 1-min load "
                      f"{spread(loads, '{:.1f}')}")
                for side in ("raw", "ours"):
                    name = ("raw docker create..logs" if side == "raw"
                            else "actors message->COMPLETE")
                    print(f"  {name:26} median latency "
                          f"{spread([r['median'] for r in results[side]], '{:.3f}')} s, "
                          f"{spread([r['throughput'] for r in results[side]])} per s")
                latency = [o["median"] / r["median"]
                           for o, r in zip(results["ours"], results["raw"])]
                throughput = [o["throughput"] / r["throughput"]
                              for o, r in zip(results["ours"], results["raw"])]
                print(f"  ratio ours/raw: latency {spread(latency)}, throughput "
                      f"{spread(throughput)} (pairs of adjacent blocks)")
        finally:
            spawner.stop()
            api_server.stop()
            redis.stop()
    print(f"\nafter: {load()}")


if __name__ == "__main__":
    main()
