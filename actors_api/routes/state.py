"""A stateful actor's state: any JSON value, seen by its executions as ``_abaco_actor_state``."""
from __future__ import annotations

from flask import Blueprint

from ..auth import READ, UPDATE, load_actor
from ..context import get_store, json_body
from ..errors import APIError, ok

bp = Blueprint("state", __name__)


def _stateful_actor(store, actor_id: str, level) -> dict:
    actor = load_actor(store, actor_id, level)
    if actor["stateless"]:
        raise APIError(f"actor is stateless. Actor {actor_id!r} keeps no state; only actors "
                       "registered with stateless=false do.", 409)
    return actor


@bp.get("/actors/<actor:actor_id>/state")
def get_state(actor_id):
    store = get_store()
    actor = _stateful_actor(store, actor_id, READ)
    return ok({"state": store.actors.get_state(actor["id"])}, "Actor state retrieved successfully.")


@bp.post("/actors/<actor:actor_id>/state")
def set_state(actor_id):
    store = get_store()
    actor = _stateful_actor(store, actor_id, UPDATE)
    value = json_body()  # any JSON value, whatever the Content-Type says
    store.actors.set_state(actor["id"], value)
    return ok({"state": value}, "State updated successfully.")
