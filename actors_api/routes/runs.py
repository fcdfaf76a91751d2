"""Runs: the same stages over many items, then a finally stage (docs/runs.md).

A run is its owner's: the owner and the tenant's admins read, cancel and re-run
it; another tenant never finds it. Creating one needs EXECUTE on every actor it
names, and so does a re-run (checked again: a permission may have been taken
back since). Only a user's own token will do: not a nonce, nor an execution's
token (which reaches one actor, where a run may name many). The store does the rest (actors_core/store/runs.py); a spawner
submits the stages' executions.
"""
from __future__ import annotations

import io
import json

from flask import Blueprint, Response, request

from actors_core import artifacts
from actors_core.ids import new_id
from actors_core.runs import Plan, RunSpecError, item_env, plan
from actors_core.scheduling import dispatch_queue
from actors_core.store.timeline import MAX_PAGE
from actors_core.times import parse_iso, utcnow

from ..auth import EXECUTE, load_actor, require_token
from ..casing import OPAQUE_KEYS, convert_keys, to_snake
from ..context import get_config, get_store, links
from ..errors import APIError, Forbidden, NotFound, ok
from ..schemas import load_or_400
from ..schemas.run import RerunSchema, RunSchema
from ..zipstream import Member, stream_zip
from .status import _limit, _since, _stream, _wants_stream

bp = Blueprint("runs", __name__)

ITEM_PAGE = 100  # items in GET /runs/{id} unless asked otherwise
MAX_ITEM_PAGE = 1000


def load_run(store, run_id: str) -> dict:
    """The run (as stored) if the caller may see it: 404 in another tenant, 403 for a user
    of the tenant who is neither its owner nor an admin."""
    identity = require_token("read runs")
    run = store.runs.get_internal(run_id)
    if run is None or run["tenant"] != identity.tenant:
        raise NotFound(f"No run {run_id!r}.")
    if not (identity.is_admin or run["owner"] == identity.username):
        raise Forbidden(f"Permission denied: run {run_id!r} is {run['owner']}'s; only its "
                        "owner and the tenant's admins may see it.")
    return run


def _body() -> dict:
    """The JSON body; with ACTORS_CASE=camel its keys in snake_case, except user data (each
    item's keys, env, messages)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise APIError("The request body must be a JSON object (Content-Type: application/json).")
    if get_config().case == "camel":
        data = convert_keys(data, to_snake, OPAQUE_KEYS | {"items"})
    return data


def _with_links(run: dict) -> dict:
    path = f"/runs/{run['id']}"
    return dict(run, _links=links(("self", path), ("status", f"{path}/status"),
                                  ("outputs", f"{path}/outputs"),
                                  ("owner", f"/profiles/{run['owner']}")))


def _root_queues(plan_: Plan, actors: dict) -> list:
    """The queues of the actors of the first stages: a spawner there submits the run."""
    return [dispatch_queue(actors[s.actor_id]) for s in plan_.stages if not s.needs]


@bp.post("/runs")
def create_run():
    """Start a run: each item runs the stages in dependency order, then the finally stage.

    Each stage names an actor (id or alias) on which the caller needs EXECUTE, and the
    stages it needs; the item's keys become environment variables of its executions. The
    answer comes before any execution is written: a spawner submits them, in batches.
    """
    store = get_store()
    identity = require_token("start runs")
    spec = load_or_400(RunSchema(), _body(), "run")
    final = spec.get("finally_")
    found = {}
    for stage in spec["stages"] + ([final] if final else []):
        if stage["actor"] not in found:
            found[stage["actor"]] = load_actor(store, stage["actor"], EXECUTE)
    try:
        checked = plan(spec["stages"], final, spec.get("env"),
                       resolve=lambda ident: found[ident]["id"])
    except RunSpecError as error:
        raise APIError(str(error))
    actors = {actor["id"]: actor for actor in found.values()}
    run = store.runs.create(new_id(), identity.tenant, identity.username, checked,
                            [item_env(item) for item in spec["items"]],
                            _root_queues(checked, actors))
    return ok(_with_links(run), f"Run {run['id']} accepted: {run['items_total']} item(s), "
                                f"stages {', '.join(checked.names)}.")


@bp.get("/runs")
def list_runs():
    """The caller's runs, newest first (an admin: every run of the tenant).

    ``limit`` (default 100, at most 1000) bounds how many.
    """
    identity = require_token("read runs")
    limit = _bounded("limit", 100, 1, MAX_ITEM_PAGE)
    runs = get_store().runs.list(identity.tenant, None if identity.is_admin else identity.username,
                                 limit)
    return ok(runs, "Runs retrieved successfully.")


@bp.get("/runs/<run_id>")
def get_run(run_id):
    """A run: its status, counts per stage, and a page of items with each stage's state.

    ``offset`` and ``limit`` choose the items (default the first 100; ``limit=0`` none).
    """
    store = get_store()
    load_run(store, run_id)
    offset = _bounded("offset", 0, 0, None)
    limit = _bounded("limit", ITEM_PAGE, 0, MAX_ITEM_PAGE)
    return ok(_with_links(store.runs.get(run_id, offset, limit)), "Run retrieved successfully.")


@bp.delete("/runs/<run_id>")
def cancel_run(run_id):
    """Cancel a run: nothing new starts, queued executions never run, running ones are
    force-quit; the finally stage still runs, told the run was cancelled."""
    store = get_store()
    load_run(store, run_id)
    done = store.runs.cancel(run_id)
    if done["status"] != "RUNNING" and not (done["cancelled"] or done["killed"]):
        message = f"Run already ended ({done['status']}); nothing to cancel."
    else:
        message = (f"Run cancelled: {done['cancelled']} queued execution(s) cancelled, "
                   f"{done['killed']} running one(s) being force-quit.")
    return ok(_with_links(store.runs.get(run_id, 0, 0)), message)


@bp.post("/runs/<run_id>/rerun")
def rerun(run_id):
    """Run again what failed, was skipped or cancelled (``force``: everything chosen),
    reusing the outputs of what succeeded; ``items`` and ``stages`` choose (default all).

    The finally stage runs again after. The run must have ended (409 while it runs).
    """
    store = get_store()
    run = load_run(store, run_id)
    data = request.get_json(silent=True) if request.get_data() else {}
    if not isinstance(data, dict):
        raise APIError("The request body must be a JSON object (or empty).")
    chosen = load_or_400(RerunSchema(), data, "re-run")
    plan_ = Plan.from_dict(run["plan"])
    every = plan_.names + ([plan_.final.name] if plan_.final else [])
    unknown = sorted(set(chosen.get("stages") or ()) - set(every))
    if unknown:
        raise APIError(f"No stage {', '.join(unknown)} in run {run_id} (its stages: "
                       f"{', '.join(every)}).")
    beyond = sorted(i for i in chosen.get("items") or () if i >= run["items_total"])
    if beyond:
        raise APIError(f"Run {run_id} has items 0 to {run['items_total'] - 1}; no item "
                       f"{', '.join(map(str, beyond))}.")
    actors = {}
    for stage in plan_.stages + ((plan_.final,) if plan_.final else ()):
        if stage.actor_id not in actors:
            actors[stage.actor_id] = load_actor(store, stage.actor_id, EXECUTE)
    answer = store.runs.rerun(run_id, chosen.get("items"), chosen.get("stages"),
                              bool(chosen.get("force")), _root_queues(plan_, actors))
    if answer.get("status") == "RUNNING":
        raise APIError(f"Run {run_id} is still running: cancel it, or wait for it to end.", 409)
    if not answer.get("reset") and not answer.get("final"):
        raise APIError("Nothing to re-run: every chosen stage succeeded (force=true runs "
                       "them again).", 409)
    return ok(_with_links(store.runs.get(run_id, 0, 0)),
              f"Re-running {answer['reset']} stage(s) of items"
              + (" and the finally stage." if answer.get("final") else "."))


@bp.get("/runs/<run_id>/status")
def run_status(run_id):
    """The run's feed of events (stages started and ended, items ended, the run's end),
    as pages after ``since``, or as Server-Sent Events; the same shape as an execution's."""
    store = get_store()
    run = load_run(store, run_id)
    since = _since()
    if _wants_stream():
        page = store.runs.events_since(run_id, since, limit=1)
        if page["final"] and not page["events"]:
            return Response(status=204)  # the final event was delivered: EventSource stops here

        def read(position: int) -> dict:
            return store.runs.events_since(run_id, position, MAX_PAGE, raw=True)

        return _stream(f"run:{run_id}", read, since, "seq", on_end={"run_id": run_id})
    page = store.runs.events_since(run_id, since, _limit())
    return ok({"run_id": run_id, "status": run["status"], **page}, "Run events retrieved successfully.")


@bp.get("/runs/<run_id>/outputs")
def download_run_outputs(run_id):
    """Every item's and stage's outputs and logs as one zip, streamed while it is written:
    ``items/<index>/<stage>/outputs/...`` and ``logs.txt``, ``finally/<stage>/...``, and
    ``run.json`` (the run with every item's state)."""
    store = get_store()
    load_run(store, run_id)
    summary = store.runs.summary(run_id)
    members = _run_members(store, artifacts.from_config(get_config()), summary)
    return Response(stream_zip(members), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="run-{run_id}.zip"'})


def _run_members(store, target, summary: dict):
    """The zip's members, read as the zip is written (execution records in batches)."""
    data = json.dumps(summary, indent=1).encode()
    yield Member("run.json", len(data), lambda: io.BytesIO(data))
    cells = [(f"items/{item['index']}/{stage['name']}", stage) for item in summary["items"]
             for stage in item["stages"]]
    if summary.get("finally"):
        cells.append((f"finally/{summary['finally']['name']}", summary["finally"]))
    cells = [(folder, cell) for folder, cell in cells
             if cell["execution_id"] and cell["status"] not in ("QUEUED", "WAITING")]
    for start in range(0, len(cells), 100):
        batch = cells[start:start + 100]
        records = [store.executions.get_internal(cell["execution_id"]) for _, cell in batch]
        for (folder, cell), record in zip(batch, records):
            if record is None:
                continue
            yield from _execution_members(store, target, folder, record)


def _execution_members(store, target, folder: str, record: dict):
    """Its logs, and its outputs unless they expired (log_ex): the zip holds what is kept."""
    logs = store.logs.get(record["id"]).encode()
    yield Member(f"{folder}/logs.txt", len(logs), lambda: io.BytesIO(logs))
    expires = record.get("outputs_expire_time")
    if expires and parse_iso(expires) <= utcnow():
        return
    for item in record.get("outputs") or []:
        key = artifacts.output_key(record["actor_id"], record["id"], item["path"])
        yield Member(f"{folder}/outputs/{item['path']}", item["size"],
                     lambda key=key: _open_or_empty(target, key))


def _open_or_empty(target, key: str):
    try:
        return target.open(key)
    except artifacts.ArtifactMissing:  # expired between listing and reading
        return io.BytesIO(b"")


def _bounded(name: str, default: int, low: int, high) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise APIError(f"{name} must be a whole number, not {raw!r}.")
    if value < low or (high is not None and value > high):
        bound = f"from {low}" + (f" to {high}" if high is not None else "")
        raise APIError(f"{name} must be {bound}.")
    return value

