"""``actors status`` (an execution's status events, Anubis-style) and ``actors outputs``."""
from __future__ import annotations

import sys

import click

from runtime_sdk.resources import Execution

from .client_commands import (INTERRUPTED, CommandError, _client, _print_json, _stderr, _stdout,
                              _table, handles_errors, json_option)


def format_event(event: dict) -> str:
    """``2024-05-01 12:00:01.123 |spawner-a| Claimed by spawner spawner-a (worker ...).``"""
    when = str(event.get("time") or "").replace("T", " ").rstrip("Z")
    node = (event.get("source") or {}).get("node") or "-"
    return f"{when} |{node}| {event.get('message', '')}"


@click.command()
@click.argument("actor_id")
@click.argument("execution_id")
@click.option("--follow", "-f", is_flag=True,
              help="Keep printing events as they happen, until the final one.")
@click.option("--since", default=0, type=click.IntRange(min=0), show_default=True,
              help="Only events after this seq.")
@json_option
@handles_errors
def status(actor_id, execution_id, follow, since, as_json):
    """Print an execution's status events: one line each with time, node and message.

    Exits 1 when the execution ended in ERROR (its last event says why).
    """
    execution = Execution(_client(), {"id": execution_id, "actor_id": actor_id})
    events = execution.follow(since) if follow else execution.status_events(since)
    last = None
    try:
        for event in events:
            last = event
            click.echo(_json_line(event) if as_json else format_event(event))
            sys.stdout.flush()
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    if last is not None and last.get("type") == "ERROR":
        sys.exit(1)


def _json_line(event: dict) -> str:
    import json

    return json.dumps(event, separators=(",", ":"))


@click.command()
@click.argument("actor_id")
@click.argument("execution_id")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write the zip to FILE (default: stdout when it is not a terminal).")
@click.option("--list", "listing", is_flag=True, help="List the kept files instead.")
@json_option
@handles_errors
def outputs(actor_id, execution_id, output, listing, as_json):
    """Download the files an execution left in its outputs folder, as a zip."""
    execution = Execution(_client(), {"id": execution_id, "actor_id": actor_id}).reload()
    attrs = execution.attrs
    if listing or as_json:
        kept = attrs.get("outputs") or []
        if as_json:
            return _print_json({name: attrs.get(name) for name in (
                "outputs", "outputs_bytes", "outputs_truncated", "outputs_message",
                "outputs_expire_time")})
        table = _table("PATH", "SIZE", "SHA256")
        for item in kept:
            table.add_row(item["path"], str(item["size"]), item["sha256"])
        _stdout().print(table)
        if attrs.get("outputs_message"):
            _stderr().print(attrs["outputs_message"])
        return
    if output is None and sys.stdout.isatty():
        raise CommandError("the zip is binary: write it to a file with -o FILE")
    try:
        target = output if output else sys.stdout.buffer
        execution.outputs(target)
    except OSError as error:
        raise CommandError(f"cannot write {output}: {error.strerror}") from None
    if output:
        count = len(attrs.get("outputs") or [])
        _stderr().print(f"{count} file(s), {attrs.get('outputs_bytes') or 0} bytes, written to "
                        f"{output} as a zip")
    if attrs.get("outputs_truncated"):
        _stderr().print(f"incomplete: {attrs.get('outputs_message')}")


COMMANDS = (status, outputs)


def register(group: click.Group) -> None:
    for command in COMMANDS:
        group.add_command(command)
