"""Reading executions and their logs; force-quitting and cancelling them."""
from __future__ import annotations

from flask import Blueprint, Response, request

from actors_core.enums import ExecutionStatus

from .. import front_door
from ..auth import READ, UPDATE, load_actor
from .. import views
from ..context import get_config, get_store
from ..errors import NotFound, ok
from ..schemas.paging import parse_paging

bp = Blueprint("executions", __name__)


def load_execution(store, actor_id: str, execution_id: str) -> dict:
    execution = store.executions.get(execution_id, actor_id=actor_id)
    if execution is None:
        raise execution_not_found(actor_id, execution_id)
    return execution


def execution_not_found(actor_id: str, execution_id: str) -> NotFound:
    return NotFound(f"No executions found with actor id of {actor_id} and execution id "
                    f"of {execution_id}.")


@bp.get("/actors/<actor:actor_id>/executions")
def list_executions(actor_id):
    """One page of the actor's executions, oldest first (by default its newest 100), and
    the totals over all its finished ones, kept as counters (schemas/paging.py)."""
    store = get_store()
    actor = load_actor(store, actor_id, READ)
    actor_id = actor["id"]  # the URL may have named it by an alias
    paging = parse_paging(request.args)
    # the dead-letter view (issue 12): tries that failed with no retry left
    dead_letters = request.args.get("retries_exhausted", "").lower() in ("true", "1", "yes")
    page = store.executions.page(actor_id, paging.limit, offset=paging.offset,
                                 after=paging.after,
                                 flagged="retries_exhausted" if dead_letters else None)
    result = {
        "actor_id": actor_id, "api_server": get_config().api_url, "owner": actor["owner"],
        **store.executions.totals(actor_id),
        "ids": page.ids,
        "executions": page.summaries,
        "_metadata": paging.metadata(page),
    }
    return ok(views.executions_summary(result, actor), "Actor executions retrieved successfully.")


@bp.get("/actors/<actor:actor_id>/executions/<execution_id>")
def get_execution(actor_id, execution_id):
    store = get_store()
    grant = front_door.actor_grant(store, actor_id, READ)  # one round trip in all (front_door.py)
    execution, actor = front_door.read_execution(store, grant, execution_id)
    actor_id = actor["id"]
    if execution is None:
        raise execution_not_found(actor_id, execution_id)
    return ok(views.execution(execution, actor_id), "Actor execution retrieved successfully.")


@bp.delete("/actors/<actor:actor_id>/executions/<execution_id>")
def stop_execution(actor_id, execution_id):
    """A queued execution is cancelled; a running one is force-quit by its spawner."""
    store = get_store()
    actor_id = load_actor(store, actor_id, UPDATE)["id"]
    execution = load_execution(store, actor_id, execution_id)
    status = ExecutionStatus(execution["status"])
    if status is ExecutionStatus.SUBMITTED and store.executions.cancel(actor_id, execution_id):
        message = "Execution cancelled before it started."
    elif status.finished and store.retries.cancel(execution_id):
        message = f"Execution already finished ({status}); its pending retry is cancelled."
    elif status.finished:
        message = (f"Cannot force quit an execution not in RUNNING status. Execution was found "
                   f"in status: {status}. It already finished; nothing to stop.")
    else:
        store.executions.request_kill(execution_id)
        message = (f"Issued force quit command for execution {execution_id}. Its container is "
                   "being stopped.")
    return ok(views.execution(store.executions.get(execution_id), actor_id), message)


@bp.get("/actors/<actor:actor_id>/executions/<execution_id>/logs")
def get_logs(actor_id, execution_id):
    store = get_store()
    actor = load_actor(store, actor_id, READ)
    actor_id = actor["id"]
    load_execution(store, actor_id, execution_id)
    if request.accept_mimetypes.best_match(["application/json", "text/plain"]) == "text/plain":
        return Response(store.logs.get(execution_id), mimetype="text/plain")  # the raw text
    result = views.logs({"logs": store.logs.get(execution_id)}, actor_id, execution_id,
                        actor["owner"])
    return ok(result, "Logs retrieved successfully.")


@bp.get("/actors/<actor:actor_id>/executions/<execution_id>/results")
def pop_result(actor_id, execution_id):
    """The next unread result as raw bytes; an empty body when there is none (as in Abaco)."""
    store = get_store()
    actor_id = load_actor(store, actor_id, READ)["id"]
    load_execution(store, actor_id, execution_id)
    return Response(store.executions.pop_result(execution_id), mimetype="application/octet-stream")
