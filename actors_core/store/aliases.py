"""Aliases: stable, tenant-unique names that point at an actor id."""
from __future__ import annotations

import json
from typing import Optional

from ..times import now_iso
from . import keys
from .records import decode, decode_many, encode, ordered

INTERNAL_FIELDS = ("tenant",)
FIELD_ORDER = ("alias", "actor_id", "owner", "create_time", "last_update_time")

_CREATE = """
-- KEYS: alias, tenant's aliases, actor's aliases; ARGV: alias name, fields json
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fields = cjson.decode(ARGV[2])
for name, value in pairs(fields) do redis.call('HSET', KEYS[1], name, value) end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"""


class AliasStore:
    def __init__(self, redis):
        self.redis = redis
        self._create = redis.register_script(_CREATE)

    def create(self, tenant: str, name: str, actor_id: str, owner: str) -> Optional[dict]:
        """The new alias, or ``None`` when the tenant already has one of that name."""
        now = now_iso()
        record = {"alias": name, "actor_id": actor_id, "owner": owner,
                  "create_time": now, "last_update_time": now}
        created = self._create(
            keys=[keys.alias(tenant, name), keys.tenant_aliases(tenant), keys.actor_aliases(actor_id)],
            args=[name, json.dumps(encode(dict(record, tenant=tenant)))])
        return _public(record) if created else None

    def get(self, tenant: str, name: str) -> Optional[dict]:
        record = decode(self.redis.hgetall(keys.alias(tenant, name)))
        return _public(record) if record else None

    def list(self, tenant: str, names) -> list:
        names = sorted(names)
        with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(keys.alias(tenant, name))
            return [_public(r) for r in decode_many(pipe.execute())]

    def names(self, tenant: str) -> set:
        return {m.decode() for m in self.redis.smembers(keys.tenant_aliases(tenant))}

    def for_actor(self, actor_id: str) -> set:
        return {m.decode() for m in self.redis.smembers(keys.actor_aliases(actor_id))}

    def point(self, tenant: str, name: str, actor_id: str) -> Optional[dict]:
        """Point an existing alias at another actor; ``None`` if the alias is gone."""
        current = self.get(tenant, name)
        if current is None:
            return None
        with self.redis.pipeline() as pipe:
            pipe.hset(keys.alias(tenant, name),
                      mapping=encode({"actor_id": actor_id, "last_update_time": now_iso()}))
            pipe.srem(keys.actor_aliases(current["actor_id"]), name)
            pipe.sadd(keys.actor_aliases(actor_id), name)
            pipe.execute()
        return self.get(tenant, name)

    def delete(self, tenant: str, name: str) -> None:
        current = self.get(tenant, name)
        with self.redis.pipeline() as pipe:
            pipe.delete(keys.alias(tenant, name))
            pipe.srem(keys.tenant_aliases(tenant), name)
            if current is not None:
                pipe.srem(keys.actor_aliases(current["actor_id"]), name)
            pipe.execute()


def _public(record: dict) -> dict:
    return ordered(record, FIELD_ORDER, INTERNAL_FIELDS)
