"""Waking spawners: per-queue wake-up lists and task lists, plain Redis lists (no RQ).

A spawner's slot processes block in one ``BLPOP`` over the lists of the queues
they serve (spawner/supervisor.py), in this order:

* ``actors:queue:{q}:tasks``: short tasks, ``check_image <actor id>`` and
  ``advance_run <run id>`` (submit a run's ready stages in batches);
* ``actors:queue:{q}:wake``: wake-ups, each an actor id meaning "this actor has
  mail and a free worker": the slot that pops one admits one execution;
* ``actors:webhooks:tasks``: ``deliver_webhook <event id>``, last, so a slot
  sends a webhook only when no execution waits.

A wake-up is written only when a slot can act on it. :data:`WAKE_LUA` (run
inside the scripts that change what it depends on: submit, release, the
sweep's repair) pushes one when the actor has more waiting messages than
wake-ups already pending *and* more free workers (worker leases nobody holds)
than pending wake-ups; the pending count per actor is the hash
``actors:wakes``, taken down by the script that admits an execution. So N
messages to a stateful actor make one wake-up, not N, and a run that ends
with mail waiting wakes the next one itself (the release script) instead of
queueing a job that finds nothing to do.

What a crash can lose: a wake-up popped by a slot process that dies before
its admission script runs. Its pending count then stays up, so no new
wake-up would come for that actor; the sweep (every spawner, every few
seconds) repairs it: for an actor with waiting mail and a free worker it sets
the pending count to the wake-ups actually listed and wakes again if needed
(:meth:`WorkQueue.repair`). Extra wake-ups are harmless: admission finds no
free worker or no mail and does nothing.

Why not RQ: a drain job was an RQ job hash (~600 bytes) plus a queue entry for
every message and another for every finished run; half of them found nothing
to do, and each cost RQ's own bookkeeping (about 50 round trips per
execution). Image checks and webhook deliveries are rare and need no more than
a list either: a webhook's source of truth is its pending sorted set (the retry
sweep re-sends a lost one), and an image check lost with a crashed slot is
redone by ``PUT`` with ``force=true``, as it was under RQ.
"""
from __future__ import annotations

from typing import Iterable, Optional

from . import keys

# Task names a slot process runs (spawner/jobs.py maps each to its function;
# tests/unit/test_jobs.py checks that they match).
CHECK_IMAGE = "check_image"
ADVANCE_RUN = "advance_run"
DELIVER_WEBHOOK = "deliver_webhook"

# wake(actor, mailbox, lease key prefix, capacity, wake list, wakes hash) -> 1 if it woke.
WAKE_LUA = """
local function wake(actor, mailbox, lease_prefix, capacity, wake_list, wakes)
  local waiting = redis.call('ZCARD', mailbox)
  if waiting == 0 then return 0 end
  local pending = tonumber(redis.call('HGET', wakes, actor) or '0')
  if pending >= waiting then return 0 end
  local busy = 0
  for n = 1, capacity do
    if redis.call('EXISTS', lease_prefix .. n) == 1 then busy = busy + 1 end
  end
  if pending + busy >= capacity then return 0 end
  redis.call('HINCRBY', wakes, actor, 1)
  redis.call('RPUSH', wake_list, actor)
  return 1
end
"""

# taken(actor, wakes): a slot took one of the actor's wake-ups (never below zero).
TAKEN_LUA = """
local function taken(actor, wakes)
  if redis.call('HINCRBY', wakes, actor, -1) <= 0 then redis.call('HDEL', wakes, actor) end
end
"""

_WAKE = WAKE_LUA + """
-- KEYS: none (built from ARGV); ARGV: actor, mailbox, lease prefix, capacity, wake list, wakes
return wake(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6])
"""

_REPAIR = WAKE_LUA + """
-- ARGV: actor, mailbox, lease prefix, capacity, wake list, wakes
local listed = redis.call('LPOS', ARGV[5], ARGV[1], 'COUNT', 0)
if #listed == 0 then redis.call('HDEL', ARGV[6], ARGV[1])
else redis.call('HSET', ARGV[6], ARGV[1], #listed) end
return wake(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6])
"""


def wake_args(actor_id: str, queue: str, capacity: int) -> list:
    """ARGV for :data:`WAKE_LUA`'s ``wake`` in the order it takes them."""
    return [actor_id, keys.mailbox(actor_id), keys.worker_lease(actor_id, ""), int(capacity),
            keys.wake_list(queue), keys.WAKES]


class WorkQueue:
    def __init__(self, redis):
        self.redis = redis
        self._wake = redis.register_script(_WAKE)
        self._repair = redis.register_script(_REPAIR)

    # -- wake-ups ----------------------------------------------------------------------
    def wake(self, actor_id: str, queue: str, capacity: int) -> bool:
        """Wake a slot for the actor if it has mail and a free worker no wake-up is
        already promised to; True if a wake-up was written."""
        return bool(self._wake(args=wake_args(actor_id, queue, capacity)))

    def wake_in(self, pipe, actor_id: str, queue: str, capacity: int) -> None:
        """:meth:`wake` queued on ``pipe`` (submit's MULTI), after the mailbox entry."""
        self._wake(args=wake_args(actor_id, queue, capacity), client=pipe)

    def repair(self, actor_id: str, queue: str, capacity: int) -> bool:
        """The sweep's repair after a crash: recount the actor's pending wake-ups from the
        list, then wake as :meth:`wake` would. True if a wake-up was written."""
        return bool(self._repair(args=wake_args(actor_id, queue, capacity)))

    def pending_wakes(self, actor_id: str) -> int:
        return int(self.redis.hget(keys.WAKES, actor_id) or 0)

    def listed_wakes(self, queue: str) -> list:
        return [m.decode() for m in self.redis.lrange(keys.wake_list(queue), 0, -1)]

    # -- tasks -------------------------------------------------------------------------
    def enqueue_image_check(self, actor_id: str, queue: str) -> None:
        self.redis.rpush(keys.task_list(queue), f"{CHECK_IMAGE} {actor_id}")

    def enqueue_advance_run(self, run_id: str, queue: str, pipeline=None) -> None:
        """"Run X has stages ready to submit": a spawner submits them in batches (a run's
        first stages, or a re-run's), so accepting a big run costs the API few writes. One
        lost with a crashed slot is redone by the sweep, which looks at every active run."""
        (pipeline or self.redis).rpush(keys.task_list(queue), f"{ADVANCE_RUN} {run_id}")

    def enqueue_webhook(self, event_id: str, pipeline=None) -> None:
        (pipeline or self.redis).rpush(keys.WEBHOOK_TASKS, f"{DELIVER_WEBHOOK} {event_id}")

    # -- the slot's side ---------------------------------------------------------------
    @staticmethod
    def lists_for(queues: Iterable[str]) -> list:
        """The lists a slot serving ``queues`` blocks on, in the order it takes from them."""
        queues = list(queues)
        return ([keys.task_list(q) for q in queues] + [keys.wake_list(q) for q in queues]
                + [keys.WEBHOOK_TASKS])

    def next(self, lists: list, timeout: float) -> Optional[tuple]:
        """``("wake", actor id)`` or ``(task name, argument)``; None after ``timeout`` s."""
        popped = self.redis.blpop(lists, timeout=timeout)
        if popped is None:
            return None
        return parse(popped[0].decode(), popped[1].decode())


def parse(key: str, value: str) -> tuple:
    if key.endswith(keys.WAKE_SUFFIX):
        return "wake", value
    name, _, argument = value.partition(" ")
    return name, argument
