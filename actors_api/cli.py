"""The ``actors`` command: serve the API, run a spawner, run both, mint tokens."""
from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click

from .config import Config

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "actors"


def _config(**overrides) -> Config:
    try:
        return Config.from_env(**overrides)
    except ValueError as error:
        raise click.ClickException(str(error))


@click.group()
def main():
    """actors: run container images as actors behind an Abaco-compatible API."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host, port):
    """Run the API with Flask's development server (use gunicorn in production)."""
    from . import create_app

    app = create_app(_config())
    app.run(host=host, port=port, threaded=True, use_reloader=False)


@main.command()
@click.option("--queues", default="default", show_default=True,
              help="Comma-separated actor queues this spawner takes work from.")
@click.option("--slots", default=os.cpu_count() or 1, show_default=True, type=int,
              help="Executions this spawner runs at once.")
@click.option("--name", default=None, help="Spawner name (default: the hostname); keep it "
              "stable across restarts so leftovers are reconciled.")
def spawner(queues, slots, name):
    """Take executions from the queue and run them as containers."""
    from spawner.worker import Supervisor

    logging.basicConfig(level=logging.INFO, format="spawner %(levelname)s %(message)s")
    queue_list = [q.strip() for q in queues.split(",") if q.strip()]
    if not queue_list or slots < 1:
        raise click.ClickException("--queues needs at least one queue and --slots at least 1")
    Supervisor(_config(), queue_list, slots, name=name).run()


@main.command()
@click.option("--user", required=True, help="Username (the token's 'sub').")
@click.option("--role", "roles", multiple=True, type=click.Choice(["admin", "privileged", "limited"]))
@click.option("--ttl", default=24 * 3600, show_default=True, type=int, help="Seconds valid.")
@click.option("--tenant", default=None)
def token(user, roles, ttl, tenant):
    """Mint a bearer token signed with ACTORS_JWT_SECRET."""
    from .tokens import TokenError, mint

    try:
        click.echo(mint(_config(), user, roles=roles, ttl=ttl, tenant=tenant))
    except TokenError as error:
        raise click.ClickException(str(error))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--slots", default=os.cpu_count() or 1, show_default=True, type=int)
@click.option("--data-dir", type=click.Path(path_type=Path), default=DEFAULT_DATA_DIR,
              show_default=True, help="Keeps the signing secret so tokens survive restarts.")
def dev(host, port, slots, data_dir):
    """Run the API and one spawner together on this machine, against the configured Redis."""
    data_dir.mkdir(parents=True, exist_ok=True)
    environment = dict(os.environ)
    if not environment.get("ACTORS_JWT_SECRET") and not environment.get("ACTORS_JWT_PUBLIC_KEY"):
        environment["ACTORS_JWT_SECRET"] = _persistent_secret(data_dir / "secret")
    environment.setdefault("ACTORS_API_URL", f"http://{host}:{port}")
    os.environ.update(environment)
    from .tokens import mint

    admin_token = mint(_config(), "admin", roles=("admin",), ttl=30 * 24 * 3600)
    click.echo(f"actors dev: API at http://{host}:{port}\n"
               f"admin token: {admin_token}\n"
               f"redis: {_config().redis_url}")
    executable = [sys.executable, "-m", "actors_api.cli"]
    children = {
        "api": subprocess.Popen(executable + ["serve", "--host", host, "--port", str(port)],
                                env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True),
        "spawner": subprocess.Popen(executable + ["spawner", "--slots", str(slots)],
                                    env=environment, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True),
    }
    for label, child in children.items():
        threading.Thread(target=_prefix_output, args=(label, child), daemon=True).start()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):
        if any(child.poll() is not None for child in children.values()):
            click.echo("actors dev: a component exited; stopping the rest", err=True)
            break
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children.values():
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()


def _persistent_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


def _prefix_output(label: str, child: subprocess.Popen) -> None:
    for line in iter(child.stdout.readline, b""):
        sys.stdout.write(f"[{label}] {line.decode(errors='replace')}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
