"""A real platform for integration tests: redis-server, the API over HTTP, spawners.

Each piece is the production code path: the API is ``create_app`` behind a
real HTTP server, spawners are ``actors spawner`` subprocesses running the
Docker (or process) runtime against a private ``redis-server``.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from werkzeug.serving import make_server

REPO = Path(__file__).resolve().parents[2]
SECRET = "integration-tests-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def wait_until(predicate, timeout: float, what: str, step: float = 0.2):
    """``predicate()``'s first true value, polled every ``step`` s; fails naming ``what``
    after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        time.sleep(step)


def config_from(environment: dict):
    """The Config a process started with ``environment`` reads (this one's is left as it was)."""
    from actors_core.config import Config

    saved = dict(os.environ)
    os.environ.update(environment)
    try:
        return Config.from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)


class ApiServer:
    """create_app() behind werkzeug's threaded HTTP server, in this process."""

    def __init__(self, environment: dict):
        from actors_api import create_app

        self.config = config_from(environment)
        self.app = create_app(self.config)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()


class SpawnerProcess:
    """``actors spawner`` as a subprocess; stop() is a clean stop, crash() a SIGKILL of all of it."""

    def __init__(self, environment: dict, name: str, queues: str = "default", slots: int = 2,
                 log_path: Path = None, extra_args: tuple = ()):
        self.name = name
        self.log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "actors_cli.main", "spawner", "--queues", queues,
             "--slots", str(slots), "--name", name, *extra_args],
            env=environment, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def _children(self) -> list:
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.crash()

    def crash(self) -> None:
        """Kill the supervisor and its slot processes at once, as a power cut would."""
        for pid in self._children() + [self.process.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(10)


def platform_environment(redis_url: str, workdir: Path, **extra) -> dict:
    environment = dict(os.environ)
    environment.update({
        "ACTORS_REDIS_URL": redis_url,
        "ACTORS_JWT_SECRET": SECRET,
        "ACTORS_SPAWNER_WORKDIR": str(workdir / "spawner"),
        "PYTHONPATH": str(REPO),
    })
    environment.update({k: str(v) for k, v in extra.items()})
    return environment


class ApiClient:
    """Thin HTTP helpers: the tests read like the README's curl walk-through."""

    def __init__(self, url: str, token: str = None):
        self.url = url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=60, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.request("PUT", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def result(self, response: requests.Response, status: int = 200):
        assert response.status_code == status, (response.status_code, response.text)
        return response.json()["result"]

    def create_actor(self, image: str, **fields) -> dict:
        return self.result(self.post("/actors", json={"image": image, **fields}))

    def send(self, actor_id: str, message: str = "hello", params: dict = None) -> str:
        response = self.post(f"/actors/{actor_id}/messages", data={"message": message},
                             params=params)
        return self.result(response)["execution_id"]

    def execution(self, actor_id: str, execution_id: str) -> dict:
        return self.result(self.get(f"/actors/{actor_id}/executions/{execution_id}"))

    def logs(self, actor_id: str, execution_id: str) -> str:
        return self.result(self.get(f"/actors/{actor_id}/executions/{execution_id}/logs"))["logs"]

    def wait(self, actor_id: str, execution_id: str, statuses=("COMPLETE", "ERROR"),
             timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            execution = self.execution(actor_id, execution_id)
            if execution["status"] in statuses:
                return execution
            if time.monotonic() > deadline:
                raise AssertionError(f"execution still {execution['status']} after {timeout}s")
            time.sleep(0.1)

    def wait_for_log(self, actor_id: str, execution_id: str, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.logs(actor_id, execution_id):
            assert time.monotonic() < deadline, f"{text!r} never appeared in the logs"
            time.sleep(0.1)

    def wait_actor(self, actor_id: str, statuses=("READY", "ERROR"), timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            actor = self.result(self.get(f"/actors/{actor_id}"))
            if actor["status"] in statuses:
                return actor
            if time.monotonic() > deadline:
                raise AssertionError(f"actor still {actor['status']} after {timeout}s")
            time.sleep(0.1)


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=5).ping()
        return True
    except Exception:
        return False


def redis_available() -> bool:
    return shutil.which("redis-server") is not None
