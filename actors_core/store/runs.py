"""Runs in Redis: every change of a stage is one Lua script, whoever calls it.

A run is a hash (its plan, status, owner), its items' environments (a list),
one *cell* per item and stage (a hash field ``<item>|<stage>``: status,
execution id, attempt; a missing cell is WAITING), counters per stage and
status, the set of cells in flight, and its feed of events. The scripts below
share :data:`_PRELUDE` (reading and writing cells, counting, appending events)
and each does one transition atomically:

* ``stage_starting``  QUEUED -> RUNNING, only for the cell's current execution and
                      never once the run is cancelled (the finally stage excepted);
                      the spawner asks before it starts anything, so a stale or
                      duplicate execution never runs.
* ``stage_ended``     QUEUED | RUNNING -> an end, only for the cell's current
                      execution (so a second call for the same end changes nothing);
                      then, within the item, stages whose needs all succeeded become
                      QUEUED and those whose needs failed SKIPPED; an item whose
                      stages all ended is counted; after the last item the finally
                      stage is QUEUED (or the run ends).
* ``cancel``          marks the run cancelled, ends what never started, and returns
                      the executions to cancel or force-quit.
* ``rerun``           sets chosen ended cells (and what depends on them) back to
                      WAITING and queues what is ready.

Submitting is separate and safe to repeat: a QUEUED cell is in ``inflight`` with
score 0 until a submitter *claims* it (one script: the score becomes a lease time
and the cell gets its execution's id, which is then the only execution that may
run for that attempt), and:

* :meth:`RunStore.submit_fresh` claims score-0 cells and submits their
  executions through ``ExecutionStore.submit``, the path every message takes;
* :meth:`RunStore.check_due` (every spawner's sweep) looks at cells whose lease
  ran out: an execution that ended but whose end was never told (a crash between
  the two) is told now; one that was never recorded (a crash between "ready" and
  "submitted") is issued again under the next attempt, so if the lost submit
  lands after all, ``stage_starting`` refuses it.

So a run advances exactly once per finished execution (the hook is in
``ExecutionStore.finish`` and ``.cancel``, each after its own script said it
happened), no stage of an item runs twice, and none is forgotten if any
process, or Redis with AOF, restarts mid-run.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Iterable, Optional

from ..enums import ExecutionStatus
from ..ids import new_id
from ..runs import (ACTIVE, FINALLY_ITEM, Plan, RunStatus, StageStatus, item_env,
                    item_status, message_body, outcome_of, stage_environment)
from ..times import now_iso, parse_iso
from . import keys
from .indexes import epoch
from .records import decode, encode
from .timeline import MAX_PAGE, PAGE, iso_millis
from .work import WorkQueue

log = logging.getLogger(__name__)

SUBMIT_LEASE = 60.0  # seconds a claimed cell is left to its submitter before the sweep looks
CLAIM_BATCH = 200
FIELD_ORDER = ("id", "owner", "status", "cancel_requested", "create_time", "finish_time",
               "items_total", "items_ended", "items_failed", "env", "stages", "finally")

_PRELUDE = """
-- KEYS: run, cells, counts, inflight, events, active runs
-- ARGV: run id, now (ISO), source json, channel, then the script's own
local RUN, CELLS, COUNTS, INFLIGHT, EVENTS, ACTIVE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local RUN_ID, NOW, SOURCE, CHANNEL = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local FINALLY = 'finally'
local ENDED = {SUCCEEDED=true, FAILED=true, SKIPPED=true, CANCELLED=true}
local WHICH = {FAILED='failed', SKIPPED='was skipped', CANCELLED='was cancelled'}

local function get(name)
  local raw = redis.call('HGET', RUN, name)
  if not raw then return nil end
  return cjson.decode(raw)
end
local function put(name, value) redis.call('HSET', RUN, name, cjson.encode(value)) end

local dag = get('dag')
if not dag then return redis.error_reply('no such run') end
if dag.finally == cjson.null then dag.finally = nil end

local cache = {}
local function key_of(item, stage) return tostring(item) .. '|' .. stage end
local function cell(item, stage)
  local key = key_of(item, stage)
  local found = cache[key]
  if found then return found end
  local raw = redis.call('HGET', CELLS, key)
  if raw then found = cjson.decode(raw) else found = {status='WAITING', attempt=0} end
  cache[key] = found
  return found
end
local function store(item, stage, c, old)
  redis.call('HSET', CELLS, key_of(item, stage), cjson.encode(c))
  if old ~= c.status then
    redis.call('HINCRBY', COUNTS, stage .. '|' .. old, -1)
    redis.call('HINCRBY', COUNTS, stage .. '|' .. c.status, 1)
  end
end
local function counter(name) return tonumber(redis.call('HGET', COUNTS, name) or '0') end

local function int(n) return string.format('%d', n) end

local told = false
local function emit(kind, message, item, stage, c, detail)
  local event = {time=NOW, type=kind, message=message, source=cjson.decode(SOURCE), run_id=RUN_ID}
  if item ~= nil and item ~= FINALLY then event.item = tonumber(item) end
  if stage then event.stage = stage end
  if c and c.execution_id then event.execution_id = c.execution_id end
  if detail then event.detail = detail end
  local seq = redis.call('LLEN', EVENTS) + 1
  redis.call('RPUSH', EVENTS, '{"seq":' .. seq .. ',' .. string.sub(cjson.encode(event), 2))
  told = true
end
local function tell() if told then redis.call('PUBLISH', CHANNEL, ' run:' .. RUN_ID) end end
local function where(item, stage)
  if item == FINALLY then return 'finally stage ' .. stage end
  return 'item ' .. item .. ', stage ' .. stage
end

-- QUEUED, with no execution yet: the submitter that claims the cell gives it one (_CLAIM).
-- ``queued`` lists what this script queued, so its caller can submit exactly those.
local queued = {}
local function enqueue(item, stage)
  local c = cell(item, stage)
  local old = c.status
  c.attempt = (c.attempt or 0) + 1
  c.status = 'QUEUED'
  c.execution_id, c.reason, c.detail, c.start_time, c.finish_time = nil, nil, nil, nil, nil
  store(item, stage, c, old)
  redis.call('ZADD', INFLIGHT, 0, key_of(item, stage))
  table.insert(queued, key_of(item, stage))
  return c
end
local function end_cell(item, stage, status, reason)
  local c = cell(item, stage)
  local old = c.status
  c.status, c.reason, c.finish_time = status, reason, NOW
  store(item, stage, c, old)
  return c
end

-- Within one item: queue what is ready, skip what can no longer run (dependency order,
-- so a skip reaches everything downstream in one pass); when cancelled, nothing starts.
local function settle(item, cancelled)
  for _, s in ipairs(dag.order) do
    local c = cell(item, s)
    if c.status == 'WAITING' then
      if cancelled then
        end_cell(item, s, 'CANCELLED', 'The run was cancelled before this stage started.')
      else
        local blocker, ready = nil, true
        for _, n in ipairs(dag.needs[s]) do
          local status = cell(item, n).status
          if status ~= 'SUCCEEDED' then
            ready = false
            if ENDED[status] and not blocker then blocker = n end
          end
        end
        if blocker then
          local why = 'Not run: it needs ' .. blocker .. ', which ' .. WHICH[cell(item, blocker).status] .. '.'
          local ended = end_cell(item, s, 'SKIPPED', why)
          emit('STAGE_SKIPPED', 'Item ' .. item .. ': ' .. s .. ' skipped (' .. blocker .. ' '
               .. WHICH[cell(item, blocker).status] .. ').', item, s, nil, {reason=why})
        elseif ready then
          local queued = enqueue(item, s)
          emit('STAGE_QUEUED', 'Item ' .. item .. ': ' .. s .. ' is ready and queued.', item, s, queued)
        end
      end
    end
  end
end

local function item_state(item)
  local ended, failed = true, false
  for _, s in ipairs(dag.order) do
    local status = cell(item, s).status
    if not ENDED[status] then ended = false elseif status ~= 'SUCCEEDED' then failed = true end
  end
  return ended, failed
end
local function item_ended(item, failed)
  redis.call('HINCRBY', COUNTS, 'items_ended', 1)
  if failed then redis.call('HINCRBY', COUNTS, 'items_failed', 1) end
  local how = 'succeeded'
  if failed then how = 'did not succeed' end
  emit('ITEM_ENDED', 'Item ' .. item .. ' ended: ' .. how .. '.', item, nil, nil, {failed=failed})
end

local function end_run()
  local status = 'COMPLETE'
  if get('cancel_requested') then status = 'CANCELLED'
  elseif counter('items_failed') > 0 then status = 'FAILED'
  elseif dag.finally and cell(FINALLY, dag.finally).status ~= 'SUCCEEDED' then status = 'FAILED' end
  put('status', status)
  put('finish_time', NOW)
  redis.call('SREM', ACTIVE, RUN_ID)
  emit('RUN_' .. status, 'The run ended ' .. status .. ': ' .. int(counter('items_ended'))
       .. ' item(s), ' .. int(counter('items_failed')) .. ' did not succeed.', nil, nil, nil,
       {status=status})
end
-- After the last item: the finally stage, else the run's end.
local function after_items()
  if counter('items_ended') < tonumber(get('items_total')) then return end
  if dag.finally then
    local f = cell(FINALLY, dag.finally)
    if f.status == 'WAITING' then
      local queued = enqueue(FINALLY, dag.finally)
      emit('FINALLY_QUEUED', 'Every item ended: the finally stage ' .. dag.finally .. ' is queued.',
           FINALLY, dag.finally, queued)
    end
  else
    end_run()
  end
end
"""

_STAGE_STARTING = _PRELUDE + """
-- ARGV[5] item, [6] stage, [7] execution id
local item, stage, eid = ARGV[5], ARGV[6], ARGV[7]
local c = cell(item, stage)
if c.status ~= 'QUEUED' or c.execution_id ~= eid then return 'superseded' end
if item ~= FINALLY and get('cancel_requested') then return 'cancelled' end
c.status, c.start_time = 'RUNNING', NOW
store(item, stage, c, 'QUEUED')
emit('STAGE_STARTED', 'Started ' .. where(item, stage) .. '.', item, stage, c)
tell()
return 'ok'
"""

_STAGE_ENDED = _PRELUDE + """
-- ARGV[5] item, [6] stage, [7] execution id, [8] outcome, [9] reason, [10] detail json
local item, stage, eid, outcome, reason = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local c = cell(item, stage)
if (c.status ~= 'QUEUED' and c.status ~= 'RUNNING') or c.execution_id ~= eid then return 0 end
local cancelled = get('cancel_requested')
if cancelled and outcome ~= 'SUCCEEDED' and item ~= FINALLY then outcome = 'CANCELLED' end
local old = c.status
c.status, c.finish_time, c.detail = outcome, NOW, cjson.decode(ARGV[10])
if reason ~= '' then c.reason = reason else c.reason = nil end
store(item, stage, c, old)
redis.call('ZREM', INFLIGHT, key_of(item, stage))
local said = where(item, stage) .. ' ' .. string.lower(outcome)
if reason ~= '' then said = said .. ': ' .. reason else said = said .. '.' end
emit('STAGE_' .. outcome, string.upper(string.sub(said, 1, 1)) .. string.sub(said, 2), item, stage, c, c.detail)
if item == FINALLY then
  end_run()
else
  settle(item, cancelled)
  local ended, failed = item_state(item)
  if ended then
    item_ended(item, failed)
    after_items()
  end
end
tell()
return cjson.encode({queued=queued})
"""

_CANCEL = _PRELUDE + """
-- returns {status, active: [[item, stage, execution id, status], ...]}
local status = get('status')
if status ~= 'RUNNING' then return cjson.encode({status=status, active={}}) end
if not get('cancel_requested') then
  put('cancel_requested', true)
  emit('CANCEL_REQUESTED', 'Cancel requested: nothing new starts; queued stages are cancelled, '
       .. 'running ones force-quit; the finally stage still runs.')
end
local active = {}
for i = 0, tonumber(get('items_total')) - 1 do
  local item = int(i)
  if not item_state(item) then
    for _, s in ipairs(dag.order) do
      local c = cell(item, s)
      if c.status == 'QUEUED' and redis.call('ZSCORE', INFLIGHT, key_of(item, s)) == '0' then
        end_cell(item, s, 'CANCELLED', 'The run was cancelled before this stage started.')
        redis.call('ZREM', INFLIGHT, key_of(item, s))
      elseif c.status == 'QUEUED' or c.status == 'RUNNING' then
        table.insert(active, {item, s, c.execution_id, c.status})
      end
    end
    settle(item, true)
    local ended, failed = item_state(item)
    if ended then item_ended(item, failed) end
  end
end
after_items()
tell()
return cjson.encode({status=get('status'), active=active, queued=queued})
"""

_RERUN = _PRELUDE + """
-- ARGV[5] item indexes json (or null: all), [6] stage names json (or null: all), [7] force
-- returns {reset = cells set back, final = whether the finally stage runs again} or {status}
local status = get('status')
if status == 'RUNNING' then return cjson.encode({status=status}) end
local chosen_items, chosen_stages = cjson.decode(ARGV[5]), cjson.decode(ARGV[6])
local force = ARGV[7] == '1'
local RESETTABLE = {FAILED=true, SKIPPED=true, CANCELLED=true}
local stage_chosen = {}
if chosen_stages == cjson.null then
  for _, s in ipairs(dag.order) do stage_chosen[s] = true end
  if dag.finally then stage_chosen[dag.finally] = true end
else
  for _, s in ipairs(chosen_stages) do stage_chosen[s] = true end
end
local items = {}
if chosen_items == cjson.null then
  for i = 0, tonumber(get('items_total')) - 1 do table.insert(items, int(i)) end
else
  for _, i in ipairs(chosen_items) do table.insert(items, int(i)) end
end
local function back_to_waiting(item, s)
  local c = cell(item, s)
  local old = c.status
  c.previous_execution_id = c.execution_id
  c.status, c.execution_id, c.reason, c.detail, c.start_time, c.finish_time = 'WAITING', nil, nil, nil, nil, nil
  store(item, s, c, old)
end
local reset = 0
for _, item in ipairs(items) do
  local was_ended, was_failed = item_state(item)
  local again, any = {}, false
  for _, s in ipairs(dag.order) do
    local upstream = false
    for _, n in ipairs(dag.needs[s]) do if again[n] then upstream = true end end
    local status = cell(item, s).status
    if ENDED[status] and (upstream or (stage_chosen[s] and (force or RESETTABLE[status]))) then
      back_to_waiting(item, s)
      again[s], any, reset = true, true, reset + 1
    end
  end
  if any then
    if was_ended then
      redis.call('HINCRBY', COUNTS, 'items_ended', -1)
      if was_failed then redis.call('HINCRBY', COUNTS, 'items_failed', -1) end
    end
    settle(item, false)
    local ended, failed = item_state(item)
    if ended then item_ended(item, failed) end
  end
end
local final = false
if dag.finally then
  local f = cell(FINALLY, dag.finally)
  if ENDED[f.status] and (reset > 0 or (stage_chosen[dag.finally] and (force or f.status ~= 'SUCCEEDED'))) then
    back_to_waiting(FINALLY, dag.finally)
    final = true
  end
end
if reset == 0 and not final then return cjson.encode({reset=0, final=false}) end
put('status', 'RUNNING')
put('cancel_requested', false)
put('finish_time', cjson.null)
redis.call('SADD', ACTIVE, RUN_ID)
local what = int(reset) .. ' stage(s) of items'
if final then what = what .. ' and the finally stage' end
emit('RERUN', 'Re-run: ' .. what .. ' run again.', nil, nil, nil, {reset=reset, final=final, force=force})
after_items()
tell()
return cjson.encode({reset=reset, final=final})
"""

_REISSUE = _PRELUDE + """
-- ARGV[5] item, [6] stage, [7] the execution id that was never recorded
local item, stage, eid = ARGV[5], ARGV[6], ARGV[7]
local c = cell(item, stage)
if c.status ~= 'QUEUED' or c.execution_id ~= eid then return 0 end
local queued = enqueue(item, stage)
emit('STAGE_QUEUED', 'Execution ' .. eid .. ' of ' .. where(item, stage) .. ' was never recorded; '
     .. 'submitting attempt ' .. int(queued.attempt) .. '.', item, stage, queued)
tell()
return 1
"""

_FOLLOW_RETRY = _PRELUDE + """
-- ARGV[5] item, [6] stage, [7] the execution that ended, [8] its retry, [9] when to look at it
local item, stage, eid, retry = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local c = cell(item, stage)
if (c.status ~= 'QUEUED' and c.status ~= 'RUNNING') or c.execution_id ~= eid then return 0 end
local old = c.status
c.attempt = (c.attempt or 0) + 1
c.status, c.execution_id, c.retry_of, c.start_time = 'QUEUED', retry, eid, nil
store(item, stage, c, old)
redis.call('ZADD', INFLIGHT, ARGV[9], key_of(item, stage))
emit('STAGE_QUEUED', 'Execution ' .. eid .. ' of ' .. where(item, stage) .. ' is retried as '
     .. retry .. '.', item, stage, c)
tell()
return 1
"""

# claim(...): the cell under ``key`` is taken until ``score``; a QUEUED one without an
# execution gets the next fresh id (its execution's, from now on). Appends key, the score
# it was listed with and the cell's json (or '') to ``out``; returns how many ids are used.
_CLAIM_CELL_LUA = """
local function claim(inflight, cells, key, score, listed, ids, used, out)
  redis.call('ZADD', inflight, score, key)
  local raw = redis.call('HGET', cells, key)
  if raw then
    local c = cjson.decode(raw)
    if c.status == 'QUEUED' and not c.execution_id and used < #ids then
      used = used + 1
      c.execution_id = ids[used]
      raw = cjson.encode(c)
      redis.call('HSET', cells, key, raw)
    end
  end
  table.insert(out, key)
  table.insert(out, listed)
  table.insert(out, raw or '')
  return used
end
"""

_CLAIM = _CLAIM_CELL_LUA + """
-- KEYS: inflight, cells; ARGV: lowest score, highest score, new score, limit, fresh ids json
-- returns key, score, cell json (or '') for each claimed cell
local due = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES', 'LIMIT', 0,
                       tonumber(ARGV[4]))
local ids, used = cjson.decode(ARGV[5]), 0
local out = {}
for i = 1, #due, 2 do
  used = claim(KEYS[1], KEYS[2], due[i], ARGV[3], due[i + 1], ids, used, out)
end
return out
"""


_CLAIM_KEYS = _CLAIM_CELL_LUA + """
-- KEYS: inflight, cells; ARGV: new score, fresh ids json, then cell keys
-- As _CLAIM, for the given cells only, those no submitter took yet (score 0).
local ids, used = cjson.decode(ARGV[2]), 0
local out = {}
for i = 3, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) == '0' then
    used = claim(KEYS[1], KEYS[2], ARGV[i], ARGV[1], '0', ids, used, out)
  end
end
return out
"""


class RunStore:
    """Runs over one Redis connection; submits through ``executions`` (ExecutionStore)."""

    def __init__(self, redis, executions, actors, timeline):
        self.redis = redis
        self.executions = executions
        self.actors = actors
        self.timeline = timeline
        self.work = WorkQueue(redis)
        self._starting = redis.register_script(_STAGE_STARTING)
        self._ended = redis.register_script(_STAGE_ENDED)
        self._cancel = redis.register_script(_CANCEL)
        self._rerun = redis.register_script(_RERUN)
        self._reissue = redis.register_script(_REISSUE)
        self._follow_retry = redis.register_script(_FOLLOW_RETRY)
        self._claim = redis.register_script(_CLAIM)
        self._claim_keys = redis.register_script(_CLAIM_KEYS)

    # -- accepting a run ------------------------------------------------------------------
    def create(self, run_id: str, tenant: str, owner: str, plan: Plan, items: list,
               queues: Iterable[str]) -> dict:
        """Record the run with its first stages QUEUED for every item, in one MULTI (a run
        is wholly accepted or not at all), and ask a spawner on each of ``queues`` to submit
        them. No execution is written here: that is the spawner's, in batches."""
        now = now_iso()
        roots = plan.roots()
        total = len(items)
        record = {"id": run_id, "tenant": tenant, "owner": owner, "status": str(RunStatus.RUNNING),
                  "cancel_requested": False, "create_time": now, "finish_time": None,
                  "items_total": total, "plan": plan.as_dict(), "dag": plan.dag()}
        counts = {f"{name}|{StageStatus.WAITING}": total for name in plan.names}
        for name in roots:
            counts[f"{name}|{StageStatus.WAITING}"] = 0
            counts[f"{name}|{StageStatus.QUEUED}"] = total
        if plan.final:
            counts[f"{plan.final.name}|{StageStatus.WAITING}"] = 1
        queued = json.dumps({"status": "QUEUED", "attempt": 1})  # ids come when claimed
        cells = {f"{item}|{name}": queued for item in range(total) for name in roots}
        inflight = dict.fromkeys(cells, 0)
        accepted = json.dumps(dict(
            seq=1, time=iso_millis(), type="RUN_ACCEPTED",
            message=f"Run accepted from {owner}: {total} item(s) over stages "
                    f"{', '.join(plan.names)}" + (f", then {plan.final.name}" if plan.final
                                                 else "") + ".",
            source=self.timeline.source.as_dict(), run_id=run_id,
            detail={"items": total, "stages": plan.names}), separators=(",", ":"))
        created = epoch(now)
        with self.redis.pipeline() as pipe:
            pipe.multi()
            pipe.hset(keys.run(run_id), mapping=encode(record))
            for start in range(0, total, 1000):
                pipe.rpush(keys.run_items(run_id),
                           *[json.dumps(item) for item in items[start:start + 1000]])
            pipe.hset(keys.run_counts(run_id), mapping=dict(counts, items_ended=0, items_failed=0))
            if cells:
                pipe.hset(keys.run_cells(run_id), mapping=cells)
                pipe.zadd(keys.run_inflight(run_id), inflight)
            pipe.rpush(keys.run_events(run_id), accepted)
            pipe.sadd(keys.ACTIVE_RUNS, run_id)
            pipe.zadd(keys.tenant_runs(tenant), {run_id: created})
            pipe.zadd(keys.owned_runs(tenant, owner), {run_id: created})
            for queue in dict.fromkeys(queues):
                self.work.enqueue_advance_run(run_id, queue, pipeline=pipe)
            pipe.publish(keys.STATUS_CHANNEL, f" run:{run_id}")
            pipe.execute()
        return self.get(run_id)

    # -- reading --------------------------------------------------------------------------
    def exists(self, run_id: str) -> bool:
        return bool(self.redis.exists(keys.run(run_id)))

    def get_internal(self, run_id: str) -> Optional[dict]:
        """The run hash as stored (its plan and dag, tenant), or None."""
        return decode(self.redis.hgetall(keys.run(run_id)))

    def get(self, run_id: str, item_offset: int = 0, item_limit: int = 0) -> Optional[dict]:
        """The run as the API shows it: status, counts per stage, the finally stage's state,
        and ``item_limit`` items from ``item_offset`` with each stage's state. Four reads,
        whatever the run's size (counts are kept by the transitions, not counted here)."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.run(run_id))
            pipe.hgetall(keys.run_counts(run_id))
            if item_limit > 0:
                pipe.lrange(keys.run_items(run_id), item_offset, item_offset + item_limit - 1)
            raw, counts, *page = pipe.execute()
        run = decode(raw)
        if run is None:
            return None
        plan = Plan.from_dict(run["plan"])
        item_page = page[0] if page else []
        indexes = list(range(item_offset, item_offset + len(item_page)))
        fields = [f"{i}|{name}" for i in indexes for name in plan.names]
        if plan.final:
            fields.append(f"{FINALLY_ITEM}|{plan.final.name}")
        found = self.redis.hmget(keys.run_cells(run_id), fields) if fields else []
        states = {name: _cell_state(name, raw_cell) for name, raw_cell in zip(fields, found)}
        return _public(run, plan, _counts(counts), [
            _item(i, json.loads(env), [states[f"{i}|{n}"] for n in plan.names])
            for i, env in zip(indexes, item_page)],
            states.get(f"{FINALLY_ITEM}|{plan.final.name}") if plan.final else None)

    def tenant_of(self, run_id: str) -> Optional[str]:
        raw = self.redis.hget(keys.run(run_id), "tenant")
        return json.loads(raw) if raw else None

    def list(self, tenant: str, owner: Optional[str] = None, limit: int = 100) -> list:
        """The newest ``limit`` runs of the tenant (of ``owner`` only, when given), newest
        first, without their items."""
        index = keys.owned_runs(tenant, owner) if owner else keys.tenant_runs(tenant)
        ids = [m.decode() for m in self.redis.zrevrange(index, 0, max(limit, 1) - 1)]
        with self.redis.pipeline(transaction=False) as pipe:
            for run_id in ids:
                pipe.hmget(keys.run(run_id), ["id", "owner", "status", "cancel_requested",
                                              "create_time", "finish_time", "items_total",
                                              "plan"])
                pipe.hmget(keys.run_counts(run_id), ["items_ended", "items_failed"])
            answers = pipe.execute()
        runs = []
        for fields, counters in zip(answers[::2], answers[1::2]):
            if fields[0] is None:
                continue
            (run_id, owner_, status, cancel, created, finished, total, plan) = [
                json.loads(v) if v is not None else None for v in fields]
            runs.append({"id": run_id, "owner": owner_, "status": status,
                         "cancel_requested": bool(cancel), "create_time": created,
                         "finish_time": finished, "items_total": total,
                         "items_ended": int(counters[0] or 0),
                         "items_failed": int(counters[1] or 0),
                         "stages": [s["name"] for s in plan["stages"]],
                         "finally": (plan.get("finally") or {}).get("name")})
        return runs

    def cells(self, run_id: str, plan: Plan, total: int) -> dict:
        """``{(item, stage): state}`` for every item (and the finally stage)."""
        fields = [f"{i}|{name}" for i in range(total) for name in plan.names]
        if plan.final:
            fields.append(f"{FINALLY_ITEM}|{plan.final.name}")
        found = []
        for start in range(0, len(fields), 5000):
            found += self.redis.hmget(keys.run_cells(run_id), fields[start:start + 5000])
        result = {}
        for name, raw in zip(fields, found):
            item, _, stage = name.partition("|")
            result[(item if item == FINALLY_ITEM else int(item), stage)] = _cell_state(name, raw)
        return result

    def item_envs(self, run_id: str) -> list:
        return [json.loads(raw) for raw in self.redis.lrange(keys.run_items(run_id), 0, -1)]

    def summary(self, run_id: str) -> Optional[dict]:
        """What the finally stage reads and the outputs zip holds as ``run.json``: the run as
        GET shows it, ``cancelled`` (was it?), and every item: its keys, status and each
        stage's state (status, execution, attempt, exit code, reason, times)."""
        run = self.get(run_id)
        if run is None:
            return None
        internal = self.get_internal(run_id)
        plan = Plan.from_dict(internal["plan"])
        cells = self.cells(run_id, plan, run["items_total"])
        items = [_item(i, env, [cells[(i, n)] for n in plan.names])
                 for i, env in enumerate(self.item_envs(run_id))]
        return dict(run, cancelled=run["cancel_requested"], items=items)

    def events_since(self, run_id: str, since: int = 0, limit: int = PAGE,
                     raw: bool = False) -> dict:
        """``{events, cursor, final}`` as an execution's status log gives them: ``final``
        says the run has ended and ``cursor`` is at the end of its feed (a re-run reopens
        it)."""
        since = max(int(since), 0)
        limit = min(max(int(limit), 1), MAX_PAGE)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.lrange(keys.run_events(run_id), since, since + limit - 1)
            pipe.llen(keys.run_events(run_id))
            pipe.hget(keys.run(run_id), "status")
            found, length, status = pipe.execute()
        cursor = since + len(found) if found else min(since, length)
        ended = status is not None and RunStatus(json.loads(status)).ended
        if raw:
            events = [(since + n + 1, item.decode()) for n, item in enumerate(found)]
        else:
            events = [json.loads(item) for item in found]
        return {"events": events, "cursor": cursor, "final": ended and cursor >= length}

    # -- transitions ----------------------------------------------------------------------
    def _run_script(self, script, run_id: str, *args):
        return script(keys=[keys.run(run_id), keys.run_cells(run_id), keys.run_counts(run_id),
                            keys.run_inflight(run_id), keys.run_events(run_id),
                            keys.ACTIVE_RUNS],
                      args=[run_id, iso_millis(), json.dumps(self.timeline.source.as_dict()),
                            keys.STATUS_CHANNEL, *args])

    def stage_starting(self, execution: dict) -> Optional[str]:
        """None when a run's execution may start now (its stage becomes RUNNING), else why
        not: superseded by another attempt, or the run was cancelled."""
        answer = self._run_script(self._starting, execution["run_id"], execution["run_item"],
                                  execution["run_stage"], execution["id"])
        answer = answer.decode() if isinstance(answer, bytes) else answer
        if answer == "ok":
            return None
        if answer == "cancelled":
            return "Not started: its run was cancelled."
        return ("Not started: it is no longer its run's current attempt at item "
                f"{execution['run_item']}, stage {execution['run_stage']}.")

    def execution_ended(self, record: dict) -> bool:
        """Advance the run of an execution whose end was just recorded (ExecutionStore calls
        this after its finish or cancel script said it happened; the sweep calls it for an
        end that was never told). True when the stage changed now; then the stages that
        became ready are submitted.

        An execution whose final record names a retry (``retried_by``) hands the cell on
        to it instead (:meth:`follow_retry`): the stage follows the last try's outcome.
        """
        run_id = record.get("run_id")
        if not run_id:
            return False
        if record.get("retried_by"):  # issue 12: the last try's end decides the stage
            return self.follow_retry(record, record["retried_by"])
        outcome, reason, detail = outcome_of(record)
        answer = self._run_script(self._ended, run_id, record["run_item"], record["run_stage"],
                                  record["id"], str(outcome), reason, json.dumps(detail))
        if not answer:
            return False
        self.submit(run_id, _queued(answer))
        return True

    def follow_retry(self, record: dict, retry_id: str) -> bool:
        """An execution of a run is retried as ``retry_id`` (submitted by whoever retries it,
        with the same run fields): the cell follows the retry, whose end decides the stage,
        and nothing downstream moves meanwhile. The sweep looks at the retry
        :data:`SUBMIT_LEASE` after it is due (``retry_due``), as at any submitted execution."""
        due = time.time()
        if record.get("retry_due"):
            due = max(due, parse_iso(record["retry_due"]).timestamp())
        return bool(self._run_script(self._follow_retry, record["run_id"], record["run_item"],
                                     record["run_stage"], record["id"], retry_id,
                                     due + SUBMIT_LEASE))

    def stage_failed(self, run_id: str, item, stage: str, execution_id: str,
                     reason: str) -> bool:
        """End a cell whose execution cannot be submitted or has vanished (FAILED), and
        submit what that made ready (the finally stage, after the last item)."""
        answer = self._run_script(self._ended, run_id, item, stage, execution_id,
                                  str(StageStatus.FAILED), reason,
                                  json.dumps({"execution_status": None, "exit_code": None}))
        if not answer:
            return False
        self.submit(run_id, _queued(answer))
        return True

    def cancel(self, run_id: str) -> dict:
        """Cancel a RUNNING run: nothing new starts, what never started ends CANCELLED, queued
        executions are cancelled and running ones force-quit (their ends come back through
        the execution hooks); the finally stage still runs. ``{status, cancelled, killed}``."""
        answer = json.loads(self._run_script(self._cancel, run_id))
        cancelled = killed = 0
        for item, stage, execution_id, status in answer.get("active") or ():
            if item == FINALLY_ITEM or not execution_id:
                continue
            execution = self.executions.get_internal(execution_id)
            if (execution is not None and execution["status"] == str(ExecutionStatus.SUBMITTED)
                    and self.executions.cancel(execution["actor_id"], execution_id)):
                cancelled += 1
                continue
            self.executions.request_kill(execution_id)  # running, or not yet recorded
            killed += 1
        self.submit(run_id, _queued(answer))  # the finally stage, if the last item ended
        return {"status": answer["status"], "cancelled": cancelled, "killed": killed}

    def rerun(self, run_id: str, items: Optional[list], stages: Optional[list], force: bool,
              queues: Iterable[str]) -> dict:
        """Run again the failed, skipped and cancelled parts (``force``: everything chosen),
        reusing what succeeded; ``{reset, final}``, or ``{status: RUNNING}`` when the run
        has not ended."""
        answer = json.loads(self._run_script(self._rerun, run_id, json.dumps(items),
                                             json.dumps(stages), "1" if force else "0"))
        if answer.get("reset") or answer.get("final"):
            for queue in dict.fromkeys(queues):
                self.work.enqueue_advance_run(run_id, queue)
        return answer

    # -- submitting -----------------------------------------------------------------------
    def submit(self, run_id: str, cells: list) -> int:
        """Submit the executions of these cells (``<item>|<stage>``), those no submitter took
        yet: what a transition just queued, submitted by the process that made it."""
        if not cells:
            return 0
        raw = self._claim_keys(keys=[keys.run_inflight(run_id), keys.run_cells(run_id)],
                               args=[time.time() + SUBMIT_LEASE,
                                     json.dumps([new_id() for _ in cells]), *cells])
        return self._submit(run_id, _claimed(raw))

    def submit_fresh(self, run_id: str, limit: Optional[int] = None) -> int:
        """Submit the executions of cells no submitter took yet (score 0), in batches; how
        many. Safe to call from any process at once: each cell is claimed by one."""
        submitted = 0
        while limit is None or submitted < limit:
            batch = self._claim_cells(run_id, 0, 0, CLAIM_BATCH)
            if not batch:
                break
            submitted += self._submit(run_id, batch)
        return submitted

    def check_due(self, run_id: str, now: Optional[float] = None) -> dict:
        """The sweep's look at cells whose lease ran out (every spawner runs it, each cell is
        claimed by one): tell ends that were never told, issue again what was never recorded,
        end what vanished (its actor deleted); then submit what is fresh."""
        now = time.time() if now is None else now
        told = reissued = vanished = 0
        for key, _, cell in self._claim_cells(run_id, "(0", now, 1000, now=now):
            item, stage = _split(key)
            if cell is None or StageStatus(cell["status"]) not in ACTIVE:
                self.redis.zrem(keys.run_inflight(run_id), key)
                continue
            record = self.executions.get_internal(cell["execution_id"])
            if record is None and cell["status"] == str(StageStatus.QUEUED):
                reissued += int(self._run_script(self._reissue, run_id, item, stage,
                                                 cell["execution_id"]))
            elif record is None:
                vanished += int(self.stage_failed(run_id, item, stage, cell["execution_id"],
                                                  "The execution's record is gone (was its "
                                                  "actor deleted?)."))
            elif ExecutionStatus(record["status"]).finished:
                told += int(self.execution_ended(record))
        return {"told": told, "reissued": reissued, "vanished": vanished,
                "submitted": self.submit_fresh(run_id)}

    def active_ids(self) -> list:
        return [m.decode() for m in self.redis.smembers(keys.ACTIVE_RUNS)]

    def _claim_cells(self, run_id: str, low, high, limit: int, now: Optional[float] = None):
        """Claim in-flight cells scored from ``low`` to ``high`` for SUBMIT_LEASE seconds; a
        fresh one (score 0) gets its execution's id here, the only place ids are made."""
        now = time.time() if now is None else now
        fresh = [new_id() for _ in range(limit)] if low == 0 else []
        raw = self._claim(keys=[keys.run_inflight(run_id), keys.run_cells(run_id)],
                          args=[low, high, now + SUBMIT_LEASE, limit, json.dumps(fresh)])
        return _claimed(raw)

    def _submit(self, run_id: str, batch: list) -> int:
        run = self.get_internal(run_id)
        if run is None:
            return 0
        plan = Plan.from_dict(run["plan"])
        wanted = sorted({int(item) for item, _ in (_split(k) for k, _, _ in batch)
                         if item != FINALLY_ITEM})
        with self.redis.pipeline(transaction=False) as pipe:
            for item in wanted:
                pipe.lindex(keys.run_items(run_id), item)
            envs = {item: json.loads(raw or b"{}") for item, raw in zip(wanted, pipe.execute())}
        actors, submitted = {}, 0
        for key, _, cell in batch:
            item, stage_name = _split(key)
            if cell is None or cell["status"] != str(StageStatus.QUEUED):
                continue
            stage = plan.stage(stage_name)
            if stage.actor_id not in actors:
                actors[stage.actor_id] = self.actors.get(stage.actor_id)
            actor = actors[stage.actor_id]
            if actor is None:
                self.stage_failed(run_id, item, stage_name, cell["execution_id"],
                                  f"Its actor {stage.actor_id} no longer exists.")
                continue
            final = item == FINALLY_ITEM
            environment = stage_environment(
                run_id, plan, stage, item, {} if final else item_env(envs.get(item) or {}),
                cell["attempt"], cancelled=bool(run.get("cancel_requested")))
            message = stage.message
            if final and message is None:
                message = self._final_message(run_id)
            content_type, body = message_body(message)
            self.executions.submit(actor, {
                "id": cell["execution_id"], "executor": run["owner"],
                "content_type": content_type, "environment": environment,
                "run_id": run_id, "run_item": item, "run_stage": stage_name,
                "run_attempt": cell["attempt"]}, body)
            submitted += 1
        return submitted

    def _final_message(self, run_id: str) -> dict:
        """The finally stage's MSG when it has no message of its own: the run without items
        (each item is in /_abaco_inputs/_run/summary.json)."""
        run = self.get(run_id)
        return {name: run[name] for name in ("id", "status", "cancel_requested", "items_total",
                                             "items_ended", "items_failed")}

    # -- what a stage reads ---------------------------------------------------------------
    def inputs_for(self, execution: dict) -> list:
        """``[(folder, actor id, execution id)]``: the ended executions whose outputs a run's
        execution reads at /_abaco_inputs/<folder>/: each stage it needs (for the finally
        stage, ``<stage>/<item>`` for every item where that stage succeeded)."""
        run = self.get_internal(execution["run_id"])
        if run is None:
            return []
        plan = Plan.from_dict(run["plan"])
        stage = plan.stage(execution["run_stage"])
        item = execution["run_item"]
        if item == FINALLY_ITEM:
            wanted = [(f"{need}/{i}", i, need) for need in stage.needs
                      for i in range(run["items_total"])]
        else:
            wanted = [(need, item, need) for need in stage.needs]
        if not wanted:
            return []
        found = self.redis.hmget(keys.run_cells(run["id"]), [f"{i}|{s}" for _, i, s in wanted])
        inputs = []
        for (folder, _, need), raw in zip(wanted, found):
            cell = json.loads(raw) if raw else None
            if cell and cell["status"] == str(StageStatus.SUCCEEDED):
                inputs.append((folder, plan.stage(need).actor_id, cell["execution_id"]))
        return inputs


# -- shapes -------------------------------------------------------------------------------
def _claimed(raw: list) -> list:
    """(cell key, score, cell) triples from a claim script's flat answer."""
    return [(raw[n].decode(), float(raw[n + 1]), json.loads(raw[n + 2]) if raw[n + 2] else None)
            for n in range(0, len(raw), 3)]


def _queued(answer) -> list:
    """The cells a transition queued (cjson writes an empty list as ``{}``)."""
    queued = json.loads(answer).get("queued") if not isinstance(answer, dict) else answer.get(
        "queued")
    return list(queued) if isinstance(queued, list) else []


def _split(key: str) -> tuple:
    item, _, stage = key.partition("|")
    return (item if item == FINALLY_ITEM else int(item)), stage


def _cell_state(name: str, raw) -> dict:
    cell = json.loads(raw) if raw else {"status": str(StageStatus.WAITING), "attempt": 0}
    detail = cell.get("detail") or {}
    return {"name": name.partition("|")[2], "status": cell["status"],
            "execution_id": cell.get("execution_id"), "attempt": int(cell.get("attempt") or 0),
            "exit_code": detail.get("exit_code"), "reason": cell.get("reason") or "",
            "start_time": cell.get("start_time"), "finish_time": cell.get("finish_time")}


def _item(index: int, env: dict, stages: list) -> dict:
    return {"index": index, "status": item_status(s["status"] for s in stages),
            "env": item_env(env), "stages": stages}


def _counts(raw: dict) -> dict:
    return {k.decode(): int(v) for k, v in raw.items()}


def _public(run: dict, plan: Plan, counts: dict, items: list, final_state: Optional[dict]) -> dict:
    def stage_view(stage) -> dict:
        view = stage.as_dict()
        view["counts"] = {status.value.lower(): max(counts.get(f"{stage.name}|{status}", 0), 0)
                          for status in StageStatus}
        return view

    final = None
    if plan.final:
        final = dict(plan.final.as_dict(), **{k: v for k, v in final_state.items() if k != "name"})
    return {"id": run["id"], "owner": run["owner"], "status": run["status"],
            "cancel_requested": bool(run.get("cancel_requested")),
            "create_time": run["create_time"], "finish_time": run.get("finish_time"),
            "items_total": run["items_total"], "items_ended": counts.get("items_ended", 0),
            "items_failed": counts.get("items_failed", 0), "env": plan.env,
            "stages": [stage_view(s) for s in plan.stages], "finally": final, "items": items}

