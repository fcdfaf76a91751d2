"""Searches over actors, executions, workers and logs, limited to the actors a caller may read.

A search is asked with the ids of the actors the caller may read (the API decides
those) and a parsed :class:`~actors_api.schemas.search.Query`. Executions are found
in two phases:

1. **Candidates from the indexes** (store/indexes.py), in Redis, without reading a
   record: the union of the readable actors' by-time sets (or only the actors an
   ``actor_id`` condition names), intersected with the status sets for a ``status``
   condition, cut to a ``message_received_time`` range and to an ``exit_code``
   range. The result is a scratch sorted set ordered by arrival time.
2. **The rest in Python**, only if some condition or free text is left: records are
   read in pipelined batches of :data:`BATCH`, in time order, and filtered.

When every condition was answered by the indexes, the total is the scratch set's
size and only the requested page of records is read, so the cost does not grow
with the number of matches.
"""
from __future__ import annotations

import uuid
from typing import Iterable, Optional

from ..enums import ExecutionStatus
from ..times import parse_partial_iso
from . import keys
from .executions import (FIELD_ORDER as EXECUTION_FIELDS,  # the record as the API shows it
                         _public as public_execution)
from .indexes import BATCH, epoch, index_submitted, tenant_of
from .records import decode, decode_many

SCRATCH_SECONDS = 60
# Operators each indexed field can answer from its index, and how.
_RANGE_OPS = ("gt", "gte", "lt", "lte", "between", "eq")


def _bounds(condition) -> Optional[list]:
    """(min, max) score bounds in Redis syntax for a range condition on an indexed number
    or time; None when the value is not a number or time (Python then decides)."""
    convert = _epoch if condition.path == ("message_received_time",) else float
    try:
        values = [convert(v) for v in condition.values]
    except (TypeError, ValueError):
        return None
    if any(v is None for v in values):
        return None
    op, first = condition.op, values[0]
    return {"eq": (first, first), "gt": (f"({first}", "+inf"), "gte": (first, "+inf"),
            "lt": ("-inf", f"({first}"), "lte": ("-inf", first),
            "between": tuple(values)}[op]


def _epoch(text: str) -> Optional[float]:
    """Epoch seconds of a full or partial ISO 8601 time (None: not a time)."""
    moment = parse_partial_iso(text)
    return None if moment is None else moment.timestamp()


class SearchStore:
    def __init__(self, redis):
        self.redis = redis

    # -- executions --------------------------------------------------------------
    def executions(self, actor_ids: Iterable[str], query, tenant: Optional[str] = None) -> tuple:
        """``(total, page)`` of the executions of ``actor_ids`` (actors of ``tenant``)
        matching ``query``, oldest first (by ``message_received_time``)."""
        actor_ids, statuses, received, exit_codes, rest = self._plan(set(actor_ids), query)
        if not actor_ids or statuses == set():
            return 0, []
        # Reading every actor of the tenant: start from the tenant's index, no union. (An
        # actor created meanwhile is not readable; records are checked against actor_ids.)
        whole_tenant = tenant is not None and len(actor_ids) > 1 and actor_ids >= {
            m.decode() for m in self.redis.smembers(keys.tenant_actors(tenant))}
        scratch = keys.search_scratch(uuid.uuid4().hex)
        helpers = [keys.search_scratch(uuid.uuid4().hex) for _ in range(len(ExecutionStatus) + 1)]
        by_time = [keys.actor_executions_by_time(a) for a in sorted(actor_ids)]
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                # ``source`` holds the candidates so far; an index itself is never modified.
                if len(by_time) == 1:
                    source = by_time[0]
                elif whole_tenant:
                    source = keys.tenant_executions_by_time(tenant)
                else:
                    pipe.zunionstore(scratch, by_time)
                    source = scratch
                for low, high in received:  # first: a time range is usually the narrowest
                    if source != scratch:
                        pipe.zrangestore(scratch, source, low, high, byscore=True)
                        source = scratch
                    else:
                        pipe.zremrangebyscore(scratch, "-inf", _below(low))
                        pipe.zremrangebyscore(scratch, _above(high), "+inf")
                if statuses is not None:
                    # Intersect with each status set apart: each walks only the candidates.
                    parts = helpers[:len(statuses)]
                    for part, status in zip(parts, sorted(statuses)):
                        pipe.zinterstore(part, {source: 1, keys.executions_by_status(status): 0})
                    pipe.zunionstore(scratch, parts)
                    source = scratch
                if exit_codes:
                    codes = helpers[-1]
                    pipe.zinterstore(codes, {source: 0, keys.EXECUTIONS_BY_EXIT_CODE: 1})
                    for low, high in exit_codes:
                        pipe.zremrangebyscore(codes, "-inf", _below(low))
                        pipe.zremrangebyscore(codes, _above(high), "+inf")
                    pipe.zinterstore(scratch, {source: 1, codes: 0})
                    source = scratch
                pipe.delete(*helpers)
                pipe.expire(scratch, SCRATCH_SECONDS)
                pipe.zcard(source)
                if rest:
                    pipe.zrange(source, 0, -1)
                elif query.limit:
                    pipe.zrange(source, query.skip, query.skip + query.limit - 1)
                replies = pipe.execute()
        finally:
            self.redis.delete(scratch, *helpers)
        if not rest:
            total = replies[-2] if query.limit else replies[-1]
            ids = [m.decode() for m in replies[-1]] if query.limit else []
            return total, [r for r in self._records(ids) if r["actor_id"] in actor_ids]
        ids = [m.decode() for m in replies[-1]]
        records = self._record_batches(ids, _prefilter(query))
        return self._filter((r for r in records if r["actor_id"] in actor_ids), query)

    def _plan(self, actor_ids: set, query):
        """Split the query into what the indexes answer and the conditions left for Python."""
        statuses, received, exit_codes, rest = None, [], [], []
        known = {s.value for s in ExecutionStatus}
        for condition in query.conditions:
            path, op = condition.path, condition.op
            if path == ("actor_id",) and op in ("eq", "in", "neq", "nin"):
                named = set(condition.values)
                actor_ids = actor_ids & named if op in ("eq", "in") else actor_ids - named
            elif path == ("status",) and op in ("eq", "in", "neq", "nin"):
                named = set(condition.values) & known  # eq is exact: other text matches none
                wanted = named if op in ("eq", "in") else known - named
                statuses = wanted if statuses is None else statuses & wanted
            elif path == ("message_received_time",) and op in _RANGE_OPS and _bounds(condition):
                received.append(_bounds(condition))
            elif path == ("exit_code",) and op in _RANGE_OPS and _bounds(condition):
                exit_codes.append(_bounds(condition))
            else:
                rest.append(condition)
        if query.text is not None or query.exact is not None:
            rest.append(None)  # the free text is checked on the records
        return actor_ids, statuses, received, exit_codes, rest

    def _records(self, ids: list, prefilter=None) -> list:
        with self.redis.pipeline(transaction=False) as pipe:
            for eid in ids:
                pipe.hgetall(keys.execution(eid))
            raws = pipe.execute()
        if prefilter is not None:
            raws = [raw for raw in raws if prefilter(raw)]
        return [public_execution(r) for r in decode_many(raws)]

    def _record_batches(self, ids: list, prefilter=None):
        for start in range(0, len(ids), BATCH):
            yield from self._records(ids[start:start + BATCH], prefilter)

    @staticmethod
    def _filter(records, query) -> tuple:
        """Count every record that matches; keep the page ``skip``/``limit`` asks for."""
        total, page = 0, []
        for record in records:
            if query.matches(record):
                if query.skip <= total < query.skip + query.limit:
                    page.append(record)
                total += 1
        return total, page

    # -- logs ----------------------------------------------------------------------
    def logs(self, actor_ids: Iterable[str], query) -> tuple:
        """``(total, page)`` of ``{execution_id, actor_id, logs}`` records, oldest first;
        executions without logs (none written, or expired) are left out."""
        actor_ids = set(actor_ids)
        for condition in query.conditions:
            if condition.path == ("actor_id",) and condition.op in ("eq", "in"):
                actor_ids &= set(condition.values)
        pairs = self._ids_by_time(actor_ids)
        return self._filter(self._log_batches(pairs), query)

    def _ids_by_time(self, actor_ids: set) -> list:
        """``(execution id, actor id)`` of every execution of the actors, oldest first."""
        with self.redis.pipeline(transaction=False) as pipe:
            ordered_ids = sorted(actor_ids)
            for actor_id in ordered_ids:
                pipe.zrange(keys.actor_executions_by_time(actor_id), 0, -1, withscores=True)
            replies = pipe.execute()
        scored = [(score, eid.decode(), actor_id)
                  for actor_id, reply in zip(ordered_ids, replies) for eid, score in reply]
        return [(eid, actor_id) for _, eid, actor_id in sorted(scored)]

    def _log_batches(self, pairs: list):
        for start in range(0, len(pairs), BATCH):
            chunk = pairs[start:start + BATCH]
            with self.redis.pipeline(transaction=False) as pipe:
                for eid, _ in chunk:
                    pipe.get(keys.logs(eid))
                texts = pipe.execute()
            for (eid, actor_id), text in zip(chunk, texts):
                if text is not None:
                    yield {"execution_id": eid, "actor_id": actor_id,
                           "logs": text.decode("utf-8", "replace")}

    # -- upkeep ------------------------------------------------------------------------
    def reindex(self) -> int:
        """Rebuild every execution index from the records (for data written before the
        indexes existed); idempotent; how many executions were indexed."""
        count = 0
        for actor_id in sorted(m.decode() for m in self.redis.smembers(keys.ALL_ACTORS)):
            tenant = tenant_of(self.redis, actor_id)
            ids = [m.decode() for m in self.redis.zrange(keys.actor_executions(actor_id), 0, -1)]
            for start in range(0, len(ids), BATCH):
                chunk = ids[start:start + BATCH]
                with self.redis.pipeline(transaction=False) as pipe:
                    for eid in chunk:
                        pipe.hgetall(keys.execution(eid))
                    records = [decode(raw) for raw in pipe.execute()]
                with self.redis.pipeline(transaction=False) as pipe:
                    for record in filter(None, records):
                        index_submitted(pipe, record, tenant)
                        for status in ExecutionStatus:
                            pipe.srem(keys.executions_by_status(status.value), record["id"])
                        pipe.sadd(keys.executions_by_status(record["status"]), record["id"])
                        if record.get("exit_code") is not None:
                            pipe.zadd(keys.EXECUTIONS_BY_EXIT_CODE,
                                      {record["id"]: int(record["exit_code"])})
                        count += 1
                    pipe.execute()
        return count

    # -- a baseline for the benchmark ------------------------------------------------
    def executions_by_scan(self, actor_ids: Iterable[str], query) -> tuple:
        """The same answer as :meth:`executions` with no index: every record of every
        readable actor read and filtered in Python (what bench/search.py compares with)."""
        ids = []
        for actor_id in sorted(actor_ids):
            ids.extend(m.decode() for m in self.redis.zrange(keys.actor_executions(actor_id), 0, -1))
        records = sorted(self._record_batches(ids),
                         key=lambda r: (epoch(r["message_received_time"]), r["id"]))
        return self._filter(records, query)


def _prefilter(query):
    """A cheap test on a record's raw JSON values that every record matching the free
    text passes, so most others are never decoded; None when it cannot be exact.

    Values are stored as ASCII JSON, so plain ASCII text (no quote, backslash or
    control character) appears in a value's decoded form only if it appears in its
    raw form; a record with escaped non-ASCII characters (``\\u``) is always decoded,
    since lower-casing those can produce ASCII.
    """
    def plain(text):
        return text is not None and text.isascii() and text.isprintable() and not (
            set(text) & {'"', "\\"})

    if not (plain(query.text) or plain(query.exact)):
        return None
    needle = query.text.lower().encode() if plain(query.text) else None
    exact = query.exact.encode() if plain(query.exact) else None

    def passes(raw: dict) -> bool:
        values = b"\x00".join(raw.values())
        if b"\\u" in values:
            return True
        if needle is not None and needle not in values.lower():
            return False
        return exact is None or exact in values

    return passes


def filter_records(records: list, query) -> tuple:
    """``(total, page)`` of already-loaded records (actors, workers) matching ``query``."""
    return SearchStore._filter(records, query)


def _below(bound) -> str:
    """Everything strictly below a lower bound (which may be exclusive: "(x")."""
    text = str(bound)
    if text.startswith("("):
        return text[1:]  # exclusive low: remove up to and including x
    return "-inf" if text == "-inf" else f"({text}"


def _above(bound) -> str:
    """Everything strictly above an upper bound (which may be exclusive: "(x")."""
    text = str(bound)
    if text.startswith("("):
        return text[1:]
    return "+inf" if text == "+inf" else f"({text}"


EXECUTION_SEARCH_FIELDS = EXECUTION_FIELDS + ("gpus", "gpu_stats", "retry_of",
                                              "retry_number", "retries", "retries_exhausted",
                                              "retry_due", "retried_by", "rerun_of", "reruns")
