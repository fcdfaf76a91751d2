"""The pieces of a platform that chaos tests kill: each one a real process, killed for real.

* :class:`AofRedis`   redis-server with AOF (``appendfsync everysec``) on a fixed port,
  SIGKILLed and started again on its data.
* :class:`Api`        ``actors serve`` (the Flask app over HTTP) as a subprocess.
* :class:`Spawner`    ``actors spawner`` in a process group of its own; :meth:`Spawner.kill9`
  is ``kill -9`` of that group (which does not reach slots: they have groups of their
  own, and must die anyway, lifeline.py).
* :class:`Tally`      what was accepted and how it ended: accepted / final / stuck / lost /
  duplicated, printed and asserted by every chaos test.

Fault settings are short so a test takes seconds: heartbeats every second, a host
lost after 3 s, slot leases of 4 s.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import requests

from tests.integration.platform import REPO, SECRET, free_port

FAST_FAULTS = {
    "ACTORS_HEARTBEAT_SECONDS": "1",
    "ACTORS_HOST_LOST_SECONDS": "3",
    "ACTORS_REDIS_BACKOFF_MAX": "0.5",
    "ACTORS_LOG_MAX_BYTES": "65536",
}
FINISHED = ("COMPLETE", "ERROR")
REPORTED: list = []  # every [chaos] line of this run, printed again in pytest's summary


def environment(redis_url: str, workdir: Path, **extra) -> dict:
    env = dict(os.environ)
    env.update({"ACTORS_REDIS_URL": redis_url, "ACTORS_JWT_SECRET": SECRET,
                "ACTORS_SPAWNER_WORKDIR": str(workdir), "PYTHONPATH": str(REPO),
                "PYTHONUNBUFFERED": "1"})
    env.update(FAST_FAULTS)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _wait_port(port: int, timeout: float) -> bool:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class AofRedis:
    def __init__(self, workdir: Path, fsync: str = "everysec"):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.fsync = fsync
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: Optional[subprocess.Popen] = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", self.fsync, "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not _wait_port(self.port, 10):
            raise RuntimeError("redis-server did not start")

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class Api:
    """``actors serve`` on a fixed port (so clients keep their URL across a restart)."""

    def __init__(self, env: dict, log_path: Path):
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: Optional[subprocess.Popen] = None
        self.start()

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "actors_cli.main", "serve", "--port", str(self.port)],
                env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        if not _wait_port(self.port, 30):
            raise RuntimeError(f"the API did not start:\n{self.log_path.read_text()[-3000:]}")

    def kill9(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)


def _stat(pid: int) -> Optional[tuple]:
    """(state, parent pid) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in "ZX"


def children(pid: int) -> list:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat and stat[1] == pid and stat[0] not in "ZX":
                found.append(int(entry.name))
    return found


class Spawner:
    def __init__(self, env: dict, name: Optional[str], queues: str, slots: int, log_path: Path,
                 extra_args: tuple = ()):
        self.name = name
        self.log_path = log_path
        argv = [sys.executable, "-m", "actors_cli.main", "spawner", "--queues", queues,
                "--slots", str(slots), *extra_args]
        if name:
            argv += ["--name", name]
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(argv, env=env, cwd=REPO, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.slot_pids: list = []

    def wait_for_slots(self, count: int, timeout: float = 60) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"spawner exited with {self.process.returncode}:\n"
                                     f"{self.output()[-3000:]}")
            self.slot_pids = children(self.process.pid)
            if len(self.slot_pids) >= count and "serving queues" in self.output():
                return self.slot_pids
            time.sleep(0.1)
        raise AssertionError(f"spawner did not start {count} slots:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill9(self) -> list:
        """``kill -9`` of the spawner's process group; the slot pids it had."""
        slots = children(self.process.pid) or self.slot_pids
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        return slots

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        for pid in children(self.process.pid) + self.slot_pids:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def survivors(pids, timeout: float = 5.0) -> list:
    """The pids still alive after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        living = [pid for pid in pids if alive(pid)]
        if not living or time.monotonic() > deadline:
            return living
        time.sleep(0.1)


class Client:
    def __init__(self, url: str, token: str):
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=30, **kwargs)

    def result(self, method: str, path: str, **kwargs):
        response = self.call(method, path, **kwargs)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()["result"]


class Tally:
    """Every message sent and what became of it.

    * accepted: answered 200 with an execution id (what the platform promised to run);
    * final:    accepted messages whose last try (retries followed) is COMPLETE or ERROR;
    * stuck:    accepted messages not final by the deadline;
    * lost:     accepted messages whose execution record is gone;
    * duplicated: executions started more than once (Docker start events of their
      container, or their "done"/"Contents of MSG" line more than once in their logs).
    """

    def __init__(self, name: str):
        self.name = name
        self.accepted: dict = {}  # execution id -> actor id
        self.refused = collections.Counter()  # HTTP status (or "connection") -> count
        self.lock = threading.Lock()
        self.figures: dict = {}

    def send(self, client: Client, actor_id: str, message: str, **params) -> Optional[str]:
        try:
            response = client.call("POST", f"/actors/{actor_id}/messages",
                                   data={"message": message}, params=params or None)
        except requests.RequestException:
            with self.lock:
                self.refused["connection"] += 1
            return None
        if response.status_code != 200:
            with self.lock:
                self.refused[response.status_code] += 1
                if response.status_code == 503:
                    assert response.headers.get("Retry-After"), response.headers
                    assert response.json()["status"] == "error"
            return None
        execution_id = response.json()["result"]["execution_id"]
        with self.lock:
            self.accepted[execution_id] = actor_id
        return execution_id

    def settle(self, client: Client, timeout: float, marker: str = "done") -> dict:
        """Wait until every execution of the actors used is final and no retry appears for
        3 s (or the deadline), then count, following each message's retries."""
        deadline = time.monotonic() + timeout
        stable_since, last_count = None, None
        while time.monotonic() < deadline:
            executions = [e for actor in set(self.accepted.values()) for e in
                          client.result("GET", f"/actors/{actor}/executions")["executions"]]
            settled = all(e["status"] in FINISHED for e in executions)
            if settled and len(executions) == last_count:
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since >= 3:
                    break
            else:
                stable_since = None
            last_count = len(executions)
            time.sleep(0.5)
        last = {eid: self._last_try(client, actor, eid) for eid, actor in self.accepted.items()}
        lost = [e for e, r in last.items() if r is None]
        stuck = [e for e, r in last.items() if r is not None and r["status"] not in FINISHED]
        outcome = collections.Counter(r["status"] for r in last.values() if r is not None)
        duplicated = []
        for eid, actor in self.accepted.items():
            for tried in self._tries(client, actor, eid):
                logs = client.result("GET", f"/actors/{actor}/executions/{tried}/logs")["logs"]
                if logs.count(marker) > 1:
                    duplicated.append(tried)
        retried = sum(len(self._tries(client, a, e)) - 1 for e, a in self.accepted.items())
        self.figures = {
            "accepted": len(self.accepted), "final": sum(outcome[s] for s in FINISHED),
            "complete": outcome["COMPLETE"], "error": outcome["ERROR"], "stuck": len(stuck),
            "lost": len(lost), "duplicated": len(duplicated), "retried": retried,
            "refused": dict(self.refused),
        }
        return self.figures

    def _record(self, client: Client, actor: str, eid: str) -> Optional[dict]:
        response = client.call("GET", f"/actors/{actor}/executions/{eid}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return response.json()["result"]

    def _tries(self, client: Client, actor: str, eid: str) -> list:
        first = self._record(client, actor, eid) or {}
        return [eid] + list(first.get("retries") or [])

    def _last_try(self, client: Client, actor: str, eid: str) -> Optional[dict]:
        """The last try of the message (``retries`` followed); RETRY_PENDING while a further
        retry is scheduled but not created yet."""
        first = self._record(client, actor, eid)
        if first is None:
            return None
        retries = first.get("retries") or []
        last = self._record(client, actor, retries[-1]) if retries else first
        if last is not None and last["status"] in FINISHED and last.get("retry_due"):
            return dict(last, status="RETRY_PENDING")
        return last

    def report(self, **more) -> str:
        figures = dict(self.figures, **more)
        line = f"[chaos] {self.name}: " + ", ".join(f"{k} {v}" for k, v in figures.items())
        print(line)
        REPORTED.append(line)
        results = os.environ.get("ACTORS_CHAOS_RESULTS")
        if results:
            with open(results, "a") as handle:
                handle.write(json.dumps({"test": self.name, **figures}) + "\n")
        return line

    def assert_clean(self) -> None:
        figures = self.figures
        assert figures["accepted"] > 0, figures
        assert figures["stuck"] == 0, figures
        assert figures["lost"] == 0, figures
        assert figures["duplicated"] == 0, figures
        assert figures["final"] == figures["accepted"], figures


def docker_starts(client, since: float, spawner_prefix: str = "") -> collections.Counter:
    """How often each execution's container was started (Docker's own event log)."""
    starts = collections.Counter()
    for event in client.events(since=int(since) - 1, until=int(time.time()) + 1, decode=True,
                               filters={"type": "container", "event": "start"}):
        labels = (event.get("Actor") or {}).get("Attributes") or {}
        if labels.get("actors.spawner", "").startswith(spawner_prefix) and \
                labels.get("actors.execution"):
            starts[labels["actors.execution"]] += 1
    return starts
