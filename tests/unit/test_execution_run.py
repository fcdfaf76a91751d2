"""One execution's life through ExecutionRun, on the stub runtime: every end goes through
finish() and release(), whether it ran, could not start, was killed or was re-attached."""
from __future__ import annotations

import threading
import time

import pytest
from actors_core.enums import ActorStatus, ExecutionStatus
from actors_core.store import keys
from spawner import reconcile, runner
from spawner.gpus import Gpu

from .stub_runtime import KILLED, StubHandle


def _actor(store, actor_id="A", **fields):
    actor = {"id": actor_id, "owner": "o", "stateless": True, "max_workers": 2,
             "queue": "default", "image": "img", "gpus": 0, "log_ex": None, **fields}
    store.actors.create(actor)
    store.actors.set_status(actor_id, ActorStatus.READY)
    return store.actors.get(actor_id)


def _send(store, actor, execution_id="E1", body=b"m"):
    return store.executions.submit(actor, {"id": execution_id, "executor": "o",
                                           "content_type": "str", "environment": {}}, body)["id"]


def _drains(store, queue="default") -> list:
    """The wake-ups waiting for a slot on the queue."""
    return store.work.listed_wakes(queue)


def _pop_wakes(store, queue="default") -> None:
    """What a slot does before it drains: pop the wake-ups (the submits' own)."""
    while store.redis.lpop(keys.wake_list(queue)):
        pass


def _settled(store, actor_id, worker_id="A-1"):
    """What every end leaves: a READY worker, no lease, nothing RUNNING on s1."""
    assert store.workers.get(actor_id, worker_id)["status"] == "READY"
    assert store.leases.busy(actor_id, 2) == 0
    assert store.executions.running_on("s1") == []


def test_a_run_that_exits_is_recorded_and_everything_released(spawner_context, store,
                                                              stub_runtime):
    actor = _actor(store, webhook="http://example.org/hook")
    eid = _send(store, actor)
    _pop_wakes(store)  # the submit's own wake-up, taken by the slot that drains

    assert spawner_context.drain("A") == eid

    record = store.executions.get(eid)
    assert record["status"] == "COMPLETE" and record["exit_code"] == 0
    assert record["cpu"] == 5_000_000 and record["io"] == 42 and record["runtime"] == 2.5
    assert store.logs.get(eid) == "ran\n"
    assert stub_runtime.started[0].removed
    _settled(store, "A")
    assert store.redis.sismember(keys.MAILBOXES, "A") == 0  # an empty mailbox is forgotten
    assert _drains(store) == []
    sent = store.events.list_for_actor("A")
    assert [e["event_type"] for e in sent] == ["EXECUTION_COMPLETE"]


def test_a_second_message_gets_a_drain_when_the_first_run_lets_go(spawner_context, store):
    actor = _actor(store, stateless=False, max_workers=None)
    first, second = _send(store, actor, "E1"), _send(store, actor, "E2")
    _pop_wakes(store)

    assert spawner_context.drain("A") == first
    assert store.executions.get(second)["status"] == "SUBMITTED"
    assert _drains(store) == ["A"]  # release, then look: the second is not stranded


def test_a_start_failure_ends_in_error_and_counts_against_the_actor(spawner_context, store,
                                                                   stub_runtime, config):
    actor = _actor(store, webhook="http://example.org/hook")
    stub_runtime.start_error = "no such device"
    for n in range(config.actor_error_threshold):
        eid = _send(store, actor, f"E{n}")
        assert spawner_context.drain("A") == eid
        record = store.executions.get(eid)
        assert record["status"] == "ERROR" and record["status_message"] == "no such device"
        assert "[actors] no such device" in store.logs.get(eid)
    assert store.actors.get("A")["status"] == "ERROR"
    assert stub_runtime.started == []
    _settled(store, "A")
    types = [e["event_type"] for e in store.events.list_for_actor("A")]
    assert types.count("EXECUTION_COMPLETE") == config.actor_error_threshold
    assert "ACTOR_ERROR" in types


def test_a_missing_image_ends_the_execution_in_error(spawner_context, store, stub_runtime):
    actor = _actor(store)
    stub_runtime.missing_images.add("img")
    eid = _send(store, actor)
    spawner_context.drain("A")
    record = store.executions.get(eid)
    assert record["status"] == "ERROR" and "not available" in record["status_message"]
    _settled(store, "A")


def test_a_kill_request_stops_the_container_and_is_recorded(spawner_context, store,
                                                            stub_runtime):
    actor = _actor(store)
    stub_runtime.exit_code = None  # runs until killed
    eid = _send(store, actor)
    drain = threading.Thread(target=spawner_context.drain, args=("A",))
    drain.start()
    deadline = time.monotonic() + 10
    while not stub_runtime.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.executions.get(eid)["status"] == "RUNNING"
    assert store.workers.get("A", "A-1")["status"] == "BUSY"
    store.executions.request_kill(eid)
    drain.join(timeout=10)
    assert not drain.is_alive()

    handle = stub_runtime.started[0]
    assert handle.killed and handle.removed
    record = store.executions.get(eid)
    assert record["status"] == "COMPLETE" and record["exit_code"] == KILLED
    assert record["final_state"]["ForceQuit"] is True
    assert record["status_message"].startswith("Force-quit")
    _settled(store, "A")


def test_gpus_are_held_while_it_runs_then_given_back_and_waiters_woken(config, store, tmp_path,
                                                                      stub_runtime, monkeypatch):
    monkeypatch.setattr(runner, "WAIT_STEP", 0.02)
    gpus = [Gpu(0, "GPU-0", "sim", 16 << 30, simulated=True)]
    context = runner.SpawnerContext(config.with_overrides(spawner_workdir=str(tmp_path)), store,
                                    stub_runtime, name="s1", gpus=gpus, queues=["default.gpu"])
    store.hosts.reset_gpus("s1", [0], keep={})
    stub_runtime.exit_code = None
    first = _actor(store, "A", gpus=1)
    other = _actor(store, "B", gpus=1)
    eid = _send(store, first, "E1")
    _send(store, other, "E2")
    _pop_wakes(store, "default.gpu")

    drain = threading.Thread(target=context.drain, args=("A",))
    drain.start()
    deadline = time.monotonic() + 10
    while not stub_runtime.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.hosts.held("s1") == {0: eid}
    assert stub_runtime.started[0].spec.gpus == gpus
    assert context.drain("B") is None  # no GPU free: B's message waits, no drain spins
    assert store.executions.get("E2")["status"] == "SUBMITTED"
    assert _drains(store, "default.gpu") == []

    stub_runtime.started[0].exit(0)
    drain.join(timeout=10)
    assert store.hosts.held("s1") == {} and store.hosts.free_gpus("s1") == [0]
    assert _drains(store, "default.gpu") == ["B"]  # woken by the GPU coming free
    assert store.executions.get(eid)["gpus"] == [{"index": 0, "uuid": "GPU-0", "name": "sim"}]


def test_an_actor_asking_for_more_gpus_than_the_host_has_is_refused(spawner_context, store,
                                                                   stub_runtime):
    actor = _actor(store, gpus=3)
    eid = _send(store, actor)
    assert spawner_context.drain("A") == eid
    record = store.executions.get(eid)
    assert record["status"] == "ERROR" and "asks for 3 GPUs" in record["status_message"]
    assert stub_runtime.started == []
    _settled(store, "A")


# -- reconcile: the same finish() and release() after a restart ----------------------------
def _claimed_by_a_dead_process(store, actor, eid):
    """What a spawner that died mid-run leaves: a RUNNING execution, a BUSY worker."""
    store.executions.claim_next(actor["id"], "s1", f"{actor['id']}-1")
    store.workers.start(actor["id"], f"{actor['id']}-1", 1, "s1", eid)


def test_reconcile_ends_a_never_started_execution_with_the_actors_log_ex(spawner_context, store,
                                                                         config):
    actor = _actor(store, log_ex=777)
    assert config.log_ex != 777
    eid = _send(store, actor)
    _claimed_by_a_dead_process(store, actor, eid)

    assert reconcile.reconcile(spawner_context) == []

    record = store.executions.get(eid)
    assert record["status"] == "ERROR" and record["status_message"] == reconcile.NEVER_STARTED
    assert 700 < store.redis.ttl(keys.message(eid)) <= 777  # the actor's, not the platform's
    assert store.actors.get_internal("A")["consecutive_failures"] == 1
    assert [e["event_type"] for e in store.events.list_for_actor("A")] == []  # no link/webhook
    assert store.redis.sismember(keys.MAILBOXES, "A") == 0
    assert store.executions.running_on("s1") == []


def test_reconcile_follows_a_leftover_container_to_its_end(spawner_context, store,
                                                          stub_runtime):
    actor = _actor(store)
    eid = _send(store, actor)
    _claimed_by_a_dead_process(store, actor, eid)
    from spawner.runtimes.base import RunSpec

    leftover = StubHandle(RunSpec(image="img", environment={}, labels={
        "actors.spawner": "s1", "actors.execution": eid, "actors.actor": "A"}),
        logs=(b"all of it\n",))
    stub_runtime.leftovers.append(leftover)

    followers = reconcile.reconcile(spawner_context)
    assert len(followers) == 1
    assert store.workers.get("A", "A-1")["status"] == "BUSY"
    leftover.exit(3)
    followers[0].join(timeout=10)

    record = store.executions.get(eid)
    assert record["status"] == "COMPLETE" and record["exit_code"] == 3
    assert store.logs.get(eid) == "all of it\n" and leftover.removed
    _settled(store, "A")


def test_reconcile_ends_a_container_created_but_never_started_in_error(spawner_context, store,
                                                                      stub_runtime):
    """Docker reads exit code 0 at once when waiting on a container that never started:
    such a leftover must not pass for a run that succeeded."""
    from spawner.runtimes.base import RunSpec

    actor = _actor(store)
    eid = _send(store, actor)
    _claimed_by_a_dead_process(store, actor, eid)

    class Created(StubHandle):
        def final_state(self):
            return dict(super().final_state(), Status="created")

    created = Created(RunSpec(image="img", environment={}, labels={
        "actors.spawner": "s1", "actors.execution": eid, "actors.actor": "A"}), exit_code=0)
    stub_runtime.leftovers.append(created)

    assert reconcile.reconcile(spawner_context) == [] and created.removed
    record = store.executions.get(eid)
    assert record["status"] == "ERROR" and record["status_message"] == reconcile.NEVER_STARTED
    assert store.executions.running_on("s1") == []


def test_reconcile_removes_containers_of_finished_executions(spawner_context, store,
                                                            stub_runtime):
    from spawner.runtimes.base import RunSpec

    actor = _actor(store)
    eid = _send(store, actor)
    spawner_context.drain("A")
    stale = StubHandle(RunSpec(image="img", environment={}, labels={
        "actors.spawner": "s1", "actors.execution": eid}), exit_code=0)
    stub_runtime.leftovers.append(stale)
    assert reconcile.reconcile(spawner_context) == [] and stale.removed
    assert store.executions.get(eid)["status"] == "COMPLETE"


@pytest.mark.parametrize("ok", [True, False])
def test_finish_happens_once(spawner_context, store, ok):
    actor = _actor(store)
    eid = _send(store, actor)
    store.executions.claim_next("A", "s1", "A-1")
    run = runner.ExecutionRun(spawner_context, actor, eid, 1, "owner")
    status = ExecutionStatus.COMPLETE if ok else ExecutionStatus.ERROR
    assert run.finish(status, "" if ok else "broken", exit_code=0 if ok else None) is True
    assert run.finish(ExecutionStatus.ERROR, "again") is False
    assert store.executions.get(eid)["status"] == str(status)


# -- logs in batches ---------------------------------------------------------------------------
class _CountingLogs:
    def __init__(self, logs):
        self.logs, self.appends = logs, 0

    def append(self, execution_id, chunk):
        self.appends += 1
        return self.logs.append(execution_id, chunk)


def test_logs_go_in_batches_and_are_readable_while_it_runs(spawner_context, store,
                                                         stub_runtime, monkeypatch):
    counting = _CountingLogs(store.logs)
    monkeypatch.setattr(store, "logs", counting)
    actor = _actor(store)
    stub_runtime.exit_code = None  # runs until the test ends it
    stub_runtime.logs = tuple(f"line {n}\n".encode() for n in range(20))
    eid = _send(store, actor)
    drain = threading.Thread(target=spawner_context.drain, args=("A",))
    drain.start()
    deadline = time.monotonic() + 10
    while not stub_runtime.started and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    while "line 19" not in store.logs.logs.get(eid) and time.monotonic() - started < 5:
        time.sleep(0.02)
    readable_after = time.monotonic() - started
    assert store.executions.get(eid)["status"] == "RUNNING"
    assert readable_after < runner.LOG_BATCH_SECONDS + runner.FLUSH_STEP + 0.25
    assert counting.appends == 1  # twenty lines, one write
    stub_runtime.started[0].exit(0)
    drain.join(timeout=10)
    assert store.logs.logs.get(eid) == "".join(f"line {n}\n" for n in range(20))
    assert counting.appends == 1  # nothing left to write at the end


def test_a_batch_is_written_once_it_is_big_enough(store):
    counting = _CountingLogs(store.logs)
    buffer = runner.LogBuffer(counting, "E1")
    for _ in range(3):
        buffer.add(b"x" * (runner.LOG_BATCH_BYTES // 2))
    assert counting.appends == 1  # the second chunk filled a batch; the third waits
    buffer.flush()
    assert counting.appends == 2 and len(store.logs.get("E1")) == 3 * (runner.LOG_BATCH_BYTES // 2)


def test_finished_records_are_kept_forever_unless_a_ttl_is_set(store, config):
    actor = _actor(store)
    eid = _send(store, actor)
    store.executions.claim_next("A", "s1", "A-1")
    store.executions.finish(store.executions.get_internal(eid), ExecutionStatus.COMPLETE, 60)
    assert store.redis.ttl(keys.execution(eid)) == -1
    assert store.redis.zcard(keys.EXPIRING_EXECUTIONS) == 0

    store.executions.config = config.with_overrides(execution_record_ttl=300)
    second = _send(store, actor, "E2")
    store.executions.claim_next("A", "s1", "A-1")
    store.executions.finish(store.executions.get_internal(second), ExecutionStatus.COMPLETE, 60)
    assert 290 < store.redis.ttl(keys.execution(second)) <= 300
    cancelled = _send(store, actor, "E3")
    assert store.executions.cancel("A", cancelled)
    assert 290 < store.redis.ttl(keys.execution(cancelled)) <= 300
    store.redis.delete(keys.execution(second))  # as Redis does when the TTL runs out
    assert store.executions.forget_expired(now=time.time() + 301) == 1
    assert store.executions.ids_for_actor("A") == [eid, cancelled]
    assert not store.redis.sismember(keys.executions_by_status("COMPLETE"), second)


def test_reconcile_names_an_end_lost_after_its_container_went(spawner_context, store):
    actor = _actor(store)
    eid = _send(store, actor)
    _claimed_by_a_dead_process(store, actor, eid)
    store.executions.mark_started(eid)  # it ran; its container was removed, then the crash
    assert reconcile.reconcile(spawner_context) == []
    record = store.executions.get(eid)
    assert record["status"] == "ERROR" and record["status_message"] == reconcile.CONTAINER_GONE


def test_the_container_is_gone_before_the_record_says_complete(spawner_context, store,
                                                               stub_runtime, monkeypatch):
    actor = _actor(store)
    eid = _send(store, actor)
    seen = []
    finish = store.executions.finish

    def finishing(*args, **kwargs):
        seen.append(stub_runtime.started[0].removed)
        return finish(*args, **kwargs)

    monkeypatch.setattr(store.executions, "finish", finishing)
    assert spawner_context.drain("A") == eid
    assert seen == [True] and store.executions.get(eid)["status"] == "COMPLETE"
