"""Pages of an actor's executions, read in two round trips however many it has.

An actor's executions are its sorted set ``actors:actor:{id}:executions``, scored by the
global arrival sequence, so a position (0: the oldest) and a sequence both name a place in
arrival order. A page starts at a position (``offset``), just after a sequence (a cursor:
stable however many arrive or go meanwhile), or, with neither, ends at the newest.

The actor's totals are not computed here: they are counters the finish and cancel
transitions keep (executions.py), so no listing reads every record.
"""
from __future__ import annotations

import json
from typing import NamedTuple, Optional

from . import keys

SUMMARY_FIELDS = ("id", "status", "message_received_time", "start_time", "finish_time")


class Page(NamedTuple):
    """One page of an actor's executions, oldest first."""
    total: int  # every execution the actor has (that the filter keeps)
    offset: int  # position of the first listed, in arrival order
    ids: list
    sequences: list  # each listed execution's arrival sequence, for cursors
    summaries: list  # each one's SUMMARY_FIELDS


def page(redis, actor_id: str, limit: int, offset: Optional[int] = None,
         after: Optional[int] = None, flagged: Optional[str] = None) -> Page:
    """Up to ``limit`` of the actor's executions from position ``offset``, or just after the
    execution whose sequence is ``after``, else the newest ``limit``.

    ``flagged``: only executions whose record has that field true (``retries_exhausted``,
    the dead letters); that reads the field of every execution the actor has, once.
    """
    key = keys.actor_executions(actor_id)
    if flagged:
        members = _flagged(redis, key, flagged)
        total = len(members)
        if after is not None:
            start = sum(1 for _, score in members if score <= after)
        elif offset is not None:
            start = offset
        else:
            start = max(total - limit, 0)
        chosen = members[start:start + limit] if limit > 0 else []
    else:
        with redis.pipeline(transaction=False) as pipe:
            pipe.zcard(key)
            if after is not None:
                pipe.zcount(key, "-inf", after)
                pipe.zrangebyscore(key, f"({after}", "+inf", start=0, num=max(limit, 1),
                                   withscores=True)
            elif offset is not None:
                pipe.zrange(key, offset, offset + max(limit, 1) - 1, withscores=True)
            else:
                pipe.zrange(key, -max(limit, 1), -1, withscores=True)
            answers = pipe.execute()
        total, chosen = answers[0], answers[-1] if limit > 0 else []
        if after is not None:
            start = answers[1]
        elif offset is not None:
            start = offset
        else:
            start = total - len(chosen)
    ids = [member.decode() for member, _ in chosen]
    with redis.pipeline(transaction=False) as pipe:
        for eid in ids:
            pipe.hmget(keys.execution(eid), SUMMARY_FIELDS)
        rows = pipe.execute() if ids else []
    summaries = [{name: json.loads(raw) if raw is not None else None
                  for name, raw in zip(SUMMARY_FIELDS, row)} for row in rows]
    for eid, summary in zip(ids, summaries):
        summary["id"] = eid  # also for a record that expired after it was listed
    return Page(total, start, ids, [int(score) for _, score in chosen], summaries)


def _flagged(redis, key: str, field: str) -> list:
    members = redis.zrange(key, 0, -1, withscores=True)
    with redis.pipeline(transaction=False) as pipe:
        for member, _ in members:
            pipe.hget(keys.execution(member.decode()), field)
        flags = pipe.execute() if members else []
    return [pair for pair, flag in zip(members, flags) if flag == b"true"]
