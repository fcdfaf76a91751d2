"""The spawners' periodic sweep: nothing waits unseen, and workers come and go.

Every supervisor runs :func:`sweep` every few seconds (supervisor.py). What to
do is decided by the policy in ``actors_core/scheduling.py``; this module acts
on it. Several spawners may sweep the same actor: a wake-up is written only
where one is missing (store/work.py's repair), an extra one is a harmless no-op
at worst, and every removal is conditional in Redis, so they cannot disagree.
"""
from __future__ import annotations

import logging
import time
from typing import Iterable, Optional

from actors_core import scheduling
from actors_core.enums import ActorStatus, WorkerStatus
from actors_core.scheduling import dispatch_queue

from . import runs

log = logging.getLogger(__name__)


def sweep(store, config, host: str, queues: Iterable[str]) -> None:
    """Wake a slot for any actor on ``queues`` with waiting mail and a free worker that no
    listed wake-up serves (behind a worker lease that expired with a dead spawner, or a
    wake-up lost with a slot process that died holding it), then health-check and retire
    workers, repair what running runs lost (spawner/runs.py), and take expired execution
    records out of the indexes."""
    queues = list(queues)
    executions = store.executions
    for actor_id in executions.actors_with_mail():
        actor = store.actors.get(actor_id)
        if actor is None or dispatch_queue(actor) not in queues:
            continue
        if not executions.has_waiting(actor_id):
            executions.forget_empty_mailbox(actor_id)
            continue
        if needs_drain(store, actor, config):
            store.work.repair(actor_id, dispatch_queue(actor),
                              scheduling.worker_capacity(actor, config))
    sweep_workers(store, config, host, queues)
    runs.sweep(store)
    if store.executions.record_ttl:
        store.executions.forget_expired()


def needs_drain(store, actor: dict, config) -> bool:
    """Mail is waiting and one of the actor's workers is free (no one holds its lease)."""
    if not store.executions.has_waiting(actor["id"]):
        return False
    capacity = scheduling.worker_capacity(actor, config)
    return store.leases.busy(actor["id"], capacity) < capacity


def sweep_workers(store, config, host: str, queues: Iterable[str], now: Optional[float] = None) -> dict:
    """One spawner's periodic pass over the workers of the actors on its queues.

    Health checks: this spawner vouches for the BUSY workers it runs and the
    READY workers of actors it serves. A BUSY worker whose lease expired
    lost its spawner (SIGKILL, power cut) and is dropped; the execution itself
    is settled when that spawner comes back (reconcile.py). Idle workers are
    retired per :func:`actors_core.scheduling.retirements`.
    """
    now = time.time() if now is None else now
    queues = set(queues)
    counts = {"retired": 0, "lost": 0}
    for actor_id in store.workers.actor_ids():
        try:
            _sweep_actor(store, config, host, queues, now, actor_id, counts)
        except Exception:  # one odd record must not stop the sweep (or the spawner)
            log.exception("sweeping the workers of actor %s failed", actor_id)
    return counts


def _sweep_actor(store, config, host: str, queues: set, now: float, actor_id: str,
                 counts: dict) -> None:
    actor = store.actors.get(actor_id)
    if actor is None:
        store.workers.delete_for_actor(actor_id)
        return
    if dispatch_queue(actor) not in queues:
        return
    workers = store.workers.list_for_actor(actor_id, internal=True)
    for worker in workers:
        busy = worker["status"] != str(WorkerStatus.READY)
        if busy and store.workers.drop_if_lost(actor_id, worker["id"], worker.get("slot") or 1):
            counts["lost"] += 1
        elif not busy or worker.get("host") == host:
            store.workers.health_check(actor_id, worker["id"])
    minimum = scheduling.kept_minimum(actor, store.workers.minimum(actor_id))
    for wid in scheduling.retirements(workers, scheduling.worker_capacity(actor, config), minimum,
                                      config.worker_idle_seconds, now):
        idle_since = next(float(w.get("idle_since") or 0) for w in workers if w["id"] == wid)
        if store.workers.retire_if_idle(actor_id, wid, idle_since):
            counts["retired"] += 1
    if actor.get("status") == str(ActorStatus.READY):
        store.workers.keep_one(actor_id)  # e.g. after a DELETE of its last worker, or a lost one
    store.workers.forget_actor_if_idle(actor_id)
