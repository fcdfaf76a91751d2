"""Registering, listing, replacing and deleting actors."""
from __future__ import annotations

from flask import Blueprint

from actors_core.cron import next_ex_for
from actors_core.enums import ActorStatus, PermissionLevel
from actors_core.ids import new_id
from actors_core.scheduling import dispatch_queue, queue_status_message

from ..auth import (READ, UPDATE, check_privileged_fields, check_warm_caps, current_identity,
                    load_actor, readable_actor_ids, require_token)
from ..context import get_config, get_store, request_fields
from ..errors import APIError, Forbidden, ok
from ..schemas import add_note, load_or_400
from ..schemas.actor import ActorSchema, ActorUpdateSchema, with_defaults
from .. import views
from .events import check_link, check_webhook

bp = Blueprint("actors", __name__)


@bp.get("/actors")
def list_actors():
    """The actors of the caller's tenant they can read: owned, shared with them or with
    ``ABACO_WORLD``; all of the tenant's for admins; only its own for an execution's token."""
    store = get_store()
    ids = readable_actor_ids(store, current_identity())
    return ok([views.actor(a) for a in with_queue_status(store, store.actors.list(ids))],
              "Actors retrieved successfully.")


@bp.post("/actors")
def register_actor():
    identity = require_token("register actors")
    loaded = load_or_400(ActorSchema(), request_fields(), "actor description")
    check_privileged_fields(identity, loaded)
    check_warm_caps(identity, loaded, get_config())
    actor = with_defaults(loaded)
    actor.update(id=new_id(), owner=identity.username)
    store = get_store()
    check_link(store, actor["id"], actor["link"])
    check_webhook(actor["webhook"])
    actor["cron_next_ex"] = next_ex_for(actor)
    limit = get_config().limited_max_actors if identity.is_limited else None
    record = store.actors.create(actor, identity.tenant, max_owned=limit)
    if record is None:
        raise Forbidden(f"Limited users may own at most {limit} actors; delete one first.")
    store.permissions.grant("actor", identity.tenant, record["id"], identity.username,
                            PermissionLevel.UPDATE)
    store.work.enqueue_image_check(record["id"], dispatch_queue(record))
    return ok(views.actor(record), "Actor created successfully.")


@bp.get("/actors/<actor:actor_id>")
def get_actor(actor_id):
    store = get_store()
    actor = with_queue_status(store, [load_actor(store, actor_id, READ)])[0]
    return ok(views.actor(actor), "Actor retrieved successfully.")


def with_queue_status(store, actors: list) -> list:
    """Say so in ``status_message`` when no live spawner serves an actor's queue
    (worked out at read time from the hosts registry, never stored)."""
    hosts = store.hosts.list() if actors else []
    for actor in actors:
        message = queue_status_message(actor, hosts)
        if message and not actor.get("status_message"):
            actor["status_message"] = message
    return actors


@bp.put("/actors/<actor:actor_id>")
def replace_actor(actor_id):
    """PUT takes the full description: fields left out go back to their defaults, except
    ``name``, which only registration sets (as in Abaco, whose PUT parser has no ``name``):
    a PUT without one keeps it, and one with another name keeps it too and says so.
    A new ``image``, or ``force=true``, checks the image again and bumps ``revision``."""
    store = get_store()
    current = load_actor(store, actor_id, UPDATE)
    actor_id = current["id"]  # the URL may have named it by an alias
    loaded = load_or_400(ActorUpdateSchema(), request_fields(), "actor description")
    force = loaded.pop("force", False)
    sent_name = loaded.pop("name", current.get("name"))
    if sent_name != current.get("name"):
        add_note(f"'name' cannot be changed by a PUT; it stays {current.get('name')!r} "
                 "(register a new actor for another name).")
    actor = with_defaults(loaded)
    actor["name"] = current.get("name")
    check_privileged_fields(current_identity(), actor, current)
    check_warm_caps(current_identity(), actor, get_config())
    if not current["stateless"] and actor["stateless"]:
        raise APIError("Invalid actor description: an actor that was not stateless cannot be "
                       "updated to be stateless. A stateful actor keeps its state.", 409)
    if actor["link"] != current.get("link"):
        check_link(store, actor_id, actor["link"])
    if actor["webhook"] != current.get("webhook"):
        check_webhook(actor["webhook"])
    actor["cron_next_ex"] = next_ex_for(actor, current)
    recheck = force or actor["image"] != current["image"]
    if recheck:
        actor.update(status=str(ActorStatus.SUBMITTED), status_message="",
                     revision=current["revision"] + 1)
    record = store.actors.update(actor_id, **actor)
    if recheck:
        store.work.enqueue_image_check(actor_id, dispatch_queue(record))
    return ok(views.actor(record), "Actor updated successfully.")


@bp.delete("/actors/<actor:actor_id>")
def delete_actor(actor_id):
    store = get_store()
    store.delete_actor(load_actor(store, actor_id, UPDATE), current_identity().tenant)
    return ok(None, "Actor deleted successfully.")
