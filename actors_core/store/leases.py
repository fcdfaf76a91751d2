"""Worker leases: how many executions of one actor may run at once.

An actor has workers numbered 1..capacity: one for a stateful actor (its
executions run one at a time, in order), ``max_workers`` for a stateless one.
Whoever runs worker n holds its lease, a Redis key with an expiry that it
renews while it runs, so a spawner that dies frees its leases by itself.
(The spawner's own processes are its *slot processes*, ``--slots``: another
thing, see spawner/supervisor.py.)
"""
from __future__ import annotations

from typing import Optional

from . import keys

# acquire_lease(lease key prefix, capacity, owner, lease ms) -> the worker number, or nil;
# release_lease(lease key, owner) -> 1 if it was the owner's. Shared with admission.py.
LEASES_LUA = """
local function acquire_lease(prefix, capacity, owner, ms)
  for n = 1, capacity do
    if redis.call('SET', prefix .. n, owner, 'NX', 'PX', ms) then return n end
  end
  return nil
end
local function release_lease(key, owner)
  if redis.call('GET', key) == owner then return redis.call('DEL', key) end
  return 0
end
"""

_ACQUIRE = LEASES_LUA + """
-- KEYS: none; ARGV: lease key prefix, capacity, owner, lease ms
return acquire_lease(ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4])
"""

_RELEASE = LEASES_LUA + """
return release_lease(KEYS[1], ARGV[1])
"""


class WorkerLeases:
    def __init__(self, redis, lease_seconds: int):
        self.redis = redis
        self.lease_ms = lease_seconds * 1000
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)

    def acquire(self, actor_id: str, capacity: int, owner: str) -> Optional[int]:
        number = self._acquire(args=[keys.worker_lease(actor_id, ""), capacity, owner, self.lease_ms])
        return int(number) if number is not None else None

    def renew(self, actor_id: str, number: int, owner: str) -> None:
        self.redis.set(keys.worker_lease(actor_id, number), owner, px=self.lease_ms)

    def renew_many(self, leases) -> None:
        """Renew (actor_id, number, owner) leases in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            for actor_id, number, owner in leases:
                pipe.set(keys.worker_lease(actor_id, number), owner, px=self.lease_ms)
            pipe.execute()

    def release(self, actor_id: str, number: int, owner: str) -> None:
        self._release(keys=[keys.worker_lease(actor_id, number)], args=[owner])

    def busy(self, actor_id: str, capacity: int) -> int:
        with self.redis.pipeline(transaction=False) as pipe:
            for n in range(1, capacity + 1):
                pipe.exists(keys.worker_lease(actor_id, n))
            return sum(pipe.execute())
