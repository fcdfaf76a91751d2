"""Warm actors: message-to-COMPLETE latency and executions/s against the cold path and the floor.

A trivial actor (actors/warm-echo: prints two lines) in each form, sequentially and from 8
clients at once, through the whole platform (gunicorn API, Redis, a spawner), each message
answered when its execution is COMPLETE (``_abaco_synchronous=true``):

* ``exec``    warm, exec form: the image's command per message in a kept container;
* ``handler`` warm, handler form: ``runtime_sdk.serve(handler)`` in a kept container;
* ``cold``    the same image, a new container per message;
* ``handler-process`` the handler form on the process runtime (``--process``).

Against the floor, measured in the same run:

* ``raw-exec``  the same command run by ``docker exec`` (the docker SDK's exec create, start
  and inspect: the API calls the CLI makes, without the CLI's own start-up) into an already
  running container of the same image, with the limits a kept container has (1 CPU, 2 GB:
  the platform's defaults, shared by the executions in it);
* ``raw-exec-cli`` the ``docker`` CLI doing the same (for reference);
* ``raw-socket`` one request and its answer over a Unix socket to a process in an already
  running container (a new connection per request, as the handler channel makes);
* ``handler-channel`` (between the two) the handler form's channel alone: the spawner's end
  calling ``runtime_sdk.serve`` in a running container, without API, Redis or spawner.

Variants run interleaved, in rounds, in a new random order each round; every round prints
its figures and ``os.getloadavg()``, and the summary gives each figure as the median of the
rounds with its range, and each ratio (ours / floor) likewise.

    python bench/warm.py [--rounds 5] [--requests 40] [--process] [--no-cold]
"""
from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from actors_core.tokens import mint  # noqa: E402
from tests.integration.platform import (RedisServer, SpawnerProcess, config_from,  # noqa: E402
                                        free_port, platform_environment)

IMAGE = "actors/warm-echo:latest"
COMMAND = ["python3", "/opt/actors/actor.py"]
EXPECTED = b"handled bench"
SOCKET_SERVER = """
import os, socket
path = '/bench/raw.sock'
if os.path.exists(path): os.unlink(path)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path); os.chmod(path, 0o777); server.listen(128)
while True:
    connection, _ = server.accept()
    data = connection.recv(65536)
    connection.sendall(b'handled ' + data + b'\\n')
    connection.close()
"""


# -- the floor ------------------------------------------------------------------------------
# A kept container gets the platform's default limits (ACTORS_DEFAULT_MAX_CPUS=1,
# ACTORS_DEFAULT_MEM_LIMIT=2g), shared by the executions in it: the floor gets the same.
LIMITS = {"nano_cpus": 1_000_000_000, "mem_limit": "2g"}


class RawExec:
    def __init__(self, client):
        self.client = client
        self.container = client.containers.run(IMAGE, ["infinity"], entrypoint=["sleep"],
                                               detach=True, labels={"actors.bench": "warm"},
                                               **LIMITS)

    def call(self) -> None:
        api = self.client.api
        exec_id = api.exec_create(self.container.id, COMMAND, environment={"MSG": "bench"})["Id"]
        output = api.exec_start(exec_id)
        if EXPECTED not in output or api.exec_inspect(exec_id)["ExitCode"] != 0:
            raise RuntimeError(f"raw exec: {output[:200]!r}")

    def call_cli(self) -> None:
        done = subprocess.run(["docker", "exec", "-e", "MSG=bench", self.container.id, *COMMAND],
                              capture_output=True)
        if EXPECTED not in done.stdout or done.returncode != 0:
            raise RuntimeError(f"raw exec (CLI): {done.stdout[:200]!r}")

    def stop(self) -> None:
        self.container.remove(force=True)


class RawSocket:
    def __init__(self, client, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o777)
        self.path = str(folder / "raw.sock")
        self.container = client.containers.run(
            IMAGE, ["python3", "-c", SOCKET_SERVER], detach=True,
            labels={"actors.bench": "warm"}, **LIMITS,
            volumes={str(folder): {"bind": "/bench", "mode": "rw"}})
        deadline = time.monotonic() + 30
        while not os.path.exists(self.path):
            if time.monotonic() > deadline:
                raise RuntimeError("the raw socket server did not start")
            time.sleep(0.05)

    def call(self) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(self.path)
            connection.sendall(b"bench")
            answer = connection.recv(65536)
        if not answer.startswith(EXPECTED):
            raise RuntimeError(f"raw socket: {answer!r}")

    def stop(self) -> None:
        self.container.remove(force=True)


class Channel:
    """The handler form's own channel alone (spawner/warm_channel.py to runtime_sdk.serve in a
    running container), without the API, Redis or a spawner: what the handler form adds to
    the raw socket."""

    def __init__(self, client, folder: Path):
        from spawner.warm_channel import connect

        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o777)
        self.path = str(folder / "handler.sock")
        self.container = client.containers.run(
            IMAGE, detach=True, labels={"actors.bench": "warm"}, **LIMITS,
            environment={"_abaco_warm_socket": "/bench/handler.sock"},
            volumes={str(folder): {"bind": "/bench", "mode": "rw"}})
        deadline = time.monotonic() + 30
        while True:
            try:
                connect(self.path).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the handler did not start")
                time.sleep(0.05)

    def call(self) -> None:
        from spawner.warm_channel import HandlerCall, connect

        call = HandlerCall(connect(self.path), {"MSG": "bench"}, {}, lambda: None,
                           lambda: None).begin()
        output = b"".join(call.stream_logs())
        if call.wait(10) != 0 or EXPECTED not in output:
            raise RuntimeError(f"channel: {output[:200]!r}")

    def stop(self) -> None:
        self.container.remove(force=True)


# -- ours -------------------------------------------------------------------------------------
class Api:
    """gunicorn serving the API (as deployed), one HTTP session per client thread."""

    def __init__(self, environment: dict, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "-c",
             "python:actors_api.gunicorn_config", "-b", f"127.0.0.1:{self.port}", "-w", "2",
             "-k", "actors_api.gunicorn_worker.ThreadWorker", "--threads", "16",
             "actors_api:create_app()"],
            env=environment, cwd=REPO, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
        self.token = None
        self._local = threading.local()
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(self.url + "/actors", timeout=1)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {self.token}"
        return session

    def create(self, **fields) -> str:
        response = self.session().post(self.url + "/actors", json={"image": IMAGE, **fields})
        response.raise_for_status()
        actor_id = response.json()["result"]["id"]
        deadline = time.monotonic() + 60
        while self.session().get(f"{self.url}/actors/{actor_id}").json()["result"]["status"] \
                != "READY":
            if time.monotonic() > deadline:
                raise RuntimeError(f"actor {actor_id} never became READY")
            time.sleep(0.1)
        return actor_id

    def message(self, actor_id: str) -> None:
        response = self.session().post(f"{self.url}/actors/{actor_id}/messages",
                                       data={"message": "bench"},
                                       params={"_abaco_synchronous": "true"})
        if response.status_code != 200 or EXPECTED not in response.content:
            raise RuntimeError(f"{actor_id}: {response.status_code} {response.text[:300]}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


# -- measuring ------------------------------------------------------------------------------
def batch(call, requests_: int, clients: int) -> dict:
    """``requests_`` calls from ``clients`` threads: latencies and calls per second."""
    samples: list = []
    lock = threading.Lock()

    def one(_):
        started = time.perf_counter()
        call()
        elapsed = time.perf_counter() - started
        with lock:
            samples.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(requests_)))
    wall = time.perf_counter() - started
    ordered = sorted(samples)
    return {"p50": statistics.median(ordered) * 1000,
            "p90": ordered[int(0.9 * (len(ordered) - 1))] * 1000,
            "per_s": requests_ / wall}


def spread(values: list, digits: int = 1) -> str:
    return (f"{statistics.median(values):.{digits}f} "
            f"[{min(values):.{digits}f}-{max(values):.{digits}f}]")


RATIOS = (("exec", "raw-exec"), ("exec", "raw-exec-cli"), ("handler", "raw-socket"),
          ("handler-channel", "raw-socket"), ("handler", "handler-channel"),
          ("handler-process", "raw-socket"), ("cold", "exec"), ("cold", "handler"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=40, help="per variant and round")
    parser.add_argument("--cold-requests", type=int, default=12)
    parser.add_argument("--process", action="store_true", help="also the process runtime")
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated variants to run")
    args = parser.parse_args()
    client = docker.from_env()
    with tempfile.TemporaryDirectory(prefix="bw-", dir="/tmp") as folder:
        folder = Path(folder)
        redis = RedisServer(folder)
        environment = platform_environment(redis.url, folder, ACTORS_SYNC_TIMEOUT=120,
                                           ACTORS_LOG_EX=600)
        api = Api(environment, folder / "api.log")
        api.token = mint(config_from(environment), "bench", roles=("admin",))
        spawners = [SpawnerProcess(environment, name=f"bench-{uuid.uuid4().hex[:4]}",
                                   slots=9, log_path=folder / "spawner.log")]
        if args.process:
            spawners.append(SpawnerProcess(dict(environment, ACTORS_RUNTIME="process"),
                                           name=f"benchp-{uuid.uuid4().hex[:4]}",
                                           queues="process", slots=9,
                                           log_path=folder / "process-spawner.log"))
        raw_exec, raw_socket = RawExec(client), RawSocket(client, folder / "raw")
        channel = Channel(client, folder / "channel")
        try:
            actors = {
                "exec": api.create(warm=True, warm_form="exec", max_workers=1, concurrency=8),
                "handler": api.create(warm=True, warm_form="handler", max_workers=1,
                                      concurrency=8),
            }
            if not args.no_cold:
                actors["cold"] = api.create(max_workers=8)
            if args.process:
                actors["handler-process"] = api.create(warm=True, warm_form="handler",
                                                       max_workers=1, concurrency=8,
                                                       queue="process")
            calls = {name: (lambda a=actor_id: api.message(a)) for name, actor_id in actors.items()}
            calls.update({"raw-exec": raw_exec.call, "raw-exec-cli": raw_exec.call_cli,
                          "raw-socket": raw_socket.call, "handler-channel": channel.call})
            if args.only:
                calls = {name: call for name, call in calls.items()
                         if name in args.only.split(",")}
            for call in calls.values():  # start every kept container; the first costs more
                batch(call, 8, 8)
            run(calls, args)
        finally:
            raw_exec.stop()
            raw_socket.stop()
            channel.stop()
            for spawner in spawners:
                spawner.stop()
            for spawner in spawners:  # its kept containers
                for container in client.containers.list(
                        all=True, filters={"label": f"actors.spawner={spawner.name}"}):
                    container.remove(force=True)
            api.stop()
            redis.stop()


def run(calls: dict, args) -> None:
    figures: dict = {}
    for round_ in range(1, args.rounds + 1):
        names = list(calls)
        random.shuffle(names)
        load = os.getloadavg()
        print(f"\nround {round_} (load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}), "
              f"order {' '.join(names)}")
        for clients in (1, 8):
            for name in names:
                count = args.cold_requests if name == "cold" else args.requests
                row = batch(calls[name], count, clients)
                figures.setdefault((name, clients), []).append(row)
                print(f"  {name:16} clients {clients}: p50 {row['p50']:8.1f} ms  "
                      f"p90 {row['p90']:8.1f} ms  {row['per_s']:7.1f}/s")
    load = os.getloadavg()
    print(f"\nsummary: median of {args.rounds} rounds [min-max]; load at the end "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs")
    for (name, clients), rows in sorted(figures.items()):
        print(f"  {name:16} clients {clients}: p50 {spread([r['p50'] for r in rows])} ms, "
              f"p90 {spread([r['p90'] for r in rows])} ms, "
              f"{spread([r['per_s'] for r in rows])} executions/s")
    print("ratios, ours / floor, per round (median [min-max]): latency p50, and throughput "
          "floor / ours")
    for ours, floor in RATIOS:
        for clients in (1, 8):
            mine, base = figures.get((ours, clients)), figures.get((floor, clients))
            if not mine or not base:
                continue
            latency = [m["p50"] / b["p50"] for m, b in zip(mine, base)]
            rate = [b["per_s"] / m["per_s"] for m, b in zip(mine, base)]
            print(f"  {ours:>15} / {floor:<13} clients {clients}: p50 {spread(latency, 2)}x, "
                  f"throughput {spread(rate, 2)}x")


if __name__ == "__main__":
    main()
