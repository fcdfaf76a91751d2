"""Events sent to an actor's ``link`` or ``webhook``, and the webhook delivery queue.

A webhook event is recorded with its attempts and sits in a sorted set
scored by when it is next due: the sorted set, not the task on the
``actors:webhooks:tasks`` list (store/work.py), is the source of truth. Whoever sends an attempt first pushes its score ``lease`` seconds
ahead, so an attempt lost with a crashed worker is tried again after the
lease: delivery is at least once. docs/events.md has the whole story.
"""
from __future__ import annotations

import json
from typing import Optional

from ..ids import new_id
from ..times import now_iso
from . import keys
from .records import decode, encode
from .work import WorkQueue

KEEP_PER_ACTOR = 100  # events listed per actor
EVENT_TTL = 7 * 24 * 3600  # seconds an event record is kept after its last change


class EventStatus:
    SUBMITTED = "SUBMITTED"  # a link event: its message was queued for the target
    PENDING = "PENDING"  # a webhook event before its first answer
    RETRYING = "RETRYING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


_CLAIM_DUE = """
-- KEYS: pending; ARGV: now, lease end, limit
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""


class EventStore:
    def __init__(self, redis):
        self.redis = redis
        self._claim_due = redis.register_script(_CLAIM_DUE)

    def _add(self, record: dict, pipe) -> None:
        pipe.hset(keys.event(record["id"]), mapping=encode(record))
        pipe.expire(keys.event(record["id"]), EVENT_TTL)
        pipe.lpush(keys.actor_events(record["actor_id"]), record["id"])
        pipe.ltrim(keys.actor_events(record["actor_id"]), 0, KEEP_PER_ACTOR - 1)

    def record_link(self, actor_id: str, event: dict, target: str, status: str,
                    execution_id: Optional[str] = None, message: str = "") -> dict:
        record = dict(id=new_id(), actor_id=actor_id, kind="link", target=target,
                      event_type=event["event_type"], event=event, status=status,
                      status_message=message, execution_id=execution_id, create_time=now_iso())
        with self.redis.pipeline() as pipe:
            self._add(record, pipe)
            pipe.execute()
        return record

    def create_webhook(self, actor_id: str, url: str, event: dict, first_due: float) -> dict:
        """Record the event as pending and wake a spawner to send it, in one MULTI.

        ``first_due`` is when the retry sweep may send it if its task is lost.
        """
        record = dict(id=new_id(), actor_id=actor_id, kind="webhook", target=url,
                      event_type=event["event_type"], event=event, status=EventStatus.PENDING,
                      status_message="", create_time=now_iso())
        with self.redis.pipeline() as pipe:
            pipe.multi()
            self._add(record, pipe)
            pipe.zadd(keys.WEBHOOKS_PENDING, {record["id"]: first_due})
            self.enqueue_delivery(record["id"], pipeline=pipe)
            pipe.execute()
        return record

    def enqueue_delivery(self, event_id: str, pipeline=None) -> None:
        """A task for any spawner's slot: one attempt at the event (spawner/jobs.py)."""
        WorkQueue(self.redis).enqueue_webhook(event_id, pipeline=pipeline)

    def get(self, event_id: str) -> Optional[dict]:
        record = decode(self.redis.hgetall(keys.event(event_id)))
        if record is not None and record.get("kind") == "webhook":
            record["attempts"] = self.attempts(event_id)
        return record

    def attempts(self, event_id: str) -> list:
        return [json.loads(a) for a in self.redis.lrange(keys.event_attempts(event_id), 0, -1)]

    def list_for_actor(self, actor_id: str) -> list:
        """The actor's recent events, newest first (expired ones left out)."""
        ids = [m.decode() for m in self.redis.lrange(keys.actor_events(actor_id), 0, -1)]
        return [r for r in (self.get(event_id) for event_id in ids) if r is not None]

    def record_attempt(self, event_id: str, attempt: dict, status: str,
                       next_due: Optional[float] = None) -> None:
        """Add one attempt; a ``next_due`` keeps it pending until then, else it is settled."""
        with self.redis.pipeline() as pipe:
            pipe.rpush(keys.event_attempts(event_id), json.dumps(attempt))
            pipe.hset(keys.event(event_id), mapping=encode({"status": status,
                                                            "status_message": attempt.get("error", "")}))
            for key in (keys.event(event_id), keys.event_attempts(event_id)):
                pipe.expire(key, EVENT_TTL)
            if next_due is None:
                pipe.zrem(keys.WEBHOOKS_PENDING, event_id)
            else:
                pipe.zadd(keys.WEBHOOKS_PENDING, {event_id: next_due})
            pipe.execute()

    def claim_due(self, now: float, lease: float, limit: int = 100) -> list:
        """Ids of webhook events due by ``now``, each pushed to ``now + lease`` atomically,
        so of several sweeps exactly one gets each."""
        return [m.decode() for m in self._claim_due(keys=[keys.WEBHOOKS_PENDING],
                                                    args=[now, now + lease, limit])]

    def delete_for_actor(self, actor_id: str) -> None:
        ids = [m.decode() for m in self.redis.lrange(keys.actor_events(actor_id), 0, -1)]
        with self.redis.pipeline() as pipe:
            for event_id in ids:
                pipe.delete(keys.event(event_id), keys.event_attempts(event_id))
                pipe.zrem(keys.WEBHOOKS_PENDING, event_id)
            pipe.delete(keys.actor_events(actor_id))
            pipe.execute()
