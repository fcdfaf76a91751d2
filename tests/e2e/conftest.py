"""End-to-end fixtures: a real ``actors dev`` driven only through the ``actors`` command.

Each platform runs in a temporary folder: its data dir (private redis-server with AOF,
signing secret, spawner work folder, logs) and HOME/XDG_CONFIG_HOME, so the CLI
configuration that ``actors dev`` writes lands there too. Stopping sends SIGINT, as
Ctrl-C would, and checks that nothing was left running.

Without redis-server (and, for the Docker runtime, Docker) these tests skip, unless
ACTORS_REQUIRE_INTEGRATION=1 (set by scripts/test.sh and so by CI), where a missing piece
is an error.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Optional

import pytest

REQUIRED = os.environ.get("ACTORS_REQUIRE_INTEGRATION") == "1"
IMAGES = ("actors/echo", "actors/sleep-loop", "actors/wordcount")
STOP_SECONDS = 60
MARK = "ACTORS_E2E_PLATFORM"  # set in the environment of actors dev, inherited by its children


def need(available: bool, what: str) -> None:
    if available:
        return
    if REQUIRED:
        pytest.fail(f"{what} is required (ACTORS_REQUIRE_INTEGRATION=1) but not available")
    pytest.skip(f"{what} is not available")


def docker_client():
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
        return client
    except Exception:
        return None


def actors_command() -> list:
    """The installed ``actors`` script next to this interpreter, else the module."""
    script = Path(sys.executable).parent / "actors"
    return [str(script)] if script.exists() else [sys.executable, "-m", "actors_cli.main"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DevPlatform:
    """``actors dev`` in ``root``; :meth:`cli` runs ``actors ...`` against it."""

    def __init__(self, root: Path, runtime_option: Optional[str] = None, **environment):
        self.root = root
        self.data_dir = root / "data"
        self.runtime_option = runtime_option
        self.port = free_port()
        self.mark = uuid.uuid4().hex
        self.env = {name: value for name, value in os.environ.items()
                    if not name.startswith("ACTORS_")}
        self.env.update(HOME=str(root / "home"), XDG_CONFIG_HOME=str(root / "config"),
                        # a Redis that does not answer: actors dev must start its own
                        ACTORS_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", **environment)
        (root / "home").mkdir(parents=True, exist_ok=True)
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: Optional[subprocess.Popen] = None
        self.output_path = root / "dev-output-0.log"
        self.actor_ids: set = set()
        self.starts = 0
        self.children: dict = {}  # pid -> start time of every descendant seen while running

    # --- the platform ---

    def start(self) -> "DevPlatform":
        argv = actors_command() + ["dev", "--port", str(self.port), "--data-dir",
                                   str(self.data_dir), "--slots", "2"]
        if self.runtime_option:
            argv += ["--runtime", self.runtime_option]
        self.output_path = self.root / f"dev-output-{self.starts}.log"
        self.starts += 1
        with open(self.output_path, "wb") as output:
            self.process = subprocess.Popen(argv, env=dict(self.env, **{MARK: self.mark}),
                                            stdout=output, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            cwd=self.root)
        deadline = time.monotonic() + 60
        while not self._answers():
            if self.process.poll() is not None:
                pytest.fail(f"actors dev exited with {self.process.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                self.stop(check=False)
                pytest.fail(f"actors dev did not answer within 60 s:\n{self.output()}")
            time.sleep(0.2)
        self._remember_children()
        return self

    def _answers(self) -> bool:
        config = self.root / "config" / "actors" / "config.toml"
        if "API:" not in self.output() or not config.exists():
            return False
        request = urllib.request.Request(self.url + "/actors",
                                         headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=2) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    @property
    def token(self) -> str:
        import tomllib

        with open(self.root / "config" / "actors" / "config.toml", "rb") as handle:
            return tomllib.load(handle)["token"]

    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""

    def stop(self, check: bool = True) -> None:
        """SIGINT, as Ctrl-C; then nothing of it may be left: processes or containers."""
        if self.process is None or self.process.poll() is not None:
            return
        self._remember_children()
        self.process.send_signal(signal.SIGINT)
        try:
            returncode = self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self._kill_leftovers()
            if check:
                pytest.fail(f"actors dev did not stop within {STOP_SECONDS} s of SIGINT:\n"
                            f"{self.output()[-4000:]}")
            return
        if not check:
            return
        assert returncode == 0, f"actors dev exited with {returncode}:\n{self.output()[-4000:]}"
        assert "actors dev: stopped" in self.output()
        leftovers = self._wait_for_no_leftovers()
        if leftovers:
            self._kill_leftovers()
        assert not leftovers, f"actors dev left these running: {leftovers}"

    def _remember_children(self) -> None:
        table = _process_table()
        parents = {self.process.pid}
        while True:
            found = {pid for pid, (ppid, _) in table.items() if ppid in parents} - parents
            if not found:
                break
            parents |= found
        self.children.update({pid: table[pid][1] for pid in parents if pid in table})

    def leftover_processes(self) -> list:
        """Processes of this platform still there after it stopped.

        Three ways to recognise one, as none catches all: a descendant seen while it ran
        (same pid and start time), the marked environment (redis-server overwrites its
        own), or the temporary folder in its argv (the process runtime's actors get a
        clean environment and may start after the last look at the descendants).
        """
        found = []
        marker, folder = f"{MARK}={self.mark}".encode(), str(self.root).encode()
        table = _process_table()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            pid = int(entry.name)
            try:
                environ = (entry / "environ").read_bytes()
                argv = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            seen = pid in table and self.children.get(pid) == table[pid][1]
            if argv and (seen or marker in environ.split(b"\0") or folder in argv):
                command = argv.replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{entry.name}: {command}")
        return found

    @property
    def spawner_name(self) -> str:
        """The name ``actors dev`` gives its spawner for this data folder (its containers'
        ``actors.spawner`` label)."""
        from actors_cli.dev import spawner_name

        return spawner_name(self.data_dir)

    def own_containers(self, client) -> list:
        """This platform's containers only: Docker filters on its spawner's own label, so
        another platform's containers on a shared engine are never listed or inspected
        (one that vanishes between a listing and an inspection cannot fail this test)."""
        import docker

        found = []
        listed = client.containers.list(
            all=True, sparse=True, filters={"label": f"actors.spawner={self.spawner_name}"})
        for container in listed:
            try:
                container.reload()
            except docker.errors.NotFound:
                continue  # removed since the listing: not a leftover
            found.append(container)
        return found

    def leftover_containers(self) -> list:
        """Containers this platform's spawner started that are still there."""
        client = docker_client()
        if client is None:
            return []
        return [f"{c.short_id} {c.labels}" for c in self.own_containers(client)]

    def _wait_for_no_leftovers(self) -> list:
        deadline = time.monotonic() + 10
        while True:
            leftovers = self.leftover_processes() + self.leftover_containers()
            if not leftovers or time.monotonic() > deadline:
                return leftovers
            time.sleep(0.5)

    def _kill_leftovers(self) -> None:
        for line in self.leftover_processes():
            try:
                os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        client = docker_client()
        if client is not None:
            import docker

            for container in self.own_containers(client):
                try:
                    container.remove(force=True)
                except docker.errors.NotFound:
                    pass

    # --- the command line ---

    def cli(self, *args, check: bool = True, input: Optional[bytes] = None,
            timeout: float = 90, env: Optional[dict] = None) -> subprocess.CompletedProcess:
        """``actors ARGS`` with this platform's HOME; stdout and stderr as text.

        Whatever the exit status, the command must not have printed a traceback.
        """
        result = subprocess.run(actors_command() + [str(arg) for arg in args],
                                env=dict(self.env, **(env or {})), input=input,
                                capture_output=True, timeout=timeout, cwd=self.root)
        result.stdout_bytes = result.stdout
        result.stdout = result.stdout.decode(errors="replace")
        result.stderr = result.stderr.decode(errors="replace")
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        if check and result.returncode != 0:
            pytest.fail(f"actors {' '.join(map(str, args))} exited with {result.returncode}\n"
                        f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    def cli_json(self, *args, **kwargs):
        return json.loads(self.cli(*args, "--json", **kwargs).stdout)

    def create(self, image: str, *options) -> str:
        actor_id = self.cli("create", image, "-q", *options).stdout.strip()
        self.actor_ids.add(actor_id)
        return actor_id

    def wait_for_status(self, actor_id: str, execution_id: str, wanted: tuple,
                        timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            execution = self.cli_json("execution", actor_id, execution_id)
            if execution["status"] in wanted:
                return execution
            assert time.monotonic() < deadline, f"still {execution['status']}: {execution}"
            time.sleep(0.2)


def _process_table() -> dict:
    """pid -> (parent pid, start time in clock ticks), from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(fields[1]), fields[19])
    return table


@pytest.fixture(scope="session")
def redis_server_binary():
    need(shutil.which("redis-server") is not None, "redis-server")


@pytest.fixture(scope="session")
def docker_images(redis_server_binary):
    client = docker_client()
    need(client is not None, "the Docker engine")
    import docker

    for image in IMAGES:
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            pytest.fail(f"test image {image} is missing: run scripts/build-images.sh")
