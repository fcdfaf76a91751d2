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

:func:`decide` is asked by whoever records the end (runner.py's finish, which
reconcile.py also uses, and takeover.py) before the store's finish script, which
writes the decision with the end: ``retried_by`` (the retry's id, known in advance)
and ``retry_due``, or ``retries_exhausted``, and the due entry. An execution of a
run carries its run fields into its retry, and the run's stage follows the retry
(store/runs.py ``follow_retry``). :func:`release_due` runs in every supervisor's tick.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Decision:
    """What an ended execution's final record says about its retry: ``fields`` go into the
    record (``retried_by`` and ``retry_due``, or ``retries_exhausted``) and ``due`` (epoch
    seconds, None when exhausted) into the due set, both in the finish script itself, so a
    crash cannot record the end and lose the retry, and a run reading the final record
    knows at once that its stage follows the retry."""
    fields: dict
    due: Optional[float] = None


def decide(actor: Optional[dict], ended: dict, now: Optional[float] = None) -> Optional[Decision]:
    """The retry decision for ``ended`` (the record with its final status, exit code and
    final state), or None when its actor does not retry it."""
    if actor is None or not retryable(actor, ended):
        return None
    number = int(ended.get("retry_number") or 0)
    if number >= int(actor["max_retries"]):
        return Decision({"retries_exhausted": True})
    due = (time.time() if now is None else now) + delay(actor, number + 1)
    first = ended.get("retry_of") or ended["id"]
    return Decision({"retried_by": retry_id(first, number + 1), "retry_due": _iso(due)}, due)


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
        run_fields = _run_fields(failed)
        environment = dict(failed.get("environment") or {})
        if run_fields:
            environment["_abaco_run_attempt"] = str(run_fields["run_attempt"])
        store.executions.submit(actor, {
            "id": new, "executor": failed.get("executor"), "content_type": failed["content_type"],
            "environment": environment, "retry_of": first, "retry_number": number, **run_fields,
        }, store.executions.message_body(execution_id))
        log.info("retry %d of execution %s: execution %s", number, first, new)
    store.retries.link(first, "retries", new)
    store.retries.done(execution_id)
    return new


def _run_fields(failed: dict) -> dict:
    """A run's execution is retried within its run: the cell follows the retry, one attempt on."""
    if not failed.get("run_id"):
        return {}
    return {"run_id": failed["run_id"], "run_item": failed["run_item"],
            "run_stage": failed["run_stage"], "run_attempt": int(failed.get("run_attempt") or 0) + 1}


def _iso(epoch: float) -> str:
    return isoformat(datetime.fromtimestamp(epoch, timezone.utc))
