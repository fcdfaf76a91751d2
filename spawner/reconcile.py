"""Picking up after a spawner that stopped while its executions ran.

On start a spawner looks at every container it labelled: finished ones are
recorded and removed, running ones are followed again to the end. Executions
it had claimed but whose container never started are put in ERROR. So an
execution is never left RUNNING by a crash of its spawner, as long as that
spawner comes back; if it does not, another spawner settles them once its
heartbeat expires (takeover.py), and this then only removes what is left.
A container that vanishes while this runs is skipped, not fatal.
"""
from __future__ import annotations

import logging
import threading

from actors_core import scheduling
from actors_core.enums import ExecutionStatus
from actors_core.store.work import dispatch_queue

from . import events, retries
from .runner import ExecutionRun, Spawner
from .runtimes import LABEL_EXECUTION

log = logging.getLogger(__name__)


def reconcile(spawner: Spawner) -> list:
    """Settle this spawner's leftovers; returns the threads following re-attached runs."""
    store = spawner.store
    followers, seen = [], set()
    for handle in spawner.runtime.labelled(spawner.name):
        execution_id = handle.labels.get(LABEL_EXECUTION, "")
        try:  # issue 12: a container that vanishes meanwhile must not stop the reconciliation
            thread = _reattach(spawner, handle, execution_id)
        except Exception:
            log.exception("could not re-attach to execution %s; it is settled below",
                          execution_id)
            continue
        seen.add(execution_id)
        if thread is not None:
            followers.append(thread)
    for execution_id in store.executions.running_on(spawner.name):
        if execution_id in seen:
            continue
        execution = store.executions.get_internal(execution_id)
        if execution and execution["status"] == str(ExecutionStatus.RUNNING):
            reason = ("The spawner stopped before the container started."
                      if not execution.get("start_time") else
                      "The spawner stopped, and the execution's container was gone when it "
                      "came back.")
            if store.executions.finish(execution, ExecutionStatus.ERROR, spawner.config.log_ex,
                                       status_message=reason):
                events.execution_finished(store, execution["actor_id"], execution,
                                          ExecutionStatus.ERROR, None, reason)
                retries.after_finish(store, execution["actor_id"], execution_id)  # issue 12
            actor = store.actors.get(execution["actor_id"])
            if actor is not None:
                store.work.enqueue_drain(actor["id"], dispatch_queue(actor))
    return followers


def _reattach(spawner: Spawner, handle, execution_id: str):
    """Follow one labelled container again (its thread), or remove it if its execution
    has ended (e.g. settled by another spawner while this one was lost: nothing is
    recorded again)."""
    store = spawner.store
    execution = store.executions.get_internal(execution_id)
    actor = store.actors.get(execution["actor_id"]) if execution else None
    if execution is None or actor is None or ExecutionStatus(execution["status"]).finished:
        handle.remove()
        return None
    running = handle.is_running()  # inspects: a vanished container fails here, before any change
    slot = scheduling.slot_of(execution.get("worker_id"))
    lease_owner = f"{spawner.name}:reattached:{execution_id}"
    store.slots.renew(actor["id"], slot, lease_owner)
    scheduling.worker_started(store, actor["id"], slot, spawner.name, execution_id)
    run = ExecutionRun(spawner, actor, execution_id, slot, lease_owner)
    run.handle = handle
    log.info("following execution %s again (running: %s)", execution_id, running)
    store.logs.replace(execution_id, b"")  # the log stream is read again from the start
    thread = threading.Thread(target=_follow_and_release, args=(run,), daemon=True,
                              name=f"reattach:{execution_id}")
    thread.start()
    return thread


def _follow_and_release(run: ExecutionRun) -> None:
    try:
        run.follow()
    finally:
        run.store.hosts.give_back_gpus(run.spawner.name, run.execution_id)
        scheduling.worker_finished(run.store, run.actor["id"], run.slot)
        run.store.slots.release(run.actor["id"], run.slot, run.lease_owner)
        if run.store.executions.has_waiting(run.actor["id"]):
            run.store.work.enqueue_drain(run.actor["id"], dispatch_queue(run.actor))
        run.spawner.wake_gpu_waiters()
