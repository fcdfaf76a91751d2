"""Re-running a finished execution by hand: ``POST /actors/{id}/executions/{eid}/rerun``.

The new execution gets the same message (string, JSON or binary: a message is
kept as long as its execution's logs, ``log_ex``) and the same query variables,
and is sent by the caller, who needs EXECUTE on the actor (as to send it anew).
The two are linked: ``rerun_of`` on the new one, ``reruns`` (every re-run, in
order) on the old one. Automatic retries (``max_retries``) are in spawner/retries.py.
"""
from __future__ import annotations

from flask import Blueprint

from actors_core.enums import ExecutionStatus
from actors_core.ids import new_id

from ..auth import EXECUTE, current_identity, load_actor
from ..context import get_store, links
from ..errors import APIError, NotFound, ok

bp = Blueprint("rerun", __name__)


@bp.post("/actors/<actor:actor_id>/executions/<execution_id>/rerun")
def rerun_execution(actor_id, execution_id):
    store = get_store()
    actor = load_actor(store, actor_id, EXECUTE)
    actor_id = actor["id"]  # the URL may have named it by an alias
    original = store.executions.get_internal(execution_id)
    if original is None or original["actor_id"] != actor_id:
        raise NotFound(f"No execution {execution_id!r} for actor {actor_id!r}.")
    status = ExecutionStatus(original["status"])
    if not status.finished:
        raise APIError(f"Execution {execution_id} is {status}; only a finished execution "
                       "(COMPLETE or ERROR) can be re-run.", 409)
    if not store.retries.message_kept(execution_id):
        raise APIError(f"The message of execution {execution_id} is no longer kept (messages "
                       "are kept as long as the logs, log_ex seconds after the execution "
                       "ends), so it cannot be re-run.", 410)
    execution = store.executions.submit(actor, {
        "id": new_id(), "executor": current_identity().username,
        "content_type": original["content_type"],
        "environment": original.get("environment") or {}, "rerun_of": execution_id,
    }, store.executions.message_body(execution_id))
    eid = execution["id"]
    store.retries.link(execution_id, "reruns", eid)
    result = {
        "execution_id": eid, "rerun_of": execution_id,
        "_links": links(("self", f"/actors/{actor_id}/executions/{eid}"),
                        ("rerun_of", f"/actors/{actor_id}/executions/{execution_id}"),
                        ("owner", f"/profiles/{actor['owner']}")),
    }
    return ok(result, f"Execution {execution_id} is re-run as execution {eid}.")
