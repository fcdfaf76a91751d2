"""Who may do what to an actor, an alias or a config: ``{username: level}`` per resource.

A resource is ``(kind, tenant, ident)``: kind is ``actor``, ``alias`` or
``config``. Beside each permission hash, a per-user index (``grants``) says
which resources a user holds a level on, so listings never scan a tenant.
The special user ``ABACO_WORLD`` stands for every authenticated user of the
tenant. Deciding what a level allows is the API's business (``auth.py``).
"""
from __future__ import annotations

from ..enums import PermissionLevel
from . import keys

WORLD = "ABACO_WORLD"
KINDS = ("actor", "alias", "config")


class PermissionStore:
    def __init__(self, redis):
        self.redis = redis

    def grant(self, kind: str, tenant: str, ident: str, user: str, level: PermissionLevel) -> None:
        """Set a user's level; NONE removes the user's entry."""
        assert kind in KINDS, kind
        with self.redis.pipeline() as pipe:
            if level is PermissionLevel.NONE:
                pipe.hdel(keys.permissions(kind, tenant, ident), user)
                pipe.srem(keys.grants(kind, tenant, user), ident)
            else:
                pipe.hset(keys.permissions(kind, tenant, ident), user, level.name)
                pipe.sadd(keys.grants(kind, tenant, user), ident)
            pipe.execute()

    def all(self, kind: str, tenant: str, ident: str) -> dict:
        """``{username: level name}``, strongest first, then by name."""
        raw = self.redis.hgetall(keys.permissions(kind, tenant, ident))
        entries = {k.decode(): PermissionLevel.parse(v.decode()) for k, v in raw.items()}
        return {user: level.name for user, level in
                sorted(entries.items(), key=lambda item: (-item[1], item[0]))}

    def level(self, kind: str, tenant: str, ident: str, user: str) -> PermissionLevel:
        """The user's own level or the world's, whichever is higher."""
        return strongest(self.redis.hmget(keys.permissions(kind, tenant, ident), [user, WORLD]))

    def granted(self, kind: str, tenant: str, user: str) -> set:
        """Idents the user holds a level on, directly or through ``ABACO_WORLD``."""
        members = self.redis.sunion([keys.grants(kind, tenant, user),
                                     keys.grants(kind, tenant, WORLD)])
        return {m.decode() for m in members}

    def drop(self, kind: str, tenant: str, ident: str) -> None:
        """Forget every permission on a resource that is being deleted."""
        key = keys.permissions(kind, tenant, ident)
        users = [u.decode() for u in self.redis.hkeys(key)]
        with self.redis.pipeline() as pipe:
            for user in users:
                pipe.srem(keys.grants(kind, tenant, user), ident)
            pipe.delete(key)
            pipe.execute()


def strongest(raw_levels) -> PermissionLevel:
    """The highest of some stored level names (bytes or ``None``); NONE when there is none."""
    levels = [PermissionLevel.parse(v.decode()) for v in raw_levels if v]
    return max(levels, default=PermissionLevel.NONE)
