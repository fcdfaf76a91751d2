"""Spawner hosts: who runs where, with which GPUs, and which GPU each execution holds."""
from __future__ import annotations

import json
from typing import Sequence

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


class HostStore:
    def __init__(self, redis):
        self.redis = redis
        self._take = redis.register_script(_TAKE)
        self._give_back = redis.register_script(_GIVE_BACK)

    # -- registration ------------------------------------------------------
    def heartbeat(self, name: str, record: dict, ttl: int) -> None:
        with self.redis.pipeline() as pipe:
            pipe.set(keys.host(name), json.dumps(record), ex=ttl)
            pipe.sadd(keys.HOSTS, name)
            pipe.execute()

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

    def deregister(self, name: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.delete(keys.host(name))
            pipe.srem(keys.HOSTS, name)
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
