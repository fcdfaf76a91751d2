"""The search indexes over executions, written beside the records they index.

``ExecutionStore`` maintains them on its write paths, inside the same MULTI or
Lua script as the record change, so an index never disagrees with a record for
longer than one command:

* ``actor:{id}:executions:by-time``  sorted set, id -> ``message_received_time``
  as epoch seconds; written by ``submit``, dropped with the actor's executions.
* ``tenant:{t}:executions:by-time``  the same over the whole tenant, so a search
  over every actor of a tenant (an admin's) needs no union.
* ``executions:status:{STATUS}``     set per status; ``submit`` adds to SUBMITTED,
  the claim, cancel and finish scripts move the id between sets.
* ``executions:exit-code``           sorted set, id -> exit code; written by ``finish``.

Status and exit-code indexes are global rather than per tenant: every search
starts from the union of the by-time sets of the actors the caller may read,
which already confines it to one tenant, and Redis's ZINTERSTORE walks the
smaller input, so a global set costs nothing extra (store/search.py).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Iterable, Optional

from ..enums import ExecutionStatus
from . import keys

BATCH = 1000


def epoch(moment: Optional[str]) -> Optional[float]:
    """Epoch seconds of an ISO 8601 time (``Z`` or an offset; naive means UTC)."""
    if not moment:
        return None
    text = moment.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def tenant_of(redis, actor_id: str) -> str:
    raw = redis.hget(keys.actor(actor_id), "tenant")
    return json.loads(raw) if raw else "default"


def index_submitted(pipe, record: dict, tenant: str) -> None:
    """Index a new SUBMITTED execution (call inside the MULTI that writes the record)."""
    eid = record["id"]
    received = epoch(record["message_received_time"])
    pipe.zadd(keys.actor_executions_by_time(record["actor_id"]), {eid: received})
    pipe.zadd(keys.tenant_executions_by_time(tenant), {eid: received})
    pipe.sadd(keys.executions_by_status(ExecutionStatus.SUBMITTED.value), eid)


def unindex_executions(pipe, actor_id: str, ids: Iterable[str], tenant: str) -> None:
    """Forget deleted executions in every index."""
    ids = list(ids)
    pipe.delete(keys.actor_executions_by_time(actor_id))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        for status in ExecutionStatus:
            pipe.srem(keys.executions_by_status(status.value), *chunk)
        pipe.zrem(keys.EXECUTIONS_BY_EXIT_CODE, *chunk)
        pipe.zrem(keys.tenant_executions_by_time(tenant), *chunk)


def unindex_one(pipe, actor_id: str, execution_id: str, tenant: str) -> None:
    """Forget one execution (its record expired) in every index."""
    pipe.zrem(keys.actor_executions_by_time(actor_id), execution_id)
    pipe.zrem(keys.tenant_executions_by_time(tenant), execution_id)
    for status in ExecutionStatus:
        pipe.srem(keys.executions_by_status(status.value), execution_id)
    pipe.zrem(keys.EXECUTIONS_BY_EXIT_CODE, execution_id)
