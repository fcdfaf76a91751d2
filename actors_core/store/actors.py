"""Actors: registration records, ownership indexes and the run-outcome counter."""
from __future__ import annotations

import json
from typing import Optional

from ..enums import ActorStatus
from ..times import now_iso
from . import keys
from .cron import CronIndex
from .records import decode, decode_many, encode, ordered

# Fields the store keeps for its own bookkeeping and never returns.
INTERNAL_FIELDS = ("consecutive_failures", "tenant")

_CREATE = """
-- KEYS: actor, all actors, tenant's actors, owner's actors
-- ARGV: id, max owned (-1: no limit), fields json
local limit = tonumber(ARGV[2])
if limit >= 0 and redis.call('SCARD', KEYS[4]) >= limit then return 0 end
local fields = cjson.decode(ARGV[3])
for name, value in pairs(fields) do redis.call('HSET', KEYS[1], name, value) end
for i = 2, 4 do redis.call('SADD', KEYS[i], ARGV[1]) end
return 1
"""


class ActorStore:
    def __init__(self, redis):
        self.redis = redis
        self._create = redis.register_script(_CREATE)
        self.cron = CronIndex(redis)

    def create(self, actor: dict, tenant: str = "default",
               max_owned: Optional[int] = None) -> Optional[dict]:
        """Record a new actor in its tenant's indexes; ``None`` if the owner already
        owns ``max_owned`` actors (checked and written atomically)."""
        now = now_iso()
        record = dict(actor, status=str(ActorStatus.SUBMITTED), status_message="",
                      create_time=now, last_update_time=now, revision=1)
        created = self._create(
            keys=[keys.actor(record["id"]), keys.ALL_ACTORS, keys.tenant_actors(tenant),
                  keys.owned_actors(tenant, record["owner"])],
            args=[record["id"], -1 if max_owned is None else max_owned,
                  json.dumps(encode(dict(record, tenant=tenant)))])
        if created:
            self.cron.sync(record["id"], record)
        return record if created else None

    def get(self, actor_id: str) -> Optional[dict]:
        record = self.get_internal(actor_id)
        return public(record) if record else None

    def get_internal(self, actor_id: str) -> Optional[dict]:
        """The record with the fields the API never returns (its ``tenant``)."""
        record = decode(self.redis.hgetall(keys.actor(actor_id)))
        if record is not None:
            record.setdefault("tenant", "default")
        return record

    def tenant_of(self, actor_id: str) -> str:
        raw = self.redis.hget(keys.actor(actor_id), "tenant")
        return json.loads(raw) if raw else "default"

    def ids_in_tenant(self, tenant: str) -> set:
        return {m.decode() for m in self.redis.smembers(keys.tenant_actors(tenant))}

    def owned_ids(self, tenant: str, owner: str) -> set:
        return {m.decode() for m in self.redis.smembers(keys.owned_actors(tenant, owner))}

    def list(self, ids) -> list:
        """The actors with these ids that still exist, oldest first."""
        ids = sorted(ids)
        with self.redis.pipeline(transaction=False) as pipe:
            for actor_id in ids:
                pipe.hgetall(keys.actor(actor_id))
            records = decode_many(pipe.execute())
        return sorted((public(r) for r in records), key=lambda r: r["create_time"])

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
        record = self.get(actor_id)
        if {"cron_schedule", "cron_on", "cron_next_ex"} & set(fields):
            self.cron.sync(actor_id, record)
        return record

    def set_status(self, actor_id: str, status: ActorStatus, message: str = "") -> None:
        if self.redis.exists(keys.actor(actor_id)):
            self.update(actor_id, status=str(status), status_message=message)

    def record_run_outcome(self, actor_id: str, ok: bool, threshold: int,
                           reason: str = "") -> Optional[ActorStatus]:
        """Count consecutive failed runs; past ``threshold`` the actor goes to ERROR.

        A run that succeeds proves the image works, so it clears the counter and
        lifts an ERROR status. Returns the new status when this changed it (for events).
        """
        key = keys.actor(actor_id)
        if not self.redis.exists(key):
            return None
        if ok:
            record = decode(self.redis.hgetall(key)) or {}
            if record.get("consecutive_failures") or record.get("status") != str(ActorStatus.READY):
                self.update(actor_id, consecutive_failures=0, status=str(ActorStatus.READY),
                            status_message="")
                if record.get("status") != str(ActorStatus.READY):
                    return ActorStatus.READY
            return None
        record = decode(self.redis.hgetall(key)) or {}
        failures = int(record.get("consecutive_failures") or 0) + 1
        fields = {"consecutive_failures": failures}
        if failures >= threshold:
            fields.update(status=str(ActorStatus.ERROR),
                          status_message=f"{failures} executions in a row could not run: {reason}")
        self.update(actor_id, **fields)
        if failures >= threshold and record.get("status") != str(ActorStatus.ERROR):
            return ActorStatus.ERROR
        return None

    def get_state(self, actor_id: str):
        raw = self.redis.get(keys.state(actor_id))
        return json.loads(raw) if raw is not None else None

    def set_state(self, actor_id: str, value) -> None:
        self.redis.set(keys.state(actor_id), json.dumps(value))

    def delete(self, actor_id: str, owner: str, tenant: str = "default") -> None:
        with self.redis.pipeline() as pipe:
            pipe.delete(keys.actor(actor_id), keys.actor_totals(actor_id), keys.state(actor_id))
            pipe.srem(keys.ALL_ACTORS, actor_id)
            pipe.zrem(keys.CRON_DUE, actor_id)
            pipe.srem(keys.tenant_actors(tenant), actor_id)
            pipe.srem(keys.owned_actors(tenant, owner), actor_id)
            pipe.execute()


FIELD_ORDER = ("id", "name", "owner", "image", "description", "status", "status_message",
               "stateless", "default_environment", "privileged", "max_workers", "mem_limit",
               "max_cpus", "hints", "queue", "log_ex", "token", "use_container_uid", "gpus",
               "gpu_memory_min", "max_retries", "retry_backoff", "retry_on_exit_code",
               "link", "webhook", "cron_schedule", "cron_on", "cron_next_ex",
               "revision",
               "create_time", "last_update_time")


def public(record: dict) -> dict:
    """The actor as the API shows it: bookkeeping and the tenant left out."""
    return ordered(record, FIELD_ORDER, INTERNAL_FIELDS)
