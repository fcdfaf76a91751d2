"""Executions: their records, the per-actor mailbox and every change of status.

All status changes go through the Lua scripts below, so each rule is enforced
atomically in Redis, whoever calls it and however many spawners run:

* ``submit``   nothing -> SUBMITTED, message stored, mailbox entry, indexes and (if a
               slot can take it) a wake-up written by one script (``lua/submit.lua``, under
               the guards of the API's cached access decision): an accepted message is
               never half-recorded.
* ``claim``    the oldest SUBMITTED in the mailbox -> RUNNING (skips cancelled ones);
               also inside the admission script (admission.py), with the lease, the
               worker record and the CLAIMED event. For a cluster scheduler's runtime
               admission claims it *held* instead: still SUBMITTED, but out of the
               mailbox and in the spawner's running set, until its job starts.
* ``start``    a held SUBMITTED -> RUNNING, once, when the cluster started its job,
               with its STARTED event.
* ``cancel``   SUBMITTED -> COMPLETE, only while still in the mailbox, counted once in the
               actor's ``total_executions``.
* ``finish``   RUNNING (or held SUBMITTED: a job that never ran) -> COMPLETE | ERROR,
               adding to the actor's totals once; the same
               script starts the expiry of the logs, message and results, revokes the
               execution's token, records the actor's run outcome and appends the
               FINISHED or ERROR event: one round trip for the whole end.

The actor's totals (``total_executions``, ``total_cpu``, ...) are counters over its finished
executions, kept by those two scripts alone, so no listing reads every record
(listing.py pages them).

Each transition that happened appends its status event (timeline.py): ACCEPTED and
QUEUED inside submit's script, CLAIMED, STARTED, FINISHED and ERROR inside the
transition's own script, CANCELLED right after cancel's, FORCE_QUIT_REQUESTED for
the first kill request.

Finished records are kept forever unless ``ACTORS_EXECUTION_RECORD_TTL`` is set:
then finish (and cancel) give the record that expiry and list it in
``actors:executions:expiring``, and every spawner's sweep takes expired ones out of
the indexes (:meth:`ExecutionStore.forget_expired`).
After finish and cancel, an execution of a run also advances its run (``on_end``,
store/runs.py), once, because only the call whose script changed the record does it.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Callable, Optional, Sequence

from .. import scheduling
from ..enums import ActorStatus, ExecutionStatus
from ..times import isoformat, now_iso, utcnow
from . import keys, listing, scripts, timeline as status_messages
from .actors import OUTCOME_LUA, outcome_args
from .artifacts import ArtifactIndex
from .indexes import tenant_of, unindex_executions, unindex_one
from .records import decode, decode_many, encode, ordered, to_json
from .revocations import RevokedTokens
from ..scheduling import dispatch_queue
from .timeline import APPEND_LUA, Timeline
from .work import WAKE_LUA, WorkQueue, wake_args

log = logging.getLogger(__name__)

INTERNAL_FIELDS = ("sequence", "environment", "spawner", "queue", "log_ex", "token_id",
                   "token_expires")

# claim_oldest(mailbox, execution key prefix, running-set, SUBMITTED set, RUNNING set,
# fields) -> the execution id moved SUBMITTED -> RUNNING, or nil. Shared with admission.py.
CLAIM_LUA = """
local function claim_oldest(mailbox, prefix, running, submitted, running_status, fields)
  while true do
    local popped = redis.call('ZPOPMIN', mailbox)
    if #popped == 0 then return nil end
    local eid = popped[1]
    local key = prefix .. eid
    if redis.call('HGET', key, 'status') == '"SUBMITTED"' then
      for name, value in pairs(fields) do redis.call('HSET', key, name, value) end
      redis.call('SADD', running, eid)
      redis.call('SREM', submitted, eid)
      redis.call('SADD', running_status, eid)
      return eid
    end
  end
end
"""

_CLAIM = CLAIM_LUA + """
-- KEYS: mailbox, running-set, SUBMITTED status set, RUNNING status set
-- ARGV: execution key prefix, fields json
return claim_oldest(KEYS[1], ARGV[1], KEYS[2], KEYS[3], KEYS[4], cjson.decode(ARGV[2]))
"""

_CANCEL = """
-- KEYS: mailbox, execution, done signal, SUBMITTED status set, COMPLETE status set,
--       expiring records, totals
-- ARGV: execution id, fields json, record ttl (0: kept), expiring member, expiry time
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local fields = cjson.decode(ARGV[2])
for name, value in pairs(fields) do redis.call('HSET', KEYS[2], name, value) end
redis.call('HINCRBY', KEYS[7], 'total_executions', 1)
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('RPUSH', KEYS[3], 'done')
redis.call('EXPIRE', KEYS[3], 600)
if tonumber(ARGV[3]) > 0 then
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  redis.call('ZADD', KEYS[6], ARGV[5], ARGV[4])
end
return 1
"""

_START = APPEND_LUA + """
-- KEYS: execution, running-set, SUBMITTED status set, RUNNING status set
-- ARGV: execution id, fields json, event specs json (timeline.py)
if redis.call('HGET', KEYS[1], 'status') ~= '"SUBMITTED"' then return 0 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return 0 end
for name, value in pairs(cjson.decode(ARGV[2])) do redis.call('HSET', KEYS[1], name, value) end
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
append_events(cjson.decode(ARGV[3]))
return 1
"""

_FINISH = APPEND_LUA + OUTCOME_LUA + """
-- KEYS: execution, totals, running-set, done signal, RUNNING status set, final status set,
--       exit-code index, logs, message, results, kill request, actor, expiring records,
--       retries due, SUBMITTED status set
-- ARGV[1]: {id, fields, cpu, io, runtime, gpu_seconds, exit_code ('' for none), log_ex,
--           revoked prefix, now (epoch s), record_ttl, expiring member, retry_at ('' for none)}
-- ARGV[2]: the actor's run outcome [ok, threshold, now json, reason], or '' for none
-- ARGV[3]: event specs appended if the transition happened (timeline.py)
-- Returns {1 if RUNNING (or held SUBMITTED) -> final happened now else 0, the actor
-- status it changed to or ''}
local a = cjson.decode(ARGV[1])
local execution, eid = KEYS[1], a.id
local done = 0
local status, from = redis.call('HGET', execution, 'status'), KEYS[5]
if status == '"SUBMITTED"' and redis.call('SISMEMBER', KEYS[3], eid) == 1 then
  from = KEYS[15]  -- held by a spawner, never started (e.g. cancelled while queued in a cluster)
  status = '"RUNNING"'
end
if status == '"RUNNING"' then
  done = 1
  for name, value in pairs(a.fields) do redis.call('HSET', execution, name, value) end
  redis.call('HINCRBY', KEYS[2], 'total_executions', 1)
  redis.call('HINCRBY', KEYS[2], 'total_cpu', a.cpu)
  redis.call('HINCRBY', KEYS[2], 'total_io', a.io)
  redis.call('HINCRBYFLOAT', KEYS[2], 'total_runtime', a.runtime)
  redis.call('HINCRBYFLOAT', KEYS[2], 'total_gpu_seconds', a.gpu_seconds)
  redis.call('SREM', KEYS[3], eid)
  redis.call('SREM', from, eid)
  redis.call('SADD', KEYS[6], eid)
  if a.exit_code ~= '' then redis.call('ZADD', KEYS[7], a.exit_code, eid) end
  redis.call('RPUSH', KEYS[4], 'done')
  redis.call('EXPIRE', KEYS[4], 600)
  append_events(cjson.decode(ARGV[3]))
  if a.record_ttl > 0 then
    redis.call('EXPIRE', execution, a.record_ttl)
    redis.call('ZADD', KEYS[13], a.now + a.record_ttl, a.expiring)
  end
  if a.retry_at ~= '' then redis.call('ZADD', KEYS[14], a.retry_at, eid) end
end
local token = redis.call('HMGET', execution, 'token_id', 'token_expires')
if token[1] and token[1] ~= 'null' then  -- its token dies with it (kept until its own exp)
  local left = (tonumber(token[2] or '0') or 0) - a.now + 60
  redis.call('SET', a.revoked .. cjson.decode(token[1]), 1, 'EX', math.max(math.floor(left), 60))
end
for i = 8, 10 do redis.call('EXPIRE', KEYS[i], a.log_ex) end
if done == 1 and a.retry_at ~= '' then  -- its retry is made from the message: keep it till then
  redis.call('EXPIRE', KEYS[9], math.max(a.log_ex, math.ceil(a.retry_at - a.now) + 600))
end
redis.call('DEL', KEYS[11])
local changed = ''
if ARGV[2] ~= '' then changed = run_outcome(KEYS[12], unpack(cjson.decode(ARGV[2]))) end
return {done, changed}
"""

_STARTED = APPEND_LUA + """
-- KEYS: execution; ARGV: fields json, event specs json (timeline.py)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for name, value in pairs(cjson.decode(ARGV[1])) do redis.call('HSET', KEYS[1], name, value) end
append_events(cjson.decode(ARGV[2]))
return 1
"""

_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local fields = cjson.decode(ARGV[1])
for name, value in pairs(fields) do redis.call('HSET', KEYS[1], name, value) end
return 1
"""


class ExecutionStore:
    # Told the final record of an execution that belongs to a run (Store sets it to
    # RunStore.execution_ended); a failure there is logged, and the runs sweep repairs it.
    on_end: Optional[Callable[[dict], object]] = None

    def __init__(self, redis, timeline: Optional[Timeline] = None, config=None):
        self.redis = redis
        self.config = config  # default_max_workers (capacity), execution_record_ttl
        self.timeline = timeline or Timeline(redis)
        self.work = WorkQueue(redis)
        self.revoked_tokens = RevokedTokens(redis)
        self._claim = redis.register_script(_CLAIM)
        self._cancel = redis.register_script(_CANCEL)
        self._start = redis.register_script(_START)
        self._finish = redis.register_script(_FINISH)
        self._started = redis.register_script(_STARTED)
        self._update = redis.register_script(_UPDATE)
        self._read = scripts.guarded(redis, "read_execution")
        self._submit = scripts.guarded(redis, "submit", preludes=(WAKE_LUA, APPEND_LUA),
                                       constants={"SUBMITTED": list(encode(SUBMITTED_FIELDS).items())})

    @property
    def record_ttl(self) -> int:
        """Seconds a finished record is kept (0: forever, as Abaco does)."""
        return int(getattr(self.config, "execution_record_ttl", 0) or 0)

    def capacity(self, actor: dict) -> int:
        """How many of the actor's executions may run at once (scheduling.worker_capacity)."""
        if "stateless" not in actor:
            return 1  # a stand-in record (its actor deleted): nothing to wake for
        default = getattr(self.config, "default_max_workers", 6)
        return scheduling.worker_capacity(actor, _Defaults(default))

    # -- putting work in -------------------------------------------------
    def submit(self, actor: dict, execution: dict, body: bytes, guards: Sequence = (),
               token_id: Optional[str] = None) -> dict:
        """Record a new SUBMITTED execution, its ACCEPTED and QUEUED events, and wake a spawner
        if one can take it (store/work.py: a wake-up only when a free worker has none promised
        yet): one script, one round trip (``lua/submit.lua``).

        ``actor`` needs ``id``, ``queue``, ``gpus``, ``log_ex``, ``stateless`` and
        ``max_workers`` (and ``tenant``, else it is read). With ``guards`` (store/access.py)
        or a ``token_id``, nothing is written unless they hold: :class:`~.scripts.StaleAccess`
        or :class:`~.scripts.TokenRevoked`.
        """
        record, body_keys, body_args = self.submission(actor, execution, body)
        scripts.call(self._submit, token_id, guards, body_keys, body_args)
        return _public(record)

    def submit_many(self, actor: dict, executions, body: bytes, batch: int = 1000) -> int:
        """Submit a message per execution dict (as :meth:`submit`, unguarded) in pipelined
        batches: bulk loads and benchmarks. How many were submitted."""
        count, pending = 0, []
        for execution in executions:
            pending.append(self.submission(actor, execution, body))
            if len(pending) >= batch:
                count += self._pipelined(pending)
                pending = []
        return count + (self._pipelined(pending) if pending else 0)

    def _pipelined(self, submissions: list) -> int:
        with self.redis.pipeline(transaction=False) as pipe:
            for _, body_keys, body_args in submissions:
                all_keys, all_args = scripts.layout(None, (), body_keys, body_args)
                self._submit(keys=all_keys, args=all_args, client=pipe)
            pipe.execute()
        return len(submissions)

    def submission(self, actor: dict, execution: dict, body: bytes) -> tuple:
        """(the new record, the submit script's own keys and arguments): :meth:`submit`'s
        work before its one round trip."""
        received = utcnow()
        actor_id, queue = actor["id"], dispatch_queue(actor)
        own = dict(execution, actor_id=actor_id, message_received_time=isoformat(received),
                   queue=actor["queue"], log_ex=actor.get("log_ex"))
        record = dict(own, **SUBMITTED_FIELDS)
        eid = record["id"]
        tenant = actor.get("tenant") or tenant_of(self.redis, actor_id)
        events = status_messages.accepted_events(self.timeline, record, len(body), queue)
        fields = []
        for name, value in own.items():
            fields += (name, to_json(value))
        body_keys = [
            keys.SEQUENCE, keys.execution(eid), keys.message(eid), keys.actor_executions(actor_id),
            keys.mailbox(actor_id), keys.MAILBOXES, keys.actor_executions_by_time(actor_id),
            keys.tenant_executions_by_time(tenant),
            keys.executions_by_status(ExecutionStatus.SUBMITTED.value),
        ]
        _, _, lease_prefix, capacity, wake_list, wakes = wake_args(actor_id, queue,
                                                                   self.capacity(actor))
        body_args = [eid, actor_id, received.timestamp(), body, len(events), capacity,
                     lease_prefix, wake_list, wakes, len(own), *fields]
        for event in events:
            body_args += event
        return record, body_keys, body_args

    # -- reading ---------------------------------------------------------
    def get(self, execution_id: str, actor_id: Optional[str] = None) -> Optional[dict]:
        record = self.get_internal(execution_id)
        if record is None or (actor_id is not None and record["actor_id"] != actor_id):
            return None
        return _public(record)

    def get_guarded(self, execution_id: str, actor_id: str, guards: Sequence = (),
                    token_id: Optional[str] = None) -> Optional[dict]:
        """:meth:`get` in the same round trip as the guard of a cached access decision
        (raises :class:`~.scripts.StaleAccess` or :class:`~.scripts.TokenRevoked`)."""
        flat = scripts.call(self._read, token_id, guards, body_keys=[keys.execution(execution_id)],
                            body_args=[])
        record = decode(dict(zip(flat[::2], flat[1::2])))
        if record is None or record["actor_id"] != actor_id:
            return None
        return _public(record)

    def get_internal(self, execution_id: str) -> Optional[dict]:
        """The full record, with the fields only the spawner needs."""
        return decode(self.redis.hgetall(keys.execution(execution_id)))

    def status(self, execution_id: str) -> Optional[str]:
        """Just the status (None once the record is gone): what a holder of the record
        checks before its end, in case another spawner ended it meanwhile."""
        raw = self.redis.hget(keys.execution(execution_id), "status")
        return json.loads(raw) if raw is not None else None

    def ids_for_actor(self, actor_id: str) -> list:
        return [m.decode() for m in self.redis.zrange(keys.actor_executions(actor_id), 0, -1)]

    def page(self, actor_id: str, limit: int, offset: Optional[int] = None,
             after: Optional[int] = None, flagged: Optional[str] = None) -> listing.Page:
        """One page of the actor's executions' summaries (listing.py)."""
        return listing.page(self.redis, actor_id, limit, offset=offset, after=after,
                            flagged=flagged)

    def list_for_actor(self, actor_id: str) -> list:
        ids = self.ids_for_actor(actor_id)
        with self.redis.pipeline(transaction=False) as pipe:
            for eid in ids:
                pipe.hgetall(keys.execution(eid))
            return [_public(r) for r in decode_many(pipe.execute())]

    def totals(self, actor_id: str) -> dict:
        raw = self.redis.hgetall(keys.actor_totals(actor_id))
        values = {k.decode(): v.decode() for k, v in raw.items()}
        return {
            "total_executions": int(values.get("total_executions", 0)),
            "total_cpu": int(values.get("total_cpu", 0)),
            "total_io": int(values.get("total_io", 0)),
            "total_runtime": round(float(values.get("total_runtime", 0)), 3),
            "total_gpu_seconds": round(float(values.get("total_gpu_seconds", 0)), 3),
        }

    def queued_count(self, actor_id: str) -> int:
        return self.redis.zcard(keys.mailbox(actor_id))

    def message_body(self, execution_id: str) -> bytes:
        return self.redis.get(keys.message(execution_id)) or b""

    # -- status changes --------------------------------------------------
    def claim_next(self, actor_id: str, spawner: str, worker_id: str) -> Optional[str]:
        """Take the actor's oldest waiting execution for this worker; its id or ``None``."""
        fields = encode({"status": str(ExecutionStatus.RUNNING), "worker_id": worker_id,
                         "spawner": spawner})
        eid = self._claim(keys=[keys.mailbox(actor_id), keys.spawner_running(spawner),
                                keys.executions_by_status(ExecutionStatus.SUBMITTED.value),
                                keys.executions_by_status(ExecutionStatus.RUNNING.value)],
                          args=[keys.execution(""), json.dumps(fields)])
        if eid:
            status_messages.claimed(self.timeline, eid.decode(), actor_id, spawner, worker_id)
        return eid.decode() if eid else None

    def start(self, execution_id: str, spawner: str, events: tuple = (), **fields) -> bool:
        """A held SUBMITTED execution (admission's ``hold``) -> RUNNING, once, with ``fields``
        and ``events`` (timeline specs: STARTED), in one script."""
        fields = dict(fields, status=str(ExecutionStatus.RUNNING))
        done = self._start(keys=[keys.execution(execution_id), keys.spawner_running(spawner),
                                 keys.executions_by_status(ExecutionStatus.SUBMITTED.value),
                                 keys.executions_by_status(ExecutionStatus.RUNNING.value)],
                           args=[execution_id, json.dumps(encode(fields)),
                                 json.dumps(list(events))])
        return bool(done)

    @staticmethod
    def may_finish(record: Optional[dict], status: Optional[str] = None) -> bool:
        """What finish's script accepts, as far as the record (and ``status``, read since)
        say: RUNNING, or SUBMITTED and held by a spawner (only a claim names one)."""
        if record is None:
            return False
        status = record.get("status") if status is None else status
        return status == str(ExecutionStatus.RUNNING) or (
            status == str(ExecutionStatus.SUBMITTED) and bool(record.get("spawner")))

    def record_events(self, execution_id: str, events) -> bool:
        """Status events (timeline specs) of a step that changes no field, one round trip;
        False once the record is gone."""
        return bool(self._started(keys=[keys.execution(execution_id)],
                                  args=["{}", json.dumps(list(events))]))

    def has_waiting(self, actor_id: str) -> bool:
        return self.redis.zcard(keys.mailbox(actor_id)) > 0

    def cancel(self, actor_id: str, execution_id: str) -> bool:
        """Cancel a queued execution so it never runs; False if it already left the queue."""
        fields = encode({"status": str(ExecutionStatus.COMPLETE), "finish_time": now_iso(),
                         "status_message": "Cancelled before it started."})
        ttl = self.record_ttl
        done = self._cancel(keys=[keys.mailbox(actor_id), keys.execution(execution_id),
                                  keys.done_signal(execution_id),
                                  keys.executions_by_status(ExecutionStatus.SUBMITTED.value),
                                  keys.executions_by_status(ExecutionStatus.COMPLETE.value),
                                  keys.EXPIRING_EXECUTIONS, keys.actor_totals(actor_id)],
                            args=[execution_id, json.dumps(fields), ttl,
                                  f"{actor_id} {execution_id}", time.time() + ttl])
        if done:
            status_messages.cancelled(self.timeline, execution_id, actor_id)
            if self.redis.hexists(keys.execution(execution_id), "run_id"):
                self._ended(self.get_internal(execution_id))
        return bool(done)

    def purge(self, actor_id: str) -> int:
        """Cancel every queued execution of the actor; how many were cancelled."""
        waiting = [m.decode() for m in self.redis.zrange(keys.mailbox(actor_id), 0, -1)]
        return sum(self.cancel(actor_id, eid) for eid in waiting)

    def mark_started(self, execution_id: str, events: tuple = (), **fields) -> bool:
        """The execution's process or container started: ``start_time`` and ``fields``
        (provenance, GPUs) with ``events`` (timeline.Timeline.event specs, e.g. the image
        check and STARTED), one round trip. False once the record is gone."""
        fields = dict(fields, start_time=now_iso())
        return bool(self._started(keys=[keys.execution(execution_id)],
                                  args=[json.dumps(encode(fields)), json.dumps(list(events))]))

    def update(self, execution_id: str, **fields) -> None:
        """Progress of a RUNNING execution (stats, ids); never a status change.

        A no-op once the execution is deleted, so a late stats sample cannot
        resurrect half a record.
        """
        assert "status" not in fields, "status changes go through claim/cancel/finish"
        self._update(keys=[keys.execution(execution_id)], args=[json.dumps(encode(fields))])

    def finish(self, execution: dict, status: ExecutionStatus, log_ex: int, outcome=None,
               events: tuple = (), retry_at: Optional[float] = None, **fields):
        """End a RUNNING (or held SUBMITTED) execution once, in one script: its final
        fields, the actor's totals and the indexes, its FINISHED or ERROR event (after
        ``events``, specs of steps not recorded yet), the done signal; logs, message and results start expiring, its
        access token (if it had one) is revoked, and, with ``outcome=(ok, threshold,
        reason)``, the actor's run outcome is counted (ActorStore.record_run_outcome);
        with ``retry_at`` (epoch seconds), the execution is due for a retry then
        (spawner/retries.py decides; its fields say so in ``fields``).

        Returns whether the transition happened now, or with ``outcome`` the pair
        ``(happened, ActorStatus it changed to or None)``.
        """
        eid = execution["id"]
        fields = dict(fields, status=str(status), finish_time=now_iso())
        cpu, io, runtime = (int(fields.get("cpu") or 0), int(fields.get("io") or 0),
                            float(fields.get("runtime") or 0))
        exit_code = fields.get("exit_code")
        final = status_messages.final_event(self.timeline, execution, status, fields, log_ex)
        ttl = self.record_ttl
        done, changed = self._finish(
            keys=[keys.execution(eid), keys.actor_totals(execution["actor_id"]),
                  keys.spawner_running(execution.get("spawner") or ""), keys.done_signal(eid),
                  keys.executions_by_status(ExecutionStatus.RUNNING.value),
                  keys.executions_by_status(str(status)), keys.EXECUTIONS_BY_EXIT_CODE,
                  keys.logs(eid), keys.message(eid), keys.results(eid), keys.kill_request(eid),
                  keys.actor(execution["actor_id"]), keys.EXPIRING_EXECUTIONS, keys.RETRIES_DUE,
                  keys.executions_by_status(ExecutionStatus.SUBMITTED.value)],
            args=[json.dumps({
                "id": eid, "fields": encode(fields), "cpu": cpu, "io": io, "runtime": runtime,
                "gpu_seconds": runtime * len(fields.get("gpus") or execution.get("gpus") or []),
                "exit_code": "" if exit_code is None else int(exit_code), "log_ex": int(log_ex),
                "revoked": keys.revoked_token(""), "now": int(time.time()), "record_ttl": ttl,
                "expiring": f"{execution['actor_id']} {eid}",
                "retry_at": "" if retry_at is None else retry_at}),
                json.dumps(outcome_args(*outcome)) if outcome else "",
                json.dumps([*events, final])],
        )
        if done:
            self._ended(dict(execution, **fields))
        if outcome is None:
            return bool(done)
        return bool(done), (ActorStatus(changed.decode()) if changed else None)

    def _ended(self, record: Optional[dict]) -> None:
        if record and record.get("run_id") and self.on_end is not None:
            try:
                self.on_end(record)
            except Exception:  # the record stands; the runs sweep tells the run later
                log.exception("advancing run %s after execution %s failed",
                              record.get("run_id"), record.get("id"))

    def wait_finished(self, execution_id: str, timeout: float) -> bool:
        """Block (in Redis, not in a polling loop) until the execution finishes."""
        key = keys.done_signal(execution_id)
        if self.redis.blpop([key], timeout=max(timeout, 0.01)) is None:
            return False
        self.redis.rpush(key, "done")  # leave the signal for any other waiter
        self.redis.expire(key, 600)
        return True

    # -- results -----------------------------------------------------------
    def add_result(self, execution_id: str, result: bytes) -> None:
        self.redis.rpush(keys.results(execution_id), result)

    def pop_result(self, execution_id: str) -> bytes:
        """The oldest unread result (then it is gone), or b"" when there is none."""
        return self.redis.lpop(keys.results(execution_id)) or b""

    def running_on(self, spawner: str) -> list:
        return [m.decode() for m in self.redis.smembers(keys.spawner_running(spawner))]

    def forget_running(self, spawner: str, execution_id: str) -> None:
        """Drop an execution whose record is gone (its actor was deleted) from the spawner's set."""
        self.redis.srem(keys.spawner_running(spawner), execution_id)

    # -- force-quit ------------------------------------------------------
    def request_kill(self, execution_id: str) -> None:
        if self.redis.set(keys.kill_request(execution_id), 1, ex=24 * 3600, nx=True):
            status_messages.force_quit_requested(self.timeline, execution_id)

    def kill_requested(self, execution_id: str) -> bool:
        return bool(self.redis.exists(keys.kill_request(execution_id)))

    def watch(self, execution_ids) -> tuple:
        """``(asked to stop, gone)``: which of these executions someone asked to stop, and
        whose record is gone (their actor was deleted), in one round trip."""
        ids = list(execution_ids)
        with self.redis.pipeline(transaction=False) as pipe:
            for eid in ids:
                pipe.exists(keys.kill_request(eid))
                pipe.exists(keys.execution(eid))
            found = pipe.execute()
        return ({eid for eid, kill in zip(ids, found[0::2]) if kill},
                {eid for eid, record in zip(ids, found[1::2]) if not record})

    # -- removal ---------------------------------------------------------
    def delete_for_actor(self, actor_id: str) -> None:
        ids = self.ids_for_actor(actor_id)
        tenant = tenant_of(self.redis, actor_id)
        with self.redis.pipeline() as pipe:
            for eid in ids:
                pipe.delete(keys.execution(eid), keys.message(eid), keys.logs(eid),
                            keys.results(eid), keys.kill_request(eid), keys.done_signal(eid))
            pipe.delete(keys.actor_executions(actor_id), keys.mailbox(actor_id))
            pipe.srem(keys.MAILBOXES, actor_id)
            self.timeline.delete_for_actor(pipe, actor_id, ids)
            ArtifactIndex(self.redis).schedule_actor(pipe, actor_id)  # outputs go at the next sweep
            unindex_executions(pipe, actor_id, ids, tenant)
            pipe.execute()

    def forget_expired(self, now: Optional[float] = None, limit: int = 1000) -> int:
        """Take finished records that expired (``ACTORS_EXECUTION_RECORD_TTL``) out of the
        indexes that still list them; how many. Run by every spawner's sweep; several at
        once only repeat removals that change nothing."""
        now = time.time() if now is None else now
        due = [m.decode() for m in self.redis.zrangebyscore(
            keys.EXPIRING_EXECUTIONS, "-inf", now, start=0, num=limit)]
        if not due:
            return 0
        pairs = [member.split(" ", 1) for member in due]
        with self.redis.pipeline(transaction=False) as pipe:
            for _, eid in pairs:
                pipe.ttl(keys.execution(eid))
            left = pipe.execute()
        gone, later = [], {}
        for member, (actor_id, eid), ttl in zip(due, pairs, left):
            if ttl == -2:
                gone.append((member, actor_id, eid))
            elif ttl > 0:  # not yet (a clock apart): look again when it should be
                later[member] = now + ttl
            else:  # kept for good after all (its TTL was removed by hand)
                gone.append((member, actor_id, None))
        with self.redis.pipeline(transaction=False) as pipe:
            for member, actor_id, eid in gone:
                pipe.zrem(keys.EXPIRING_EXECUTIONS, member)
                if eid is None:
                    continue
                tenant = tenant_of(self.redis, actor_id)
                pipe.zrem(keys.actor_executions(actor_id), eid)
                unindex_one(pipe, actor_id, eid, tenant)
                pipe.delete(keys.done_signal(eid))
            if later:
                pipe.zadd(keys.EXPIRING_EXECUTIONS, later)
            pipe.execute()
        return sum(1 for _, _, eid in gone if eid)

    def actors_with_mail(self) -> list:
        return [m.decode() for m in self.redis.smembers(keys.MAILBOXES)]

    def forget_empty_mailbox(self, actor_id: str) -> None:
        if not self.has_waiting(actor_id):
            self.redis.srem(keys.MAILBOXES, actor_id)


# What every new execution starts with; the submit script has these compiled in.
SUBMITTED_FIELDS = {"status": str(ExecutionStatus.SUBMITTED), "status_message": "",
                    "worker_id": None, "exit_code": None, "final_state": None, "cpu": 0, "io": 0,
                    "runtime": 0, "start_time": None, "finish_time": None}

FIELD_ORDER = ("id", "actor_id", "worker_id", "executor", "status", "status_message", "exit_code",
               "content_type", "cpu", "io", "runtime", "message_received_time", "start_time",
               "finish_time", "final_state")


class _Defaults:
    """Just what scheduling.worker_capacity reads of the platform's settings."""

    def __init__(self, default_max_workers: int):
        self.default_max_workers = default_max_workers


def _public(record: dict) -> dict:
    return ordered(record, FIELD_ORDER, INTERNAL_FIELDS)
