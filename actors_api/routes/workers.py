"""An actor's workers: its execution slots, as records (actors_core/scheduling.py decides)."""
from __future__ import annotations

from flask import Blueprint, request

from actors_core import scheduling

from .. import views
from ..auth import READ, UPDATE, current_identity, load_actor
from ..context import get_config, get_store, request_fields
from ..errors import APIError, NotFound, ok

bp = Blueprint("workers", __name__)


@bp.get("/actors/<actor:actor_id>/workers")
def list_workers(actor_id):
    store = get_store()
    actor = load_actor(store, actor_id, READ)
    return ok(_shown(store, actor), "Workers retrieved successfully.")


@bp.post("/actors/<actor:actor_id>/workers")
def ensure_workers(actor_id):
    """Keep at least ``num`` workers (default 1), never more than the actor may have."""
    store = get_store()
    actor = load_actor(store, actor_id, UPDATE)
    fields = request_fields() if request.content_length else {}
    try:
        num = int(fields.get("num", 1))
    except (TypeError, ValueError):
        raise APIError(f"'num' must be a whole number of workers, not {fields.get('num')!r}.")
    if num < 0:
        raise APIError("'num' must be 0 or more.")
    kept = scheduling.workers_to_keep(actor, num, get_config())
    created = store.workers.ensure(actor["id"], kept)
    workers = _shown(store, actor)
    if created:  # Abaco's words
        message = (f"Scheduled {len(created)} new worker(s) to start. Previously, there were "
                   f"{len(workers) - len(created)} workers.")
    else:
        message = f"Actor {actor['id']} already had {len(workers)} worker(s)."
    if kept < num:
        message += (f" The actor may have at most {kept} "
                    f"({'a stateful actor has one' if not actor['stateless'] else 'max_workers'}).")
    return ok(workers, message)


@bp.get("/actors/<actor:actor_id>/workers/<worker_id>")
def get_worker(actor_id, worker_id):
    store = get_store()
    actor = load_actor(store, actor_id, READ)
    return ok(views.worker(_load_worker(store, actor["id"], worker_id), actor,
                           current_identity().tenant), "Worker retrieved successfully.")


@bp.delete("/actors/<actor:actor_id>/workers/<worker_id>")
def delete_worker(actor_id, worker_id):
    """An idle worker goes at once; a busy one after its current execution."""
    store = get_store()
    actor = load_actor(store, actor_id, UPDATE)
    outcome = store.workers.request_stop(actor["id"], worker_id)
    if outcome is None:
        raise NotFound(f"Worker not found. Actor {actor['id']!r} has no worker {worker_id!r}.")
    if outcome == "stopping":
        return ok(None, "Worker scheduled to be stopped. It stops after its current execution.")
    return ok(None, "Worker scheduled to be stopped. It was idle and is gone.")


def _shown(store, actor: dict) -> list:
    tenant = current_identity().tenant
    return [views.worker(w, actor, tenant) for w in store.workers.list_for_actor(actor["id"])]


def _load_worker(store, actor_id: str, worker_id: str) -> dict:
    worker = store.workers.get(actor_id, worker_id)
    if worker is None:
        raise NotFound(f"Worker not found. Actor {actor_id!r} has no worker {worker_id!r}.")
    return worker
