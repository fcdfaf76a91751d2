"""Executions: their records, the per-actor mailbox and every change of status.

All status changes go through the Lua scripts below, so each rule is enforced
atomically in Redis, whoever calls it and however many spawners run:

* ``submit``   nothing -> SUBMITTED, message stored, mailbox entry and drain job
               written in one MULTI: an accepted message is never half-recorded.
* ``claim``    the oldest SUBMITTED in the mailbox -> RUNNING (skips cancelled ones); or,
               for a cluster scheduler's runtime (``hold=True``), *held*: still SUBMITTED
               but out of the mailbox and in the spawner's running set, until its job
               starts; ``limit`` bounds how many executions one spawner holds.
* ``start``    a held SUBMITTED -> RUNNING, once, when the cluster started its job.
* ``cancel``   SUBMITTED -> COMPLETE, only while still in the mailbox.
* ``finish``   RUNNING (or held SUBMITTED: a job that never ran) -> COMPLETE | ERROR,
               adding to the actor's totals once.

Each transition that happened appends its status event (timeline.py) right
after its script: ACCEPTED and QUEUED inside submit's MULTI, then CLAIMED,
CANCELLED, FINISHED or ERROR, and FORCE_QUIT_REQUESTED for the first kill request.
After finish and cancel, an execution of a run also advances its run (``on_end``,
store/runs.py), once, because only the call whose script changed the record does it.
"""
from __future__ import annotations

import json
import logging
from typing import Callable, Optional

from ..enums import ExecutionStatus
from ..times import now_iso
from . import keys, timeline as status_messages
from .artifacts import ArtifactIndex
from .indexes import index_submitted, tenant_of, unindex_executions
from .records import decode, decode_many, encode, ordered
from .revocations import RevokedTokens
from ..scheduling import dispatch_queue
from .timeline import Timeline
from .work import WorkQueue

log = logging.getLogger(__name__)

INTERNAL_FIELDS = ("sequence", "environment", "spawner", "queue", "log_ex", "token_id",
                   "token_expires")

_CLAIM = """
-- KEYS: mailbox, running-set, SUBMITTED status set, status set of the claimed
-- ARGV: execution key prefix, fields json, most executions the running-set may hold (0: any)
local limit = tonumber(ARGV[3])
if limit > 0 and redis.call('SCARD', KEYS[2]) >= limit then return nil end
while true do
  local popped = redis.call('ZPOPMIN', KEYS[1])
  if #popped == 0 then return nil end
  local eid = popped[1]
  local key = ARGV[1] .. eid
  if redis.call('HGET', key, 'status') == '"SUBMITTED"' then
    local fields = cjson.decode(ARGV[2])
    for name, value in pairs(fields) do redis.call('HSET', key, name, value) end
    redis.call('SADD', KEYS[2], eid)
    redis.call('SREM', KEYS[3], eid)
    redis.call('SADD', KEYS[4], eid)
    return eid
  end
end
"""

_CANCEL = """
-- KEYS: mailbox, execution, done signal, SUBMITTED status set, COMPLETE status set
-- ARGV: execution id, fields json
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local fields = cjson.decode(ARGV[2])
for name, value in pairs(fields) do redis.call('HSET', KEYS[2], name, value) end
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('RPUSH', KEYS[3], 'done')
redis.call('EXPIRE', KEYS[3], 600)
return 1
"""

_START = """
-- KEYS: execution, running-set, SUBMITTED status set, RUNNING status set
-- ARGV: execution id, fields json
if redis.call('HGET', KEYS[1], 'status') ~= '"SUBMITTED"' then return 0 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return 0 end
local fields = cjson.decode(ARGV[2])
for name, value in pairs(fields) do redis.call('HSET', KEYS[1], name, value) end
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
return 1
"""

_FINISH = """
-- KEYS: execution, totals, running-set, done signal, RUNNING status set, final status set,
--       exit-code index, SUBMITTED status set
-- ARGV: execution id, fields json, cpu, io, runtime, gpu seconds, exit code ('' for none)
local status = redis.call('HGET', KEYS[1], 'status')
local from = KEYS[5]
if status == '"SUBMITTED"' and redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
  from = KEYS[8]  -- held by a spawner, never started (e.g. cancelled while queued in a cluster)
elseif status ~= '"RUNNING"' then
  return 0
end
local fields = cjson.decode(ARGV[2])
for name, value in pairs(fields) do redis.call('HSET', KEYS[1], name, value) end
redis.call('HINCRBY', KEYS[2], 'total_executions', 1)
redis.call('HINCRBY', KEYS[2], 'total_cpu', ARGV[3])
redis.call('HINCRBY', KEYS[2], 'total_io', ARGV[4])
redis.call('HINCRBYFLOAT', KEYS[2], 'total_runtime', ARGV[5])
redis.call('HINCRBYFLOAT', KEYS[2], 'total_gpu_seconds', ARGV[6])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SREM', from, ARGV[1])
redis.call('SADD', KEYS[6], ARGV[1])
if ARGV[7] ~= '' then redis.call('ZADD', KEYS[7], ARGV[7], ARGV[1]) end
redis.call('RPUSH', KEYS[4], 'done')
redis.call('EXPIRE', KEYS[4], 600)
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

    def __init__(self, redis, timeline: Optional[Timeline] = None):
        self.redis = redis
        self.timeline = timeline or Timeline(redis)
        self.work = WorkQueue(redis)
        self.revoked_tokens = RevokedTokens(redis)
        self._claim = redis.register_script(_CLAIM)
        self._cancel = redis.register_script(_CANCEL)
        self._start = redis.register_script(_START)
        self._finish = redis.register_script(_FINISH)
        self._update = redis.register_script(_UPDATE)

    # -- putting work in -------------------------------------------------
    def submit(self, actor: dict, execution: dict, body: bytes) -> dict:
        """Record a new SUBMITTED execution and wake a spawner, atomically."""
        sequence = self.redis.incr(keys.SEQUENCE)
        record = dict(execution, actor_id=actor["id"], status=str(ExecutionStatus.SUBMITTED),
                      status_message="", worker_id=None, exit_code=None, final_state=None,
                      cpu=0, io=0, runtime=0, start_time=None, finish_time=None,
                      message_received_time=now_iso(), sequence=sequence,
                      queue=actor["queue"], log_ex=actor.get("log_ex"))
        eid = record["id"]
        tenant = tenant_of(self.redis, actor["id"])
        with self.redis.pipeline() as pipe:
            pipe.multi()
            pipe.hset(keys.execution(eid), mapping=encode(record))
            pipe.set(keys.message(eid), body)
            pipe.zadd(keys.actor_executions(actor["id"]), {eid: sequence})
            pipe.zadd(keys.mailbox(actor["id"]), {eid: sequence})
            pipe.sadd(keys.MAILBOXES, actor["id"])
            index_submitted(pipe, record, tenant)
            self.work.enqueue_drain(actor["id"], dispatch_queue(actor), pipeline=pipe)
            status_messages.accepted(self.timeline, record, len(body), dispatch_queue(actor), pipe)
            pipe.execute()
        return _public(record)

    # -- reading ---------------------------------------------------------
    def get(self, execution_id: str, actor_id: Optional[str] = None) -> Optional[dict]:
        record = self.get_internal(execution_id)
        if record is None or (actor_id is not None and record["actor_id"] != actor_id):
            return None
        return _public(record)

    def get_internal(self, execution_id: str) -> Optional[dict]:
        """The full record, with the fields only the spawner needs."""
        return decode(self.redis.hgetall(keys.execution(execution_id)))

    def ids_for_actor(self, actor_id: str) -> list:
        return [m.decode() for m in self.redis.zrange(keys.actor_executions(actor_id), 0, -1)]

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
    def claim_next(self, actor_id: str, spawner: str, worker_id: str, hold: bool = False,
                   limit: int = 0) -> Optional[str]:
        """Take the actor's oldest waiting execution for this worker; its id or ``None``.

        ``hold=True`` keeps it SUBMITTED, held by the spawner (a cluster job that has yet
        to start; see :meth:`start`). ``limit`` > 0: ``None`` while the spawner holds (or
        runs) that many already.
        """
        status = ExecutionStatus.SUBMITTED if hold else ExecutionStatus.RUNNING
        fields = encode({"status": str(status), "worker_id": worker_id, "spawner": spawner})
        eid = self._claim(keys=[keys.mailbox(actor_id), keys.spawner_running(spawner),
                                keys.executions_by_status(ExecutionStatus.SUBMITTED.value),
                                keys.executions_by_status(status.value)],
                          args=[keys.execution(""), json.dumps(fields), int(limit)])
        if eid:
            status_messages.claimed(self.timeline, eid.decode(), actor_id, spawner, worker_id)
        return eid.decode() if eid else None

    def start(self, execution_id: str, spawner: str, **fields) -> bool:
        """A held SUBMITTED execution (``claim_next(hold=True)``) -> RUNNING, once."""
        fields = dict(fields, status=str(ExecutionStatus.RUNNING))
        done = self._start(keys=[keys.execution(execution_id), keys.spawner_running(spawner),
                                 keys.executions_by_status(ExecutionStatus.SUBMITTED.value),
                                 keys.executions_by_status(ExecutionStatus.RUNNING.value)],
                           args=[execution_id, json.dumps(encode(fields))])
        return bool(done)

    @staticmethod
    def may_finish(record: Optional[dict]) -> bool:
        """What finish's script accepts, as the record read before says: RUNNING, or SUBMITTED
        and held by a spawner (only a claim names one)."""
        if record is None:
            return False
        status = record.get("status")
        return status == str(ExecutionStatus.RUNNING) or (
            status == str(ExecutionStatus.SUBMITTED) and bool(record.get("spawner")))

    def has_waiting(self, actor_id: str) -> bool:
        return self.redis.zcard(keys.mailbox(actor_id)) > 0

    def cancel(self, actor_id: str, execution_id: str) -> bool:
        """Cancel a queued execution so it never runs; False if it already left the queue."""
        fields = encode({"status": str(ExecutionStatus.COMPLETE), "finish_time": now_iso(),
                         "status_message": "Cancelled before it started."})
        done = self._cancel(keys=[keys.mailbox(actor_id), keys.execution(execution_id),
                                  keys.done_signal(execution_id),
                                  keys.executions_by_status(ExecutionStatus.SUBMITTED.value),
                                  keys.executions_by_status(ExecutionStatus.COMPLETE.value)],
                            args=[execution_id, json.dumps(fields)])
        if done:
            status_messages.cancelled(self.timeline, execution_id, actor_id)
            if self.redis.hexists(keys.execution(execution_id), "run_id"):
                self._ended(self.get_internal(execution_id))
        return bool(done)

    def purge(self, actor_id: str) -> int:
        """Cancel every queued execution of the actor; how many were cancelled."""
        waiting = [m.decode() for m in self.redis.zrange(keys.mailbox(actor_id), 0, -1)]
        return sum(self.cancel(actor_id, eid) for eid in waiting)

    def mark_started(self, execution_id: str, **fields) -> None:
        self.update(execution_id, start_time=now_iso(), **fields)

    def update(self, execution_id: str, **fields) -> None:
        """Progress of a RUNNING execution (stats, ids); never a status change.

        A no-op once the execution is deleted, so a late stats sample cannot
        resurrect half a record.
        """
        assert "status" not in fields, "status changes go through claim/cancel/finish"
        self._update(keys=[keys.execution(execution_id)], args=[json.dumps(encode(fields))])

    def finish(self, execution: dict, status: ExecutionStatus, log_ex: int, **fields) -> bool:
        """End a RUNNING (or held SUBMITTED) execution once; logs, message and results start expiring, and
        its access token (if it had one) is revoked."""
        eid = execution["id"]
        token_id, token_expires = self.redis.hmget(keys.execution(eid), ["token_id", "token_expires"])
        fields = dict(fields, status=str(status), finish_time=now_iso())
        cpu, io, runtime = (int(fields.get("cpu") or 0), int(fields.get("io") or 0),
                            float(fields.get("runtime") or 0))
        exit_code = fields.get("exit_code")
        done = self._finish(
            keys=[keys.execution(eid), keys.actor_totals(execution["actor_id"]),
                  keys.spawner_running(execution.get("spawner") or ""), keys.done_signal(eid),
                  keys.executions_by_status(ExecutionStatus.RUNNING.value),
                  keys.executions_by_status(str(status)), keys.EXECUTIONS_BY_EXIT_CODE,
                  keys.executions_by_status(ExecutionStatus.SUBMITTED.value)],
            args=[eid, json.dumps(encode(fields)), cpu, io, runtime,
                  runtime * len(fields.get("gpus") or execution.get("gpus") or []),
                  "" if exit_code is None else int(exit_code)],
        )
        with self.redis.pipeline() as pipe:
            for key in (keys.logs(eid), keys.message(eid), keys.results(eid)):
                pipe.expire(key, log_ex)
            pipe.delete(keys.kill_request(eid))
            if token_id:
                self.revoked_tokens.revoke(json.loads(token_id), json.loads(token_expires or "0"),
                                           pipeline=pipe)
            pipe.execute()
        if done:
            status_messages.finished(self.timeline, execution, status, fields, log_ex)
            self._ended(dict(execution, **fields))
        return bool(done)

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

    def kills_requested(self, execution_ids) -> set:
        """Which of these executions someone asked to stop, in one round trip."""
        ids = list(execution_ids)
        with self.redis.pipeline(transaction=False) as pipe:
            for eid in ids:
                pipe.exists(keys.kill_request(eid))
            return {eid for eid, found in zip(ids, pipe.execute()) if found}

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

    def actors_with_mail(self) -> list:
        return [m.decode() for m in self.redis.smembers(keys.MAILBOXES)]

    def forget_empty_mailbox(self, actor_id: str) -> None:
        if not self.has_waiting(actor_id):
            self.redis.srem(keys.MAILBOXES, actor_id)


FIELD_ORDER = ("id", "actor_id", "worker_id", "executor", "status", "status_message", "exit_code",
               "content_type", "cpu", "io", "runtime", "message_received_time", "start_time",
               "finish_time", "final_state")


def _public(record: dict) -> dict:
    return ordered(record, FIELD_ORDER, INTERNAL_FIELDS)
