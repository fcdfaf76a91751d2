"""Every scheduling decision, in one module (docs/scheduling.md tells the story).

* How many executions of an actor may run at once: :func:`worker_capacity`.
* When a worker appears: a drain takes the lowest free slot of the actor
  (``store/slots.py``) and :func:`worker_started` records it; so workers are
  added one by one while the mailbox grows, up to the capacity.
* When a drain is worth enqueueing: :func:`needs_drain`.
* When a worker goes: :func:`worker_finished` (after a ``DELETE``),
  :func:`sweep_workers` (idle past ``ACTORS_WORKER_IDLE_SECONDS`` beyond the
  kept minimum, above a lowered capacity, or lost with a dead spawner).
* How many a ``POST .../workers {num}`` keeps: :func:`ensure_workers`; a READY actor
  always keeps one, as Abaco does: :func:`keep_one_worker`, :func:`kept_minimum`.
* Whether anyone serves an actor's queue: :func:`queue_status_message`.

A worker is a record, not a process: an actor with no messages costs no
running process, and a host's processes are its spawner's fixed ``--slots``.
The API imports this module only for these pure decisions and store calls.
"""
from __future__ import annotations

import logging
import time
from typing import Iterable, Optional

from .enums import ActorStatus
from .store.work import dispatch_queue
from .store.workers import WorkerStatus

log = logging.getLogger(__name__)


def worker_capacity(actor: dict, config) -> int:
    """Stateful actors: one worker (strict arrival order). Stateless: ``max_workers``."""
    if not actor["stateless"]:
        return 1
    return int(actor.get("max_workers") or config.default_max_workers)


def worker_id(actor_id: str, slot: int) -> str:
    """A worker is named after its slot, so the id on an execution matches ``GET workers``."""
    return f"{actor_id}-{slot}"


def slot_of(worker: Optional[str]) -> int:
    """The slot number inside a worker id (1 when it cannot be read)."""
    try:
        return max(int(str(worker).rsplit("-", 1)[-1]), 1)
    except ValueError:
        return 1


def needs_drain(store, actor: dict, config) -> bool:
    """Mail is waiting and one of the actor's worker slots is free."""
    if not store.executions.has_waiting(actor["id"]):
        return False
    capacity = worker_capacity(actor, config)
    return store.slots.busy(actor["id"], capacity) < capacity


# -- a worker's life ------------------------------------------------------------
def worker_started(store, actor_id: str, slot: int, host: str, execution_id: str) -> str:
    """The holder of ``slot`` claimed an execution: its worker (new if need be) is BUSY."""
    wid = worker_id(actor_id, slot)
    store.workers.start(actor_id, wid, slot, host, execution_id)
    return wid


def worker_finished(store, actor_id: str, slot: int) -> bool:
    """The execution ended: READY, or removed when a DELETE asked; True if it stays."""
    return store.workers.finish(actor_id, worker_id(actor_id, slot))


def ensure_workers(store, actor: dict, num: int, config) -> tuple:
    """Keep at least ``num`` workers (capped at the capacity); returns (kept, created ids).

    The number is remembered as the actor's minimum, which idle retirement
    respects. Missing workers are made READY on the lowest slots without one;
    they get a host when they first run.
    """
    kept = max(0, min(int(num), worker_capacity(actor, config)))
    store.workers.set_minimum(actor["id"], kept)
    existing = store.workers.list_for_actor(actor["id"], internal=True)
    used = {w.get("slot") for w in existing}
    created, slot = [], 1
    while len(existing) + len(created) < kept:
        if slot not in used and store.workers.create_idle(actor["id"], worker_id(actor["id"], slot), slot):
            created.append(worker_id(actor["id"], slot))
        slot += 1
    return kept, created


def keep_one_worker(store, actor: dict) -> Optional[str]:
    """A READY actor shows at least one worker, as Abaco keeps one ready: when it has
    none, one is made READY (no host until it first runs) on slot 1. Called before the
    actor is marked READY and by every sweep; returns the id of a worker it made."""
    if store.workers.list_for_actor(actor["id"], internal=True):
        return None
    wid = worker_id(actor["id"], 1)
    return wid if store.workers.create_idle(actor["id"], wid, 1) else None


def kept_minimum(store, actor: dict) -> int:
    """Workers idle retirement leaves: the ``POST .../workers`` minimum, and one for a READY actor."""
    minimum = store.workers.minimum(actor["id"])
    return max(minimum, 1) if actor.get("status") == str(ActorStatus.READY) else minimum


def retirements(workers: list, capacity: int, minimum: int, idle_seconds: float,
                now: float) -> list:
    """Which READY workers to retire now (ids), given all of an actor's workers.

    A READY worker above the capacity (``max_workers`` was lowered) goes at once.
    Others go once idle for ``idle_seconds``, highest slot first, as long as
    at least ``minimum`` workers remain. BUSY workers are never retired here.
    """
    keep_at_least = min(minimum, capacity)
    remaining = len(workers)
    chosen = []
    for worker in sorted(workers, key=lambda w: -(w.get("slot") or 0)):
        if worker["status"] != str(WorkerStatus.READY):
            continue
        over_capacity = (worker.get("slot") or 0) > capacity
        idle = now - float(worker.get("idle_since") or 0) >= idle_seconds
        if over_capacity or (idle and remaining > keep_at_least):
            chosen.append(worker["id"])
            remaining -= 1
    return chosen


def sweep_workers(store, config, host: str, queues: Iterable[str], now: Optional[float] = None) -> dict:
    """One spawner's periodic pass over the workers of the actors on its queues.

    Health checks: this spawner vouches for the BUSY workers it runs and the
    READY workers of actors it serves. A BUSY worker whose slot lease expired
    lost its spawner (SIGKILL, power cut) and is dropped; the execution itself
    is settled when that spawner comes back (reconcile.py). Idle workers are
    retired per :func:`retirements`. Several spawners may sweep the same actor:
    every removal is conditional in Redis, so they cannot disagree.
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
    minimum = kept_minimum(store, actor)
    for wid in retirements(workers, worker_capacity(actor, config), minimum,
                           config.worker_idle_seconds, now):
        idle_since = next(float(w.get("idle_since") or 0) for w in workers if w["id"] == wid)
        if store.workers.retire_if_idle(actor_id, wid, idle_since):
            counts["retired"] += 1
    if actor.get("status") == str(ActorStatus.READY):
        keep_one_worker(store, actor)  # e.g. after a DELETE of its last worker, or a lost one
    store.workers.forget_actor_if_idle(actor_id)


# -- named queues ----------------------------------------------------------------
def queue_status_message(actor: dict, hosts: list) -> Optional[str]:
    """A line for ``status_message`` when no live spawner serves the actor's queue."""
    queue = dispatch_queue(actor)
    if any(queue in (h.get("queues") or ()) for h in hosts):
        return None
    if queue != actor["queue"]:
        return (f"No spawner with GPUs serves queue {actor['queue']!r}; messages wait "
                "until one does.")
    return f"No spawner serves queue {queue!r}; messages wait until one does."
