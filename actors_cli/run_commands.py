"""``actors run`` and friends: start a run from a JSON file, watch it, cancel, re-run.

``actors run FILE.json --wait`` shows a live table (items done, failed, running per stage)
and exits 0 when the run is COMPLETE, 1 when it FAILED or was CANCELLED, as
``actors run-status ID --follow`` does for a run started earlier.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Optional

import click
from rich.console import Group
from rich.live import Live
from rich.text import Text

from runtime_sdk.resources import RUN_ENDED, Run

from .client_commands import (INTERRUPTED, CommandError, _client, _print_json, _stderr, _stdout,
                              _table, _when, handles_errors, json_option, quiet_option)
from .status_commands import format_event

POLL_SECONDS = 0.5
STYLE = {"RUNNING": "yellow", "COMPLETE": "green", "FAILED": "red", "CANCELLED": "magenta"}
COLUMNS = ("waiting", "queued", "running", "succeeded", "failed", "skipped", "cancelled")


def _run(run_id: str) -> Run:
    return Run(_client(), {"id": run_id})


def _heading(attrs: dict, elapsed: Optional[float] = None) -> Text:
    status = attrs["status"]
    text = Text.assemble(f"run {attrs['id']}: ", (status, f"bold {STYLE.get(status, 'cyan')}"),
                         f"  {attrs['items_ended']}/{attrs['items_total']} items ended, "
                         f"{attrs['items_failed']} did not succeed")
    if attrs.get("cancel_requested") and status == "RUNNING":
        text.append("  (cancelling)", style="magenta")
    if elapsed is not None:
        text.append(f"  {elapsed:.1f} s")
    return text


def progress(attrs: dict, elapsed: Optional[float] = None) -> Group:
    """The run at a glance: a heading, then per stage how many items are in each state."""
    table = _table("STAGE", *(c.upper() for c in COLUMNS))
    for stage in attrs["stages"]:
        counts = stage["counts"]
        table.add_row(stage["name"], *(_count(counts[c], c) for c in COLUMNS))
    final = attrs.get("finally")
    if final:
        row = ["1" if final["status"].lower() == c else "" for c in COLUMNS]
        table.add_row(f"{final['name']} (finally)", *row)
    return Group(_heading(attrs, elapsed), table)


def _count(value: int, column: str) -> Text:
    style = {"running": "yellow", "succeeded": "green", "failed": "red",
             "skipped": "red", "cancelled": "magenta"}.get(column, "")
    return Text(str(value), style=style if value else "dim")


def watch(run: Run, quiet: bool = False) -> dict:
    """Redraw the progress until the run ends (one line per change when not a terminal);
    the run's final attrs."""
    console = _stderr()
    started = time.monotonic()
    live = None if quiet or not console.is_terminal else Live(console=console,
                                                              refresh_per_second=4)
    last = None
    try:
        if live:
            live.__enter__()
        while True:
            attrs = run.reload(limit=0).attrs
            if live:
                live.update(progress(attrs, time.monotonic() - started))
            elif not quiet:
                line = _heading(attrs).plain
                if line != last:
                    console.print(line)
                    last = line
            if attrs["status"] in RUN_ENDED:
                return attrs
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        if live:
            live.__exit__(None, None, None)
            live = None
        console.print(f"stopped watching; the run goes on: actors run-status {run.id} --follow")
        sys.exit(INTERRUPTED)
    finally:
        if live:
            live.__exit__(None, None, None)


def _exit_like(attrs: dict) -> None:
    if attrs["status"] != "COMPLETE":
        raise CommandError(f"run {attrs['id']} ended {attrs['status']}: {attrs['items_failed']} "
                           f"of {attrs['items_total']} item(s) did not succeed"
                           + (f"; finally stage {attrs['finally']['status']}"
                              if attrs.get("finally") else ""))


@click.command(name="run")
@click.argument("description", type=click.File("r"), metavar="FILE.json")
@click.option("--wait", is_flag=True, help="Show the progress until the run ends; exit 0 only "
              "if it is COMPLETE.")
@json_option
@quiet_option("Print only the run's id; with --wait, no progress.")
@handles_errors
def run_command(description, wait, as_json, quiet):
    """Start a run described in FILE.json ('-': stdin): stages, items, env, finally.

    \b
    {"stages": [{"name": "compile", "actor": "grader"},
                {"name": "test", "actor": "tester", "needs": ["compile"]}],
     "items": [{"STUDENT": "ann"}, {"STUDENT": "bob"}],
     "finally": {"name": "grades", "actor": "summarizer", "needs": ["test"]}}
    """
    try:
        body = json.load(description)
    except ValueError as error:
        raise CommandError(f"{description.name} is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise CommandError(f"{description.name} must hold a JSON object")
    attrs = _client().call("POST", "/runs", json=body)
    run = Run(_client(), attrs)
    if as_json and not wait:
        return _print_json(attrs)
    if quiet or as_json:
        if not as_json:
            click.echo(run.id)
    else:
        _stderr().print(f"run {run.id} accepted: {attrs['items_total']} item(s) over "
                        f"{', '.join(s['name'] for s in attrs['stages'])}")
        if not wait:
            click.echo(run.id)
    if wait:
        final = watch(run, quiet or as_json)
        if as_json:
            _print_json(final)
        elif not quiet:
            _stdout().print(progress(final))
        _exit_like(final)


@click.command(name="runs")
@json_option
@quiet_option("Print only the ids, newest first.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@handles_errors
def list_runs(as_json, quiet, limit):
    """List your runs (an admin: the tenant's), newest first."""
    runs = _client().runs.list(limit)
    if as_json:
        return _print_json([r.attrs for r in runs])
    if quiet:
        for run in runs:
            click.echo(run.id)
        return
    table = _table("ID", "STATUS", "ITEMS", "FAILED", "STAGES", "CREATED", "FINISHED")
    for run in runs:
        a = run.attrs
        stages = ", ".join(a["stages"]) + (f" + {a['finally']}" if a.get("finally") else "")
        table.add_row(a["id"], Text(a["status"], style=STYLE.get(a["status"], "")),
                      f"{a['items_ended']}/{a['items_total']}", str(a["items_failed"]),
                      stages, _when(a["create_time"]), _when(a["finish_time"]))
    _stdout().print(table)


@click.command(name="run-status")
@click.argument("run_id")
@click.option("--follow", "-f", is_flag=True, help="Keep showing the progress (with --events: "
              "the events) until the run ends; exit 0 only if it is COMPLETE.")
@click.option("--events", is_flag=True, help="Print the run's events, one line each.")
@click.option("--items", "show_items", is_flag=True, help="Also list each item's stages.")
@json_option
@handles_errors
def run_status(run_id, follow, events, show_items, as_json):
    """Show a run: its status and how many items are in each state per stage."""
    run = _run(run_id)
    if events:
        stream = run.follow() if follow else run.status_events()
        try:
            for event in stream:
                click.echo(json.dumps(event, separators=(",", ":")) if as_json
                           else format_event(event))
                sys.stdout.flush()
        except KeyboardInterrupt:
            sys.exit(INTERRUPTED)
        if follow:
            _exit_like(run.reload(limit=0).attrs)
        return
    if follow:
        attrs = watch(run, as_json)
        if as_json:
            _print_json(attrs)
        else:
            _stdout().print(progress(attrs))
        _exit_like(attrs)
        return
    if as_json:
        return _print_json(dict(run.reload(limit=0).attrs, items=run.items())
                           if show_items else run.reload().attrs)
    attrs = run.reload(limit=0).attrs
    _stdout().print(progress(attrs))
    if show_items:
        _print_items(attrs, run.items())


def _print_items(attrs: dict, items: list) -> None:
    names = [s["name"] for s in attrs["stages"]]
    table = _table("ITEM", "STATUS", *(n.upper() for n in names), "KEYS")
    for item in items:
        states = {s["name"]: s for s in item["stages"]}
        cells = []
        for name in names:
            state = states[name]
            label = state["status"] + (f" ({state['exit_code']})"
                                       if state.get("exit_code") not in (None, 0) else "")
            cells.append(Text(label, style={"SUCCEEDED": "green", "FAILED": "red",
                                            "SKIPPED": "red", "RUNNING": "yellow"}
                              .get(state["status"], "")))
        keys = " ".join(f"{k}={v}" for k, v in item["env"].items())
        table.add_row(str(item["index"]), item["status"], *cells, keys)
    _stdout().print(table)


@click.command(name="run-cancel")
@click.argument("run_id")
@handles_errors
def run_cancel(run_id):
    """Cancel a run: nothing new starts, running executions are force-quit; its finally
    stage still runs."""
    run = _run(run_id)
    answer = run.client.request("DELETE", run.path).json()
    _stderr().print(answer.get("message", "cancel requested"))


@click.command(name="run-rerun")
@click.argument("run_id")
@click.option("--item", "items", multiple=True, type=click.IntRange(min=0), metavar="N",
              help="Only this item (repeatable; default: all).")
@click.option("--stage", "stages", multiple=True, metavar="NAME",
              help="Only this stage (repeatable; what needs it runs again too).")
@click.option("--force", is_flag=True, help="Run the chosen stages again even if they succeeded.")
@click.option("--wait", is_flag=True, help="Show the progress until the run ends again.")
@handles_errors
def run_rerun(run_id, items, stages, force, wait):
    """Run again the failed, skipped and cancelled parts of an ended run, reusing the
    outputs of what succeeded."""
    run = _run(run_id)
    body = {"force": force}
    if items:
        body["items"] = list(items)
    if stages:
        body["stages"] = list(stages)
    answer = run.client.request("POST", f"{run.path}/rerun", json=body).json()
    _stderr().print(answer.get("message", "re-run requested"))
    if wait:
        final = watch(run)
        _stdout().print(progress(final))
        _exit_like(final)


@click.command(name="run-outputs")
@click.argument("run_id")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write the zip to FILE (default: stdout when it is not a terminal).")
@handles_errors
def run_outputs(run_id, output):
    """Download every item's and stage's outputs and logs as one zip."""
    if output is None and sys.stdout.isatty():
        raise CommandError("the zip is binary: write it to a file with -o FILE")
    try:
        _run(run_id).outputs(output or sys.stdout.buffer)
    except OSError as error:
        raise CommandError(f"cannot write {output}: {error.strerror}") from None
    if output:
        _stderr().print(f"run {run_id}: outputs and logs written to {output} as a zip")


COMMANDS = (run_command, list_runs, run_status, run_cancel, run_rerun, run_outputs)


def register(group: click.Group) -> None:
    for command in COMMANDS:
        group.add_command(command)
