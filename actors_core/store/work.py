"""The RQ side of the store: the jobs that tell spawners there is work.

A job never carries a message. A ``drain`` job says "actor X may have a
message waiting"; the spawner that takes it claims the actor's oldest waiting
execution (if a worker slot is free). Extra jobs are harmless no-ops, so the
only rule that matters is: whenever a message may be stranded, enqueue a drain.
"""
from __future__ import annotations

from rq import Queue

# RQ imports these by name in a spawner's slot process; the store never imports the
# spawner (tests/unit/test_jobs.py checks that each resolves to a callable).
DRAIN = "spawner.jobs.drain"
CHECK_IMAGE = "spawner.jobs.check_image"
ADVANCE_RUN = "spawner.jobs.advance_run"


def rq_queue_name(queue: str) -> str:
    return f"actors.{queue}"


class WorkQueue:
    def __init__(self, redis):
        self.redis = redis

    def _queue(self, queue: str) -> Queue:
        return Queue(rq_queue_name(queue), connection=self.redis)

    def enqueue_drain(self, actor_id: str, queue: str, pipeline=None) -> None:
        self._queue(queue).enqueue_call(
            DRAIN, args=(actor_id,), timeout=-1, result_ttl=0, failure_ttl=24 * 3600,
            pipeline=pipeline,
        )

    def enqueue_advance_run(self, run_id: str, queue: str, pipeline=None) -> None:
        """"Run X has stages ready to submit": a spawner submits them in batches (a run's
        first stages, or a re-run's), so accepting a big run costs the API few writes."""
        self._queue(queue).enqueue_call(
            ADVANCE_RUN, args=(run_id,), timeout=-1, result_ttl=0, failure_ttl=24 * 3600,
            pipeline=pipeline,
        )

    def enqueue_image_check(self, actor_id: str, queue: str) -> None:
        self._queue(queue).enqueue_call(
            CHECK_IMAGE, args=(actor_id,), timeout=-1, result_ttl=0, failure_ttl=24 * 3600
        )
