"""What an access decision on an actor rests on, read raw, with the guards that re-check it.

The API caches a caller's right to an actor (``actors_api/front_door.py``) so that posting a
message costs one round trip. A cached right is only acted on through a guarded script
(``store/scripts.py``): each :class:`Guard` names a hash, some of its fields and the raw
values the decision was made from, and the script compares them all before it writes or reads
anything. A changed owner, queue, permission or alias target makes it answer "stale" and the
API decides again, so a cached decision is never used after what it rested on has changed:
there is no window.

The values are compared as stored (JSON text for actor and alias fields, a level name for a
permission), so no writer has to bump a version for this to hold.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple, Optional

from ..enums import PermissionLevel
from . import keys
from .permissions import WORLD, strongest

# The actor's fields the front door needs: who may reach it, where its messages go and how
# many may run at once (the wake-up's capacity).
ACTOR_FIELDS = ("tenant", "owner", "queue", "gpus", "log_ex", "stateless", "max_workers", "warm",
                "concurrency")


class Guard(NamedTuple):
    """Fields of one hash and the raw values read there, as ``guard.lua`` takes them: each
    field and each value ended by a NUL byte (which neither JSON text nor a level name has),
    an absent field read as nothing."""
    key: str
    fields: bytes
    expected: bytes

    @classmethod
    def of(cls, key: str, fields, values) -> "Guard":
        return cls(key, b"".join(f.encode() + b"\0" for f in fields),
                   b"".join((v or b"") + b"\0" for v in values))


@dataclass(frozen=True)
class ActorAccess:
    """An actor's front-door fields and what was shared with one user, as read."""
    actor: dict  # id and ACTOR_FIELDS
    shared_level: PermissionLevel  # the user's own level or ABACO_WORLD's, the higher
    guards: tuple


class AccessStore:
    def __init__(self, redis):
        self.redis = redis

    def snapshot(self, tenant: str, ident: str, username: str) -> Optional[ActorAccess]:
        """The tenant's actor with id ``ident``, else the one its alias ``ident`` points at
        (the rule of ``Store.find_actor``), with the guards of everything read; ``None`` when
        there is none. One round trip, two through an alias."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.actor(ident), ACTOR_FIELDS)
            pipe.hget(keys.alias(tenant, ident), "actor_id")
            pipe.hmget(keys.permissions("actor", tenant, ident), [username, WORLD])
            direct, alias_target, shared = pipe.execute()
        actor_id, fields = ident, direct
        guards = [Guard.of(keys.actor(ident), ACTOR_FIELDS, direct)]
        if not _in_tenant(direct, tenant):
            guards = [Guard.of(keys.actor(ident), ACTOR_FIELDS[:2], direct[:2]),
                      Guard.of(keys.alias(tenant, ident), ["actor_id"], [alias_target])]
            if not alias_target:
                return None
            actor_id = json.loads(alias_target)
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.hmget(keys.actor(actor_id), ACTOR_FIELDS)
                pipe.hmget(keys.permissions("actor", tenant, actor_id), [username, WORLD])
                fields, shared = pipe.execute()
            if not _in_tenant(fields, tenant):
                return None
            guards.append(Guard.of(keys.actor(actor_id), ACTOR_FIELDS, fields))
        guards.append(Guard.of(keys.permissions("actor", tenant, actor_id), (username, WORLD),
                               shared))
        actor = {name: json.loads(raw) if raw else None for name, raw in zip(ACTOR_FIELDS, fields)}
        actor["tenant"] = actor["tenant"] or "default"
        return ActorAccess(dict(actor, id=actor_id), strongest(shared), tuple(guards))


def _in_tenant(fields: list, tenant: str) -> bool:
    """The fields read are those of an existing actor of the tenant (ACTOR_FIELDS order)."""
    raw_tenant, owner = fields[0], fields[1]
    return owner is not None and (json.loads(raw_tenant) if raw_tenant else "default") == tenant
