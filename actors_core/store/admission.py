"""Admission and release: a wake-up becomes one RUNNING execution, and a run lets go, each
in one script (one round trip), so the spawner's bookkeeping around an execution is a
handful of round trips, not dozens.

* :meth:`Admission.admit` (a slot popped a wake-up for the actor, store/work.py):
  the wake-up is taken (the actor's pending count goes down), the actor is read, the
  lease on its lowest free worker is taken (its capacity from the record, the rule of
  ``scheduling.worker_capacity``), the oldest SUBMITTED execution is claimed (RUNNING:
  the claim of executions.py), the worker record goes BUSY (workers.py) and CLAIMED is
  appended (timeline.py); what the run needs comes back with it: the actor, the
  execution, the message, the state of a stateful actor and the actor's aliases.
  An actor that asks for GPUs is only read: the spawner takes GPUs between the lease and
  the claim (spawner/runner.py's slower path). With ``hold`` (a cluster scheduler's
  runtime, spawner/batch.py) the execution is claimed *held*: it stays SUBMITTED, out of
  the mailbox and in the spawner's running set, until its job starts
  (executions.py's ``start``); the scheduler hands out GPUs, so a GPU actor takes this
  path too; ``limit`` > 0 refuses (``full``) while the spawner holds that many.
* :meth:`Admission.release` (every end of a run, runner.py's ``ExecutionRun.release``):
  the worker READY (or gone if a stop was asked), the lease let go, then, unless the
  mail waits for GPUs, a wake-up for the next slot if mail waits and a worker is free
  (store/work.py's rule), else the empty mailbox is forgotten. "Release, then look" in
  one atomic step: no message is stranded between them.

The Lua pieces are the same functions the single-purpose scripts of leases.py,
workers.py, executions.py, timeline.py and work.py run, so each rule is written once.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Sequence

from ..enums import ExecutionStatus
from ..scheduling import WORKER_CAPACITY_LUA, worker_id as worker_name
from ..times import now_iso
from . import keys
from .executions import CLAIM_LUA
from .leases import LEASES_LUA
from .records import decode
from .timeline import APPEND_LUA, EXECUTION_MARK, WORKER_MARK, Timeline
from .work import TAKEN_LUA, WAKE_LUA, wake_args
from .workers import WORKER_LUA, ready_fields

_ADMIT = (TAKEN_LUA + WORKER_CAPACITY_LUA + LEASES_LUA + CLAIM_LUA + WORKER_LUA + APPEND_LUA
          + """
-- ARGV[1]: {actor, actor_key, wakes, default_workers, lease_prefix, owner, lease_ms, mailbox,
--           execution_prefix, message_suffix, running, submitted, running_status, spawner
--           (JSON), now (JSON), worker_prefix, workers, worker_actors, state, aliases,
--           hold, limit}
-- ARGV[2]: event specs (CLAIMED), ids marked (timeline.py)
local a = cjson.decode(ARGV[1])
taken(a.actor, a.wakes)
local flat = redis.call('HGETALL', a.actor_key)
if #flat == 0 then return {'gone'} end
local f = {}
for i = 1, #flat, 2 do f[flat[i]] = flat[i + 1] end
local gpus = f['gpus']
if not a.hold and not (gpus == nil or gpus == 'null' or gpus == '0' or gpus == '"0"') then
  return {'gpus', flat}
end
if a.limit > 0 and redis.call('SCARD', a.running) >= a.limit then return {'full', flat} end
local capacity = worker_capacity(f['stateless'], f['max_workers'], a.default_workers, f['warm'],
                                 f['concurrency'])
local number = acquire_lease(a.lease_prefix, capacity, a.owner, a.lease_ms)
if not number then return {'busy', flat} end
local worker_id = a.actor .. '-' .. number
local status, claimed_set = '"RUNNING"', a.running_status
if a.hold then status, claimed_set = '"SUBMITTED"', a.submitted end
local eid = claim_oldest(a.mailbox, a.execution_prefix, a.running, a.submitted, claimed_set,
                         {status = status, worker_id = cjson.encode(worker_id),
                          spawner = a.spawner})
if not eid then return {'empty', flat, number} end
start_worker(a.worker_prefix .. worker_id, a.workers, a.worker_actors, worker_id, a.actor,
             {id = cjson.encode(worker_id), actor_id = cjson.encode(a.actor),
              slot = tostring(number), create_time = a.now, last_execution_time = 'null'},
             {status = '"BUSY"', host = a.spawner, execution_id = cjson.encode(eid),
              last_health_check_time = a.now})
append_events(cjson.decode(ARGV[2]), eid, worker_id)
local record = redis.call('HGETALL', a.execution_prefix .. eid)
local body = redis.call('GET', a.execution_prefix .. eid .. a.message_suffix)
local state = false
if f['stateless'] ~= 'true' then state = redis.call('GET', a.state) end
return {'claimed', flat, number, eid, record, body, state, redis.call('SMEMBERS', a.aliases)}
""")

_RELEASE = WORKER_LUA + LEASES_LUA + WAKE_LUA + """
-- ARGV[1]: {actor, worker_key, workers, worker_id, ready, holds_worker, lease_key, owner,
--           look, mailboxes, take_from}; ARGV[2..7]: wake's arguments (work.py's wake_args)
-- Returns {1 if it woke a slot for the actor's next message else 0, the list an entry was
-- taken from for the releasing slot (or false), the entry (or false)}.
local a = cjson.decode(ARGV[1])
if a.holds_worker then finish_worker(a.worker_key, a.workers, a.worker_id, a.ready) end
release_lease(a.lease_key, a.owner)
local woke = 0
if a.look then
  if redis.call('ZCARD', ARGV[3]) == 0 then
    redis.call('SREM', a.mailboxes, a.actor)
  else
    woke = wake(ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7])
  end
end
for _, list in ipairs(a.take_from) do  -- the slot's next entry, as its BLPOP would take it
  local entry = redis.call('LPOP', list)
  if entry then return {woke, list, entry} end
end
return {woke, false, false}
"""


@dataclass
class Released:
    """What :meth:`Admission.release` did: ``woke`` a slot for the actor, and ``taken``, the
    ``(list, entry)`` it popped for the releasing slot (None if nothing waited)."""

    woke: bool
    taken: Optional[tuple] = None

    def __bool__(self) -> bool:
        return self.woke


@dataclass
class Admitted:
    """What :meth:`Admission.admit` found: ``outcome`` is ``claimed`` (everything set),
    ``empty`` (a lease taken, nothing waited: release it), ``busy`` (no free worker),
    ``full`` (``hold``: the spawner holds ``limit`` executions already),
    ``gpus`` (the actor asks for GPUs: take the slower path) or ``gone`` (no such actor)."""

    outcome: str
    actor: Optional[dict] = None  # the internal record (with its tenant)
    number: Optional[int] = None  # which of the actor's workers (its lease is held)
    execution: Optional[dict] = None  # the internal record, RUNNING
    body: bytes = b""
    state: object = None  # a stateful actor's state (None when it has none)
    aliases: frozenset = frozenset()


class Admission:
    def __init__(self, redis, timeline: Timeline, config):
        self.redis = redis
        self.timeline = timeline
        self.config = config
        self._admit = redis.register_script(_ADMIT)
        self._release = redis.register_script(_RELEASE)

    def admit(self, actor_id: str, spawner: str, owner: str, hold: bool = False,
              limit: int = 0) -> Admitted:
        """Take one of the actor's wake-ups and, if a worker is free and mail waits, one
        execution for ``owner`` (the lease holder) on ``spawner``: see the module's story
        (``hold`` and ``limit``: a cluster spawner's held claim)."""
        now = json.dumps(now_iso())
        claimed = self.timeline.event(
            EXECUTION_MARK, "CLAIMED", f"Claimed by spawner {spawner} (worker {WORKER_MARK}).",
            actor_id, detail={"spawner": spawner, "worker_id": WORKER_MARK})
        answer = self._admit(args=[json.dumps({
            "actor": actor_id, "actor_key": keys.actor(actor_id), "wakes": keys.WAKES,
            "default_workers": int(self.config.default_max_workers),
            "lease_prefix": keys.worker_lease(actor_id, ""), "owner": owner,
            "lease_ms": int(self.config.lease_seconds) * 1000,
            "mailbox": keys.mailbox(actor_id), "execution_prefix": keys.execution(""),
            "message_suffix": keys.message("")[len(keys.execution("")):],
            "running": keys.spawner_running(spawner),
            "submitted": keys.executions_by_status(ExecutionStatus.SUBMITTED.value),
            "running_status": keys.executions_by_status(ExecutionStatus.RUNNING.value),
            "spawner": json.dumps(spawner), "now": now,
            "worker_prefix": keys.worker(actor_id, ""), "workers": keys.actor_workers(actor_id),
            "worker_actors": keys.WORKER_ACTORS, "state": keys.state(actor_id),
            "aliases": keys.actor_aliases(actor_id), "hold": bool(hold),
            "limit": int(limit)}), json.dumps([claimed])])
        outcome = answer[0].decode()
        if outcome == "gone":
            return Admitted(outcome)
        actor = _actor(answer[1])
        if outcome in ("gpus", "busy", "full"):
            return Admitted(outcome, actor)
        if outcome == "empty":
            return Admitted(outcome, actor, int(answer[2]))
        _, _, number, eid, record, body, state, aliases = answer
        return Admitted(outcome, actor, int(number), decode(_pairs(record)), body or b"",
                        json.loads(state) if state is not None else None,
                        frozenset(a.decode() for a in aliases))

    def release(self, actor_id: str, number: int, owner: str, holds_worker: bool,
                look: bool, queue: Optional[str], capacity: int,
                take_from: Sequence[str] = ()) -> Released:
        """Let go of worker ``number`` of the actor (its record READY, or gone if a stop was
        asked, when ``holds_worker``; its lease if ``owner`` holds it); then, if ``look``,
        wake a slot when mail waits and a worker is free, else forget the empty mailbox.
        With ``take_from`` (the releasing slot's lists, in its order), the slot's next entry
        is popped in the same round trip, so a busy slot needs no BLPOP between runs."""
        worker_id = worker_name(actor_id, number)
        woke, key, entry = self._release(args=[json.dumps({
            "actor": actor_id, "worker_key": keys.worker(actor_id, worker_id),
            "workers": keys.actor_workers(actor_id), "worker_id": worker_id,
            "ready": ready_fields(), "holds_worker": bool(holds_worker),
            "lease_key": keys.worker_lease(actor_id, number), "owner": owner,
            "look": bool(look and queue), "mailboxes": keys.MAILBOXES,
            "take_from": list(take_from)}),
            *wake_args(actor_id, queue or "", capacity)])
        return Released(bool(woke), (key.decode(), entry.decode()) if key else None)


def _pairs(flat: list) -> dict:
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


def _actor(flat: list) -> dict:
    record = decode(_pairs(flat))
    record.setdefault("tenant", "default")
    return record
