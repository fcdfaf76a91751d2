"""The cron tick: submit a message to every actor whose ``cron_next_ex`` has come.

Every spawner supervisor calls :func:`tick` every few seconds. Each due actor
is fired by whoever first moves its ``cron_next_ex`` to the next period with
the store's compare-and-set, so with any number of spawners each period fires
once. (A process that dies between that move and the submit loses that one
message: at most once, never twice.)
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Optional

from actors_core.cron import CronError, parse
from actors_core.enums import ContentType
from actors_core.ids import new_id
from actors_core.times import isoformat, parse_iso, utcnow

log = logging.getLogger(__name__)

CRON_ENV = "_abaco_cron"


def tick(store, now: Optional[datetime] = None) -> list:
    """Fire the actors that are due at ``now``; the execution ids submitted."""
    now = now or utcnow()
    fired = []
    for actor_id in store.cron.due(now.timestamp()):
        try:
            execution_id = fire(store, actor_id, now)
        except Exception:
            log.exception("cron could not fire actor %s", actor_id)
            continue
        if execution_id:
            fired.append(execution_id)
    return fired


def fire(store, actor_id: str, now: datetime) -> Optional[str]:
    actor = store.actors.get(actor_id)
    if actor is None or not actor.get("cron_on", True) or not actor.get("cron_next_ex"):
        store.cron.forget(actor_id)
        return None
    try:
        schedule = parse(actor.get("cron_schedule"))
    except CronError:
        store.cron.forget(actor_id)
        return None
    due = parse_iso(actor["cron_next_ex"])
    if due > now:
        store.cron.sync(actor_id, actor)  # the index was behind the record
        return None
    following = isoformat(schedule.next_after(due, now))
    if not store.cron.advance(actor_id, actor["cron_next_ex"], following):
        return None  # another spawner fired this period
    execution = store.executions.submit(actor, {
        "id": new_id(), "executor": actor["owner"], "content_type": str(ContentType.STR),
        "environment": {CRON_ENV: "true"},
    }, actor["cron_next_ex"].encode())
    log.info("cron fired actor %s (due %s, next %s)", actor_id, actor["cron_next_ex"], following)
    return execution["id"]
