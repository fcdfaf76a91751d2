"""Retries: which ended executions an actor wants tried again, when, and making the tries.

An actor asks with ``max_retries`` (default 0: never), ``retry_backoff`` (seconds
before the first retry, doubling for each further one, at most an hour) and
``retry_on_exit_code`` (also retry a COMPLETE execution whose exit code is not 0;
a force-quit asked for by a user is never retried). An execution that ended in
ERROR is always a platform's failure (the spawner or its host was lost, the
container could not start, the spawner lost track of it): a user's code ends
COMPLETE with its exit code.

Each try is an execution of its own, with the same message and query variables:
the first lists every retry in ``retries``; each retry names the first in
``retry_of`` and its place in ``retry_number``. The last try's outcome is the
outcome. A try that fails with no retries left is marked ``retries_exhausted``:
``GET /actors/{id}/executions?retries_exhausted=true`` (or a search on that field)
is the dead-letter view.

:func:`after_finish` is called by whoever recorded the end (runner.py, reconcile.py,
takeover.py), once, right after ``executions.finish`` returned True; it never
raises. :func:`release_due` runs in every supervisor's tick.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Optional

from actors_core.enums import ExecutionStatus
from actors_core.store.retries import retry_id
from actors_core.times import isoformat

log = logging.getLogger(__name__)

DEFAULT_BACKOFF = 10.0
MAX_DELAY = 3600.0


def delay(actor: dict, number: int) -> float:
    """Seconds between the end of try ``number - 1`` and retry ``number`` (1, 2, ...)."""
    base = actor.get("retry_backoff")
    base = DEFAULT_BACKOFF if base is None else float(base)
    return min(base * 2 ** (max(number, 1) - 1), MAX_DELAY)


def retryable(actor: dict, execution: dict) -> bool:
    if not int(actor.get("max_retries") or 0):
        return False
    status = execution.get("status")
    if status == str(ExecutionStatus.ERROR):
        return True
    if status == str(ExecutionStatus.COMPLETE) and actor.get("retry_on_exit_code"):
        forced = (execution.get("final_state") or {}).get("ForceQuit")
        return execution.get("exit_code") not in (None, 0) and not forced
    return False


def after_finish(store, actor_id: str, execution_id: str, now: Optional[float] = None,
                 actor: Optional[dict] = None) -> Optional[str]:
    """Schedule the retry of an execution that just ended, if its actor asks for one:
    ``"scheduled"``, ``"exhausted"`` (the last try failed) or None. ``actor``: the record the
    caller holds, so an actor without retries costs no Redis call."""
    if actor is not None and not int(actor.get("max_retries") or 0):
        return None
    try:
        actor = store.actors.get(actor_id)
        execution = store.executions.get_internal(execution_id)
        if actor is None or execution is None or not retryable(actor, execution):
            return None
        number = int(execution.get("retry_number") or 0)
        if number >= int(actor["max_retries"]):
            store.executions.update(execution_id, retries_exhausted=True)
            return "exhausted"
        due = (time.time() if now is None else now) + delay(actor, number + 1)
        store.executions.update(execution_id, retry_due=_iso(due))
        store.retries.schedule(execution_id, due)
        return "scheduled"
    except Exception:  # the execution is recorded; a retry is a bonus that must not undo that
        log.exception("could not schedule a retry of execution %s", execution_id)
        return None


def release_due(store, now: Optional[float] = None) -> list:
    """Create the retries that are due; their ids."""
    created = []
    for execution_id in store.retries.lease_due(now):
        try:
            new = _create(store, execution_id)
        except Exception:  # leased: another tick tries again in a minute
            log.exception("could not create the retry of execution %s", execution_id)
            continue
        if new:
            created.append(new)
    return created


def _create(store, execution_id: str) -> Optional[str]:
    failed = store.executions.get_internal(execution_id)
    actor = store.actors.get(failed["actor_id"]) if failed else None
    if failed is None or actor is None:
        store.retries.done(execution_id)
        return None
    first = failed.get("retry_of") or execution_id
    number = int(failed.get("retry_number") or 0) + 1
    new = retry_id(first, number)
    if not store.retries.exists(new):
        if not store.retries.message_kept(execution_id):
            log.warning("the message of execution %s has expired; its retry gets an empty one",
                        execution_id)
        store.executions.submit(actor, {
            "id": new, "executor": failed.get("executor"), "content_type": failed["content_type"],
            "environment": failed.get("environment") or {}, "retry_of": first,
            "retry_number": number,
        }, store.executions.message_body(execution_id))
        log.info("retry %d of execution %s: execution %s", number, first, new)
    store.retries.link(first, "retries", new)
    store.retries.done(execution_id)
    return new


def _iso(epoch: float) -> str:
    return isoformat(datetime.fromtimestamp(epoch, timezone.utc))
