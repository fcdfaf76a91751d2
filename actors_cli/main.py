"""The ``actors`` command: serve the API, run a spawner, run both, mint tokens."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from actors_core.config import Config

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
    from actors_api import create_app

    app = create_app(_config())
    app.run(host=host, port=port, threaded=True, use_reloader=False)


@main.command()
@click.option("--queues", default="default", show_default=True,
              help="Comma-separated actor queues this spawner takes work from.")
@click.option("--slots", default=os.cpu_count() or 1, show_default=True, type=int,
              help="Executions this spawner runs at once.")
@click.option("--name", default=None, help="Spawner name (default: the hostname); keep it "
              "stable across restarts so leftovers are reconciled.")
@click.option("--stop-mode", type=click.Choice(["finish", "kill"]), default="finish",
              show_default=True, help="On SIGTERM/SIGINT: let running executions finish, "
              "or force-quit them so nothing is left running.")
@click.option("--gpus", default=None, help="GPUs this spawner hands out: none, auto (all that "
              "NVML sees), a list of indices/UUIDs, or a JSON inventory (simulated GPUs). "
              "Default: ACTORS_GPUS, else none.")
@click.option("--metrics-port", type=int, default=None, help="Serve this spawner's Prometheus "
              "metrics on this port (all interfaces) at /metrics; docs/operations.md.")
def spawner(queues, slots, name, stop_mode, gpus, metrics_port):
    """Take executions from the queue and run them as containers."""
    from spawner.supervisor import Supervisor

    logging.basicConfig(level=logging.INFO, format="spawner %(levelname)s %(message)s")
    queue_list = [q.strip() for q in queues.split(",") if q.strip()]
    if not queue_list or slots < 1:
        raise click.ClickException("--queues needs at least one queue and --slots at least 1")
    config = _config()
    from spawner.gpus import NvmlUnavailable, discover

    try:
        inventory = discover(gpus if gpus is not None else config.gpus)
    except (NvmlUnavailable, ValueError) as error:
        raise click.ClickException(f"--gpus: {error}")
    Supervisor(config, queue_list, slots, name=name, runtime_name=config.runtime,
               stop_mode=stop_mode, gpus=inventory, metrics_port=metrics_port).run()


@main.command()
@click.option("--user", required=True, help="Username (the token's 'sub').")
@click.option("--role", "roles", multiple=True, type=click.Choice(["admin", "privileged", "limited"]))
@click.option("--ttl", default=24 * 3600, show_default=True, type=int, help="Seconds valid.")
@click.option("--tenant", default=None)
def token(user, roles, ttl, tenant):
    """Mint a bearer token signed with ACTORS_JWT_SECRET."""
    from actors_core.tokens import TokenError, mint

    try:
        click.echo(mint(_config(), user, roles=roles, ttl=ttl, tenant=tenant))
    except TokenError as error:
        raise click.ClickException(str(error))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--slots", default=os.cpu_count() or 1, show_default=True, type=int)
@click.option("--data-dir", type=click.Path(path_type=Path), default=DEFAULT_DATA_DIR,
              show_default=True, help="Keeps the signing secret, Redis data and logs.")
@click.option("--runtime", type=click.Choice(["docker", "process"]), default=None,
              help="Default: Docker if a daemon answers, else process.")
def dev(host, port, slots, data_dir, runtime):
    """Run a complete platform on this machine: Redis, the API and a spawner."""
    from .dev import run_dev

    try:
        run_dev(host, port, slots, data_dir, runtime, say=lambda text: click.echo(f"actors dev: {text}"))
    except (RuntimeError, ValueError) as error:
        raise click.ClickException(str(error))


from . import client_commands, run_commands, status_commands  # noqa: E402  (create, send, ...)

client_commands.register(main)
status_commands.register(main)
run_commands.register(main)

if __name__ == "__main__":
    main()
