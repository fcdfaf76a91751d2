"""Who is calling, and what they may do: tokens, nonces and permission levels.

Every request except a CORS preflight or a :func:`public` view (the dashboard's
static files) carries ``Authorization: Bearer <JWT>``,
or, on an actor's own endpoints, ``?x-nonce=<id>`` (or an ``X-Nonce`` header)
and no token. Access to an actor, alias or config is a level (NONE < READ <
EXECUTE < UPDATE): the owner holds UPDATE, others what was shared with them or
with ``ABACO_WORLD``, admins UPDATE on everything in their tenant. Each handler
asks for the level it needs through :func:`load_actor`, :func:`load_alias` or
:func:`load_config`; a refusal is a 403 that names the missing level. An actor
of another tenant is never found (404). docs/access.md has the whole table.
"""
from __future__ import annotations

from flask import current_app, g, request

from actors_core.actor_fields import PRIVILEGED_FIELDS
from actors_core.enums import PermissionLevel
from actors_core.store.nonces import Redemption
from actors_core.tokens import Identity, TokenError

from .errors import Forbidden, NotFound, Unauthorized
from .schemas.actor import DEFAULTS

READ, EXECUTE, UPDATE = PermissionLevel.READ, PermissionLevel.EXECUTE, PermissionLevel.UPDATE
# Blueprints whose routes address one actor and so accept a nonce for that actor.
NONCE_BLUEPRINTS = ("actors", "messages", "executions", "state")
# Endpoints that serve a token caller through front_door.py, whose one script refuses a
# revoked token itself: authenticate leaves the check to it (one round trip, no window).
REVOCATION_IN_SCRIPT = frozenset({"messages.send_message", "executions.get_execution"})
REVOKED_MESSAGE = ("The bearer token has been revoked (an execution's token ends "
                   "with its execution).")


def _store():
    return current_app.extensions["actors_store"]


def public(view):
    """Mark a view that answers without credentials (the API's document, its docs page,
    the metrics): :func:`authenticate` lets its requests through."""
    view.public = True
    return view


def authenticate() -> None:
    """``before_request``: put the caller's :class:`Identity` on ``g.identity``."""
    if request.method == "OPTIONS":
        return
    if getattr(current_app.view_functions.get(request.endpoint), "public", False):
        return
    header = request.headers.get("Authorization", "")
    nonce_id = request.args.get("x-nonce") or request.headers.get("X-Nonce")
    if not header and nonce_id:
        g.identity = _nonce_identity(nonce_id)
        return
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Missing credentials: send 'Authorization: Bearer <token>' "
                           "(or ?x-nonce=<nonce id> on an actor's endpoints).")
    try:
        identity = current_app.extensions["actors_tokens"].identity(token.strip())
    except TokenError as error:
        raise Unauthorized(str(error))
    if (identity.token_id and request.endpoint not in REVOCATION_IN_SCRIPT
            and _store().revoked_tokens.is_revoked(identity.token_id)):
        raise Unauthorized(REVOKED_MESSAGE)
    g.identity = identity


def _nonce_identity(nonce_id: str) -> Identity:
    """The nonce's owner, limited to the nonce's actor or alias; a use is spent in load_actor."""
    if request.blueprint not in NONCE_BLUEPRINTS or "actor_id" not in (request.view_args or {}):
        raise Forbidden("A nonce is only accepted on its actor's endpoints (not for "
                        "listing, registering, sharing or managing nonces).")
    nonce = _store().nonces.get(nonce_id)
    if nonce is None:
        raise Forbidden("This nonce does not exist (it may have been deleted).")
    return Identity(username=nonce["owner"], roles=tuple(nonce.get("roles") or ()),
                    tenant=nonce["tenant"], actor_scope=nonce.get("actor_id"), nonce=nonce)


def current_identity() -> Identity:
    return g.identity


def require_token(action: str) -> Identity:
    """The caller, who must hold a full user token (not a nonce or an execution's token)."""
    identity = g.identity
    if identity.nonce is not None:
        raise Forbidden(f"A nonce cannot be used to {action}.")
    if identity.actor_scope:
        raise Forbidden(f"An execution's token cannot be used to {action}.")
    return identity


# -- levels ----------------------------------------------------------------------
def actor_level(store, identity: Identity, actor: dict, shared=None) -> PermissionLevel:
    """The caller's level on an actor of their tenant (before any nonce cap); ``shared``:
    the level shared with them or with the world, when already read."""
    if identity.is_admin or actor["owner"] == identity.username:
        return UPDATE
    if shared is None:
        shared = store.permissions.level("actor", identity.tenant, actor["id"], identity.username)
    return shared


def readable_actor_ids(store, identity: Identity) -> set:
    """Ids of the actors of the caller's tenant they hold at least READ on: owned, shared
    with them or with ``ABACO_WORLD`` (all of the tenant's for an admin), and only its own
    actor for an execution's token. The one rule every listing and search uses.

    Grants are kept per tenant, but an id is only ever listed if the actor is in the
    caller's tenant now, so a grant left behind cannot reach another tenant's actor.
    """
    tenant_ids = store.actors.ids_in_tenant(identity.tenant)
    if identity.is_admin:
        ids = tenant_ids
    else:
        ids = (store.actors.owned_ids(identity.tenant, identity.username)
               | store.permissions.granted("actor", identity.tenant, identity.username)) & tenant_ids
    if identity.actor_scope:
        ids &= {identity.actor_scope}
    return ids


def resource_level(store, identity: Identity, kind: str, record: dict, ident: str) -> PermissionLevel:
    if identity.is_admin or record["owner"] == identity.username:
        return UPDATE
    return store.permissions.level(kind, identity.tenant, ident, identity.username)


def _refuse(needed: PermissionLevel, have: PermissionLevel, noun: str, kind: str = "actor") -> Forbidden:
    """403 in Abaco's words ("Not authorized -- you do not have access to this actor."),
    then what is missing."""
    held = f"you have {have.name}" if have > PermissionLevel.NONE else "you have no permission on it"
    return Forbidden(f"Not authorized -- you do not have access to this {kind}. This request "
                     f"needs {needed.name} on {noun}; {held}.")


def load_actor(store, ident: str, level: PermissionLevel, allow_nonce: bool = True) -> dict:
    """The actor named by id or alias if the caller holds ``level`` on it, else 404/403.

    With a nonce, the nonce must belong to this actor (or to the alias used in
    the URL), grant ``level``, and its owner must still hold ``level``; then
    one use is redeemed, atomically, once per request.
    """
    identity = g.identity
    actor = store.find_actor(identity.tenant, ident)
    if actor is None:
        raise actor_not_found(ident)
    if identity.nonce is not None:
        if not allow_nonce:
            raise Forbidden("A nonce cannot be used to manage nonces or permissions.")
        _check_nonce_scope(identity.nonce, actor, ident, level)
    require_level(identity, actor, ident, level, actor_level(store, identity, actor))
    if identity.nonce is not None:
        _redeem_once(store, identity.nonce)
    return actor


def require_level(identity: Identity, actor: dict, ident: str, level: PermissionLevel,
                  have: PermissionLevel) -> None:
    """403 unless the caller, holding ``have`` on the actor, may act on it at ``level``
    (an execution's token only on its own actor)."""
    if identity.nonce is None and identity.actor_scope and identity.actor_scope != actor["id"]:
        raise Forbidden(f"This execution's token is limited to actor {identity.actor_scope!r}; "
                        f"it cannot reach {ident!r}.")
    if have < level:
        raise _refuse(level, have, f"actor {ident!r}")


def actor_not_found(ident: str) -> NotFound:
    return NotFound(f"No actor found with identifier: {ident}.")


def _check_nonce_scope(nonce: dict, actor: dict, ident: str, level: PermissionLevel) -> None:
    if nonce.get("actor_id"):
        if nonce["actor_id"] != actor["id"]:
            raise Forbidden(f"This nonce belongs to another actor; it cannot reach {ident!r}.")
    elif nonce.get("alias") != ident:
        raise Forbidden(f"This nonce belongs to alias {nonce.get('alias')!r}; address the actor "
                        "through that alias.")
    granted = PermissionLevel.parse(nonce["level"])
    if granted < level:
        raise Forbidden(f"Permission denied: this request needs {level.name}; "
                        f"the nonce grants only {granted.name}.")


def _redeem_once(store, nonce: dict) -> None:
    if g.get("nonce_redeemed"):
        return
    outcome = store.nonces.redeem(nonce["id"])
    if outcome is Redemption.EXHAUSTED:
        raise Forbidden("This nonce has no uses left.")
    if outcome is Redemption.MISSING:
        raise Forbidden("This nonce does not exist (it may have been deleted).")
    g.nonce_redeemed = True


def load_alias(store, name: str, level: PermissionLevel) -> dict:
    """The tenant's alias if the caller holds ``level`` on the alias itself (not its actor)."""
    return _load_named(store.aliases, "alias", "alias", "manage aliases", store, name, level)


def load_config(store, name: str, level: PermissionLevel) -> dict:
    """The tenant's config (a secret's value hidden) if the caller holds ``level`` on it."""
    return _load_named(store.configs, "config", "actor config", "manage actor configs",
                       store, name, level)


def _load_named(records, kind: str, noun: str, purpose: str, store, name: str,
                level: PermissionLevel) -> dict:
    """A tenant-named resource (alias, config) that the caller holds ``level`` on."""
    identity = require_token(purpose)
    record = records.get(identity.tenant, name)
    if record is None:
        raise NotFound(f"No {'config' if kind == 'config' else noun} found: {name}.")
    have = resource_level(store, identity, kind, record, name)
    if have < level:
        raise _refuse(level, have, f"{kind} {name!r}", kind)
    return record


# -- roles ---------------------------------------------------------------------------
def check_privileged_fields(identity: Identity, actor: dict, current: dict = None) -> None:
    """Only admin or privileged users may give an actor a non-default value of a
    :data:`PRIVILEGED_FIELDS` field (``limited`` users never may, even with
    ``privileged``, and a nonce never counts as its creator's roles here).

    ``actor`` is the description asked for (with defaults filled in for a PUT);
    ``current`` the stored actor a PUT replaces. An actor that already holds such a
    value (it is privileged, or a privileged user gave it resources) can only be
    replaced by an admin or privileged user, whatever the PUT says: keeping the values
    would run the caller's image and environment with what they could not grant, and
    dropping them would undo a privileged user's decision silently.
    """
    if identity.is_privileged and identity.nonce is None:
        return
    if identity.nonce is not None:
        who = "a nonce's holder may not, whoever created the nonce"
    elif identity.is_limited:
        who = "limited users may not"
    else:
        who = "users without the admin or privileged role may not"
    if current is not None:
        held = {name: current.get(name) for name in PRIVILEGED_FIELDS
                if not _is_default(name, current.get(name))}
        if held:
            values = ", ".join(f"{name}={value!r}" for name, value in held.items())
            what = (f"Actor {current['id']!r} is privileged" if current.get("privileged") else
                    f"Actor {current['id']!r} holds values only admin or privileged users may set")
            raise Forbidden(f"{what} ({values}): only admin or privileged users may change "
                            f"it ({who}).")
    for name in PRIVILEGED_FIELDS:
        if name in actor and not _is_default(name, actor[name]):
            action = _PRIVILEGED_ACTIONS.get(name, f"set {name.replace('_', ' ')}")
            raise Forbidden(f"Not authorized -- only admins and privileged users can {action}. "
                            f"The field is {name!r} ({who} set it).")


def check_warm_caps(identity: Identity, actor: dict, config) -> None:
    """Warm actors within the operator's caps (``ACTORS_WARM_*``): beyond them, and for
    ``warm`` itself where the operator keeps it for them, only admin or privileged users
    (never through a nonce). A warm container holds memory while idle, so these are the
    operator's to bound."""
    if identity.is_privileged and identity.nonce is None:
        return
    if actor.get("warm") and not config.warm_allowed:
        raise Forbidden("Not authorized -- only admins and privileged users can make warm "
                        "actors on this platform. The field is 'warm'.")
    idle = actor.get("warm_idle_seconds")
    if idle is not None and idle > config.warm_max_idle_seconds:
        raise Forbidden(f"Not authorized -- warm_idle_seconds is at most "
                        f"{config.warm_max_idle_seconds} for users without the admin or "
                        "privileged role.")
    concurrency = actor.get("concurrency") or 1
    if concurrency > config.warm_max_concurrency:
        raise Forbidden(f"Not authorized -- concurrency is at most {config.warm_max_concurrency} "
                        "for users without the admin or privileged role.")


# Abaco's wording for each field ("... can set max workers.")
_PRIVILEGED_ACTIONS = {"privileged": "make privileged actors", "max_workers": "set max workers",
                       "max_cpus": "set max CPUs", "mem_limit": "set mem limit",
                       "queue": "set queue", "gpus": "request GPUs",
                       "use_container_uid": "run actors as the image's user"}


def _is_default(name: str, value) -> bool:
    default = DEFAULTS[name]
    if isinstance(default, bool):
        return not value
    return value is None or value == default
