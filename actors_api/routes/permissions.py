"""Sharing an actor: ``GET|POST /actors/{id}/permissions`` (``{user, level}`` -> ``{user: level}``).

Alias and config permissions (``/actors/aliases/{alias}/permissions``,
``/actors/configs/{name}/permissions``) answer the same way, through
:func:`list_permissions` and :func:`share`.
"""
from __future__ import annotations

from flask import Blueprint

from ..auth import READ, UPDATE, current_identity, load_actor, require_token
from ..context import get_store, request_fields
from ..errors import APIError, ok
from ..schemas import load_or_400
from ..schemas.access import PermissionSchema

bp = Blueprint("permissions", __name__)


def list_permissions(store, kind: str, ident: str):
    permissions = store.permissions.all(kind, current_identity().tenant, ident)
    return ok(permissions, "Permissions retrieved successfully.", convert_case=False)


def share(store, kind: str, ident: str, owner: str):
    """Set one user's level (NONE removes it); the owner's UPDATE never changes."""
    identity = require_token("share")
    loaded = load_or_400(PermissionSchema(), request_fields(), "permission")
    if loaded["user"] == owner:
        raise APIError(f"{owner!r} owns this {kind} and always holds UPDATE on it.")
    store.permissions.grant(kind, identity.tenant, ident, loaded["user"], loaded["level"])
    return ok(store.permissions.all(kind, identity.tenant, ident),
              f"Permission added successfully. {loaded['user']!r} holds {loaded['level'].name}.",
              convert_case=False)


@bp.get("/actors/<actor:actor_id>/permissions")
def get_actor_permissions(actor_id):
    store = get_store()
    actor = load_actor(store, actor_id, READ, allow_nonce=False)
    return list_permissions(store, "actor", actor["id"])


@bp.post("/actors/<actor:actor_id>/permissions")
def share_actor(actor_id):
    store = get_store()
    actor = load_actor(store, actor_id, UPDATE, allow_nonce=False)
    return share(store, "actor", actor["id"], actor["owner"])
