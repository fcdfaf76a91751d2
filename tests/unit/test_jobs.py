"""What the store writes for spawners (wake-ups and named tasks) is what a slot process runs."""
from __future__ import annotations

import threading

from actors_core.enums import ActorStatus
from actors_core.store import keys, work
from spawner import jobs


def test_every_task_name_the_store_writes_has_a_function_in_spawner_jobs():
    assert set(jobs.TASKS) == {work.CHECK_IMAGE, work.ADVANCE_RUN, work.DELIVER_WEBHOOK}
    assert jobs.TASKS[work.CHECK_IMAGE] is jobs.check_image
    assert jobs.TASKS[work.ADVANCE_RUN] is jobs.advance_run
    assert jobs.TASKS[work.DELIVER_WEBHOOK] is jobs.deliver_webhook


def test_the_lists_a_slot_serves_come_in_order_tasks_wakes_webhooks(store):
    store.actors.create({"id": "A", "owner": "o", "stateless": True, "queue": "q", "image": "x"})
    store.work.enqueue_image_check("A", "q")
    store.work.enqueue_advance_run("R", "q")
    store.events.create_webhook("A", "http://example.org", {"event_type": "X"}, first_due=0)
    store.executions.submit(store.actors.get("A"), {"id": "E", "executor": "o",
                                                    "content_type": "str", "environment": {}}, b"")
    lists = store.work.lists_for(["q"])
    assert lists == [keys.task_list("q"), keys.wake_list("q"), keys.WEBHOOK_TASKS]
    taken = [store.work.next(lists, 0.01) for _ in range(4)]
    assert [kind for kind, _ in taken] == [work.CHECK_IMAGE, work.ADVANCE_RUN, "wake",
                                           work.DELIVER_WEBHOOK]
    assert [argument for _, argument in taken[:3]] == ["A", "R", "A"]
    assert store.work.next(lists, 0.01) is None


def test_a_slot_loop_runs_a_wake_up_and_a_task_then_stops(spawner_context, store, monkeypatch):
    actor = {"id": "A", "owner": "o", "stateless": True, "max_workers": 2, "queue": "default",
             "image": "img", "gpus": 0, "log_ex": None}
    store.actors.create(actor)
    store.work.enqueue_image_check("A", "default")
    eid = store.executions.submit(store.actors.get("A"), {
        "id": "E1", "executor": "o", "content_type": "str", "environment": {}}, b"m")["id"]
    monkeypatch.setattr(jobs, "_current", spawner_context)
    monkeypatch.setattr(jobs, "POLL_SECONDS", 0.05)
    stop = threading.Event()
    loop = threading.Thread(target=jobs.serve, args=(["default"], stop.is_set))
    loop.start()
    try:
        assert store.executions.wait_finished(eid, timeout=10)
    finally:
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive()
    assert store.actors.get("A")["status"] == str(ActorStatus.READY)
    assert store.executions.get(eid)["status"] == "COMPLETE"
