"""Settling the executions of a lost spawner (one whose heartbeat expired).

A spawner that comes back settles its own leftovers (reconcile.py); one that does
not would leave its executions RUNNING for ever. So every supervisor, at each
sweep, looks for registered spawners whose heartbeat has expired
(``ACTORS_HOST_LOST_SECONDS`` after their last one), takes the lost name's
takeover lock (one live spawner settles a name at a time) and, for each execution
still RUNNING there:

* ends it in ERROR, with a reason naming the lost spawner, its host and its last
  heartbeat (and a "[actors] ..." line in its logs); its outcome is unknown, so the
  actor's run-outcome counter is not touched. If the actor asks for retries, the
  retry is scheduled (retries.py);
* frees its worker (READY again), its slot lease and the GPUs it held.

Executions a lost cluster spawner (Slurm, batch.py) held as queued jobs are
settled the same way. Containers (Docker) or processes (process runtime) of the
lost spawner that this spawner's runtime can see (the same Docker daemon, the
same work folder) are removed, and a cluster spawner cancels the settled
executions' jobs; others stay until the lost spawner comes back, whose reconcile then finds
their executions finished and removes them, recording nothing again.

Nothing is settled while this spawner itself has not been connected to Redis for
a whole ``ACTORS_HOST_LOST_SECONDS``: after a Redis outage every heartbeat may have
expired, and the live spawners need that long to say they are alive.
"""
from __future__ import annotations

import logging
import time

from actors_core import scheduling
from actors_core.scheduling import dispatch_queue
from actors_core.enums import ExecutionStatus
from actors_core.store.connection import OUTAGE
from actors_core.store.workers import WorkerStatus
from actors_core.times import now_iso

from . import events, metrics, retries
from .runtimes import JobPhase, SchedulerUnavailable, detached

log = logging.getLogger(__name__)


def settle_lost_hosts(spawner, config) -> int:
    """Settle what lost spawners left; how many executions were ended here."""
    if OUTAGE.connected_for() < config.host_lost_seconds:
        return 0
    store = spawner.store
    ended = 0
    for name, record in store.takeover.lost(spawner.name):
        holder = f"{spawner.name}:{time.time()}"
        if not store.takeover.lock(name, holder, max(config.host_lost_seconds, 60.0)):
            continue  # another live spawner is on it
        try:
            ended += settle(spawner, config, name, record)
        except Exception:
            log.exception("settling the executions of lost spawner %s failed; trying again "
                          "at the next sweep", name)
        finally:
            store.takeover.unlock(name, holder)
    return ended


def settle(spawner, config, name: str, record: dict) -> int:
    store = spawner.store
    ended, settled = 0, {}
    for execution_id in store.executions.running_on(name):
        if store.hosts.get(name) is not None:
            log.info("spawner %s is back; its reconcile settles the rest", name)
            return ended
        execution = store.executions.get_internal(execution_id)
        if not store.executions.may_finish(execution):  # RUNNING, or held as a cluster job
            store.takeover.forget_stale(name, execution_id)
            continue
        reason = (f"Spawner {name} on host {record.get('hostname') or 'unknown'} was lost: its "
                  f"last heartbeat was at {record.get('last_heartbeat') or 'unknown'} (none for "
                  f"{config.host_lost_seconds:g} s), so spawner {spawner.name} ended this "
                  "execution; how it ran is unknown.")
        if _end(store, config, execution, reason):
            ended += 1
            settled[execution_id] = (execution.get("job") or {}).get("id")
            log.warning("execution %s ended: %s", execution_id, reason)
        _free(store, name, execution)
    _remove_leftovers(spawner, name, settled)
    if store.takeover.forget(name):
        log.info("lost spawner %s settled and forgotten", name)
    return ended


def _end(store, config, execution: dict, reason: str) -> bool:
    execution_id, actor_id = execution["id"], execution["actor_id"]
    store.logs.append(execution_id, f"[actors] {reason}\n".encode())
    actor = store.actors.get(actor_id)
    log_ex = int((actor or {}).get("log_ex") or config.log_ex)  # the actor's, as finish() does
    fields = {"status_message": reason}
    retry = retries.decide(actor, dict(execution, status=str(ExecutionStatus.ERROR), **fields))
    if retry is not None:
        fields.update(retry.fields)
    if not store.executions.finish(execution, ExecutionStatus.ERROR, log_ex,
                                   retry_at=retry and retry.due, **fields):
        return False  # it ended meanwhile (its spawner came back, or another settled it)
    metrics.execution_finished(actor, execution, ExecutionStatus.ERROR)
    events.execution_finished(store, actor_id, execution, ExecutionStatus.ERROR, None, reason)
    return True


def _free(store, name: str, execution: dict) -> None:
    execution_id, actor_id = execution["id"], execution["actor_id"]
    store.hosts.give_back_gpus(name, execution_id)
    worker_id = execution.get("worker_id")
    slot = scheduling.slot_of(worker_id)
    if worker_id:
        now = now_iso()
        store.takeover.free_worker(actor_id, worker_id, execution_id, {
            "status": str(WorkerStatus.READY), "execution_id": None, "last_execution_time": now,
            "last_health_check_time": now, "idle_since": time.time()})
    store.takeover.release_slot(actor_id, slot, name)
    actor = store.actors.get(actor_id)
    if actor is not None:  # a worker came free: wake a slot if mail waits for it
        store.work.wake(actor_id, dispatch_queue(actor), store.executions.capacity(actor))


def _remove_leftovers(spawner, name: str, settled: dict) -> None:
    """Remove the lost spawner's containers (processes) that this runtime can see and
    whose executions have ended; a cluster runtime cancels the jobs of those settled
    here (``{execution id: job id or None}``), found by name."""
    store = spawner.store
    if detached(spawner.runtime):
        try:
            statuses = spawner.runtime.statuses(settled) if settled else {}
            spawner.runtime.cancel([s.job_id for s in statuses.values()
                                    if s.phase is not JobPhase.ENDED])
        except SchedulerUnavailable as error:
            log.warning("could not cancel the jobs of lost spawner %s: %s", name, error)
        return
    try:
        handles = spawner.runtime.labelled(name)
    except Exception:
        log.exception("could not list the leftovers of lost spawner %s", name)
        return
    from .runtimes import LABEL_EXECUTION

    for handle in handles:
        execution = store.executions.get_internal(handle.labels.get(LABEL_EXECUTION, ""))
        if execution is None or ExecutionStatus(execution["status"]).finished:
            try:
                handle.remove()
            except Exception:
                log.exception("could not remove a leftover of lost spawner %s", name)
