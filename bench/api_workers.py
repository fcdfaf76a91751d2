"""POST /messages throughput of the API under gunicorn with 1 and with 2 worker processes.

Two gunicorn servers (``-k gthread --threads 16``, ``-w 1`` and ``-w 2``) on one private
redis-server take turns (blocks in swapped order: 1 2, 2 1, ...); in each block
``--posters`` client processes post form messages for ``--seconds`` to an actor whose queue
no spawner serves (so only the API and Redis are measured). Prints every block with the
load average, each side's messages per second as median (min-max), and the ratio.

    python bench/api_workers.py [--rounds 4] [--seconds 4] [--posters 4]

The clients run on the same machine and take CPU from the servers: on a 2-core machine
the figures are a floor, not the API's capacity on a host of its own.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors_core.config import Config  # noqa: E402
from actors_core.tokens import mint  # noqa: E402
from bench.common import interleaved, load, spread, start_gunicorn  # noqa: E402
from tests.integration.platform import RedisServer, platform_environment  # noqa: E402


def poster(url: str, token: str, actor_id: str, until: float, counts, number: int) -> None:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        while time.time() < until:
            answer = session.post(f"{url}/actors/{actor_id}/messages", data={"message": "b"},
                                  timeout=30)
            answer.raise_for_status()
            counts[number] += 1


def block(url: str, token: str, actor_id: str, posters: int, seconds: float) -> float:
    counts = multiprocessing.Array("l", posters)
    until = time.time() + seconds
    processes = [multiprocessing.Process(target=poster, args=(url, token, actor_id, until,
                                                              counts, n))
                 for n in range(posters)]
    started = time.time()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    return sum(counts) / (time.time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--posters", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        workdir = Path(workdir)
        redis = RedisServer(workdir)
        environment = platform_environment(redis.url, workdir)
        token = mint(Config(jwt_secret=environment["ACTORS_JWT_SECRET"]), "bench",
                     roles=("admin",))
        servers = {}
        try:
            for workers in (1, 2):
                folder = workdir / f"w{workers}"
                folder.mkdir()
                servers[workers] = start_gunicorn(environment, folder, workers=workers)
            url = servers[1][1]
            actor = requests.post(f"{url}/actors", json={"image": "actors/echo",
                                                         "queue": "bench-unserved"},
                                  headers={"Authorization": f"Bearer {token}"},
                                  timeout=30).json()["result"]
            for workers, (_, url) in servers.items():  # warm-up: every worker imported
                block(url, token, actor["id"], args.posters, 1.0)
            print(f"{args.posters} posting processes, {args.seconds} s blocks; {load()}")
            rates = {1: [], 2: []}
            for number, workers in interleaved(args.rounds, (1, 2)):
                rate = block(servers[workers][1], token, actor["id"], args.posters, args.seconds)
                rates[workers].append(rate)
                print(f"  round {number + 1}: -w {workers}: {rate:7.1f} msg/s   "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(30)
            redis.stop()
    for workers, values in rates.items():
        print(f"gunicorn -w {workers}: {spread(values, '{:.1f}')} msg/s")
    ratios = [b / a for a, b in zip(rates[1], rates[2])]
    print(f"-w 2 / -w 1: {spread(ratios)}; median {statistics.median(ratios):.2f}")
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
