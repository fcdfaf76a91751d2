"""The cron index: which actors fire when, and the compare-and-set that fires each once.

Every spawner supervisor ticks and reads the same index; ``advance`` moves an
actor's ``cron_next_ex`` forward only if it still holds the value the caller
read, so of several spawners that see the same due time exactly one wins and
submits the message.
"""
from __future__ import annotations

import json
from typing import Optional

from ..times import parse_iso
from . import keys

_ADVANCE = """
-- KEYS: actor, cron index; ARGV: actor id, expected (json), next (json), next score
if redis.call('HGET', KEYS[1], 'cron_next_ex') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'cron_next_ex', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return 1
"""


class CronIndex:
    def __init__(self, redis):
        self.redis = redis
        self._advance = redis.register_script(_ADVANCE)

    def sync(self, actor_id: str, record: Optional[dict], pipeline=None) -> None:
        """Index the actor under its ``cron_next_ex`` if its schedule is on, else drop it."""
        target = pipeline if pipeline is not None else self.redis
        when = (record or {}).get("cron_next_ex")
        if record and record.get("cron_on", True) and record.get("cron_schedule") and when:
            target.zadd(keys.CRON_DUE, {actor_id: parse_iso(when).timestamp()})
        else:
            target.zrem(keys.CRON_DUE, actor_id)

    def due(self, now: float) -> list:
        return [m.decode() for m in self.redis.zrangebyscore(keys.CRON_DUE, "-inf", now)]

    def advance(self, actor_id: str, expected: str, following: str) -> bool:
        """Set ``cron_next_ex`` from ``expected`` to ``following``; False if someone else did."""
        return bool(self._advance(
            keys=[keys.actor(actor_id), keys.CRON_DUE],
            args=[actor_id, json.dumps(expected), json.dumps(following),
                  parse_iso(following).timestamp()]))

    def forget(self, actor_id: str) -> None:
        self.redis.zrem(keys.CRON_DUE, actor_id)
