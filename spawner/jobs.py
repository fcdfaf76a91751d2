"""The entry points a spawner's slot processes run: a wake-up, or a task by its name.

The store writes wake-ups and tasks to plain Redis lists (``actors_core/store/work.py``
holds the task names; :data:`TASKS` maps each to its function, and a test checks
that they match), so nothing in the platform imports this module except the
supervisor, whose slot loop (:func:`serve`) configures the process's
:class:`~spawner.runner.SpawnerContext` and runs what it pops. A process nobody
configured builds its context from the environment.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional, Sequence

from actors_core.config import Config
from actors_core.store import Store
from actors_core.store.work import ADVANCE_RUN, CHECK_IMAGE, DELIVER_WEBHOOK, WorkQueue, parse

from . import events, runs
from .runner import SpawnerContext
from .runtimes import make_runtime

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0  # a slot with nothing to do looks at its stop flag this often

_current: Optional[SpawnerContext] = None


def configure(context: SpawnerContext) -> None:
    """Set the context every job of this process runs in."""
    global _current
    _current = context


def current_context() -> SpawnerContext:
    global _current
    if _current is None:
        config = Config.from_env()
        _current = SpawnerContext(config, Store.from_config(config, patient=True),
                                  make_runtime(config.runtime, config=config))
    return _current


def drain(actor_id: str) -> Optional[str]:
    """Run the actor's oldest waiting execution, if one of its worker slots is free."""
    return current_context().drain(actor_id)


def check_image(actor_id: str) -> None:
    """READY once the actor's image is usable here, ERROR with the reason if not."""
    current_context().check_image(actor_id)


def deliver_webhook(event_id: str) -> Optional[str]:
    """One attempt at a webhook event (the webhook task list)."""
    context = current_context()
    return events.deliver(context.store, context.config, event_id)


def advance_run(run_id: str) -> int:
    """Submit a run's ready stages in batches (a new run's first stages, a re-run's)."""
    return runs.advance(current_context().store, run_id)


TASKS = {CHECK_IMAGE: check_image, ADVANCE_RUN: advance_run, DELIVER_WEBHOOK: deliver_webhook}


def serve(queues: Sequence[str], stopping: Callable[[], bool],
          before_each: Callable[[], None] = lambda: None) -> None:
    """A slot process's loop: block on its lists (store/work.py), run what comes, one at
    a time, until ``stopping()``; a run in progress always finishes first. A run's
    release hands over the slot's next entry in its own round trip (``context.handed``),
    so a busy slot does not block at all between runs; an entry handed over when the slot
    stops goes back to the head of its list. One entry that fails is logged and the loop
    goes on."""
    context = current_context()
    work = WorkQueue(context.store.redis)
    lists = work.lists_for(queues)
    context.lists = lists
    while not stopping():
        entry = None
        if context.handed is not None:
            (key, value), context.handed = context.handed, None
            entry = parse(key, value)
        else:
            entry = work.next(lists, POLL_SECONDS)
        if entry is None:
            continue
        kind, argument = entry
        before_each()
        try:
            if kind == "wake":
                drain(argument)
            elif kind in TASKS:
                TASKS[kind](argument)
            else:
                log.warning("unknown task %r (%s) ignored", kind, argument)
        except Exception:
            log.exception("%s %s failed", kind, argument)
    if context.handed is not None:  # stopping: the next slot to ask gets it
        (key, value), context.handed = context.handed, None
        context.store.redis.lpush(key, value)
