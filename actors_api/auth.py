"""Who is calling, and may they touch this actor.

Every request except a CORS preflight needs ``Authorization: Bearer <JWT>``.
Owners see and change their own actors, admins everything; sharing comes with
permissions. A per-execution token reaches only the actor it was minted for.
"""
from __future__ import annotations

from flask import current_app, g, request

from .errors import Forbidden, NotFound, Unauthorized
from .schemas.actor import DEFAULTS
from .tokens import Identity, TokenError, verify

PRIVILEGED_FIELDS = ("privileged", "max_workers", "max_cpus", "mem_limit", "queue")


def authenticate() -> None:
    """``before_request``: put the caller's :class:`Identity` on ``g.identity``."""
    if request.method == "OPTIONS":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Missing credentials: send 'Authorization: Bearer <token>'.")
    try:
        g.identity = verify(current_app.config["ACTORS"], token.strip())
    except TokenError as error:
        raise Unauthorized(str(error))


def current_identity() -> Identity:
    return g.identity


def may_access(identity: Identity, actor: dict) -> bool:
    if identity.actor_scope and identity.actor_scope != actor["id"]:
        return False
    return identity.is_admin or actor["owner"] == identity.username


def load_actor(store, actor_id: str) -> dict:
    """The actor the caller may use, or 404/403 saying why not."""
    actor = store.actors.get(actor_id)
    if actor is None:
        raise NotFound(f"No actor with id {actor_id!r}.")
    if not may_access(g.identity, actor):
        raise Forbidden(f"You do not have access to actor {actor_id!r}: it belongs to another user.")
    return actor


def check_privileged_fields(identity: Identity, fields: dict, current: dict = None) -> None:
    """Only admin or privileged users may set the fields that raise an actor's resources."""
    if identity.is_privileged:
        return
    current = current or {}
    for name in PRIVILEGED_FIELDS:
        if name in fields and fields[name] != current.get(name, DEFAULTS.get(name)):
            raise Forbidden(f"Only admin or privileged users may set {name!r}.")
