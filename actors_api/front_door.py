"""The front door: posting a message and reading one execution in one Redis round trip.

With a bearer token, ``POST /actors/{id}/messages`` and ``GET /actors/{id}/executions/{eid}``
reach Redis once, once an API process has seen the caller and the actor:

1. the token's signature is checked at most once per ``ACTORS_TOKEN_CACHE_SECONDS``
   (``token_cache.py``), never past its ``exp``;
2. the caller's right to the actor is a :class:`Grant` kept per (caller, actor, level):
   the actor's few front-door fields and the guards of everything the decision read
   (``actors_core/store/access.py``);
3. one script (``actors_core/store/lua/``) refuses a revoked token, checks the guards and only
   then writes the execution, its events and its wake-up, or reads the execution.

A guard that no longer holds (the actor was changed or deleted, a permission or an alias
changed) makes the script answer "stale" before it does anything; the grant is then decided
again from Redis, so a cached decision is never acted on after what it rested on changed.
A nonce, which spends a use per request, takes the ordinary path (``auth.load_actor``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from flask import current_app

from actors_core.enums import PermissionLevel
from actors_core.store.scripts import StaleAccess, TokenRevoked

from .auth import (REVOKED_MESSAGE, actor_level, actor_not_found, current_identity, load_actor,
                   require_level)
from .errors import APIError, Unauthorized
from .token_cache import ExpiringCache

GRANT_SECONDS = 60.0  # how long an unused grant is kept; its guards, not this, keep it right
GRANTS = 10_000  # grants one API process keeps
TRIES = 3  # decisions in a row a request may find stale before it gives up (503)


@dataclass(frozen=True)
class Grant:
    """The caller may act on ``actor`` at ``level``, as long as ``guards`` hold."""
    actor: dict  # id and store/access.py's ACTOR_FIELDS (all of the actor for a nonce)
    ident: str  # the id or alias the request named
    level: PermissionLevel
    guards: tuple = ()


def grant_cache() -> ExpiringCache:
    return current_app.extensions["actors_grants"]


def actor_grant(store, ident: str, level: PermissionLevel) -> Grant:
    """The caller's :class:`Grant` on the actor named by id or alias, else 401/403/404 as
    ``auth.load_actor`` answers; no Redis access when this process already holds it."""
    identity = current_identity()
    if identity.nonce is not None:
        return Grant(load_actor(store, ident, level), ident, level)
    grant = cached_grant(grant_cache(), identity, ident, level)
    if grant is None:
        grant = _decide(store, identity, ident, level)
        grant_cache().put(_key(identity, ident, level), grant,
                          grant_cache().clock() + GRANT_SECONDS)
    return grant


def cached_grant(grants: ExpiringCache, identity, ident: str,
                 level: PermissionLevel) -> Optional[Grant]:
    """The grant this process holds for the caller (a token's identity), else ``None``."""
    return grants.get(_key(identity, ident, level))


def submit(store, grant: Grant, execution: dict, body: bytes) -> tuple:
    """``store.executions.submit`` under the grant: (the execution, the actor as it was)."""
    return _under(store, grant, lambda g, token_id: submit_once(store, g, token_id, execution,
                                                                  body))


def submit_once(store, grant: Grant, token_id: Optional[str], execution: dict, body: bytes):
    """One try of the guarded submit (raises ``StaleAccess`` or ``TokenRevoked``)."""
    return store.executions.submit(grant.actor, execution, body, guards=grant.guards,
                                   token_id=token_id)


def read_execution(store, grant: Grant, execution_id: str) -> tuple:
    """(the actor's execution or ``None``, the actor as it was), read under the grant."""
    return _under(store, grant, lambda g, token_id: store.executions.get_guarded(
        execution_id, g.actor["id"], guards=g.guards, token_id=token_id))


def _under(store, grant: Grant, action: Callable) -> tuple:
    identity = current_identity()
    for _ in range(TRIES):
        try:
            return action(grant, identity.token_id), grant.actor
        except TokenRevoked:
            raise Unauthorized(REVOKED_MESSAGE)
        except StaleAccess:
            key = _key(identity, grant.ident, grant.level)
            grant_cache().drop(key)
            grant = actor_grant(store, grant.ident, grant.level)
    raise APIError("The actor kept changing while this request was served; try again.", 503)


def _decide(store, identity, ident: str, level: PermissionLevel) -> Grant:
    if identity.token_id and store.revoked_tokens.is_revoked(identity.token_id):
        raise Unauthorized(REVOKED_MESSAGE)
    access = store.access.snapshot(identity.tenant, ident, identity.username)
    if access is None:
        raise actor_not_found(ident)
    have = actor_level(store, identity, access.actor, shared=access.shared_level)
    require_level(identity, access.actor, ident, level, have)
    return Grant(access.actor, ident, level, access.guards)


def _key(identity, ident: str, level: PermissionLevel) -> tuple:
    return (identity.tenant, identity.username, identity.roles, identity.actor_scope, ident,
            level)
