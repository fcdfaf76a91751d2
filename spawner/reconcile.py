"""Picking up after a spawner that stopped while its executions ran.

On start a spawner looks at every container it labelled: finished ones are
recorded and removed, running ones are followed again to the end. Executions
it had claimed but whose container never started (none, or one created and
never started) are put in ERROR, as are, with another reason, those whose
container is gone (a container goes before its record says COMPLETE, so a stop
just between leaves this). So an execution is never left RUNNING by a crash of
its spawner, as long as that spawner comes back; if it does not, another
spawner settles them once its heartbeat expires (takeover.py), and this then
only removes what is left. A container that vanishes while this runs is
skipped, not fatal. Every end goes through ``ExecutionRun.finish`` and
``ExecutionRun.release`` (runner.py), as in a run that never stopped: the
actor's ``log_ex``, its run outcome, the events, a retry where the actor asks
for one, the worker record, the worker's lease, the GPUs and the next wake-up.
"""
from __future__ import annotations

import logging
import threading

from actors_core import scheduling
from actors_core.enums import ExecutionStatus

from . import status_events
from .runner import ExecutionRun, SpawnerContext
from .runtimes import LABEL_EXECUTION

log = logging.getLogger(__name__)

NEVER_STARTED = "The spawner stopped before the container started."
CONTAINER_GONE = ("The spawner stopped, and the execution's container was gone when it "
                  "came back (removed as the execution ended, or by someone else); its exit "
                  "code is lost.")


def reconcile(spawner: SpawnerContext) -> list:
    """Settle this spawner's leftovers; returns the threads following re-attached runs."""
    store = spawner.store
    followers, seen = [], set()
    for handle in spawner.runtime.labelled(spawner.name):
        execution_id = handle.labels.get(LABEL_EXECUTION, "")
        try:  # a container that vanishes meanwhile must not stop the reconciliation
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
            actor = store.actors.get(execution["actor_id"]) or {"id": execution["actor_id"]}
            run = _taken_over(spawner, actor, execution, reattach=False)
            run.finish(ExecutionStatus.ERROR,
                       CONTAINER_GONE if execution.get("start_time") else NEVER_STARTED)
            run.release()
    return followers


def _reattach(spawner: SpawnerContext, handle, execution_id: str):
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
    if handle.final_state().get("Status") == "created":
        # Created, never started (the spawner stopped between the two): it never ran, and
        # waiting on it would read exit code 0 at once.
        run = _taken_over(spawner, actor, execution, reattach=False)
        run.finish(ExecutionStatus.ERROR, NEVER_STARTED)
        handle.remove()
        run.release()
        return None
    run = _taken_over(spawner, actor, execution, reattach=True)
    run.handle = handle
    log.info("following execution %s again (running: %s)", execution_id, running)
    store.logs.replace(execution_id, b"")  # the log stream is read again from the start
    status_events.reattached(run, running)
    thread = threading.Thread(target=_follow_and_release, args=(run,), daemon=True,
                              name=f"reattach:{execution_id}")
    thread.start()
    return thread


def _taken_over(spawner: SpawnerContext, actor: dict, execution: dict,
                reattach: bool) -> ExecutionRun:
    """The run of an execution this spawner claimed before it stopped, with the GPUs held
    for it. One it follows again also holds again its worker's lease (under a new owner)
    and its worker record; one that never started holds neither (the dead
    process's lease expires by itself, and the sweep drops its worker)."""
    store, execution_id = spawner.store, execution["id"]
    number = scheduling.slot_of(execution.get("worker_id"))
    lease_owner = f"{spawner.name}:reattached:{execution_id}"
    held = {index for index, holder in store.hosts.held(spawner.name).items()
            if holder == execution_id}
    run = ExecutionRun(spawner, actor, execution_id, number, lease_owner,
                       gpus=[gpu for gpu in spawner.gpus if gpu.index in held])
    if reattach:
        store.leases.renew(actor["id"], number, lease_owner)
        store.workers.start(actor["id"], scheduling.worker_id(actor["id"], number), number,
                            spawner.name, execution_id)
        run.holds_worker = True
    return run


def _follow_and_release(run: ExecutionRun) -> None:
    try:
        run.follow()
    finally:
        run.release()
