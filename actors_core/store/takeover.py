"""Settling a lost spawner's work: the registry of spawners and the conditional clean-ups.

Every heartbeat also writes the spawner's record into the ``spawners`` hash, which
never expires (hosts.py). A name in that hash whose heartbeat key expired is a
lost spawner; a live spawner takes the name's takeover lock and settles what it
left (spawner/takeover.py). Each clean-up here is conditional, so a settle that
races with the lost spawner coming back, or with another live spawner, changes
nothing that is not still the lost spawner's.
"""
from __future__ import annotations

import json
from typing import Optional

from . import keys
from .records import encode

_RELEASE_SLOT = """
-- KEYS: slot lease; ARGV: spawner name .. ':'
local owner = redis.call('GET', KEYS[1])
if not owner or string.sub(owner, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
local rest = string.sub(owner, #ARGV[1] + 1)
local _, colons = string.gsub(rest, ':', '')
if colons ~= 1 then return 0 end
return redis.call('DEL', KEYS[1])
"""

_FREE_WORKER = """
-- KEYS: worker, actor's workers; ARGV: worker id, execution id json, ready fields json
if redis.call('HGET', KEYS[1], 'execution_id') ~= ARGV[2] then return 0 end
if redis.call('HGET', KEYS[1], 'status') == '"SHUTDOWN_REQUESTED"' then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[1])
  return 2
end
for name, value in pairs(cjson.decode(ARGV[3])) do redis.call('HSET', KEYS[1], name, value) end
return 1
"""

_FORGET = """
-- KEYS: host record, spawners registry, running set, gpus held, gpus free; ARGV: name
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('SCARD', KEYS[3]) > 0 then return 0 end
redis.call('DEL', KEYS[4], KEYS[5])
return redis.call('HDEL', KEYS[2], ARGV[1])
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class TakeoverStore:
    def __init__(self, redis):
        self.redis = redis
        self._release_slot = redis.register_script(_RELEASE_SLOT)
        self._free_worker = redis.register_script(_FREE_WORKER)
        self._forget = redis.register_script(_FORGET)
        self._unlock = redis.register_script(_UNLOCK)

    def lost(self, me: str) -> list:
        """``[(name, last record)]`` of the registered spawners, other than ``me``, whose
        heartbeat expired."""
        registry = {k.decode(): v for k, v in self.redis.hgetall(keys.SPAWNERS).items()}
        names = sorted(n for n in registry if n != me)
        if not names:
            return []
        with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.exists(keys.host(name))
            alive = pipe.execute()
        lost = []
        for name, live in zip(names, alive):
            if live:
                continue
            try:
                record = json.loads(registry[name])
            except ValueError:
                record = {}
            lost.append((name, record if isinstance(record, dict) else {}))
        return lost

    def lock(self, name: str, holder: str, seconds: float) -> bool:
        return bool(self.redis.set(keys.host_takeover(name), holder, nx=True,
                                   px=int(seconds * 1000)))

    def unlock(self, name: str, holder: str) -> None:
        self._unlock(keys=[keys.host_takeover(name)], args=[holder])

    def release_slot(self, actor_id: str, slot: int, spawner: str) -> bool:
        """Free the slot lease if one of ``spawner``'s processes holds it."""
        return bool(self._release_slot(keys=[keys.worker_lease(actor_id, slot)], args=[f"{spawner}:"]))

    def free_worker(self, actor_id: str, worker_id: str, execution_id: str, ready: dict) -> bool:
        """The worker READY again (gone if a stop was asked) if it still runs ``execution_id``."""
        return bool(self._free_worker(
            keys=[keys.worker(actor_id, worker_id), keys.actor_workers(actor_id)],
            args=[worker_id, json.dumps(execution_id), json.dumps(encode(ready))]))

    def forget_stale(self, spawner: str, execution_id: str) -> None:
        """Drop an id that is no longer RUNNING from the spawner's running set."""
        self.redis.srem(keys.spawner_running(spawner), execution_id)

    def forget(self, name: str) -> bool:
        """Drop a lost spawner from the registry once nothing of it is left (and it has
        not come back meanwhile)."""
        return bool(self._forget(keys=[keys.host(name), keys.SPAWNERS,
                                       keys.spawner_running(name), keys.host_gpus_held(name),
                                       keys.host_gpus_free(name)],
                                 args=[name]))

    def registry(self, name: str) -> Optional[dict]:
        raw = self.redis.hget(keys.SPAWNERS, name)
        return json.loads(raw) if raw else None
