"""Nonces: limited-use access ids for one actor or one alias.

Redeeming a use is one Lua script (check what is left, count the use), so
concurrent requests can never spend more uses than ``max_uses``, and a nonce
deleted between two requests is simply gone for the second.
"""
from __future__ import annotations

import enum
import json
from typing import Optional

from ..times import now_iso
from . import keys
from .records import decode, decode_many, encode, ordered

INTERNAL_FIELDS = ("tenant",)
FIELD_ORDER = ("id", "actor_id", "alias", "owner", "roles", "level", "max_uses", "remaining_uses",
               "current_uses", "description", "create_time", "last_use_time")


class Redemption(enum.Enum):
    REDEEMED = 1
    EXHAUSTED = 0
    MISSING = -1


_REDEEM = """
-- KEYS: nonce; ARGV: last use time (json)
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local remaining = tonumber(redis.call('HGET', KEYS[1], 'remaining_uses'))
if remaining == 0 then return 0 end
if remaining > 0 then redis.call('HSET', KEYS[1], 'remaining_uses', tostring(remaining - 1)) end
local used = tonumber(redis.call('HGET', KEYS[1], 'current_uses')) + 1
redis.call('HSET', KEYS[1], 'current_uses', tostring(used))
redis.call('HSET', KEYS[1], 'last_use_time', ARGV[1])
return 1
"""


class NonceStore:
    def __init__(self, redis):
        self.redis = redis
        self._redeem = redis.register_script(_REDEEM)

    def create(self, nonce: dict, tenant: str, roles=()) -> dict:
        """Store a new nonce for ``nonce['actor_id']`` or ``nonce['alias']`` (exactly one),
        with the ``roles`` of the user who made it (a request made with the nonce has them)."""
        record = dict(nonce, roles=list(roles), remaining_uses=nonce["max_uses"], current_uses=0,
                      create_time=now_iso(), last_use_time=None)
        with self.redis.pipeline() as pipe:
            pipe.hset(keys.nonce(record["id"]), mapping=encode(dict(record, tenant=tenant)))
            pipe.sadd(self._index(tenant, record), record["id"])
            pipe.execute()
        return public(record)

    def get(self, nonce_id: str) -> Optional[dict]:
        """The whole record, with its tenant (never returned by the API)."""
        return decode(self.redis.hgetall(keys.nonce(nonce_id)))

    def list(self, tenant: str, actor_id: Optional[str] = None, alias: Optional[str] = None) -> list:
        index = keys.actor_nonces(actor_id) if actor_id else keys.alias_nonces(tenant, alias)
        ids = sorted(m.decode() for m in self.redis.smembers(index))
        with self.redis.pipeline(transaction=False) as pipe:
            for nonce_id in ids:
                pipe.hgetall(keys.nonce(nonce_id))
            records = decode_many(pipe.execute())
        return sorted(records, key=lambda r: r["create_time"])

    def redeem(self, nonce_id: str) -> Redemption:
        """Spend one use, atomically."""
        return Redemption(int(self._redeem(keys=[keys.nonce(nonce_id)],
                                           args=[json.dumps(now_iso())])))

    def delete(self, nonce_id: str) -> None:
        record = self.get(nonce_id)
        if record is None:
            return
        with self.redis.pipeline() as pipe:
            pipe.delete(keys.nonce(nonce_id))
            pipe.srem(self._index(record["tenant"], record), nonce_id)
            pipe.execute()

    def delete_all(self, tenant: str, actor_id: Optional[str] = None,
                   alias: Optional[str] = None) -> None:
        """Every nonce of an actor or alias that is being deleted."""
        index = keys.actor_nonces(actor_id) if actor_id else keys.alias_nonces(tenant, alias)
        ids = [m.decode() for m in self.redis.smembers(index)]
        with self.redis.pipeline() as pipe:
            for nonce_id in ids:
                pipe.delete(keys.nonce(nonce_id))
            pipe.delete(index)
            pipe.execute()

    @staticmethod
    def _index(tenant: str, record: dict) -> str:
        if record.get("actor_id"):
            return keys.actor_nonces(record["actor_id"])
        return keys.alias_nonces(tenant, record["alias"])


def public(record: dict) -> dict:
    """What the API shows of a nonce (as Abaco, with ``roles``): never its tenant."""
    return ordered(record, FIELD_ORDER, INTERNAL_FIELDS)
