"""When kept outputs are deleted: an index of artifact prefixes by deletion time.

Both backends use it (a folder has no expiry of its own, and S3 lifecycle
rules count days, not ``log_ex`` seconds): collection schedules an
execution's prefix at ``finish + log_ex``, deleting an actor schedules the
actor's whole prefix now, and every spawner's sweep claims what is due. A
claim removes the entry in the same script that reads it, so two sweeps never
delete the same prefix; one that fails puts it back for later.
"""
from __future__ import annotations

import time

from . import keys

_CLAIM = """
-- KEYS: due index; ARGV: now, limit
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due
"""


class ArtifactIndex:
    def __init__(self, redis):
        self.redis = redis
        self._claim = redis.register_script(_CLAIM)

    def schedule(self, prefix: str, delete_at: float, pipeline=None) -> None:
        """Delete ``prefix`` at ``delete_at`` (epoch seconds); a later schedule replaces it."""
        (pipeline or self.redis).zadd(keys.ARTIFACTS_DUE, {prefix: delete_at})

    def schedule_actor(self, pipeline, actor_id: str) -> None:
        """Everything the actor's executions left: due now (the actor is being deleted)."""
        pipeline.zadd(keys.ARTIFACTS_DUE, {f"{actor_id}/": 0})

    def claim_due(self, now: float = None, limit: int = 100) -> list:
        now = time.time() if now is None else now
        return [p.decode() for p in self._claim(keys=[keys.ARTIFACTS_DUE], args=[now, limit])]

    def delete_at(self, prefix: str):
        return self.redis.zscore(keys.ARTIFACTS_DUE, prefix)
