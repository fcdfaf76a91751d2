"""Scheduling policy: pure decisions, no Redis, no queue (docs/scheduling.md tells the story).

* Which queue an actor's work goes to: :func:`dispatch_queue`.
* How many executions of an actor may run at once: :func:`worker_capacity`;
  how many workers a ``POST .../workers {num}`` keeps: :func:`workers_to_keep`.
* What a worker is called: :func:`worker_id` (and back, :func:`slot_of`).
* Which idle workers go: :func:`retirements`, never below :func:`kept_minimum` (a READY
  actor always keeps one worker, as Abaco keeps one ready).
* Whether anyone serves an actor's queue: :func:`queue_status_message`.

The parts that act on these decisions are beside what they act on: the
store's records and leases (``store/workers.py``, ``store/leases.py``), the
drain and release of one execution (``spawner/runner.py``) and the spawners'
periodic sweep (``spawner/sweep.py``). The API imports this module for the
same decisions.

A worker is a record, not a process: an actor with no messages costs no
running process, and a host's processes are its spawner's fixed ``--slots``.
"""
from __future__ import annotations

from typing import Optional

from .enums import ActorStatus, WorkerStatus


def dispatch_queue(actor: dict) -> str:
    """GPU actors wait on their queue's GPU twin, which only spawners with GPUs serve."""
    if actor.get("gpus") in (None, 0, "0"):
        return actor["queue"]
    return f"{actor['queue']}.gpu"


def worker_capacity(actor: dict, config) -> int:
    """Stateful actors: one worker (strict arrival order). Stateless: ``max_workers``."""
    if not actor["stateless"]:
        return 1
    return int(actor.get("max_workers") or config.default_max_workers)


# The same rule for scripts that read the actor's hash (its fields JSON-encoded) in Redis
# (store/admission.py); tests/unit/test_scheduling_lua.py checks that both agree.
WORKER_CAPACITY_LUA = """
local function worker_capacity(stateless, max_workers, default_workers)
  if stateless ~= 'true' then return 1 end
  local count = tonumber(max_workers)
  if count == nil or count == 0 then return tonumber(default_workers) end
  return math.floor(count)
end
"""


def workers_to_keep(actor: dict, num: int, config) -> int:
    """``POST .../workers {num}`` keeps ``num`` workers, never more than the capacity."""
    return max(0, min(int(num), worker_capacity(actor, config)))


def worker_id(actor_id: str, slot: int) -> str:
    """Worker ``slot`` (its number, 1..capacity: the record's ``slot`` field) of the actor,
    so the id on an execution matches ``GET workers``."""
    return f"{actor_id}-{slot}"


def slot_of(worker: Optional[str]) -> int:
    """The worker's number inside a worker id (1 when it cannot be read)."""
    try:
        return max(int(str(worker).rsplit("-", 1)[-1]), 1)
    except ValueError:
        return 1


def kept_minimum(actor: dict, minimum: int) -> int:
    """Workers idle retirement leaves: the ``POST .../workers`` minimum, and one for a
    READY actor (Abaco keeps one worker ready)."""
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


def queue_status_message(actor: dict, hosts: list) -> Optional[str]:
    """A line for ``status_message`` when no live spawner serves the actor's queue."""
    queue = dispatch_queue(actor)
    if any(queue in (h.get("queues") or ()) for h in hosts):
        return None
    if queue != actor["queue"]:
        return (f"No spawner with GPUs serves queue {actor['queue']!r}; messages wait "
                "until one does.")
    return f"No spawner serves queue {queue!r}; messages wait until one does."
