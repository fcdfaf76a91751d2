"""The RQ entry points: the functions a spawner's slot processes run for a job.

The store enqueues them by name (``actors_core/store/work.py`` and
``store/events.py`` hold the strings; a test resolves each one), so nothing in
the platform imports this module except the supervisor, which configures the
process's :class:`~spawner.runner.SpawnerContext` before its RQ worker starts.
A process nobody configured (e.g. ``rq worker`` run by hand) builds its
context from the environment.
"""
from __future__ import annotations

from typing import Optional

from actors_core.config import Config
from actors_core.store import Store

from . import events, runs
from .runner import SpawnerContext
from .runtimes import make_runtime

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
    """One attempt at a webhook event (``actors-events`` queue)."""
    context = current_context()
    return events.deliver(context.store, context.config, event_id)


def advance_run(run_id: str) -> int:
    """Submit a run's ready stages in batches (a new run's first stages, a re-run's)."""
    return runs.advance(current_context().store, run_id)
