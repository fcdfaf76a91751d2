"""What the metrics cost on the hot path: POST /actors/{id}/messages with and without them.

Two apps on one redis-server, the same in every way but ``ACTORS_METRICS`` (request timing
and the messages-accepted counter, or neither), take turns: each round posts the same number
of form messages to each, the order swapped every round, so drift in the machine's load
falls on both. Prints messages per second of each round, the with/without ratio (median,
min, max) and the load average before and after.

    python bench/metrics_overhead.py [--rounds 12] [--messages 300] [--transport http|wsgi]

``http``: each app behind a real threaded HTTP server (what a client sees); ``wsgi``: Flask's
test client in this process, no sockets (the app's own time only, so the difference shows
more).
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors_core.tokens import mint  # noqa: E402
from tests.integration.platform import ApiServer, RedisServer, platform_environment  # noqa: E402


class Target:
    """One app and a way to post to it."""

    def __init__(self, label: str, environment: dict, transport: str):
        self.label = label
        self.server = ApiServer(environment)
        token = mint(self.server.config, "bench", roles=("admin",))
        self.headers = {"Authorization": f"Bearer {token}"}
        if transport == "http":
            self.session = requests.Session()
            self.post = lambda path, **kw: self.session.post(self.server.url + path,
                                                             headers=self.headers, **kw)
        else:
            client = self.server.app.test_client()
            self.post = lambda path, **kw: client.post(path, headers=self.headers, **kw)
        answer = self.post("/actors", json={"image": "bench/none", "queue": "bench-nowhere"})
        self.actor_id = answer.json()["result"]["id"] if transport == "http" else \
            answer.json["result"]["id"]

    def round(self, messages: int) -> float:
        """Messages per second over ``messages`` sequential posts."""
        path = f"/actors/{self.actor_id}/messages"
        started = time.perf_counter()
        for number in range(messages):
            answer = self.post(path, data={"message": str(number)})
            assert answer.status_code == 200, answer.status_code
        return messages / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--transport", choices=("http", "wsgi"), default="http")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    workdir = Path(tempfile.mkdtemp(prefix="metrics-bench-"))
    redis = RedisServer(workdir)
    try:
        base = platform_environment(redis.url, workdir)
        with_metrics = Target("with metrics", dict(base, ACTORS_METRICS="1"), args.transport)
        without = Target("without", dict(base, ACTORS_METRICS="0"), args.transport)
        for target in (with_metrics, without):  # warm up
            target.round(min(50, args.messages))
        load_before = os.getloadavg()
        rates = {with_metrics.label: [], without.label: []}
        ratios = []
        for number in range(args.rounds):
            order = (with_metrics, without) if number % 2 == 0 else (without, with_metrics)
            measured = {target.label: target.round(args.messages) for target in order}
            for label, rate in measured.items():
                rates[label].append(rate)
            ratios.append(measured[with_metrics.label] / measured[without.label])
            print(f"round {number + 1:2d}: with {measured[with_metrics.label]:7.1f}/s  "
                  f"without {measured[without.label]:7.1f}/s  ratio {ratios[-1]:.3f}")
        load_after = os.getloadavg()
        for label, values in rates.items():
            print(f"{label:>13}: median {statistics.median(values):7.1f} msg/s "
                  f"(min {min(values):.1f}, max {max(values):.1f})")
        print(f"with/without throughput: median {statistics.median(ratios):.3f} "
              f"(min {min(ratios):.3f}, max {max(ratios):.3f}) over {args.rounds} rounds of "
              f"{args.messages} messages, transport {args.transport}")
        print(f"load average (1, 5, 15 min): before {load_before[0]:.2f} {load_before[1]:.2f} "
              f"{load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} "
              f"{load_after[2]:.2f}; {os.cpu_count()} CPUs")
        with_metrics.server.stop()
        without.server.stop()
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
