"""Actors: registration records, ownership indexes and the run-outcome counter."""
from __future__ import annotations

import json
from typing import Optional

from .. import actor_fields
from ..enums import ActorStatus
from ..times import now_iso
from . import keys
from .cron import CronIndex
from .records import decode, decode_many, encode, ordered

# Fields the store keeps for its own bookkeeping and never returns, and the order of the rest.
INTERNAL_FIELDS = actor_fields.INTERNAL_FIELDS
FIELD_ORDER = actor_fields.RESPONSE_ORDER

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


# run_outcome(actor key, ok '1'|'0', threshold, now json, reason) -> 'READY' | 'ERROR' | ''
# (the status it changed to, for the events). Shared with the finish script (executions.py),
# so an execution's end and its actor's outcome are one step.
OUTCOME_LUA = """
local function run_outcome(key, ok, threshold, now, reason)
  if redis.call('EXISTS', key) == 0 then return '' end
  local status = redis.call('HGET', key, 'status')
  local failures = tonumber(redis.call('HGET', key, 'consecutive_failures') or '0') or 0
  if ok == '1' then
    if failures ~= 0 or status ~= '"READY"' then
      redis.call('HSET', key, 'consecutive_failures', '0', 'status', '"READY"',
                 'status_message', '""', 'last_update_time', now)
      if status ~= '"READY"' then return 'READY' end
    end
    return ''
  end
  failures = failures + 1
  redis.call('HSET', key, 'consecutive_failures', tostring(failures), 'last_update_time', now)
  if failures >= tonumber(threshold) then
    redis.call('HSET', key, 'status', '"ERROR"', 'status_message',
               cjson.encode(failures .. ' executions in a row could not run: ' .. reason))
    if status ~= '"ERROR"' then return 'ERROR' end
  end
  return ''
end
"""

_OUTCOME = OUTCOME_LUA + """
return run_outcome(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
"""


class ActorStore:
    def __init__(self, redis):
        self.redis = redis
        self._create = redis.register_script(_CREATE)
        self._outcome = redis.register_script(_OUTCOME)
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
        changed = self._outcome(keys=[keys.actor(actor_id)],
                                args=outcome_args(ok, threshold, reason))
        return ActorStatus(changed.decode()) if changed else None

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


def outcome_args(ok: bool, threshold: int, reason: str = "") -> list:
    """ARGV for :data:`OUTCOME_LUA`'s run_outcome after its key."""
    return ["1" if ok else "0", int(threshold), json.dumps(now_iso()), reason]


def public(record: dict) -> dict:
    """The actor as the API shows it: bookkeeping and the tenant left out."""
    return ordered(record, FIELD_ORDER, INTERNAL_FIELDS)
