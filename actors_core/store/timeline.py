"""Status events: each execution's log of what happened to it, and every actor's feed.

An event is ``{seq, time, type, message, source: {service, node, version}, execution_id}``
(plus ``detail`` for machine-readable extras such as the exit code). One Lua
script appends it, so for every execution:

* ``seq`` is 1, 2, 3 ... with no gap and no repeat, whichever process appends;
* the execution's *final* event (FINISHED, ERROR or CANCELLED) is its last:
  once it is in, the script refuses anything more, so a stream that delivered
  it can end;
* the types in :data:`ONCE` are recorded at most once, however often the
  code path that emits them runs (a retried job, a second DELETE);
* the same event goes to the actor's feed, a sorted set scored by a cursor
  that counts the actor's events, so ``GET /actors/{id}/status?since=N``
  pages over all of its executions;
* a message on :data:`keys.STATUS_CHANNEL` wakes whoever streams the log.

Transitions that are themselves scripts (submit, claim, finish, cancel; see
executions.py) record their event right after the script said it happened,
so an event is written exactly once for a transition that happened once.

The final event starts the log's expiry (``log_ex``, as the logs); the actor
feed keeps its most recent :data:`FEED_LENGTH` events and goes with the actor.
"""
from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Iterable, Optional

from ..times import utcnow
from . import keys

# Event types, in the order an execution meets them.
ACCEPTED = "ACCEPTED"
QUEUED = "QUEUED"
CLAIMED = "CLAIMED"
GPUS_ASSIGNED = "GPUS_ASSIGNED"
IMAGE_CHECKED = "IMAGE_CHECKED"
IMAGE_PULLED = "IMAGE_PULLED"
PENDING = "PENDING"  # waiting in a cluster scheduler's queue; again for each new reason
STARTED = "STARTED"
REATTACHED = "REATTACHED"
FORCE_QUIT_REQUESTED = "FORCE_QUIT_REQUESTED"
OUTPUTS_COLLECTED = "OUTPUTS_COLLECTED"
FINISHED = "FINISHED"
ERROR = "ERROR"
CANCELLED = "CANCELLED"

FINAL = (FINISHED, ERROR, CANCELLED)
ONCE = (ACCEPTED, QUEUED, CLAIMED, GPUS_ASSIGNED, IMAGE_CHECKED, IMAGE_PULLED, STARTED,
        FORCE_QUIT_REQUESTED, OUTPUTS_COLLECTED) + FINAL
SERVICES = ("api", "spawner", "runtime")
FEED_LENGTH = 10_000  # events kept in an actor's feed
PAGE = 100  # events per answer unless asked otherwise
MAX_PAGE = 1000

# append_event(...) -> seq, or 0 when refused; shared by the transitions' own scripts
# (executions.py, admission.py) so an event is written in the same step as its transition.
APPEND_LUA = """
local function append_event(events, types, feed, cursor, body, kind, once, final, ttl, feed_length,
                            channel, note)
  if redis.call('SISMEMBER', types, '#final') == 1 then return 0 end
  if once == '1' and redis.call('SADD', types, kind) == 0 then return 0 end
  local seq = redis.call('LLEN', events) + 1
  redis.call('RPUSH', events, '{"seq":' .. seq .. ',' .. body)
  if feed ~= '' then
    local position = redis.call('INCR', cursor)
    redis.call('ZADD', feed, position, '{"cursor":' .. position .. ',"seq":' .. seq .. ',' .. body)
    if position > tonumber(feed_length) then  -- the feed holds at most `position` events
      redis.call('ZREMRANGEBYRANK', feed, 0, -tonumber(feed_length) - 1)
    end
  end
  if final == '1' then
    redis.call('SADD', types, '#final')
    redis.call('EXPIRE', events, ttl)
    redis.call('EXPIRE', types, ttl)
  end
  redis.call('PUBLISH', channel, note)
  return seq
end
-- append_together(specs): events of ONE execution (each spec :meth:`Timeline.event`'s list, all
-- with the same keys, none final), with what append_event would do one by one, in fewer
-- commands: one list push, one feed insert, one PUBLISH (a woken stream reads all that is new).
-- Returns how many were appended.
local function append_together(specs)
  local first = specs[1]
  local events, types, feed, cursor = first[1], first[2], first[3], first[4]
  if redis.call('SISMEMBER', types, '#final') == 1 then return 0 end
  local bodies = {}
  for _, spec in ipairs(specs) do
    if spec[7] ~= '1' or redis.call('SADD', types, spec[6]) == 1 then
      bodies[#bodies + 1] = spec[5]
    end
  end
  if #bodies == 0 then return 0 end
  local seq = redis.call('LLEN', events)
  local items, members = {}, {}
  local position = 0
  if feed ~= '' then position = redis.call('INCRBY', cursor, #bodies) - #bodies end
  for i, body in ipairs(bodies) do
    items[i] = '{"seq":' .. (seq + i) .. ',' .. body
    if feed ~= '' then
      members[#members + 1] = position + i
      members[#members + 1] = '{"cursor":' .. (position + i) .. ',"seq":' .. (seq + i) .. ',' .. body
    end
  end
  redis.call('RPUSH', events, unpack(items))
  if feed ~= '' then
    redis.call('ZADD', feed, unpack(members))
    if position + #bodies > tonumber(first[10]) then
      redis.call('ZREMRANGEBYRANK', feed, 0, -tonumber(first[10]) - 1)
    end
  end
  redis.call('PUBLISH', first[11], first[12])
  return #bodies
end
-- append_events(specs, execution id, worker id): each spec is :meth:`Timeline.event`'s list;
-- ids unknown when it was made (a claim's) stand as EXECUTION_MARK / WORKER_MARK.
local function append_events(specs, execution_id, worker_id)
  for _, spec in ipairs(specs) do
    if execution_id then
      for i = 1, #spec do
        spec[i] = (string.gsub(spec[i], '@EXECUTION@', execution_id))
        if worker_id then spec[i] = (string.gsub(spec[i], '@WORKER@', worker_id)) end
      end
    end
    append_event(unpack(spec))
  end
end
"""
EXECUTION_MARK = "@EXECUTION@"  # stands for the execution id a script learns (a claim's)
WORKER_MARK = "@WORKER@"

_APPEND = APPEND_LUA + """
return append_event(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
                    ARGV[5], ARGV[6], ARGV[7], ARGV[8])
"""


@dataclass(frozen=True)
class Source:
    """Who records: the service, its node (host or spawner name) and the platform version."""

    service: str
    node: str
    version: str

    def as_dict(self) -> dict:
        return {"service": self.service, "node": self.node, "version": self.version}


_text = json.encoder.encode_basestring_ascii  # json.dumps of a str, in C


def iso_millis() -> str:
    """Now as ISO 8601 UTC with milliseconds: ``2024-05-01T12:00:01.123Z``."""
    moment = utcnow()
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Timeline:
    """The status event logs. ``identify`` once per process says who records."""

    def __init__(self, redis, default_ttl: int = 12 * 3600, version: str = "0.1.0"):
        self.redis = redis
        self.default_ttl = default_ttl
        self.source = Source("api", socket.gethostname(), version)
        self._sources = {}  # Source -> its JSON text
        self._append = redis.register_script(_APPEND)

    def identify(self, service: str, node: Optional[str] = None,
                 version: Optional[str] = None) -> None:
        """Set the source of the events this process records (``api`` or ``spawner``)."""
        assert service in SERVICES, service
        self.source = Source(service, node or socket.gethostname(), version or self.source.version)

    # -- writing -----------------------------------------------------------------
    def record(self, execution_id: str, event_type: str, message: str,
               actor_id: Optional[str] = None, service: Optional[str] = None,
               detail: Optional[dict] = None, ttl: Optional[int] = None,
               pipeline=None) -> Optional[int]:
        """Append one event; its ``seq``, or None when refused (already final, or a
        once-only type seen before). ``service`` overrides this process's service
        (the spawner records what the runtime did as ``runtime``). With ``pipeline``
        the append is queued there (and the answer is None)."""
        if actor_id is None:
            actor_id = self._actor_of(execution_id)
            if actor_id is None:
                return None  # no such execution (deleted with its actor): nothing to tell
        spec = self.event(execution_id, event_type, message, actor_id, service, detail, ttl)
        seq = self._append(keys=spec[:4], args=spec[4:], client=pipeline)
        if pipeline is not None:
            return None
        return int(seq) or None

    def event(self, execution_id: str, event_type: str, message: str, actor_id: str,
              service: Optional[str] = None, detail: Optional[dict] = None,
              ttl: Optional[int] = None, when: Optional[str] = None) -> list:
        """One event as :data:`APPEND_LUA`'s ``append_event`` takes it (four keys, then
        eight arguments), for a script that appends it beside its own change. The
        execution id may be :data:`EXECUTION_MARK` (and a worker id in ``message`` or
        ``detail`` :data:`WORKER_MARK`) when only the script will know them. ``when``: the
        event's time (:func:`iso_millis`' form) when the caller already has it."""
        # json.dumps of {time, type, message, source, execution_id[, detail]} without its
        # opening brace (the script puts seq first), built from parts: a message post makes two
        source = self._source_json(service)
        body = (f'"time":"{when or iso_millis()}","type":{_text(event_type)},"message":'
                f'{_text(message)},"source":{source},"execution_id":{_text(execution_id)}'
                + (f',"detail":{json.dumps(detail, separators=(",", ":"))}}}' if detail else "}"))
        return [keys.execution_status_events(execution_id),
                keys.execution_status_types(execution_id),
                keys.actor_status_feed(actor_id) if actor_id else "",
                keys.actor_status_cursor(actor_id) if actor_id else "",
                body, event_type, str(int(event_type in ONCE)), str(int(event_type in FINAL)),
                str(int(ttl or self.default_ttl)), str(FEED_LENGTH), keys.STATUS_CHANNEL,
                f"{actor_id or ''} {execution_id}"]

    def _source_json(self, service: Optional[str]) -> str:
        source = self.source if not service else Source(service, self.source.node,
                                                         self.source.version)
        cached = self._sources.get(source)
        if cached is None:
            cached = self._sources[source] = json.dumps(source.as_dict(), separators=(",", ":"))
        return cached

    def _actor_of(self, execution_id: str) -> Optional[str]:
        raw = self.redis.hget(keys.execution(execution_id), "actor_id")
        return json.loads(raw) if raw else None

    # -- reading -----------------------------------------------------------------
    def since(self, execution_id: str, since: int = 0, limit: int = PAGE,
              raw: bool = False) -> dict:
        """``{events, cursor, final}``: events with ``seq > since`` (at most ``limit``);
        ``cursor`` is the last seq returned (``since`` if none); ``final`` says the
        log is closed and ``cursor`` has reached its end, so nothing more will come.
        ``raw`` gives ``(seq, json text)`` pairs, for streams that pass them on as they are."""
        since, limit = max(int(since), 0), _page(limit)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.lrange(keys.execution_status_events(execution_id), since, since + limit - 1)
            pipe.llen(keys.execution_status_events(execution_id))
            pipe.sismember(keys.execution_status_types(execution_id), "#final")
            found, length, closed = pipe.execute()
        cursor = since + len(found) if found else min(since, length)
        if raw:
            events = [(since + number + 1, item.decode()) for number, item in enumerate(found)]
        else:
            events = [json.loads(item) for item in found]
        return {"events": events, "cursor": cursor, "final": bool(closed) and cursor >= length}

    def last_seq(self, execution_id: str) -> int:
        return int(self.redis.llen(keys.execution_status_events(execution_id)))

    def feed_since(self, actor_id: str, since: int = 0, limit: int = PAGE,
                   raw: bool = False) -> dict:
        """``{events, cursor, head}`` over the actor's feed: events with ``cursor > since``;
        ``head`` is the newest cursor (``since=head`` reads only what comes next)."""
        since, limit = max(int(since), 0), _page(limit)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(keys.actor_status_feed(actor_id), f"({since}", "+inf",
                               start=0, num=limit, withscores=True)
            pipe.get(keys.actor_status_cursor(actor_id))
            found, head = pipe.execute()
        if raw:
            events = [(int(score), item.decode()) for item, score in found]
        else:
            events = [json.loads(item) for item, _ in found]
        cursor = int(found[-1][1]) if found else since
        return {"events": events, "cursor": cursor, "head": int(head or 0)}

    def feed_cursor(self, actor_id: str) -> int:
        return int(self.redis.get(keys.actor_status_cursor(actor_id)) or 0)

    def listen(self, stop, timeout: float = 1.0):
        """``(actor_id, execution_id)`` for each event recorded anywhere, as they come, until
        ``stop()`` is true (checked at least every ``timeout`` seconds). Raises on a lost
        connection; the caller reconnects."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(keys.STATUS_CHANNEL)
            while not stop():
                message = pubsub.get_message(timeout=timeout)
                if message and message.get("type") == "message":
                    data = message["data"]
                    actor_id, _, execution_id = (data.decode() if isinstance(data, bytes)
                                                 else data).partition(" ")
                    yield actor_id, execution_id
        finally:
            pubsub.close()

    # -- removal -----------------------------------------------------------------
    def delete_for_actor(self, pipe, actor_id: str, execution_ids: Iterable[str]) -> None:
        """Queue on ``pipe`` the removal of the actor's feed and its executions' logs."""
        for eid in execution_ids:
            pipe.delete(keys.execution_status_events(eid), keys.execution_status_types(eid))
        pipe.delete(keys.actor_status_feed(actor_id), keys.actor_status_cursor(actor_id))


def _page(limit) -> int:
    try:
        limit = int(limit)
    except (TypeError, ValueError):
        limit = PAGE
    return min(max(limit, 1), MAX_PAGE)


# -- what the store's transitions say (executions.py calls these) ------------------------
def accepted_events(timeline: Timeline, record: dict, size: int, queue: str) -> list:
    """ACCEPTED and QUEUED: the specs submit's script appends with the message itself."""
    environment = record.get("environment") or {}
    how = (" by cron" if environment.get("_abaco_cron") else
           " from a linked actor's event" if environment.get("_abaco_link_depth") else
           f" from run {record.get('run_id')} (item {record.get('run_item')}, stage "
           f"{record.get('run_stage')})" if record.get("run_id") else "")
    eid, actor_id = record["id"], record["actor_id"]
    when = record["message_received_time"][:23] + "Z"  # iso_millis' form of the same moment
    return [timeline.event(eid, ACCEPTED, f"Message accepted{how} for {record.get('executor')} "
                           f"({record.get('content_type')}, {size} bytes).", actor_id, when=when),
            timeline.event(eid, QUEUED, f"Queued for a spawner on queue {queue!r}.", actor_id,
                           detail={"queue": queue}, when=when)]


def claimed(timeline: Timeline, execution_id: str, actor_id: str, spawner: str,
            worker_id: str) -> None:
    timeline.record(execution_id, CLAIMED, f"Claimed by spawner {spawner} (worker {worker_id}).",
                    actor_id, detail={"spawner": spawner, "worker_id": worker_id})


def cancelled(timeline: Timeline, execution_id: str, actor_id: str) -> None:
    timeline.record(execution_id, CANCELLED, "Cancelled before it started.", actor_id,
                    detail={"status": "COMPLETE"})


def force_quit_requested(timeline: Timeline, execution_id: str) -> None:
    timeline.record(execution_id, FORCE_QUIT_REQUESTED,
                    "Force-quit requested; the spawner stops the execution.")


def final_event(timeline: Timeline, execution: dict, status, fields: dict, log_ex: int) -> list:
    """FINISHED with the exit code, or ERROR with the reason: the spec the finish script
    appends when its transition happens (executions.py)."""
    exit_code = fields.get("exit_code")
    detail = {"status": str(status), "exit_code": exit_code}
    if str(status) == "ERROR":
        reason = fields.get("status_message") or "no reason given"
        return timeline.event(execution["id"], ERROR, f"Error: {reason}", execution["actor_id"],
                              detail=detail, ttl=log_ex)
    message = f"Finished with exit code {exit_code}."
    if (fields.get("final_state") or {}).get("ForceQuit"):
        message = f"Force-quit: the execution was killed (exit code {exit_code})."
        detail["force_quit"] = True
    return timeline.event(execution["id"], FINISHED, message, execution["actor_id"],
                          detail=detail, ttl=log_ex)
