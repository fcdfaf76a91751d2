"""The lean execution plane against real Redis and a real spawner: wake-ups only for work a
slot can take, a wake-up lost in a crash repaired by the sweep, logs readable while running,
finished records that expire when the operator says so."""
from __future__ import annotations

import threading
import time
import uuid

import redis as redis_lib

from actors_core.config import Config
from actors_core.enums import ExecutionStatus
from actors_core.ids import new_id
from actors_core.store import Store, keys

from .conftest import ECHO, SLEEP
from .platform import SpawnerProcess


class WakeCounter:
    """Counts wake-ups written to one queue's list (MONITOR sees those inside scripts too)."""

    def __init__(self, url: str, queue: str):
        self.key = keys.wake_list(queue).encode()
        self.count = 0
        self._redis = redis_lib.Redis.from_url(url)
        self._monitor = self._redis.monitor().__enter__()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        try:
            for command in self._monitor.listen():
                text = command["command"]
                if text.upper().startswith("RPUSH") and self.key.decode() in text:
                    self.count += 1
        except Exception:  # the connection closed: stop counting
            pass

    def close(self) -> None:
        self._monitor.connection.disconnect()


def test_n_messages_make_at_most_n_wake_ups_and_each_admits_one(admin, environment,
                                                                 platform_dir, redis_server):
    queue = f"wake-{uuid.uuid4().hex[:6]}"
    actor = admin.create_actor(ECHO, queue=queue, stateless=False)
    counter = WakeCounter(redis_server.url, queue)
    spawner = SpawnerProcess(environment, name=f"wakes-{queue}", queues=queue, slots=2,
                             log_path=platform_dir / f"{queue}.log")
    try:
        admin.wait_actor(actor["id"])
        sent = [admin.send(actor["id"], f"m{n}") for n in range(12)]
        for execution_id in sent:
            assert admin.wait(actor["id"], execution_id)["status"] == "COMPLETE"
        time.sleep(0.5)  # MONITOR lags a little
        # One wake-up per execution at most (RQ made two drain jobs per execution, half
        # of them no-ops), and none is left behind.
        assert 1 <= counter.count <= len(sent), counter.count
        assert redis_lib.Redis.from_url(redis_server.url).llen(keys.wake_list(queue)) == 0
        order = [admin.execution(actor["id"], e)["start_time"] for e in sent]
        assert order == sorted(order)  # a stateful actor's messages still run in order
    finally:
        counter.close()
        spawner.stop()


def test_a_wake_up_lost_before_admission_is_repaired_by_the_sweep(admin, environment,
                                                                  platform_dir, redis_server):
    queue = f"lost-{uuid.uuid4().hex[:6]}"
    redis = redis_lib.Redis.from_url(redis_server.url)
    first = SpawnerProcess(environment, name=f"first-{queue}", queues=queue, slots=1,
                           log_path=platform_dir / f"{queue}.log")
    try:
        actor = admin.create_actor(ECHO, queue=queue, stateless=False)
        admin.wait_actor(actor["id"])
    finally:
        first.stop()
    execution_id = admin.send(actor["id"], "after a lost wake-up")
    # A slot popped the wake-up and died before its admission script ran.
    assert redis.lpop(keys.wake_list(queue)) == actor["id"].encode()
    assert admin.execution(actor["id"], execution_id)["status"] == "SUBMITTED"

    second = SpawnerProcess(environment, name=f"second-{queue}", queues=queue, slots=1,
                            log_path=platform_dir / f"{queue}.log")
    try:  # its supervisor sweeps at start
        assert admin.wait(actor["id"], execution_id, timeout=60)["exit_code"] == 0
    finally:
        second.stop()


def test_logs_are_readable_while_it_runs(client):
    actor = client.create_actor(SLEEP)
    execution_id = client.send(actor["id"], "25", params={"SLEEP_SECONDS": "0.2"})
    client.wait(actor["id"], execution_id, statuses=("RUNNING",))
    seen, batches = set(), []  # (when, how many new lines)
    stop = time.monotonic() + 3.5
    while time.monotonic() < stop:
        logs = client.logs(actor["id"], execution_id)
        new = {n for n in range(1, 26) if f"iteration {n} of 25" in logs} - seen
        if new:
            batches.append(time.monotonic())
            seen |= new
        time.sleep(0.05)
    assert client.execution(actor["id"], execution_id)["status"] == "RUNNING"
    # Lines printed every 0.2 s reach the store in batches while it runs, each at most
    # LOG_BATCH_SECONDS + FLUSH_STEP (0.75 s) after its first line was written: over 3.5 s,
    # several batches, never much more than a second apart.
    assert len(batches) >= 3, batches
    gaps = [later - earlier for earlier, later in zip(batches, batches[1:])]
    assert max(gaps) < 1.5, gaps
    # Let it end by itself: nothing is left running (or being removed) for the next test.
    assert client.wait(actor["id"], execution_id)["status"] == "COMPLETE"
    assert "iteration 25 of 25" in client.logs(actor["id"], execution_id)
    client.delete(f"/actors/{actor['id']}")


def test_finished_records_expire_when_the_operator_says_so(redis_server):
    config = Config(jwt_secret="x" * 40, redis_url=redis_server.url, execution_record_ttl=1)
    store = Store.from_config(config)
    actor_id = f"ttl-{uuid.uuid4().hex[:6]}"
    store.actors.create({"id": actor_id, "owner": "o", "stateless": True, "queue": "ttl-q",
                         "image": "x", "gpus": 0})
    actor = store.actors.get(actor_id)
    kept, finished = new_id(), new_id()
    for eid in (kept, finished):
        store.executions.submit(actor, {"id": eid, "executor": "o", "content_type": "str",
                                        "environment": {}}, b"m")
    store.executions.claim_next(actor_id, "s", f"{actor_id}-1")
    record = store.executions.get_internal(kept)
    assert store.executions.finish(record, ExecutionStatus.COMPLETE, 60, exit_code=0)
    assert 0 < store.redis.ttl(keys.execution(kept)) <= 1
    assert store.redis.ttl(keys.execution(finished)) == -1  # still SUBMITTED: kept
    time.sleep(1.6)
    assert store.executions.forget_expired() == 1
    assert store.executions.ids_for_actor(actor_id) == [finished]
    assert not store.redis.sismember(keys.executions_by_status("COMPLETE"), kept)
    assert store.redis.zscore(keys.actor_executions_by_time(actor_id), kept) is None
    assert store.redis.zcard(keys.EXPIRING_EXECUTIONS) == 0
    store.delete_actor(store.actors.get_internal(actor_id) | {"owner": "o"})
