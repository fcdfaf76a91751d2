"""Workers against real Redis and Docker: the concurrency limit, scaling, named queues.

Each test starts its own spawners on a queue of its own, so what it observes
is only its own actor's work.
"""
from __future__ import annotations

import time
import uuid

from spawner.runtimes.base import parse_state_time

from .conftest import ECHO, SLEEP
from .platform import SpawnerProcess, wait_until


def _spawner(environment, platform_dir, queue, slots=4, suffix="", **settings):
    name = f"{queue}{suffix}"
    return SpawnerProcess(dict(environment, **{k: str(v) for k, v in settings.items()}),
                          name=name, queues=queue, slots=slots,
                          log_path=platform_dir / f"{name}.log")


def _max_overlap(executions) -> int:
    """The most executions running at one instant, from Docker's own start/finish stamps."""
    spans = [(parse_state_time(e["final_state"]["StartedAt"]),
              parse_state_time(e["final_state"]["FinishedAt"])) for e in executions]
    return max(sum(1 for s, f in spans if s <= start < f) for start, _ in spans)


def test_concurrency_never_exceeds_max_workers(admin, environment, platform_dir):
    queue = f"conc-{uuid.uuid4().hex[:6]}"
    spawner = _spawner(environment, platform_dir, queue, slots=5)
    try:
        actor = admin.create_actor(SLEEP, queue=queue, max_workers=2)
        ids = [admin.send(actor["id"], "2") for _ in range(6)]
        executions = [admin.wait(actor["id"], e, timeout=120) for e in ids]
        # a worker turns READY once its container is removed, just after the execution ends
        def all_ready():
            workers = admin.result(admin.get(f"/actors/{actor['id']}/workers"))
            return workers if all(w["status"] == "READY" for w in workers) else None

        workers = wait_until(all_ready, 20, "every worker READY")
    finally:
        spawner.stop()
    assert [(e["status"], e["exit_code"]) for e in executions] == [("COMPLETE", 0)] * 6
    assert _max_overlap(executions) == 2  # used both workers, never a third
    worker_ids = {w["id"] for w in workers}
    assert {e["worker_id"] for e in executions} <= worker_ids and len(worker_ids) == 2
    assert {w["host"] for w in workers} == {spawner.name}
    assert all(w["status"] == "READY" and w["last_execution_time"] for w in workers)


def test_workers_scale_up_under_a_burst_and_down_when_idle(admin, environment, platform_dir):
    queue = f"scale-{uuid.uuid4().hex[:6]}"
    spawner = _spawner(environment, platform_dir, queue, slots=4, ACTORS_WORKER_IDLE_SECONDS=2)
    try:
        actor = admin.create_actor(SLEEP, queue=queue, max_workers=3)
        workers_path = f"/actors/{actor['id']}/workers"
        admin.wait_actor(actor["id"], statuses=("READY",))
        ready = admin.result(admin.get(workers_path))  # as in Abaco: a READY actor has one
        assert [(w["status"], w["image"]) for w in ready] == [("READY", SLEEP)]
        ids = [admin.send(actor["id"], "3") for _ in range(6)]

        def three_busy():
            busy = [w for w in admin.result(admin.get(workers_path)) if w["status"] == "BUSY"]
            return busy if len(busy) == 3 else None

        busy = wait_until(three_busy, 60, "three busy workers")
        assert all(w["host"] == spawner.name and w["execution_id"] for w in busy)
        # a worker deleted while busy finishes its execution, then goes
        victim = busy[0]["id"]
        assert "after its current execution" in admin.delete(f"{workers_path}/{victim}").json()["message"]
        assert admin.result(admin.get(f"{workers_path}/{victim}"))["status"] == "SHUTDOWN_REQUESTED"
        executions = [admin.wait(actor["id"], e, timeout=120) for e in ids]
        assert all(e["status"] == "COMPLETE" for e in executions)
        assert _max_overlap(executions) == 3
        # idle for ACTORS_WORKER_IDLE_SECONDS: the next sweep retires all but the one a
        # READY actor keeps
        wait_until(lambda: len(admin.result(admin.get(workers_path))) == 1, 40, "scale down to one")

        # POST workers keeps a minimum through idle time, capped at max_workers
        response = admin.post(workers_path, json={"num": 5})
        kept = admin.result(response)
        assert len(kept) == 3 and "at most 3" in response.json()["message"]
        admin.post(workers_path, json={"num": 1})
        wait_until(lambda: len(admin.result(admin.get(workers_path))) == 1, 40, "scale down to one")
        time.sleep(12)  # past another sweep: the kept one stays
        assert [w["status"] for w in admin.result(admin.get(workers_path))] == ["READY"]
        utilization = admin.result(admin.get("/actors/utilization"))
        host = next(h for h in utilization["hosts"] if h["name"] == spawner.name)
        assert host == {"name": spawner.name, "queues": [queue], "slots": 4, "slots_in_use": 0}
    finally:
        spawner.stop()


def test_named_queues_route_work_and_an_unserved_queue_says_so(admin, environment, platform_dir):
    tag = uuid.uuid4().hex[:6]
    first, second, later = f"qa-{tag}", f"qb-{tag}", f"qc-{tag}"
    spawners = [_spawner(environment, platform_dir, q, slots=2) for q in (first, second)]
    late = None
    try:
        on_first = admin.create_actor(ECHO, queue=first)
        on_second = admin.create_actor(ECHO, queue=second)
        waiting = admin.create_actor(ECHO, queue=later)
        runs = {a["id"]: [admin.send(a["id"], "where am I") for _ in range(3)]
                for a in (on_first, on_second)}
        stuck = admin.send(waiting["id"], "anyone?")
        for actor_id, ids in runs.items():
            assert all(admin.wait(actor_id, e)["status"] == "COMPLETE" for e in ids)
        for actor, spawner in ((on_first, spawners[0]), (on_second, spawners[1])):
            hosts = {w["host"] for w in admin.result(admin.get(f"/actors/{actor['id']}/workers"))}
            assert hosts == {spawner.name}

        time.sleep(2)
        assert admin.execution(waiting["id"], stuck)["status"] == "SUBMITTED"
        shown = admin.result(admin.get(f"/actors/{waiting['id']}"))
        assert shown["status"] == "SUBMITTED"
        assert shown["status_message"] == (f"No spawner serves queue '{later}'; messages wait "
                                           "until one does.")
        listed = {a["id"]: a for a in admin.result(admin.get("/actors"))}
        assert listed[waiting["id"]]["status_message"] == shown["status_message"]
        assert listed[on_first["id"]]["status_message"] == ""

        late = _spawner(environment, platform_dir, later, slots=1)
        assert admin.wait(waiting["id"], stuck, timeout=60)["status"] == "COMPLETE"
        assert admin.result(admin.get(f"/actors/{waiting['id']}"))["status_message"] == ""
    finally:
        for spawner in spawners + ([late] if late else []):
            spawner.stop()


def test_admin_summaries(admin, client):
    actor = client.create_actor(ECHO)
    client.wait(actor["id"], client.send(actor["id"], "count me"))
    assert client.get("/actors/admin/workers").status_code == 403
    assert client.get("/actors/admin/executions").status_code == 403
    workers = admin.result(admin.get("/actors/admin/workers"))
    assert any(a["actor_id"] == actor["id"] and a["workers"] >= 1 for a in workers["actors"])
    executions = admin.result(admin.get("/actors/admin/executions"))
    mine = next(a for a in executions["actors"] if a["actor_id"] == actor["id"])
    assert mine["executions"] == 1 and mine["COMPLETE"] == 1 and mine["total_executions"] == 1
    assert executions["total_executions"] >= 1


def test_a_dead_spawners_worker_is_dropped_and_comes_back_with_it(admin, environment, platform_dir):
    queue = f"lost-{uuid.uuid4().hex[:6]}"
    # Its heartbeat lasts 2 minutes: no live spawner takes it for lost (and settles its
    # execution, tests/chaos) before its slot lease (30 s) has expired and it came back.
    slow = {"ACTORS_HOST_LOST_SECONDS": 120}
    first = _spawner(environment, platform_dir, queue, slots=1, **slow)
    other = restarted = None
    try:
        actor = admin.create_actor(SLEEP, queue=queue, max_workers=1)
        workers_path = f"/actors/{actor['id']}/workers"
        execution_id = admin.send(actor["id"], "40")
        admin.wait(actor["id"], execution_id, statuses=("RUNNING",))
        wait_until(lambda: [w["status"] for w in admin.result(admin.get(workers_path))] == ["BUSY"],
                   20, "a busy worker")
        first.crash()  # its container runs on; its slot lease expires after 30 s
        other = _spawner(environment, platform_dir, queue, slots=1, suffix="-other")
        # the lost BUSY worker is dropped; the actor, READY, gets a fresh idle one
        wait_until(lambda: [(w["status"], w["host"]) for w in admin.result(admin.get(workers_path))]
                   == [("READY", None)], 60, "the lost worker dropped")
        assert admin.execution(actor["id"], execution_id)["status"] == "RUNNING"

        restarted = _spawner(environment, platform_dir, queue, slots=1, **slow)  # reconciles
        worker = wait_until(lambda: next((w for w in admin.result(admin.get(workers_path))
                                         if w["status"] == "BUSY"), None), 30,
                            "the worker re-attached")
        assert worker["host"] == first.name and worker["execution_id"] == execution_id
        execution = admin.wait(actor["id"], execution_id, timeout=60)
        assert execution["status"] == "COMPLETE" and execution["worker_id"] == worker["id"]
        wait_until(lambda: [w["status"] for w in admin.result(admin.get(workers_path))]
                   == ["READY"], 20, "the worker READY again")
    finally:
        for spawner in (first, other, restarted):
            if spawner:
                spawner.stop()


def test_post_workers_num_has_that_many_within_seconds(admin, environment, platform_dir):
    queue = f"num-{uuid.uuid4().hex[:6]}"
    spawner = _spawner(environment, platform_dir, queue, slots=1, ACTORS_WORKER_IDLE_SECONDS=1)
    try:
        actor = admin.create_actor(ECHO, queue=queue, max_workers=4)
        workers_path = f"/actors/{actor['id']}/workers"
        admin.wait_actor(actor["id"], statuses=("READY",))
        wait_until(lambda: len(admin.result(admin.get(workers_path))) == 1, 10, "one worker")
        started = time.monotonic()
        admin.result(admin.post(workers_path, json={"num": 3}))
        workers = wait_until(lambda: (lambda w: w if len(w) == 3 else None)(
            admin.result(admin.get(workers_path))), 5, "three workers")
        assert time.monotonic() - started < 5
        assert {w["status"] for w in workers} == {"READY"}
        assert {w["image"] for w in workers} == {ECHO}
        time.sleep(12)  # past a sweep, idle past ACTORS_WORKER_IDLE_SECONDS: the minimum stays
        assert len(admin.result(admin.get(workers_path))) == 3
    finally:
        spawner.stop()
