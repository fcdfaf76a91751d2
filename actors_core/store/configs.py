"""Actor configs: named values given to the actors (ids or aliases) they list.

A secret's value is stored as Fernet ciphertext (``actors_core.crypto``) and
only ever leaves this module through :meth:`ConfigStore.for_actor`, which the
spawner calls to build ``_actor_configs``; every other read hides it.
"""
from __future__ import annotations

import json
from typing import Iterable, Optional

from ..times import now_iso
from . import keys
from .records import decode, decode_many, encode, ordered

INTERNAL_FIELDS = ("tenant",)
FIELD_ORDER = ("name", "value", "is_secret", "actors", "owner", "create_time", "last_update_time")

_CREATE = """
-- KEYS: config, tenant's configs; ARGV: name, fields json, then the target index keys
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fields = cjson.decode(ARGV[2])
for name, value in pairs(fields) do redis.call('HSET', KEYS[1], name, value) end
redis.call('SADD', KEYS[2], ARGV[1])
for i = 3, #ARGV do redis.call('SADD', ARGV[i], ARGV[1]) end
return 1
"""


class ConfigStore:
    def __init__(self, redis):
        self.redis = redis
        self._create = redis.register_script(_CREATE)

    def create(self, tenant: str, config: dict) -> Optional[dict]:
        """Store a new config (value already encrypted if secret); ``None`` if the name is taken."""
        now = now_iso()
        record = dict(config, create_time=now, last_update_time=now)
        targets = [keys.config_targets(tenant, ident) for ident in record["actors"]]
        created = self._create(keys=[keys.config(tenant, record["name"]), keys.tenant_configs(tenant)],
                               args=[record["name"], json.dumps(encode(dict(record, tenant=tenant)))]
                               + targets)
        return public(record) if created else None

    def get(self, tenant: str, name: str) -> Optional[dict]:
        """The config as the API shows it: a secret's value is ``None``."""
        record = decode(self.redis.hgetall(keys.config(tenant, name)))
        return public(record) if record else None

    def names(self, tenant: str) -> set:
        return {m.decode() for m in self.redis.smembers(keys.tenant_configs(tenant))}

    def list(self, tenant: str, names: Iterable[str]) -> list:
        names = sorted(names)
        with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(keys.config(tenant, name))
            return [public(r) for r in decode_many(pipe.execute())]

    def replace(self, tenant: str, name: str, config: dict) -> Optional[dict]:
        """Replace value, secrecy and actors of an existing config; ``None`` if it is gone."""
        current = decode(self.redis.hgetall(keys.config(tenant, name)))
        if current is None:
            return None
        record = dict(current, **config, name=name, last_update_time=now_iso())
        with self.redis.pipeline() as pipe:
            for ident in current["actors"]:
                pipe.srem(keys.config_targets(tenant, ident), name)
            for ident in record["actors"]:
                pipe.sadd(keys.config_targets(tenant, ident), name)
            pipe.hset(keys.config(tenant, name), mapping=encode(record))
            pipe.execute()
        return public(record)

    def delete(self, tenant: str, name: str) -> None:
        current = decode(self.redis.hgetall(keys.config(tenant, name)))
        with self.redis.pipeline() as pipe:
            for ident in (current or {}).get("actors", []):
                pipe.srem(keys.config_targets(tenant, ident), name)
            pipe.delete(keys.config(tenant, name))
            pipe.srem(keys.tenant_configs(tenant), name)
            pipe.execute()

    def for_actor(self, tenant: str, idents: Iterable[str]) -> list:
        """Full records (secret values still encrypted) of the configs listing any of
        ``idents`` (an actor's id and its aliases). For the spawner only."""
        index_keys = [keys.config_targets(tenant, ident) for ident in idents]
        names = sorted(m.decode() for m in self.redis.sunion(index_keys)) if index_keys else []
        with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(keys.config(tenant, name))
            return decode_many(pipe.execute())


def public(record: dict) -> dict:
    """A config as the API may show it: never a secret's value, never the tenant."""
    shown = dict(record)
    if shown.get("is_secret"):
        shown["value"] = None
    return ordered(shown, FIELD_ORDER, INTERNAL_FIELDS)
