"""Registering, listing, replacing and deleting actors."""
from __future__ import annotations

from flask import Blueprint

from ..auth import check_privileged_fields, current_identity, load_actor
from ..context import get_store, request_fields
from ..errors import APIError, ok
from ..models import ActorStatus, new_id
from ..schemas import load_or_400
from ..schemas.actor import ActorSchema, ActorUpdateSchema, with_defaults

bp = Blueprint("actors", __name__)


@bp.get("/actors")
def list_actors():
    identity = current_identity()
    owner = None if identity.is_admin else identity.username
    actors = [a for a in get_store().actors.list(owner)
              if not identity.actor_scope or a["id"] == identity.actor_scope]
    return ok(actors, "Actors retrieved successfully.")


@bp.post("/actors")
def register_actor():
    identity = current_identity()
    if identity.actor_scope:
        raise APIError("An execution's token cannot register actors.", 403)
    loaded = load_or_400(ActorSchema(), request_fields(), "actor description")
    check_privileged_fields(identity, loaded)
    actor = with_defaults(loaded)
    actor.update(id=new_id(), owner=identity.username)
    store = get_store()
    record = store.actors.create(actor)
    store.work.enqueue_image_check(record["id"], record["queue"])
    return ok(record, "Actor created successfully.")


@bp.get("/actors/<actor_id>")
def get_actor(actor_id):
    return ok(load_actor(get_store(), actor_id), "Actor retrieved successfully.")


@bp.put("/actors/<actor_id>")
def replace_actor(actor_id):
    """PUT takes the full description: fields left out go back to their defaults."""
    store = get_store()
    current = load_actor(store, actor_id)
    loaded = load_or_400(ActorUpdateSchema(), request_fields(), "actor description")
    force = loaded.pop("force", False)
    check_privileged_fields(current_identity(), loaded, current)
    actor = with_defaults(loaded)
    if not current["stateless"] and actor["stateless"]:
        raise APIError("A stateful actor cannot be switched to stateless.")
    image_changed = actor["image"] != current["image"]
    if image_changed:
        actor["revision"] = current["revision"] + 1
    if image_changed or force:
        actor.update(status=str(ActorStatus.SUBMITTED), status_message="")
    record = store.actors.update(actor_id, **actor)
    if image_changed or force:
        store.work.enqueue_image_check(actor_id, record["queue"])
    return ok(record, "Actor updated successfully.")


@bp.delete("/actors/<actor_id>")
def delete_actor(actor_id):
    store = get_store()
    store.delete_actor(load_actor(store, actor_id))
    return ok(None, "Actor deleted successfully.")
