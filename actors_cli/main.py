"""The ``actors`` command: serve the API, run a spawner, run both, mint tokens."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from actors_core.config import VERSION, Config

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "actors"


def _config(**overrides) -> Config:
    try:
        return Config.from_env(**overrides)
    except ValueError as error:
        raise click.ClickException(str(error))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, "--version", "-V", prog_name="actors",
                      message="%(prog)s %(version)s")
def main():
    """actors: run container images as actors behind an Abaco-compatible API."""


@main.command()
@click.option("--host", "hosts", multiple=True, default=["127.0.0.1"], show_default=True,
              help="Address to listen on; repeat it to listen on several.")
@click.option("--port", default=8000, show_default=True, type=int)
def serve(hosts, port):
    """Run the API with Werkzeug's development server (use gunicorn in production)."""
    import threading

    from werkzeug.serving import make_server

    from actors_api import create_app

    app = create_app(_config())
    try:
        servers = [make_server(host, port, app, threaded=True) for host in hosts]
    except OSError as error:
        raise click.ClickException(f"cannot listen on port {port}: {error}")
    for host, server in zip(hosts, servers):
        click.echo(f" * Serving the API on http://{host}:{port}")
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


@main.command()
@click.option("--queues", default="default", show_default=True,
              help="Comma-separated actor queues this spawner takes work from.")
@click.option("--slots", default=os.cpu_count() or 1, show_default=True, type=int,
              help="Executions this spawner runs at once (with --runtime slurm: the jobs it "
              "has in the cluster, queued or running).")
@click.option("--name", default=None, help="Spawner name (default: the hostname when serving "
              "only the default queue, else HOSTNAME-QUEUE+QUEUE...); keep it stable across "
              "restarts so leftovers are reconciled. A name a live spawner holds is refused.")
@click.option("--stop-mode", type=click.Choice(["finish", "kill"]), default="finish",
              show_default=True, help="On SIGTERM/SIGINT: let running executions finish, "
              "or force-quit them so nothing is left running.")
@click.option("--gpus", default=None, help="GPUs this spawner hands out: none, auto (all that "
              "NVML sees), a list of indices/UUIDs, or a JSON inventory (simulated GPUs). "
              "Default: ACTORS_GPUS, else none.")
@click.option("--metrics-port", type=int, default=None, help="Serve this spawner's Prometheus "
              "metrics on this port (all interfaces) at /metrics; docs/operations.md.")
@click.option("--runtime", type=click.Choice(["docker", "process", "slurm"]), default=None,
              help="How executions run (default: ACTORS_RUNTIME, else docker); slurm hands "
              "each one to Slurm as a job (README: Running on a Slurm cluster).")
def spawner(queues, slots, name, stop_mode, gpus, metrics_port, runtime):
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
    runtime = runtime or config.runtime
    if runtime == "slurm":  # its settings are checked before anything starts
        from spawner.runtimes import make_runtime

        try:
            make_runtime("slurm", config=config)
        except (ValueError, TypeError) as error:
            raise click.ClickException(str(error))
    from spawner.identity import NameTaken

    try:
        Supervisor(config, queue_list, slots, name=name, runtime_name=runtime,
                   stop_mode=stop_mode, gpus=inventory, metrics_port=metrics_port).run()
    except NameTaken as error:
        raise click.ClickException(f"not starting: {error}")


@main.command()
@click.option("--user", required=True, help="Username (the token's 'sub').")
@click.option("--role", "roles", multiple=True, type=click.Choice(["admin", "privileged", "limited"]))
@click.option("--ttl", default=24 * 3600, show_default=True, type=int, help="Seconds valid.")
@click.option("--tenant", default=None)
@click.option("--data-dir", type=click.Path(path_type=Path), default=DEFAULT_DATA_DIR,
              show_default=True, help="The data folder of actors dev, whose signing secret "
              "is used when ACTORS_JWT_SECRET is not set.")
def token(user, roles, ttl, tenant, data_dir):
    """Mint a bearer token signed with ACTORS_JWT_SECRET, else with the secret that
    actors dev keeps in its data folder (DATA_DIR/secret)."""
    from actors_core.tokens import TokenError, mint

    from .dev import SECRET_FILE

    overrides = {}
    if not os.environ.get("ACTORS_JWT_SECRET") and not os.environ.get("ACTORS_JWT_PUBLIC_KEY"):
        secret_file = data_dir / SECRET_FILE
        if not secret_file.exists():
            raise click.ClickException(
                f"no signing secret: ACTORS_JWT_SECRET is not set and {secret_file} does not "
                "exist. Run actors dev first (it makes one there), pass --data-dir DIR of the "
                "actors dev you mean, or set ACTORS_JWT_SECRET.")
        overrides["jwt_secret"] = secret_file.read_text().strip()
    try:
        click.echo(mint(_config(**overrides), user, roles=roles, ttl=ttl, tenant=tenant))
    except TokenError as error:
        raise click.ClickException(str(error))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--slots", default=os.cpu_count() or 1, show_default=True, type=int)
@click.option("--data-dir", type=click.Path(path_type=Path), default=DEFAULT_DATA_DIR,
              show_default=True, help="Keeps the signing secret (DATA_DIR/secret), Redis "
              "data and logs.")
@click.option("--runtime", type=click.Choice(["docker", "process"]), default=None,
              help="Default: Docker if a daemon answers, else process.")
def dev(host, port, slots, data_dir, runtime):
    """Run a complete platform on this machine: Redis, the API and a spawner.

    A busy port is an error, before anything is changed. With Docker, the API listens on
    HOST and on the Docker bridge address (where containers reach it), not on every
    interface. The CLI configuration is written once the API answers."""
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
