"""JWTs: verifying bearer tokens and minting them (operators' CLI, per-execution tokens).

The accepted algorithms come from configuration, never from the token's own
header, which rules out ``alg: none`` and HS/RS key confusion.
"""
from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Optional

import jwt

KNOWN_ROLES = ("admin", "privileged", "limited")
TENANT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
WORLD_USER = "ABACO_WORLD"  # a permission for it is a permission for everyone in the tenant


class TokenError(Exception):
    """A token that must not be accepted; the message says why."""


@dataclass(frozen=True)
class Identity:
    username: str
    roles: tuple = field(default_factory=tuple)
    tenant: str = "default"
    actor_scope: Optional[str] = None  # set on per-execution tokens: only this actor
    token_id: Optional[str] = None  # the token's ``jti``, checked against revocations
    nonce: Optional[dict] = None  # set when the request authenticated with ?x-nonce
    expires_at: Optional[float] = None  # the token's ``exp`` (epoch seconds)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_limited(self) -> bool:
        """``limited`` holds a user to the platform's limits, unless they are an admin."""
        return "limited" in self.roles and not self.is_admin

    @property
    def is_privileged(self) -> bool:
        return self.is_admin or ("privileged" in self.roles and not self.is_limited)


def _verification_key(config) -> str:
    if config.jwt_public_key:
        with open(config.jwt_public_key) as handle:
            return handle.read()
    return config.jwt_secret


def verify(config, token: str) -> Identity:
    try:
        claims = jwt.decode(token, _verification_key(config), algorithms=list(config.jwt_algorithms),
                            options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise TokenError("The bearer token has expired.")
    except jwt.MissingRequiredClaimError as error:
        raise TokenError(f"The bearer token lacks the required claim {error.claim!r}.")
    except jwt.InvalidTokenError as error:
        raise TokenError(f"The bearer token is not valid: {error}.")
    _check_claim_types(claims)
    roles = claims.get("roles")
    roles = [] if roles is None else [roles] if isinstance(roles, str) else roles
    if claims["sub"] == WORLD_USER:
        raise TokenError(f"{WORLD_USER!r} is not a user that can hold a token.")
    tenant = claims.get("tenant") or "default"
    if not TENANT_NAME.match(tenant):
        raise TokenError("The bearer token's 'tenant' must be 1-64 letters, digits, '_', '.' or '-'.")
    return Identity(username=claims["sub"], roles=tuple(r for r in roles if r in KNOWN_ROLES),
                    tenant=tenant, actor_scope=claims.get("actor") or None,
                    token_id=claims.get("jti") or None, expires_at=float(claims["exp"]))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_claim_types(claims: dict) -> None:
    """Every claim this platform reads must have its type; a token that is wrong here is
    refused whole (401) rather than read loosely (PyJWT takes ``exp: "123"``, for one)."""
    problems = []
    for name in ("exp", "iat", "nbf"):
        if name in claims and not _is_number(claims[name]):
            problems.append(f"'{name}' must be a number (seconds since the epoch)")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        problems.append("'sub' must be a non-empty string (the username)")
    roles = claims.get("roles")
    if roles is not None and not isinstance(roles, str) and not (
            isinstance(roles, list) and all(isinstance(role, str) for role in roles)):
        problems.append("'roles' must be a list of strings")
    for name in ("tenant", "actor", "jti"):
        if claims.get(name) is not None and not isinstance(claims[name], str):
            problems.append(f"'{name}' must be a string")
    if problems:
        raise TokenError(f"The bearer token's claims have the wrong type: {'; '.join(problems)}.")


def mint(config, username: str, roles=(), ttl: int = 24 * 3600, actor: Optional[str] = None,
         tenant: Optional[str] = None, token_id: Optional[str] = None) -> str:
    """A token signed with the configured HS256 secret (operators and executions).

    Every token carries a ``jti`` (``token_id``, random unless given), the id
    under which it can be revoked.
    """
    if not config.jwt_secret:
        raise TokenError("Minting tokens needs ACTORS_JWT_SECRET; with a public key, use your issuer.")
    now = int(time.time())
    claims = {"sub": username, "roles": list(roles), "iat": now, "exp": now + ttl,
              "jti": token_id or secrets.token_urlsafe(16)}
    if actor:
        claims["actor"] = actor
    if tenant:
        claims["tenant"] = tenant
    return jwt.encode(claims, config.jwt_secret, algorithm="HS256")
