"""Aliases: ``/actors/aliases[/{alias}]`` and their permissions.

An alias works wherever an actor id does (``/actors/{alias}/messages``...).
Permissions on an alias govern the alias record only; pointing an alias at
an actor needs UPDATE on that actor, and using the actor through the alias
needs the actor's own permissions.
"""
from __future__ import annotations

from flask import Blueprint

from actors_core.enums import PermissionLevel

from ..auth import READ, UPDATE, current_identity, load_actor, load_alias, require_token
from ..context import get_store, links, request_fields
from ..errors import APIError, NotFound, ok
from ..schemas import load_or_400
from ..schemas.access import AliasSchema, AliasUpdateSchema
from .permissions import list_permissions, share

bp = Blueprint("aliases", __name__)


def _shown(alias: dict) -> dict:
    return dict(alias, _links=links(("self", f"/actors/aliases/{alias['alias']}"),
                                    ("actor", f"/actors/{alias['actor_id']}"),
                                    ("owner", f"/profiles/{alias['owner']}")))


@bp.get("/actors/aliases")
def list_aliases():
    identity = require_token("list aliases")
    store = get_store()
    if identity.is_admin:
        names = store.aliases.names(identity.tenant)
    else:
        names = store.permissions.granted("alias", identity.tenant, identity.username)
    return ok([_shown(a) for a in store.aliases.list(identity.tenant, names)],
              "Aliases retrieved successfully.")


@bp.post("/actors/aliases")
def create_alias():
    identity = require_token("create aliases")
    store = get_store()
    loaded = load_or_400(AliasSchema(), request_fields(), "alias description")
    name = loaded["alias"]
    actor = load_actor(store, loaded["actor_id"], UPDATE)
    clash = store.actors.get_internal(name)
    if clash is not None and clash["tenant"] == identity.tenant:
        raise APIError(f"Invalid alias description. Alias cannot be an Abaco hash id. {name!r} "
                       "is the id of an actor; choose another alias.")
    alias = store.aliases.create(identity.tenant, name, actor["id"], identity.username)
    if alias is None:
        raise APIError(f"Alias {name!r} already exists.", 409)
    store.permissions.grant("alias", identity.tenant, name, identity.username, PermissionLevel.UPDATE)
    return ok(_shown(alias), "Actor alias created successfully.")


@bp.get("/actors/aliases/<alias>")
def get_alias(alias):
    return ok(_shown(load_alias(get_store(), alias, READ)), "Alias retrieved successfully.")


@bp.put("/actors/aliases/<alias>")
def point_alias(alias):
    """Point the alias at another actor: UPDATE on the alias and on that actor."""
    store = get_store()
    load_alias(store, alias, UPDATE)
    loaded = load_or_400(AliasUpdateSchema(), request_fields(), "alias description")
    if loaded.get("alias", alias) != alias:
        raise APIError("Invalid alias update description. The alias itself cannot be updated "
                       "in a PUT request. Create a new alias and delete this one.")
    actor = load_actor(store, loaded["actor_id"], UPDATE)
    record = store.aliases.point(current_identity().tenant, alias, actor["id"])
    if record is None:
        raise NotFound(f"No alias {alias!r}.")
    return ok(_shown(record), "Actor alias updated successfully.")


@bp.delete("/actors/aliases/<alias>")
def delete_alias(alias):
    store = get_store()
    load_alias(store, alias, UPDATE)
    store.delete_alias(current_identity().tenant, alias)
    return ok(None, f"Alias {alias} deleted successfully.")


@bp.get("/actors/aliases/<alias>/permissions")
def get_alias_permissions(alias):
    store = get_store()
    load_alias(store, alias, READ)
    return list_permissions(store, "alias", alias)


@bp.post("/actors/aliases/<alias>/permissions")
def share_alias(alias):
    store = get_store()
    record = load_alias(store, alias, UPDATE)
    return share(store, "alias", alias, record["owner"])
