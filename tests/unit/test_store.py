"""Status changes are atomic and happen once, whoever races for them."""
from __future__ import annotations

from actors_core.enums import ExecutionStatus
from actors_core.ids import new_id


def _actor(store, **fields):
    actor = {"id": new_id(), "owner": "alice", "image": "img", "stateless": True, "queue": "default",
             "max_workers": None, **fields}
    return store.actors.create(actor)


def _submit(store, actor, body=b"m"):
    return store.executions.submit(actor, {"id": new_id(), "executor": "alice",
                                           "content_type": "str", "environment": {}}, body)


def test_claim_takes_the_oldest_and_skips_cancelled(store):
    actor = _actor(store)
    first, second, third = (_submit(store, actor) for _ in range(3))
    assert store.executions.cancel(actor["id"], first["id"])
    assert store.executions.claim_next(actor["id"], "sp", "w-1") == second["id"]
    assert store.executions.claim_next(actor["id"], "sp", "w-1") == third["id"]
    assert store.executions.claim_next(actor["id"], "sp", "w-1") is None
    assert store.executions.get(second["id"])["status"] == "RUNNING"
    assert store.executions.running_on("sp") and set(store.executions.running_on("sp")) == {second["id"], third["id"]}


def test_a_claimed_execution_cannot_be_cancelled(store):
    actor = _actor(store)
    execution = _submit(store, actor)
    store.executions.claim_next(actor["id"], "sp", "w-1")
    assert not store.executions.cancel(actor["id"], execution["id"])
    assert store.executions.get(execution["id"])["status"] == "RUNNING"


def test_finish_counts_totals_once(store):
    actor = _actor(store)
    execution = _submit(store, actor)
    store.executions.claim_next(actor["id"], "sp", "w-1")
    record = store.executions.get_internal(execution["id"])
    assert store.executions.finish(record, ExecutionStatus.COMPLETE, 60, cpu=10, io=5, runtime=1.5)
    assert not store.executions.finish(record, ExecutionStatus.ERROR, 60, cpu=10, io=5, runtime=1.5)
    assert store.executions.get(execution["id"])["status"] == "COMPLETE"
    assert store.executions.totals(actor["id"]) == {"total_executions": 1, "total_cpu": 10,
                                                    "total_io": 5, "total_runtime": 1.5,
                                                    "total_gpu_seconds": 0.0}
    assert store.executions.running_on("sp") == []
    assert store.executions.wait_finished(execution["id"], 0.1)


def test_submit_is_one_transaction_with_its_wake_up(store):
    actor = _actor(store)
    _submit(store, actor, b"\x00binary\xff")
    assert store.work.listed_wakes(actor["queue"]) == [actor["id"]]
    assert store.work.pending_wakes(actor["id"]) == 1
    assert store.executions.queued_count(actor["id"]) == 1


def test_message_body_is_kept_as_bytes(store):
    actor = _actor(store)
    execution = _submit(store, actor, b"\x00binary\xff")
    assert store.executions.message_body(execution["id"]) == b"\x00binary\xff"


def test_updates_never_resurrect_a_deleted_execution(store):
    actor = _actor(store)
    execution = _submit(store, actor)
    store.delete_actor(actor)
    store.executions.update(execution["id"], cpu=5)
    assert store.executions.get(execution["id"]) is None


def test_slots_bound_concurrency_and_expire(store):
    slots = store.leases
    assert slots.acquire("A", 2, "one") == 1
    assert slots.acquire("A", 2, "two") == 2
    assert slots.acquire("A", 2, "three") is None
    slots.release("A", 1, "not-the-owner")
    assert slots.busy("A", 2) == 2
    slots.release("A", 1, "one")
    assert slots.acquire("A", 2, "three") == 1


def test_log_cap_keeps_a_marker(store):
    logs = store.logs
    logs.max_bytes = 10
    logs.append("e", b"0123456789")  # exactly at the cap
    logs.append("e", b"more")
    logs.append("e", b"and more")
    assert logs.get("e") == "0123456789\n[actors: log truncated at 10 bytes]\n"


def test_failed_runs_put_the_actor_in_error_and_a_success_clears_it(store):
    actor = _actor(store)
    for _ in range(3):
        store.actors.record_run_outcome(actor["id"], False, threshold=3, reason="no image")
    errored = store.actors.get(actor["id"])
    assert errored["status"] == "ERROR" and "no image" in errored["status_message"]
    assert "consecutive_failures" not in errored
    store.actors.record_run_outcome(actor["id"], True, threshold=3)
    assert store.actors.get(actor["id"])["status"] == "READY"
