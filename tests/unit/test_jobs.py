"""The RQ jobs the store enqueues by name resolve, in a spawner process, to its functions."""
from __future__ import annotations

import importlib

import pytest
from rq import Queue
from rq.utils import import_attribute

from actors_core.store import events as event_store, work
from actors_core.store.work import rq_queue_name

JOB_NAMES = [work.DRAIN, work.CHECK_IMAGE, work.ADVANCE_RUN, event_store.DELIVER]


@pytest.mark.parametrize("name", JOB_NAMES)
def test_every_job_name_resolves_to_a_function_of_spawner_jobs(name):
    function = import_attribute(name)  # how RQ finds it
    assert callable(function)
    module = importlib.import_module("spawner.jobs")
    assert function is getattr(module, name.rsplit(".", 1)[1])


def test_the_jobs_the_store_enqueues_carry_those_names(store):
    store.actors.create({"id": "A", "owner": "o", "stateless": True, "queue": "q", "image": "x"})
    store.work.enqueue_drain("A", "q")
    store.work.enqueue_image_check("A", "q")
    store.work.enqueue_advance_run("R", "q")
    store.events.create_webhook("A", "http://example.org", {"event_type": "X"}, first_due=0)
    queued = Queue(rq_queue_name("q"), connection=store.redis).jobs
    queued += Queue(event_store.WEBHOOK_QUEUE, connection=store.redis).jobs
    assert sorted(job.func_name for job in queued) == sorted(JOB_NAMES)
    for job in queued:
        assert callable(job.func)  # RQ's own resolution, as a slot process would do it

