"""Actors: registration records, ownership indexes and the run-outcome counter."""
from __future__ import annotations

import json
from typing import Optional

from ..models import ActorStatus, now_iso
from . import keys
from .records import decode, decode_many, encode, ordered

# Fields the store keeps for its own bookkeeping and never returns.
INTERNAL_FIELDS = ("consecutive_failures",)


class ActorStore:
    def __init__(self, redis):
        self.redis = redis

    def create(self, actor: dict) -> dict:
        now = now_iso()
        record = dict(actor, status=str(ActorStatus.SUBMITTED), status_message="",
                      create_time=now, last_update_time=now, revision=1)
        with self.redis.pipeline() as pipe:
            pipe.hset(keys.actor(record["id"]), mapping=encode(record))
            pipe.sadd(keys.ALL_ACTORS, record["id"])
            pipe.sadd(keys.owner_actors(record["owner"]), record["id"])
            pipe.execute()
        return record

    def get(self, actor_id: str) -> Optional[dict]:
        record = decode(self.redis.hgetall(keys.actor(actor_id)))
        return _public(record) if record else None

    def list(self, owner: Optional[str] = None) -> list:
        index = keys.owner_actors(owner) if owner is not None else keys.ALL_ACTORS
        ids = sorted(member.decode() for member in self.redis.smembers(index))
        with self.redis.pipeline(transaction=False) as pipe:
            for actor_id in ids:
                pipe.hgetall(keys.actor(actor_id))
            records = decode_many(pipe.execute())
        return sorted((_public(r) for r in records), key=lambda r: r["create_time"])

    def update(self, actor_id: str, **fields) -> Optional[dict]:
        """Set some fields of an existing actor; ``None`` if it is gone."""
        key = keys.actor(actor_id)
        fields["last_update_time"] = now_iso()
        with self.redis.pipeline() as pipe:
            pipe.exists(key)
            pipe.hset(key, mapping=encode(fields))
            exists, _ = pipe.execute()
        if not exists:
            self.redis.delete(key)  # the hset above recreated a partial record
            return None
        return self.get(actor_id)

    def set_status(self, actor_id: str, status: ActorStatus, message: str = "") -> None:
        if self.redis.exists(keys.actor(actor_id)):
            self.update(actor_id, status=str(status), status_message=message)

    def record_run_outcome(self, actor_id: str, ok: bool, threshold: int, reason: str = "") -> None:
        """Count consecutive failed runs; past ``threshold`` the actor goes to ERROR.

        A run that succeeds proves the image works, so it clears the counter and
        lifts an ERROR status.
        """
        key = keys.actor(actor_id)
        if not self.redis.exists(key):
            return
        if ok:
            record = decode(self.redis.hgetall(key)) or {}
            if record.get("consecutive_failures") or record.get("status") != str(ActorStatus.READY):
                self.update(actor_id, consecutive_failures=0, status=str(ActorStatus.READY),
                            status_message="")
            return
        record = decode(self.redis.hgetall(key)) or {}
        failures = int(record.get("consecutive_failures") or 0) + 1
        fields = {"consecutive_failures": failures}
        if failures >= threshold:
            fields.update(status=str(ActorStatus.ERROR),
                          status_message=f"{failures} executions in a row could not run: {reason}")
        self.update(actor_id, **fields)

    def get_state(self, actor_id: str):
        raw = self.redis.get(keys.state(actor_id))
        return json.loads(raw) if raw is not None else None

    def set_state(self, actor_id: str, value) -> None:
        self.redis.set(keys.state(actor_id), json.dumps(value))

    def delete(self, actor_id: str, owner: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.delete(keys.actor(actor_id), keys.actor_totals(actor_id), keys.state(actor_id))
            pipe.srem(keys.ALL_ACTORS, actor_id)
            pipe.srem(keys.owner_actors(owner), actor_id)
            pipe.execute()


FIELD_ORDER = ("id", "name", "owner", "image", "description", "status", "status_message",
               "stateless", "default_environment", "privileged", "max_workers", "mem_limit",
               "max_cpus", "hints", "queue", "log_ex", "token", "use_container_uid", "revision",
               "create_time", "last_update_time")


def _public(record: dict) -> dict:
    return ordered(record, FIELD_ORDER, INTERNAL_FIELDS)
