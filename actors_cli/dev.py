"""``actors dev``: a complete platform on one machine, from one command.

It picks what it can use and says so: the configured Redis if it answers,
else a private ``redis-server`` with AOF in the data folder (a restart keeps
everything), else an in-process fakeredis (nothing survives a restart); Docker
if a daemon answers, else the process runtime. Then it runs the API and one
spawner as child processes, prefixes their output, and on Ctrl-C stops them
so that no container or process is left behind.

Before it touches anything (data folder, secret, Redis, the CLI's configuration)
it checks that the API's addresses are free, and it writes the CLI configuration
only once the API answers: a busy port is an error (exit status 1), never a
configuration pointing at someone else's server. With Docker, the API listens on
the loopback address and on the Docker bridge's (where containers reach it), not
on every interface. The signing secret is kept in ``<data dir>/secret``.
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import redis

SECRET_FILE = "secret"  # the signing secret, in the data folder (actors token finds it there)


@dataclass
class RedisChoice:
    url: str
    description: str
    durable: bool
    stop: Callable[[], None] = field(default=lambda: None)


def choose_redis(configured_url: Optional[str], data_dir: Path, say) -> RedisChoice:
    if configured_url and _answers(configured_url):
        return RedisChoice(configured_url, f"the configured Redis at {configured_url}", True)
    if configured_url:
        say(f"ACTORS_REDIS_URL={configured_url} does not answer; starting a Redis of our own")
    binary = shutil.which("redis-server")
    if binary:
        return _private_redis_server(binary, data_dir / "redis")
    return _fake_redis()


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def _private_redis_server(binary: str, folder: Path) -> RedisChoice:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
         # finished execution records stay compact listpacks (docs/architecture.md)
         "--hash-max-listpack-value", "1024"],
        stdout=open(folder / "redis.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 15
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"redis-server did not start; see {folder / 'redis.log'}")
        time.sleep(0.1)

    def stop():
        process.terminate()  # redis-server syncs its AOF on SIGTERM
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()

    return RedisChoice(url, f"a private redis-server (AOF in {folder})", True, stop)


def _fake_redis() -> RedisChoice:
    from fakeredis import TcpFakeServer

    port = free_port()
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop():
        server.shutdown()
        server.server_close()

    return RedisChoice(f"redis://127.0.0.1:{port}/0", "an in-process fakeredis", False, stop)


def choose_runtime(requested: Optional[str]) -> str:
    if requested:
        return requested
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return "docker"
    except Exception:
        return "process"


def container_gateway() -> Optional[str]:
    """The host's address on Docker's default bridge: where containers reach the API."""
    try:
        import docker

        config = docker.from_env(timeout=3).networks.get("bridge").attrs["IPAM"]["Config"][0]
    except Exception:
        return None
    if config.get("Gateway"):
        return config["Gateway"]
    # Docker leaves Gateway out when it is the subnet's first address (docker0's).
    return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def persistent_secret(path: Path) -> str:
    """The signing secret, made once and kept, so tokens work across restarts."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


def spawner_name(data_dir: Path) -> str:
    """Stable for one data folder (so a restart reconciles its own leftovers) and
    different for another (so two ``actors dev`` on one host never touch each other's)."""
    digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:8]
    return f"dev-{socket.gethostname()}-{digest}"


def check_free(addresses: list, port: int) -> None:
    """Raise PortBusy if something listens on ``port`` at one of ``addresses``."""
    for address in addresses:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
            try:
                sock.bind((address, port))
            except OSError as error:
                raise PortBusy(address, port, error) from None


class PortBusy(RuntimeError):
    def __init__(self, address: str, port: int, error: OSError):
        self.address, self.port, self.error = address, port, error
        super().__init__(
            f"cannot serve the API on {address}:{port}: {error.strerror or error}. "
            f"Is another actors dev (or another server) using port {port}? Choose another "
            f"port: actors dev --port 9000 (or make run ARGS=\"--port 9000\"). "
            "Nothing was started or changed.")


def _bindable(address: str) -> bool:
    """Whether this host has the address (the Docker bridge's may be elsewhere)."""
    with socket.socket() as sock:
        try:
            sock.bind((address, 0))
            return True
        except OSError:
            return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Component:
    """A child process whose output is prefixed on our stdout and kept in a log file."""

    def __init__(self, label: str, argv: list, environment: dict, log_dir: Path):
        self.label = label
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(log_dir / f"{label}.log", "ab")
        self.process = subprocess.Popen(argv, env=environment, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self._pump = threading.Thread(target=self._copy_output, daemon=True)
        self._pump.start()

    def _copy_output(self) -> None:
        for line in iter(self.process.stdout.readline, b""):
            self._log.write(line)
            self._log.flush()
            sys.stdout.write(f"[{self.label}] {line.decode(errors='replace')}")
            sys.stdout.flush()

    def stop(self, timeout: float) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._pump.join(timeout=2)


def api_addresses(host: str, runtime: str, say) -> tuple:
    """(addresses the API listens on, the URL executions use to reach it).

    Containers cannot reach the host's loopback, so with Docker a loopback ``host`` is
    joined by the Docker bridge's address (docker0) and executions are told to use that;
    nothing listens on the other interfaces.
    """
    if runtime != "docker":
        return [host], None
    gateway = container_gateway()
    if gateway is None:
        return [host], None
    if host in ("127.0.0.1", "localhost"):
        if _bindable(gateway):
            return [host, gateway], gateway
        say(f"the Docker bridge address {gateway} is not on this host: the API listens on "
            f"{host} only, and actors cannot call it back (update_state, get_client)")
        return [host], None
    return [host], gateway if host in ("0.0.0.0", "::") else None


def run_dev(host: str, port: int, slots: int, data_dir: Path, runtime: Optional[str], say) -> None:
    from actors_core.config import Config
    from actors_core.tokens import mint

    from . import settings as cli_config

    requested = runtime or os.environ.get("ACTORS_RUNTIME")
    runtime = choose_runtime(requested)
    addresses, gateway = api_addresses(host, runtime, say)
    check_free(addresses, port)  # before anything is written or started

    data_dir.mkdir(parents=True, exist_ok=True)
    environment = dict(os.environ)
    secret_file = None
    if not environment.get("ACTORS_JWT_SECRET") and not environment.get("ACTORS_JWT_PUBLIC_KEY"):
        secret_file = data_dir / SECRET_FILE
        environment["ACTORS_JWT_SECRET"] = persistent_secret(secret_file)
    store = choose_redis(environment.get("ACTORS_REDIS_URL"), data_dir, say)
    url = f"http://{host}:{port}"
    api_url = f"http://{gateway}:{port}" if gateway else url
    environment.update(ACTORS_REDIS_URL=store.url, ACTORS_RUNTIME=runtime,
                       ACTORS_API_URL=environment.get("ACTORS_API_URL") or api_url,
                       ACTORS_SPAWNER_WORKDIR=environment.get("ACTORS_SPAWNER_WORKDIR")
                       or str(data_dir / "spawner"),
                       ACTORS_ARTIFACT_URL=environment.get("ACTORS_ARTIFACT_URL")
                       or str(data_dir / "artifacts"),  # executions' kept outputs
                       PYTHONUNBUFFERED="1")
    config = Config.from_env(**{"redis_url": store.url, "jwt_secret": environment.get("ACTORS_JWT_SECRET"),
                                "runtime": runtime})
    if not store.durable:
        say("WARNING: no Redis server found (install redis-server): using an in-process fakeredis. "
            "NOTHING SURVIVES A RESTART.")
    say(f"redis:   {store.description}")
    say(f"runtime: {runtime}" + ("" if requested or runtime == "docker" else
                                 " (no Docker daemon answered: actors run as plain processes)"))

    executable = [sys.executable, "-m", "actors_cli.main"]
    logs = data_dir / "logs"
    serve = executable + ["serve", "--port", str(port)]
    for address in addresses:
        serve += ["--host", address]
    components = [
        Component("api", serve, environment, logs),
        Component("spawner", executable + ["spawner", "--slots", str(slots), "--stop-mode", "kill",
                                           "--name", spawner_name(data_dir)],
                  environment, logs),
    ]
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    failed = None
    try:
        if not _wait_for_api(components[0], addresses[0], port, stop):
            failed = None if stop.is_set() else ("the API did not start (see its output above, or "
                      f"{logs / 'api.log'}); the CLI configuration was not changed")
        else:
            token = mint(config, "admin", roles=("admin",), ttl=365 * 24 * 3600)
            config_file = cli_config.save(url, token)
            say(f"API:     {url}" + (f" (actors reach it at {environment['ACTORS_API_URL']})"
                                      if environment["ACTORS_API_URL"] != url else ""))
            say(f"listens: {', '.join(f'{a}:{port}' for a in addresses)}")
            say(f"token:   {token}")
            say(f"web:     {url}/ui/ (sign in with the token)")
            say(f"CLI configured in {config_file}; data in {data_dir} (outputs: "
                f"{environment['ACTORS_ARTIFACT_URL']})"
                + (f"; signing secret in {secret_file} (actors token --data-dir {data_dir} "
                   "uses it)" if secret_file else ""))
            while not stop.wait(0.5):
                exited = [c.label for c in components if c.process.poll() is not None]
                if exited:
                    failed = f"{', '.join(exited)} exited on its own"
                    say(f"{failed}; stopping the rest")
                    break
    finally:
        say("stopping: running executions are force-quit, then everything exits")
        for component in reversed(components):  # the spawner first: it cleans up its containers
            component.stop(timeout=60)
        store.stop()
        say("stopped")
    if failed:
        raise RuntimeError(failed)


def _wait_for_api(api: "Component", address: str, port: int, stop: threading.Event,
                  timeout: float = 60) -> bool:
    """True once the API accepts connections; False if it exited (e.g. its port was taken
    meanwhile), the wait was interrupted, or it took longer than ``timeout``."""
    deadline = time.monotonic() + timeout
    target = "127.0.0.1" if address in ("0.0.0.0", "localhost") else address
    while time.monotonic() < deadline and not stop.is_set():
        if api.process.poll() is not None:
            return False
        try:
            with socket.create_connection((target, port), timeout=0.5):
                return True
        except OSError:
            stop.wait(0.1)
    return False
