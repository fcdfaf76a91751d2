"""Spawner hosts: who runs where, with which GPUs, and which GPU each execution holds."""
from __future__ import annotations

import json
from typing import Optional, Sequence

from . import keys

_TAKE = """
-- KEYS: free set, held hash; ARGV: execution id, index...
for i = 2, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then return 0 end
end
for i = 2, #ARGV do
  redis.call('SREM', KEYS[1], ARGV[i])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[1])
end
return 1
"""

_GIVE_BACK = """
-- KEYS: free set, held hash; ARGV: execution id
local held = redis.call('HGETALL', KEYS[2])
local freed = 0
for i = 1, #held, 2 do
  if held[i + 1] == ARGV[1] then
    redis.call('HDEL', KEYS[2], held[i])
    redis.call('SADD', KEYS[1], held[i])
    freed = freed + 1
  end
end
return freed
"""


# A name is held by the live record's ``instance``. Claiming at start also succeeds over a
# record from the same host and work folder: the caller holds that folder's lock, so the
# record's writer is dead (a spawner restarted after kill -9 re-attaches at once).
_CLAIM = """
-- KEYS: host record, hosts set, spawners registry; ARGV: name, record json, ttl ms,
--       instance, hostname, work folder
local current = redis.call('GET', KEYS[1])
if current then
  local ok, holder = pcall(cjson.decode, current)
  if ok and type(holder) == 'table' and holder.instance ~= ARGV[4] and not
     (holder.hostname == ARGV[5] and (holder.workdir == nil or holder.workdir == ARGV[6])) then
    return current
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return false
"""

_BEAT = """
-- KEYS: host record, hosts set, spawners registry; ARGV: name, record json, ttl ms, instance
local current = redis.call('GET', KEYS[1])
if current and ARGV[4] ~= '' then
  local ok, holder = pcall(cjson.decode, current)
  if ok and type(holder) == 'table' and holder.instance and holder.instance ~= ARGV[4] then
    return current
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return false
"""


class HostStore:
    def __init__(self, redis):
        self.redis = redis
        self._take = redis.register_script(_TAKE)
        self._give_back = redis.register_script(_GIVE_BACK)
        self._claim = redis.register_script(_CLAIM)
        self._beat = redis.register_script(_BEAT)

    # -- registration ------------------------------------------------------
    def heartbeat(self, name: str, record: dict, ttl: float) -> Optional[dict]:
        """Renew the registration (for ``ttl`` seconds) unless another instance holds the
        name (``record["instance"]`` against the live record's); that one's record if so."""
        held = self._beat(keys=[keys.host(name), keys.HOSTS, keys.SPAWNERS],
                          args=[name, json.dumps(record), int(ttl * 1000),
                                record.get("instance") or ""])
        return json.loads(held) if held else None

    def claim(self, name: str, record: dict, ttl: float) -> Optional[dict]:
        """Register as ``name`` at start; the live holder's record if another spawner holds
        it (see _CLAIM). ``record`` carries ``instance``, ``hostname`` and ``workdir``."""
        held = self._claim(keys=[keys.host(name), keys.HOSTS, keys.SPAWNERS],
                           args=[name, json.dumps(record), int(ttl * 1000), record["instance"],
                                 record["hostname"], record["workdir"]])
        return json.loads(held) if held else None

    def get(self, name: str) -> Optional[dict]:
        """The live registration of ``name`` (None once its heartbeat expired)."""
        raw = self.redis.get(keys.host(name))
        return json.loads(raw) if raw else None

    def list(self) -> list:
        """Every host whose heartbeat is current, with each GPU's holder."""
        hosts = []
        for member in sorted(self.redis.smembers(keys.HOSTS)):
            name = member.decode()
            raw = self.redis.get(keys.host(name))
            if raw is None:
                self.redis.srem(keys.HOSTS, name)  # its heartbeat expired: it is gone
                continue
            record = json.loads(raw)
            held = self.held(name)
            for gpu in record.get("gpus", []):
                gpu["execution_id"] = held.get(gpu["index"])
                gpu["busy"] = gpu["execution_id"] is not None
            hosts.append(record)
        return hosts

    def deregister(self, name: str, forget: bool = True) -> None:
        """A clean stop. ``forget``: nothing of it is left running (else the registry keeps
        it, so its leftovers are settled if it does not come back)."""
        with self.redis.pipeline() as pipe:
            pipe.delete(keys.host(name))
            pipe.srem(keys.HOSTS, name)
            if forget:
                pipe.hdel(keys.SPAWNERS, name)
            pipe.execute()

    # -- GPU allocation ----------------------------------------------------
    def reset_gpus(self, name: str, indices: Sequence[int], keep: dict) -> None:
        """Start the host's inventory over: free, except what ``keep`` (index -> execution) holds."""
        with self.redis.pipeline() as pipe:
            pipe.delete(keys.host_gpus_free(name), keys.host_gpus_held(name))
            free = [i for i in indices if i not in keep]
            if free:
                pipe.sadd(keys.host_gpus_free(name), *free)
            if keep:
                pipe.hset(keys.host_gpus_held(name), mapping={str(i): e for i, e in keep.items()})
            pipe.execute()

    def free_gpus(self, name: str) -> list:
        return sorted(int(i) for i in self.redis.smembers(keys.host_gpus_free(name)))

    def take_gpus(self, name: str, indices: Sequence[int], execution_id: str) -> bool:
        """Hold exactly these GPUs for the execution, or none of them."""
        return bool(self._take(keys=[keys.host_gpus_free(name), keys.host_gpus_held(name)],
                               args=[execution_id, *[str(i) for i in indices]]))

    def transfer_gpus(self, name: str, holder: str, execution_id: str) -> None:
        """Re-label the GPUs ``holder`` took provisionally as the execution's."""
        held = [i for i, e in self.held(name).items() if e == holder]
        if held:
            self.redis.hset(keys.host_gpus_held(name), mapping={str(i): execution_id for i in held})

    def give_back_gpus(self, name: str, execution_id: str) -> int:
        return int(self._give_back(keys=[keys.host_gpus_free(name), keys.host_gpus_held(name)],
                                   args=[execution_id]))

    def held(self, name: str) -> dict:
        raw = self.redis.hgetall(keys.host_gpus_held(name))
        return {int(k): v.decode() for k, v in raw.items()}
