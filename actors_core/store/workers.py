"""Workers: the visible record of each of an actor's execution slots.

A worker runs one execution at a time. Its record is written by whoever holds
the slot's lease (BUSY while it runs, READY after), by ``POST .../workers``
(READY, no host yet) and by the spawners' sweeps (health checks, retiring idle
or lost workers). Every change that depends on the record's current status is
a Lua script, so a sweep can never retire a worker that just became BUSY and a
late finish never resurrects a deleted one. *When* a worker is made or retired
is decided in ``actors_core/scheduling.py`` (and acted on by ``spawner/sweep.py``);
this module only keeps the records.
"""
from __future__ import annotations

import json
import time
from typing import Optional

from ..enums import WorkerStatus
from ..scheduling import worker_id as worker_name
from ..times import now_iso
from . import keys
from .records import decode, decode_many, encode, ordered


FIELD_ORDER = ("id", "actor_id", "status", "host", "execution_id", "create_time",
               "last_execution_time", "last_health_check_time")
INTERNAL_FIELDS = ("idle_since",)  # epoch seconds the worker last became idle

# start_worker(worker key, actor's workers, worker actors, worker id, actor id, new fields,
# busy fields) and finish_worker(worker key, actor's workers, worker id, ready fields) -> 1
# stays, 2 removed (a stop was asked), 0 gone; fields are {name: JSON value}. Shared with
# admission.py, whose scripts start and finish workers beside the claim and the release.
WORKER_LUA = """
local function start_worker(key, workers, worker_actors, worker_id, actor_id, new, busy)
  if redis.call('EXISTS', key) == 0 then
    for name, value in pairs(new) do redis.call('HSET', key, name, value) end
    redis.call('SADD', workers, worker_id)
    redis.call('SADD', worker_actors, actor_id)
  end
  for name, value in pairs(busy) do redis.call('HSET', key, name, value) end
  return 1
end
local function finish_worker(key, workers, worker_id, ready)
  if redis.call('EXISTS', key) == 0 then return 0 end
  if redis.call('HGET', key, 'status') == '"SHUTDOWN_REQUESTED"' then
    redis.call('DEL', key)
    redis.call('SREM', workers, worker_id)
    return 2
  end
  for name, value in pairs(ready) do redis.call('HSET', key, name, value) end
  return 1
end
"""

_START = WORKER_LUA + """
-- KEYS: worker, actor's workers, worker actors; ARGV: worker id, actor id, new json, busy json
return start_worker(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], cjson.decode(ARGV[3]),
                    cjson.decode(ARGV[4]))
"""

_CREATE_IDLE = """
-- KEYS: worker, actor's workers, worker actors; ARGV: worker id, actor id, fields json
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for name, value in pairs(cjson.decode(ARGV[3])) do redis.call('HSET', KEYS[1], name, value) end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
return 1
"""

_FINISH = WORKER_LUA + """
-- KEYS: worker, actor's workers; ARGV: worker id, ready json
return finish_worker(KEYS[1], KEYS[2], ARGV[1], cjson.decode(ARGV[2]))
"""

_REQUEST_STOP = """
-- KEYS: worker, actor's workers; ARGV: worker id
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'status') == '"READY"' then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[1])
  return 1
end
redis.call('HSET', KEYS[1], 'status', '"SHUTDOWN_REQUESTED"')
return 2
"""

_RETIRE_IDLE = """
-- KEYS: worker, actor's workers; ARGV: worker id, idle since at most (epoch seconds)
if redis.call('HGET', KEYS[1], 'status') ~= '"READY"' then return 0 end
local since = tonumber(redis.call('HGET', KEYS[1], 'idle_since') or '0')
if since > tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
"""

_DROP_LOST = """
-- KEYS: worker, actor's workers, slot lease; ARGV: worker id
local status = redis.call('HGET', KEYS[1], 'status')
if status == false or status == '"READY"' then return 0 end
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
"""

_TOUCH = """
-- KEYS: worker; ARGV: fields json (set only while the worker exists)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for name, value in pairs(cjson.decode(ARGV[1])) do redis.call('HSET', KEYS[1], name, value) end
return 1
"""


class WorkerStore:
    def __init__(self, redis):
        self.redis = redis
        self._start = redis.register_script(_START)
        self._create_idle = redis.register_script(_CREATE_IDLE)
        self._finish = redis.register_script(_FINISH)
        self._request_stop = redis.register_script(_REQUEST_STOP)
        self._retire_idle = redis.register_script(_RETIRE_IDLE)
        self._drop_lost = redis.register_script(_DROP_LOST)
        self._touch = redis.register_script(_TOUCH)

    def _keys(self, actor_id: str, worker_id: str) -> list:
        return [keys.worker(actor_id, worker_id), keys.actor_workers(actor_id)]

    # -- changes ---------------------------------------------------------
    def start(self, actor_id: str, worker_id: str, slot: int, host: str, execution_id: str) -> None:
        """The worker (made now if it is new) runs ``execution_id`` on ``host``: BUSY."""
        now = now_iso()
        new = new_fields(actor_id, worker_id, slot, now)
        busy = busy_fields(host, execution_id, now)
        self._start(keys=[*self._keys(actor_id, worker_id), keys.WORKER_ACTORS],
                    args=[worker_id, actor_id, json.dumps(new), json.dumps(busy)])

    def create_idle(self, actor_id: str, worker_id: str, slot: int) -> bool:
        """A READY worker with no host yet (``POST .../workers``); False if it exists."""
        now = now_iso()
        fields = encode({"id": worker_id, "actor_id": actor_id, "slot": slot,
                         "status": str(WorkerStatus.READY), "host": None, "execution_id": None,
                         "create_time": now, "last_execution_time": None,
                         "last_health_check_time": now, "idle_since": time.time()})
        return bool(self._create_idle(keys=[*self._keys(actor_id, worker_id), keys.WORKER_ACTORS],
                                      args=[worker_id, actor_id, json.dumps(fields)]))

    def finish(self, actor_id: str, worker_id: str) -> bool:
        """Its execution ended: READY again, or gone if a stop was requested meanwhile.

        True when the worker stays.
        """
        return self._finish(keys=self._keys(actor_id, worker_id),
                            args=[worker_id, json.dumps(ready_fields())]) == 1

    def request_stop(self, actor_id: str, worker_id: str) -> Optional[str]:
        """Remove an idle worker now, a busy one after its execution; ``None`` if unknown,
        else ``"removed"`` or ``"stopping"``."""
        outcome = self._request_stop(keys=self._keys(actor_id, worker_id), args=[worker_id])
        return {0: None, 1: "removed", 2: "stopping"}[int(outcome)]

    def retire_if_idle(self, actor_id: str, worker_id: str, idle_since_at_most: float) -> bool:
        """Remove the worker if it is still READY and has been idle since then or earlier."""
        return bool(self._retire_idle(keys=self._keys(actor_id, worker_id),
                                      args=[worker_id, idle_since_at_most]))

    def drop_if_lost(self, actor_id: str, worker_id: str, slot: int) -> bool:
        """Remove a BUSY worker whose slot lease expired: its spawner died mid-run."""
        return bool(self._drop_lost(keys=[*self._keys(actor_id, worker_id),
                                          keys.worker_lease(actor_id, slot)], args=[worker_id]))

    def health_check(self, actor_id: str, worker_id: str) -> None:
        self._touch(keys=[keys.worker(actor_id, worker_id)],
                    args=[json.dumps(encode({"last_health_check_time": now_iso()}))])

    def ensure(self, actor_id: str, count: int) -> list:
        """At least ``count`` workers: READY ones (no host until they first run) are made
        on the lowest slots without one. ``count`` is remembered as the actor's minimum,
        which idle retirement respects. The ids created."""
        self.set_minimum(actor_id, count)
        existing = self.list_for_actor(actor_id, internal=True)
        used = {w.get("slot") for w in existing}
        created, slot = [], 1
        while len(existing) + len(created) < count:
            if slot not in used and self.create_idle(actor_id, worker_name(actor_id, slot), slot):
                created.append(worker_name(actor_id, slot))
            slot += 1
        return created

    def keep_one(self, actor_id: str) -> Optional[str]:
        """A READY actor shows at least one worker, as Abaco keeps one ready: when it has
        none, one is made READY (no host until it first runs) on slot 1. Called before the
        actor is marked READY and by every sweep; the id of a worker it made, if any."""
        if self.list_for_actor(actor_id, internal=True):
            return None
        wid = worker_name(actor_id, 1)
        return wid if self.create_idle(actor_id, wid, 1) else None

    # -- the minimum kept ---------------------------------------------------
    def minimum(self, actor_id: str) -> int:
        return int(self.redis.get(keys.workers_minimum(actor_id)) or 0)

    def set_minimum(self, actor_id: str, count: int) -> None:
        self.redis.set(keys.workers_minimum(actor_id), int(count))
        self.redis.sadd(keys.WORKER_ACTORS, actor_id)

    # -- reading ---------------------------------------------------------
    def get(self, actor_id: str, worker_id: str) -> Optional[dict]:
        record = decode(self.redis.hgetall(keys.worker(actor_id, worker_id)))
        return _public(record) if record else None

    def list_for_actor(self, actor_id: str, internal: bool = False) -> list:
        """The actor's workers, by slot: ``id, actor_id, status, host, create_time,
        last_execution_time, last_health_check_time`` (and ``execution_id``, ``slot``)."""
        ids = sorted(m.decode() for m in self.redis.smembers(keys.actor_workers(actor_id)))
        with self.redis.pipeline(transaction=False) as pipe:
            for worker_id in ids:
                pipe.hgetall(keys.worker(actor_id, worker_id))
            records = decode_many(pipe.execute())
        records.sort(key=lambda r: (r.get("slot") or 0, r["id"]))
        return records if internal else [_public(r) for r in records]

    def actor_ids(self) -> list:
        """Actors that may have workers or a minimum (the sweep's work list)."""
        return sorted(m.decode() for m in self.redis.smembers(keys.WORKER_ACTORS))

    def forget_actor_if_idle(self, actor_id: str) -> None:
        """Drop the actor from the sweep's list once it has no workers and no minimum."""
        if not self.redis.scard(keys.actor_workers(actor_id)) and not self.minimum(actor_id):
            self.redis.srem(keys.WORKER_ACTORS, actor_id)

    # -- removal ---------------------------------------------------------
    def delete_for_actor(self, actor_id: str) -> None:
        ids = [m.decode() for m in self.redis.smembers(keys.actor_workers(actor_id))]
        with self.redis.pipeline() as pipe:
            for worker_id in ids:
                pipe.delete(keys.worker(actor_id, worker_id))
            pipe.delete(keys.actor_workers(actor_id), keys.workers_minimum(actor_id))
            pipe.srem(keys.WORKER_ACTORS, actor_id)
            pipe.execute()


def new_fields(actor_id: str, worker_id: str, slot: int, now: str) -> dict:
    """A worker made by its first execution: what :data:`WORKER_LUA`'s start_worker sets once."""
    return encode({"id": worker_id, "actor_id": actor_id, "slot": slot, "create_time": now,
                   "last_execution_time": None})


def busy_fields(host: str, execution_id: str, now: str) -> dict:
    return encode({"status": str(WorkerStatus.BUSY), "host": host, "execution_id": execution_id,
                   "last_health_check_time": now})


def ready_fields() -> dict:
    now = now_iso()
    return encode({"status": str(WorkerStatus.READY), "execution_id": None,
                   "last_execution_time": now, "last_health_check_time": now,
                   "idle_since": time.time()})


def _public(record: dict) -> dict:
    return ordered(record, FIELD_ORDER, INTERNAL_FIELDS)
