"""Nonces: limited-use access ids for an actor or an alias, used as ``?x-nonce=<id>``.

Seeing nonces needs READ, but a nonce is a credential: callers below UPDATE
see only the nonces they created. Creating and deleting them needs UPDATE
and a user's own token (not a nonce, not an execution's token).
"""
from __future__ import annotations

from flask import Blueprint

from actors_core.enums import PermissionLevel
from actors_core.ids import new_id
from actors_core.store.nonces import public

from ..auth import (READ, UPDATE, actor_level, current_identity, load_actor, load_alias,
                    require_token, resource_level)
from ..context import get_store, links, request_fields
from ..errors import Forbidden, NotFound, ok
from ..schemas import load_or_400
from ..schemas.access import NonceSchema

bp = Blueprint("nonces", __name__)

NONCE_ID_LENGTH = 24  # ~142 random bits: a nonce is a bearer credential


def _shown(nonce: dict, base: str) -> dict:
    record = public(nonce)
    record["_links"] = links(("self", f"{base}/nonces/{nonce['id']}"),
                             ("owner", f"/profiles/{nonce['owner']}"),
                             ("actor" if nonce.get("actor_id") else "alias", base))
    return record


def _visible(nonces: list, manager: bool) -> list:
    """Everyone sees their own nonces; only UPDATE holders see everyone's."""
    username = current_identity().username
    return [n for n in nonces if manager or n["owner"] == username]


def _create(store, base: str, actor_id=None, alias=None):
    identity = require_token("create nonces")
    loaded = load_or_400(NonceSchema(), request_fields(), "nonce description")
    nonce = store.nonces.create({
        "id": new_id(NONCE_ID_LENGTH), "actor_id": actor_id, "alias": alias,
        "owner": identity.username,
        "level": loaded["level"].name, "max_uses": loaded["max_uses"],
        "description": loaded["description"],
    }, identity.tenant, identity.roles)
    return ok(_shown(nonce, base), "Nonce created successfully.")


def _one(store, nonce_id: str, manager: bool, actor_id=None, alias=None) -> dict:
    nonce = store.nonces.get(nonce_id)
    mine = nonce is not None and nonce["tenant"] == current_identity().tenant and (
        (actor_id is not None and nonce.get("actor_id") == actor_id)
        or (alias is not None and nonce.get("alias") == alias))
    if not mine or not _visible([nonce], manager):
        raise NotFound(f"No nonce {nonce_id!r} here.")
    return nonce


# -- actor nonces -------------------------------------------------------------------------
@bp.get("/actors/<actor:actor_id>/nonces")
def list_actor_nonces(actor_id):
    store = get_store()
    actor = load_actor(store, actor_id, READ, allow_nonce=False)
    manager = actor_level(store, current_identity(), actor) >= UPDATE
    nonces = _visible(store.nonces.list(current_identity().tenant, actor_id=actor["id"]), manager)
    base = f"/actors/{actor['id']}"
    return ok([_shown(n, base) for n in nonces], "Actor nonces retrieved successfully.")


@bp.post("/actors/<actor:actor_id>/nonces")
def create_actor_nonce(actor_id):
    store = get_store()
    actor = load_actor(store, actor_id, UPDATE, allow_nonce=False)
    return _create(store, f"/actors/{actor['id']}", actor_id=actor["id"])


@bp.get("/actors/<actor:actor_id>/nonces/<nonce_id>")
def get_actor_nonce(actor_id, nonce_id):
    store = get_store()
    actor = load_actor(store, actor_id, READ, allow_nonce=False)
    manager = actor_level(store, current_identity(), actor) >= UPDATE
    nonce = _one(store, nonce_id, manager, actor_id=actor["id"])
    return ok(_shown(nonce, f"/actors/{actor['id']}"), "Actor nonce retrieved successfully.")


@bp.delete("/actors/<actor:actor_id>/nonces/<nonce_id>")
def delete_actor_nonce(actor_id, nonce_id):
    store = get_store()
    actor = load_actor(store, actor_id, UPDATE, allow_nonce=False)
    require_token("delete nonces")
    store.nonces.delete(_one(store, nonce_id, True, actor_id=actor["id"])["id"])
    return ok(None, "Actor nonce deleted successfully.")


# -- alias nonces -------------------------------------------------------------------------
def _alias_and_actor(store, alias: str, level) -> tuple:
    """The alias record and the caller's standing: a nonce of an alias is a credential to
    run its actor, so seeing or making one needs ``level`` on the alias AND on the actor
    behind it (as in Abaco). Returns (record, manager: UPDATE on both)."""
    identity = current_identity()
    refused = "Not authorized -- you do not have access to this alias and actor."
    try:
        record = load_alias(store, alias, level)
    except Forbidden as error:
        raise Forbidden(f"{refused} {error.message.split('. ', 1)[-1]}")
    actor = store.find_actor(identity.tenant, record["actor_id"])
    on_actor = actor_level(store, identity, actor) if actor else PermissionLevel.NONE
    if on_actor < level:
        held = on_actor.name if on_actor > PermissionLevel.NONE else "no permission"
        raise Forbidden(f"{refused} This request needs {level.name} on alias {alias!r} and on "
                        f"actor {record['actor_id']!r}; you have {held} on the actor.")
    on_alias = resource_level(store, identity, "alias", record, alias)
    return record, min(on_alias, on_actor) >= UPDATE


@bp.get("/actors/aliases/<alias>/nonces")
def list_alias_nonces(alias):
    store = get_store()
    _, manager = _alias_and_actor(store, alias, READ)
    nonces = _visible(store.nonces.list(current_identity().tenant, alias=alias), manager)
    return ok([_shown(n, f"/actors/aliases/{alias}") for n in nonces],
              "Alias nonces retrieved successfully.")


@bp.post("/actors/aliases/<alias>/nonces")
def create_alias_nonce(alias):
    store = get_store()
    _alias_and_actor(store, alias, UPDATE)
    return _create(store, f"/actors/aliases/{alias}", alias=alias)


@bp.get("/actors/aliases/<alias>/nonces/<nonce_id>")
def get_alias_nonce(alias, nonce_id):
    store = get_store()
    _, manager = _alias_and_actor(store, alias, READ)
    nonce = _one(store, nonce_id, manager, alias=alias)
    return ok(_shown(nonce, f"/actors/aliases/{alias}"), "Alias nonce retrieved successfully.")


@bp.delete("/actors/aliases/<alias>/nonces/<nonce_id>")
def delete_alias_nonce(alias, nonce_id):
    store = get_store()
    _alias_and_actor(store, alias, UPDATE)
    store.nonces.delete(_one(store, nonce_id, True, alias=alias)["id"])
    return ok(None, "Alias nonce deleted successfully.")
