"""The client half of the ``actors`` command: drive a running platform through its API.

Every command goes through ``runtime_sdk.client.Client``, the same client Python users
import, and finds the platform through ``settings.py`` (``actors login`` and ``actors dev``
write ``~/.config/actors/config.toml``; ``ACTORS_URL`` and ``ACTORS_TOKEN`` override it).

What scripts can rely on:

- tables (rich) are for people; ``--json`` prints the server's result as JSON on stdout,
  and ``-q`` prints bare ids;
- an error prints ``Error: <the server's message>`` on stderr and exits 1, never a
  traceback (connection problems read ``cannot reach <url>: ...``);
- ``actors send --wait`` exits with the execution's exit code (1 for an ERROR execution,
  with its status message); status lines go to stderr, logs and results to stdout.
"""
from __future__ import annotations

import functools
import http.client
import json
import os
import sys
import time
import urllib.error
from datetime import datetime
from typing import Optional

import click
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from runtime_sdk.client import ApiError, Client, snake_keys
from runtime_sdk.errors import SynchronousTimeout
from runtime_sdk.resources import FINISHED, Actor, Execution

from . import settings as cli_config

POLL_SECONDS = 0.25  # between looks at a running execution (status line, --follow)
INTERRUPTED = 130  # exit status after Ctrl-C, as shells report it

# ``actors show`` puts these first; the other fields follow in the server's order.
ACTOR_SHOWN_FIRST = ("id", "name", "image", "status", "status_message", "owner")
EXECUTION_FIELDS = ("id", "actor_id", "status", "status_message", "exit_code", "executor",
                    "worker_id", "content_type", "message_received_time", "start_time",
                    "finish_time", "runtime", "cpu", "io", "final_state")


# --- plumbing ---------------------------------------------------------------------------

class CommandError(click.ClickException):
    """Printed as ``Error: <message>`` on stderr; exits 1 (click's own convention)."""


def _client() -> Client:
    settings = cli_config.load()
    url = settings.get("url")
    if not url:
        raise CommandError("no API configured: run 'actors login URL --token TOKEN' (or "
                           "'actors dev'), or set ACTORS_URL and ACTORS_TOKEN")
    click.get_current_context().meta["actors.url"] = url
    return Client(url, settings.get("token"))


def _api_message(error: ApiError) -> str:
    message = error.message
    if error.status_code == 401 and not cli_config.load().get("token"):
        message += (" (no token configured: run 'actors login URL --token TOKEN' or set "
                    "ACTORS_TOKEN)")
    return message


def handles_errors(command):
    """Turn what can go wrong talking to the API into ``Error: ...`` and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        url = "the actors API"
        try:
            return command(*args, **kwargs)
        except ApiError as error:
            raise CommandError(_api_message(error)) from None
        except (ConnectionError, urllib.error.URLError, http.client.HTTPException) as error:
            url = click.get_current_context().meta.get("actors.url", url)
            text = str(error)
            if isinstance(error, urllib.error.URLError):
                text = str(error.reason)
            if not text.startswith("cannot reach"):
                text = f"cannot reach {url}: {text or type(error).__name__}"
            raise CommandError(text) from None
        except TimeoutError as error:
            raise CommandError(str(error) or "timed out") from None

    return wrapper


def _stdout() -> Console:
    # Piped output keeps whole lines: rich would otherwise fold tables at 80 columns.
    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, 200))


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def _print_json(value) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _write_text(text: str) -> None:
    """Logs as they are (no markup), ending with a newline."""
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()


def _cell(value) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value) if value else "-"
    return str(value)


def _when(value: Optional[str]) -> str:
    """``2024-05-01T12:00:01.123Z`` -> ``2024-05-01 12:00:01``."""
    if not value:
        return "-"
    return str(value).replace("T", " ").split(".")[0].rstrip("Z")


def _table(*headers) -> Table:
    """A light table; ids and times are never cut, names and images fold when narrow."""
    table = Table(*headers, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  header_style="bold")
    for column in table.columns:
        column.no_wrap = column.header not in ("NAME", "IMAGE")
        column.overflow = "fold"
    return table


def _seconds_between(start: Optional[str], end: Optional[str]) -> str:
    """Seconds between two of the API's ISO times, or ``-`` while one is missing."""
    try:
        began, ended = (datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                        for value in (start, end))
    except ValueError:
        return "-"
    return f"{(ended - began).total_seconds():.1f} s"


def _print_fields(record: dict, order: tuple) -> None:
    """One ``name  value`` line per field, in ``order`` then the rest as the server ordered
    them (links left out)."""
    names = [name for name in order if name in record]
    names += [name for name in record if name not in order and not name.startswith("_")]
    width = max((len(name) for name in names), default=0)
    console = _stdout()
    for name in names:
        value = record[name]
        shown = _when(value) if name.endswith("_time") else _cell(value)
        console.print(Text.assemble((name.ljust(width), "bold"), "  ", shown), soft_wrap=True)


def _parse_env(ctx, param, pairs) -> dict:
    environment = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", ctx=ctx, param=param)
        environment[name] = value
    return environment


env_option = click.option("--env", "-e", "env", multiple=True, metavar="NAME=VALUE",
                          callback=_parse_env, help="An environment variable (repeatable).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def quiet_option(help_text: str):
    return click.option("--quiet", "-q", is_flag=True, help=help_text)


def _execution(client: Client, actor_id: str, execution_id: str) -> Execution:
    return Execution(client, {"id": execution_id, "actor_id": actor_id})


# --- configuration ----------------------------------------------------------------------

@click.command()
@click.argument("url")
@click.option("--token", prompt=True, hide_input=True,
              help="Bearer token (asked for when not given, so it stays out of shell history).")
@click.option("--no-check", is_flag=True, help="Save without asking the API first.")
@handles_errors
def login(url, token, no_check):
    """Save the API's URL and your token in ~/.config/actors/config.toml."""
    url = url.rstrip("/")
    if "://" not in url:
        url = "http://" + url
    if not no_check:
        click.get_current_context().meta["actors.url"] = url
        count = len(Client(url, token).actors.list())
        click.echo(f"{url} accepts the token ({count} actor{'s' * (count != 1)} visible)")
    path = cli_config.save(url, token)
    click.echo(f"Saved in {path}")
    overridden = [name for name in ("ACTORS_URL", "ACTORS_TOKEN") if os.environ.get(name)]
    if overridden:
        click.echo(f"Note: {' and '.join(overridden)} set in the environment override the file",
                   err=True)


# --- actors -----------------------------------------------------------------------------

def _actor_options(command):
    """Options shared by create and update: the actor's fields a user sets."""
    for option in reversed([
        click.option("--name", help="A name for people; ids stay the way to address it."),
        click.option("--description"),
        env_option,
        click.option("--queue", help="Which spawners run it (admin/privileged)."),
        click.option("--max-workers", type=click.IntRange(min=1),
                     help="Concurrent executions (admin/privileged)."),
        click.option("--mem-limit", help="Memory limit such as 512m or 2g (admin/privileged)."),
        click.option("--max-cpus", type=float, help="CPUs (admin/privileged)."),
        click.option("--gpus", metavar="N|all", help="GPUs for each execution."),
        click.option("--gpu-memory-min", type=click.IntRange(min=0), metavar="BYTES",
                     help="Free memory a GPU must have."),
        click.option("--hint", "hints", multiple=True, help="A hint (repeatable)."),
        click.option("--log-ex", type=click.IntRange(min=1),
                     help="Seconds logs and results are kept."),
    ]):
        command = option(command)
    return command


def _retry_options(command):
    """Retries (issue 12): how often and when an execution that failed is tried again."""
    for option in reversed([
        click.option("--max-retries", type=click.IntRange(min=0),
                     help="Tries after an execution ends in ERROR (default 0: none)."),
        click.option("--retry-backoff", type=click.FloatRange(min=0), metavar="SECONDS",
                     help="Seconds before the first retry, doubling for each further one."),
        click.option("--retry-on-exit-code/--no-retry-on-exit-code", default=None,
                     help="Also retry executions that exit with a code other than 0."),
    ]):
        command = option(command)
    return command


def _given(**fields) -> dict:
    return {name: value for name, value in fields.items()
            if value is not None and value != [] and value != {}}


def _show_actor(actor: Actor, as_json: bool, quiet: bool, verb: str = "") -> None:
    if as_json:
        _print_json(actor.attrs)
    elif quiet:
        click.echo(actor.id)
    else:
        if verb:
            _stderr().print(f"{verb} actor {actor.id}")
        _print_fields(actor.attrs, ACTOR_SHOWN_FIRST)


@click.command()
@click.argument("image")
@_actor_options
@click.option("--stateful", is_flag=True, help="One execution at a time, in order, with state.")
@click.option("--token", "give_token", is_flag=True,
              help="Give executions an access token (_abaco_access_token) for this actor.")
@click.option("--privileged", is_flag=True, help="Privileged container (admin/privileged).")
@click.option("--use-container-uid", is_flag=True, help="Run as the image's own user.")
@_retry_options
@json_option
@quiet_option("Print only the new actor's id.")
@handles_errors
def create(image, name, description, env, queue, max_workers, mem_limit, max_cpus, gpus,
           gpu_memory_min, hints, log_ex, stateful, give_token, privileged, use_container_uid,
           as_json, quiet, **retry):
    """Register an actor running IMAGE."""
    fields = _given(name=name, description=description, default_environment=env, queue=queue,
                    max_workers=max_workers, mem_limit=mem_limit, max_cpus=max_cpus, gpus=gpus,
                    gpu_memory_min=gpu_memory_min, hints=list(hints), log_ex=log_ex, **retry)
    for flag, field, value in ((stateful, "stateless", False), (give_token, "token", True),
                               (privileged, "privileged", True),
                               (use_container_uid, "use_container_uid", True)):
        if flag:
            fields[field] = value
    actor = _client().actors.create(image, **fields)
    _show_actor(actor, as_json, quiet, verb="Created")


@click.command(name="ls")
@json_option
@quiet_option("Print only the ids.")
@handles_errors
def list_actors(as_json, quiet):
    """List your actors (admins: all)."""
    actors = _client().actors.list()
    if as_json:
        return _print_json([actor.attrs for actor in actors])
    if quiet:
        for actor in actors:
            click.echo(actor.id)
        return
    if not actors:
        return _stderr().print("No actors yet: actors create IMAGE")
    several_owners = len({actor.attrs.get("owner") for actor in actors}) > 1  # an admin's view
    table = _table("ID", "NAME", "IMAGE", "STATUS", "KIND", "CREATED",
                   *(["OWNER"] if several_owners else []))
    for actor in actors:
        attrs = actor.attrs
        row = [actor.id, _cell(attrs.get("name")), _cell(attrs.get("image")),
               _cell(attrs.get("status")),
               "stateless" if attrs.get("stateless", True) else "stateful",
               _when(attrs.get("create_time"))[:16]]
        table.add_row(*row, *([_cell(attrs.get("owner"))] if several_owners else []))
    _stdout().print(table)


@click.command()
@click.argument("actor_id")
@json_option
@handles_errors
def show(actor_id, as_json):
    """Show one actor."""
    _show_actor(_client().actors.get(actor_id), as_json, quiet=False)


@click.command()
@click.argument("actor_id")
@click.option("--image", help="A new image (bumps the revision; the image is checked again).")
@_actor_options
@click.option("--stateful", is_flag=True, help="Make it stateful (there is no way back).")
@click.option("--token/--no-token", "give_token", default=None,
              help="Give executions an access token, or stop giving one.")
@click.option("--privileged/--no-privileged", default=None)
@click.option("--use-container-uid/--no-use-container-uid", default=None)
@click.option("--force", is_flag=True, help="Check the image again even if it is the same.")
@_retry_options
@json_option
@quiet_option("Print only the actor's id.")
@handles_errors
def update(actor_id, image, name, description, env, queue, max_workers, mem_limit, max_cpus,
           gpus, gpu_memory_min, hints, log_ex, stateful, give_token, privileged,
           use_container_uid, force, as_json, quiet, **retry):
    """Change some of an actor's fields; the others keep their current values.

    --env adds or replaces variables of the default environment and keeps the rest.
    """
    fields = _given(image=image, name=name, description=description, queue=queue,
                    max_workers=max_workers, mem_limit=mem_limit, max_cpus=max_cpus, gpus=gpus,
                    gpu_memory_min=gpu_memory_min, hints=list(hints), log_ex=log_ex,
                    token=give_token, privileged=privileged, use_container_uid=use_container_uid,
                    **retry)
    if name is not None:
        raise click.UsageError("--name: an actor's name is set when it is registered; a PUT "
                               "cannot change it (as in Abaco). Create a new actor instead.")
    if stateful:
        fields["stateless"] = False
    if not fields and not env and not force:
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    # The PUT replaces the whole description; Actor.update sends every field not asked
    # about back as it is, so nothing resets.
    actor = _client().actors.get(actor_id)
    if env:
        fields["default_environment"] = {**(actor.attrs.get("default_environment") or {}), **env}
    if force:
        fields["force"] = True
    actor.update(**fields)
    _show_actor(actor, as_json, quiet, verb="Updated")


@click.command()
@click.argument("actor_ids", nargs=-1, required=True, metavar="ID...")
@handles_errors
def rm(actor_ids):
    """Delete actors with their queued messages, executions, logs and results."""
    client = _client()
    for actor_id in actor_ids:
        Actor(client, {"id": actor_id}).delete()
        click.echo(f"Deleted actor {actor_id}")


# --- messages ---------------------------------------------------------------------------

def _message(text, json_file, binary_file) -> dict:
    given = [name for name, value in (("TEXT", text), ("--json", json_file),
                                      ("--binary", binary_file)) if value is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one message: TEXT, --json FILE or --binary FILE"
                               + (f" (got {', '.join(given)})" if given else ""))
    if text is not None:
        return {"message": text}
    if binary_file is not None:
        return {"binary": binary_file.read()}
    try:
        return {"json": json.load(json_file)}
    except ValueError as error:
        raise click.BadParameter(f"{json_file.name} is not JSON: {error}",
                                 param_hint="'--json'") from None


def _exit_status(code) -> int:
    """An execution's exit code as a process exit status (signals as 128 + n, as shells do)."""
    code = int(code)
    if code < 0:
        return min(128 - code, 255)
    return code if code <= 255 else 1


class StatusLine:
    """SUBMITTED -> RUNNING -> COMPLETE with the time since the message was sent, on stderr.

    On a terminal it is one line updated in place; otherwise (logs, CI) one line per change.
    """

    def __init__(self, execution_id: str, quiet: bool, initial: Optional[str] = None):
        self.execution_id = execution_id
        self.initial = initial
        self.console = _stderr()
        self.quiet = quiet
        self.started = time.monotonic()
        self.status = None
        self.live = None if quiet or not self.console.is_terminal else Live(
            self._render(initial or "..."), console=self.console, transient=True,
            refresh_per_second=8)

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.1f} s"

    def _render(self, status: str) -> Text:
        style = {"RUNNING": "yellow", "COMPLETE": "green", "ERROR": "red"}.get(status, "cyan")
        return Text.assemble(f"execution {self.execution_id}: ", (status, f"bold {style}"),
                             f"  {self.elapsed()}")

    def __enter__(self):
        if self.live:
            self.live.__enter__()
        if self.initial:
            self.update(self.initial)
        return self

    def update(self, status: str) -> None:
        if self.live:
            self.live.update(self._render(status))
        elif status != self.status and status not in FINISHED and not self.quiet:  # finish() says
            self.console.print(self._render(status))
        self.status = status

    def __exit__(self, *exc):
        if self.live:
            self.live.__exit__(*exc)

    def finish(self, attrs: dict) -> None:
        if self.quiet:
            return
        status = attrs.get("status")
        style = "green" if status == "COMPLETE" and attrs.get("exit_code") == 0 else "red"
        detail = (f", exit code {attrs['exit_code']}" if attrs.get("exit_code") is not None
                  else "")
        self.console.print(Text.assemble(f"execution {self.execution_id}: ",
                                         (status, f"bold {style}"),
                                         f" after {self.elapsed()}{detail}"))


def wait_for(execution: Execution, quiet: bool = False, timeout: Optional[float] = None,
             initial: Optional[str] = None) -> dict:
    """Poll until COMPLETE or ERROR, showing the status line; returns the final attrs.

    ``initial`` is the status known without asking (SUBMITTED right after sending).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    line = StatusLine(execution.id, quiet, initial)
    try:
        with line:
            while True:
                status = execution.reload().attrs["status"]
                line.update(status)
                if status in FINISHED:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise CommandError(f"execution {execution.id} is still {status} after "
                                       f"{timeout:g} s; it goes on: actors execution "
                                       f"{execution.actor_id} {execution.id}")
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        _stderr().print(f"stopped waiting; the execution goes on: actors logs --follow "
                        f"{execution.actor_id} {execution.id}")
        sys.exit(INTERRUPTED)
    line.finish(execution.attrs)
    return execution.attrs


def _finish_exit(attrs: dict) -> None:
    """Exit like the execution did: its exit code, or 1 when it could not run."""
    if attrs.get("status") == "ERROR":
        raise CommandError(f"execution {attrs.get('id')} failed: "
                           f"{attrs.get('status_message') or 'no reason given'}")
    if attrs.get("exit_code") is None:
        if not attrs.get("start_time"):
            raise CommandError(f"execution {attrs.get('id')} was cancelled before it ran")
        raise CommandError(f"execution {attrs.get('id')} finished without an exit code")
    sys.exit(_exit_status(attrs["exit_code"]))


@click.command()
@click.argument("actor_id")
@click.argument("text", required=False)
@click.option("--json", "json_file", type=click.File("r"), metavar="FILE",
              help="Send the JSON document in FILE ('-': stdin).")
@click.option("--binary", "binary_file", type=click.File("rb"), metavar="FILE",
              help="Send FILE's bytes ('-': stdin) as a binary message.")
@env_option
@click.option("--wait", is_flag=True,
              help="Show the status until it finishes, print the logs, exit with its exit code.")
@click.option("--sync", is_flag=True,
              help="A synchronous message: print the first result (raw), or else the logs.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Seconds to wait with --wait or --sync.")
@quiet_option("Print only the execution id; with --wait, no status line.")
@handles_errors
def send(actor_id, text, json_file, binary_file, env, wait, sync, timeout, quiet):
    """Send a message to an actor: TEXT, --json FILE or --binary FILE.

    --env variables become environment variables of the execution. Without --wait or
    --sync this prints the new execution's id and returns at once.
    """
    if wait and sync:
        raise click.UsageError("--wait and --sync do not go together")
    if timeout is not None and not (wait or sync):
        raise click.UsageError("--timeout goes with --wait or --sync")
    message = _message(text, json_file, binary_file)
    actor = Actor(_client(), {"id": actor_id})
    if sync:
        try:
            answer = actor.send_sync(**message, env=env or None, timeout=timeout)
        except SynchronousTimeout as error:
            hint = (f"; the execution goes on: actors execution {actor_id} {error.execution_id}"
                    if error.execution_id else "")
            raise CommandError(error.message + hint) from None
        if isinstance(answer, bytes):
            sys.stdout.buffer.write(answer)
            sys.stdout.buffer.flush()
        else:
            _write_text(answer)
        return
    execution = actor.send(**message, env=env or None)
    if not wait:
        if quiet:
            click.echo(execution.id)
        else:
            click.echo(f"Sent: execution {execution.id} of actor {actor_id}")
        return
    attrs = wait_for(execution, quiet=quiet, timeout=timeout, initial="SUBMITTED")
    _write_text(execution.logs())
    _finish_exit(attrs)


# --- executions -------------------------------------------------------------------------

@click.command()
@click.argument("actor_id")
@json_option
@quiet_option("Print only the execution ids, oldest first.")
@handles_errors
def executions(actor_id, as_json, quiet):
    """List an actor's newest executions (the server's first page), oldest first, with totals."""
    client = _client()
    summary = client.call("GET", f"{Actor(client, {'id': actor_id}).path}/executions")
    rows = summary.get("executions") or []
    if as_json:
        return _print_json(summary)
    if quiet:
        for row in rows:
            click.echo(row["id"])
        return
    table = _table("ID", "STATUS", "RECEIVED", "WAITED", "RAN")
    for row in rows:
        table.add_row(row["id"], _cell(row.get("status")), _when(row.get("message_received_time")),
                      _seconds_between(row.get("message_received_time"), row.get("start_time")),
                      _seconds_between(row.get("start_time"), row.get("finish_time")))
    console = _stdout()
    console.print(table)
    listed = summary.get("_metadata") or {}
    if listed.get("total_count", len(rows)) > len(rows):
        console.print(f"the newest {len(rows)} of {listed['total_count']} shown", style="dim",
                      highlight=False)
    console.print(f"{summary.get('total_executions', len(rows))} finished execution(s); they "
                  f"ran {summary.get('total_runtime') or 0:g} s in all, CPU "
                  f"{(summary.get('total_cpu') or 0) / 1e9:.2f} s, I/O "
                  f"{summary.get('total_io') or 0} bytes", style="dim", highlight=False)


@click.command()
@click.argument("actor_id")
@click.argument("execution_id")
@json_option
@handles_errors
def execution(actor_id, execution_id, as_json):
    """Show one execution: status, exit code, times, CPU, I/O, final container state."""
    attrs = _execution(_client(), actor_id, execution_id).reload().attrs
    if as_json:
        return _print_json(attrs)
    _print_fields(attrs, EXECUTION_FIELDS)


@click.command()
@click.argument("actor_id")
@click.argument("execution_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output until it finishes.")
@handles_errors
def logs(actor_id, execution_id, follow):
    """Print an execution's logs (stdout and stderr)."""
    running = _execution(_client(), actor_id, execution_id)
    if not follow:
        return _write_text(running.logs())
    printed = 0
    try:
        while True:
            # The status first: logs read after it said finished are complete.
            finished = running.reload().attrs["status"] in FINISHED
            text = running.logs()
            if len(text) > printed:
                sys.stdout.write(text[printed:])
                sys.stdout.flush()
                printed = len(text)
            if finished:
                break
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    if printed and not text.endswith("\n"):
        sys.stdout.write("\n")


@click.command()
@click.argument("actor_id")
@click.argument("execution_id")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write the bytes to FILE instead of stdout.")
@click.option("--all", "drain", is_flag=True,
              help="Every unread result, one after the other (default: the next one).")
@handles_errors
def results(actor_id, execution_id, output, drain):
    """Print the next unread result of an execution (reading it removes it).

    Results are bytes, written as they are. Exits 1 when there is no unread result.
    """
    running = _execution(_client(), actor_id, execution_id)
    if drain:
        chunks = running.results()
    else:
        chunk = running.result()
        chunks = [chunk] if chunk is not None else []
    if not chunks:
        raise CommandError(f"execution {execution_id} has no unread result")
    data = b"".join(chunks)
    if output:
        try:
            with open(output, "wb") as handle:
                handle.write(data)
        except OSError as error:
            raise CommandError(f"cannot write {output}: {error.strerror}") from None
        _stderr().print(f"{len(data)} bytes written to {output}")
        return
    if sys.stdout.isatty():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise CommandError(f"the result is binary ({len(data)} bytes): write it to a file "
                               "with -o FILE") from None
        if not data.endswith(b"\n"):
            data += b"\n"
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@click.command()
@click.argument("actor_id")
@click.argument("execution_id")
@click.option("--wait", is_flag=True, help="Wait until it has stopped and show how it ended.")
@json_option
@handles_errors
def kill(actor_id, execution_id, wait, as_json):
    """Cancel a queued execution, or force-quit a running one."""
    client = _client()
    running = _execution(client, actor_id, execution_id)
    envelope = client.request("DELETE", running.path).json()  # its message says what happened
    running.attrs = dict(running.attrs, **snake_keys(envelope.get("result") or {}))
    if not as_json:
        click.echo(envelope.get("message") or f"Stop requested for execution {execution_id}")
    if wait:
        wait_for(running, quiet=as_json)
    if as_json:
        _print_json(running.attrs)


@click.command()
@click.argument("actor_id")
@click.argument("execution_id")
@click.option("--wait", is_flag=True,
              help="Show the status until it finishes, print the logs, exit with its exit code.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Seconds to wait with --wait.")
@quiet_option("Print only the new execution's id; with --wait, no status line.")
@handles_errors
def rerun(actor_id, execution_id, wait, timeout, quiet):
    """Run a finished execution again: same message (text, JSON or binary) and variables.

    Messages are kept as long as the logs (the actor's log_ex), so an execution can be
    re-run until its logs expire. Prints the new execution's id, as send does.
    """
    if timeout is not None and not wait:
        raise click.UsageError("--timeout goes with --wait")
    execution = _execution(_client(), actor_id, execution_id).rerun()
    if not wait:
        if quiet:
            click.echo(execution.id)
        else:
            click.echo(f"Re-run: execution {execution.id} of actor {actor_id} "
                       f"(re-runs {execution_id})")
        return
    attrs = wait_for(execution, quiet=quiet, timeout=timeout, initial="SUBMITTED")
    _write_text(execution.logs())
    _finish_exit(attrs)


COMMANDS = (login, create, list_actors, show, update, rm, send, executions, execution, logs,
            results, kill, rerun)


def register(group: click.Group) -> None:
    """Add the client commands to the ``actors`` command group."""
    for command in COMMANDS:
        group.add_command(command)
