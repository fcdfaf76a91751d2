"""Message-to-COMPLETE latency of a trivial actor vs the raw Docker lifecycle.

Baseline, measured in the same run on the same image: docker SDK
create/start/wait/logs/remove. Ours: POST a message with
``_abaco_synchronous=true`` (it answers the moment the execution is COMPLETE)
through the real API, Redis, RQ and a spawner. Prints both and the ratio.

    python bench/dispatch.py [--runs 30] [--image actors/echo:latest]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors_core.tokens import mint  # noqa: E402
from tests.integration.platform import (ApiClient, ApiServer, RedisServer,  # noqa: E402
                                        SpawnerProcess, platform_environment)


def raw_lifecycle(client, image: str) -> float:
    started = time.perf_counter()
    container = client.containers.create(image, environment={"MSG": "bench"})
    container.start()
    container.wait()
    container.logs()
    container.remove(force=True)
    return time.perf_counter() - started


def ours(api: ApiClient, actor_id: str) -> float:
    started = time.perf_counter()
    response = api.post(f"/actors/{actor_id}/messages", data={"message": "bench"},
                        params={"_abaco_synchronous": "true"})
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or "Contents of MSG: bench" not in response.text:
        raise RuntimeError(f"unexpected answer {response.status_code}: {response.text[:200]}")
    return elapsed


def measure(call, runs: int, parallel: int) -> dict:
    call()  # warm-up
    started = time.perf_counter()
    if parallel == 1:
        samples = [call() for _ in range(runs)]
    else:
        with ThreadPoolExecutor(parallel) as pool:
            samples = list(pool.map(lambda _: call(), range(runs)))
    wall = time.perf_counter() - started
    return {"median": statistics.median(samples), "mean": statistics.fmean(samples),
            "p90": sorted(samples)[int(0.9 * (len(samples) - 1))], "throughput": runs / wall}


def report(label: str, raw: dict, mine: dict) -> None:
    print(f"\n{label}")
    print(f"  {'':24}{'median s':>10}{'mean s':>10}{'p90 s':>10}{'per s':>8}")
    for name, row in (("raw docker lifecycle", raw), ("actors message->COMPLETE", mine)):
        print(f"  {name:24}{row['median']:>10.3f}{row['mean']:>10.3f}{row['p90']:>10.3f}"
              f"{row['throughput']:>8.2f}")
    print(f"  ratio (ours / raw): median {mine['median'] / raw['median']:.2f}x, "
          f"mean {mine['mean'] / raw['mean']:.2f}x, throughput {raw['throughput'] / mine['throughput']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--image", default="actors/echo:latest")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

    docker_client = docker.from_env()
    with tempfile.TemporaryDirectory() as workdir:
        workdir = Path(workdir)
        redis = RedisServer(workdir)
        environment = platform_environment(redis.url, workdir, ACTORS_SYNC_TIMEOUT=120)
        api_server = ApiServer(environment)
        spawner = SpawnerProcess(environment, name="bench", slots=4, log_path=workdir / "spawner.log")
        try:
            api = ApiClient(api_server.url, mint(api_server.config, "bench", roles=("privileged",)))
            actor = api.create_actor(args.image, max_workers=4)
            api.wait_actor(actor["id"])
            for parallel in (1, 4):
                raw = measure(lambda: raw_lifecycle(docker_client, args.image), args.runs, parallel)
                mine = measure(lambda: ours(api, actor["id"]), args.runs, parallel)
                report(f"{args.image}, {args.runs} runs, parallelism {parallel}", raw, mine)
        finally:
            spawner.stop()
            api_server.stop()
            redis.stop()


if __name__ == "__main__":
    main()
