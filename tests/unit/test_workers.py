"""Workers: the records, the scheduling decisions and the HTTP endpoints (fakeredis)."""
from __future__ import annotations

import time

import pytest

from actors_core import scheduling
from actors_core.tokens import mint
from spawner import runner, sweep

from .conftest import bearer


def _actor(http, headers, **fields):
    response = http.post("/actors", json={"image": "actors/echo", **fields}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json["result"]


@pytest.fixture
def admin(config):
    return bearer(config, "root", roles=("admin",))


def _live_spawner(store, name="s1", queues=("default",), slots=4):
    store.hosts.heartbeat(name, {"name": name, "queues": list(queues), "slots": slots,
                                 "gpus": []}, ttl=30)


# -- the records ------------------------------------------------------------------
def test_a_worker_is_busy_while_it_runs_then_ready(store):
    store.workers.start("A", "A-1", 1, "host-1", "E1")
    busy = store.workers.get("A", "A-1")
    assert busy["status"] == "BUSY" and busy["host"] == "host-1" and busy["execution_id"] == "E1"
    assert busy["create_time"] and busy["last_execution_time"] is None
    assert store.workers.finish("A", "A-1") is True
    ready = store.workers.get("A", "A-1")
    assert ready["status"] == "READY" and ready["execution_id"] is None
    assert ready["last_execution_time"] and ready["create_time"] == busy["create_time"]
    assert set(ready) >= {"id", "actor_id", "status", "host", "create_time",
                          "last_execution_time", "last_health_check_time"}
    assert "idle_since" not in ready
    assert [w["id"] for w in store.workers.list_for_actor("A")] == ["A-1"]


def test_deleting_a_busy_worker_waits_for_its_execution(store):
    store.workers.start("A", "A-1", 1, "h", "E1")
    assert store.workers.request_stop("A", "A-1") == "stopping"
    assert store.workers.get("A", "A-1")["status"] == "SHUTDOWN_REQUESTED"
    assert store.workers.finish("A", "A-1") is False
    assert store.workers.get("A", "A-1") is None
    store.workers.start("A", "A-2", 2, "h", "E2")
    store.workers.finish("A", "A-2")
    assert store.workers.request_stop("A", "A-2") == "removed"
    assert store.workers.request_stop("A", "A-2") is None
    assert store.workers.list_for_actor("A") == []


def test_a_late_finish_never_resurrects_a_deleted_worker(store):
    store.workers.start("A", "A-1", 1, "h", "E1")
    store.workers.delete_for_actor("A")
    store.workers.finish("A", "A-1")
    store.workers.health_check("A", "A-1")
    assert store.workers.get("A", "A-1") is None


# -- the decisions ----------------------------------------------------------------
def test_capacity_is_one_for_stateful_and_max_workers_for_stateless(config):
    assert scheduling.worker_capacity({"stateless": False, "max_workers": None}, config) == 1
    assert scheduling.worker_capacity({"stateless": True, "max_workers": 3}, config) == 3
    assert scheduling.worker_capacity({"stateless": True, "max_workers": None}, config) == \
        config.default_max_workers
    assert scheduling.slot_of(scheduling.worker_id("abc-def", 4)) == 4
    assert scheduling.slot_of(None) == 1


def test_retirements_keep_the_minimum_and_busy_workers():
    now = 1000.0
    workers = [{"id": f"A-{n}", "slot": n, "status": "READY", "idle_since": 0.0} for n in (1, 2, 3)]
    workers.append({"id": "A-4", "slot": 4, "status": "BUSY", "idle_since": 0.0})
    assert scheduling.retirements(workers, 6, 0, 60, now) == ["A-3", "A-2", "A-1"]
    assert scheduling.retirements(workers, 6, 2, 60, now) == ["A-3", "A-2"]
    assert scheduling.retirements(workers, 6, 0, 60, 30.0) == []  # not idle long enough
    fresh = [dict(w, idle_since=990.0) for w in workers]
    assert scheduling.retirements(fresh, 2, 4, 60, now) == ["A-3"]  # above a lowered max_workers


def test_sweep_retires_idle_workers_and_drops_lost_ones(store, config):
    config = config.with_overrides(worker_idle_seconds=5)
    store.actors.create({"id": "A", "owner": "o", "stateless": True, "max_workers": 4,
                         "queue": "default", "image": "x"})
    for slot in (1, 2, 3):
        store.workers.start("A", f"A-{slot}", slot, "s1", f"E{slot}")
        store.workers.finish("A", f"A-{slot}")
    store.workers.start("A", "A-4", 4, "dead", "E4")  # its spawner died: no slot lease
    store.workers.set_minimum("A", 1)
    counts = sweep.sweep_workers(store, config, "s1", ["default"], now=time.time())
    assert counts == {"retired": 0, "lost": 1}
    assert [w["id"] for w in store.workers.list_for_actor("A")] == ["A-1", "A-2", "A-3"]
    counts = sweep.sweep_workers(store, config, "s1", ["default"], now=time.time() + 10)
    assert counts == {"retired": 2, "lost": 0}
    assert [w["id"] for w in store.workers.list_for_actor("A")] == ["A-1"]
    # a spawner that does not serve the actor's queue leaves it alone
    store.workers.set_minimum("A", 0)
    sweep.sweep_workers(store, config, "s2", ["other"], now=time.time() + 10)
    assert len(store.workers.list_for_actor("A")) == 1
    sweep.sweep_workers(store, config, "s1", ["default"], now=time.time() + 10)
    assert store.workers.list_for_actor("A") == [] and store.workers.actor_ids() == []


def test_a_busy_worker_holding_its_lease_is_health_checked_not_dropped(store, config):
    store.actors.create({"id": "A", "owner": "o", "stateless": True, "max_workers": 2,
                         "queue": "default", "image": "x"})
    assert store.leases.acquire("A", 2, "me") == 1
    store.workers.start("A", "A-1", 1, "s1", "E1")
    store.redis.hset("actors:actor:A:worker:A-1", "last_health_check_time", '"old"')
    assert sweep.sweep_workers(store, config, "s1", ["default"]) == {"retired": 0, "lost": 0}
    assert store.workers.get("A", "A-1")["last_health_check_time"] != "old"


def test_drain_records_the_worker_and_the_execution_names_it(store, config, monkeypatch):
    store.actors.create({"id": "A", "owner": "o", "stateless": True, "max_workers": 2,
                         "queue": "default", "image": "x"})
    actor = store.actors.get("A")
    execution = store.executions.submit(actor, {"id": "E1", "executor": "o",
                                                "content_type": "str", "environment": {}}, b"m")
    seen = {}

    def run(self):
        seen["worker"] = store.workers.get("A", self.store.executions.get("E1")["worker_id"])
        self.store.executions.finish(self._record(), runner.ExecutionStatus.COMPLETE, 60)

    monkeypatch.setattr(runner.ExecutionRun, "run", run)
    spawner = runner.SpawnerContext(config, store, runtime=None, name="s1")
    assert spawner.drain("A") == execution["id"]
    assert seen["worker"]["status"] == "BUSY" and seen["worker"]["host"] == "s1"
    assert seen["worker"]["execution_id"] == "E1" and seen["worker"]["id"] == "A-1"
    after = store.workers.list_for_actor("A")
    assert [(w["id"], w["status"]) for w in after] == [("A-1", "READY")]
    assert store.executions.get("E1")["worker_id"] == after[0]["id"]


def _ensure_workers(store, actor, num, config):
    """What POST .../workers does: the policy's count, then the store's records."""
    kept = scheduling.workers_to_keep(actor, num, config)
    return kept, store.workers.ensure(actor["id"], kept)


def test_ensure_workers_caps_at_the_capacity(store, config):
    stateful = {"id": "S", "stateless": False, "max_workers": None}
    assert _ensure_workers(store, stateful, 5, config) == (1, ["S-1"])
    stateless = {"id": "L", "stateless": True, "max_workers": 3}
    store.workers.start("L", "L-2", 2, "h", "E")
    kept, created = _ensure_workers(store, stateless, 10, config)
    assert kept == 3 and created == ["L-1", "L-3"] and store.workers.minimum("L") == 3
    assert _ensure_workers(store, stateless, 2, config) == (2, [])


def test_queue_status_message():
    actor = {"queue": "special", "gpus": None}
    assert "No spawner serves queue 'special'" in scheduling.queue_status_message(actor, [])
    assert scheduling.queue_status_message(actor, [{"queues": ["special"]}]) is None
    gpu_actor = {"queue": "default", "gpus": 1}
    assert "GPUs" in scheduling.queue_status_message(gpu_actor, [{"queues": ["default"]}])


# -- HTTP -------------------------------------------------------------------------
def test_workers_endpoints(http, alice, config, store):
    actor = _actor(http, alice)
    base = f"/actors/{actor['id']}/workers"
    assert http.get(base, headers=alice).json["result"] == []
    response = http.post(base, json={"num": 2}, headers=alice)
    assert response.status_code == 200, response.json
    workers = response.json["result"]
    assert [w["status"] for w in workers] == ["READY", "READY"]
    wid = workers[0]["id"]
    assert http.get(f"{base}/{wid}", headers=alice).json["result"]["id"] == wid
    too_many = http.post(base, data={"num": "50"}, headers=alice)
    assert len(too_many.json["result"]) == config.default_max_workers
    assert "at most" in too_many.json["message"]
    assert http.post(base, data={"num": "many"}, headers=alice).status_code == 400
    assert http.delete(f"{base}/{wid}", headers=alice).status_code == 200
    assert http.get(f"{base}/{wid}", headers=alice).status_code == 404
    assert http.delete(f"{base}/{wid}", headers=alice).status_code == 404
    # others: READ to list, UPDATE to change
    bob = bearer(config, "bob")
    assert http.get(base, headers=bob).status_code == 403
    http.post(f"/actors/{actor['id']}/permissions", json={"user": "bob", "level": "READ"},
              headers=alice)
    assert http.get(base, headers=bob).status_code == 200
    assert http.post(base, json={"num": 1}, headers=bob).status_code == 403
    assert http.delete(f"{base}/{workers[1]['id']}", headers=bob).status_code == 403
    # deleting the actor removes its workers
    http.delete(f"/actors/{actor['id']}", headers=alice)
    assert store.workers.list_for_actor(actor["id"]) == []


def test_status_message_says_when_no_spawner_serves_the_queue(http, admin, store):
    actor = _actor(http, admin, queue="special")
    message = http.get(f"/actors/{actor['id']}", headers=admin).json["result"]["status_message"]
    assert message == "No spawner serves queue 'special'; messages wait until one does."
    listed = http.get("/actors", headers=admin).json["result"]
    assert listed[0]["status_message"] == message
    _live_spawner(store, queues=("special",))
    assert http.get(f"/actors/{actor['id']}", headers=admin).json["result"]["status_message"] == ""
    assert store.actors.get(actor["id"])["status_message"] == ""  # never stored


def test_admin_summaries_are_for_admins_of_the_tenant(http, alice, admin, config, store):
    actor = _actor(http, alice)
    store.workers.start(actor["id"], f"{actor['id']}-1", 1, "s1", "E1")
    store.executions.submit(actor, {"id": "E9", "executor": "alice", "content_type": "str",
                                    "environment": {}}, b"m")
    for path in ("/actors/admin/workers", "/actors/admin/executions"):
        assert http.get(path, headers=alice).status_code == 403
    workers = http.get("/actors/admin/workers", headers=admin).json["result"]
    assert workers["total_workers"] == 1 and workers["BUSY"] == 1
    assert workers["actors"][0]["actor_id"] == actor["id"]
    executions = http.get("/actors/admin/executions", headers=admin).json["result"]
    assert executions["executions"] == 1 and executions["SUBMITTED"] == 1
    elsewhere = {"Authorization": f"Bearer {mint(config, 'root', roles=('admin',), tenant='other')}"}
    assert http.get("/actors/admin/workers", headers=elsewhere).json["result"]["total_workers"] == 0
    assert http.get("/actors/admin/executions", headers=elsewhere).json["result"]["executions"] == 0


def test_utilization(http, alice, store):
    actor = _actor(http, alice)
    _live_spawner(store, "s1", slots=4)
    store.executions.submit(actor, {"id": "E1", "executor": "alice", "content_type": "str",
                                    "environment": {}}, b"m")
    store.executions.claim_next(actor["id"], "s1", f"{actor['id']}-1")
    store.workers.start(actor["id"], f"{actor['id']}-1", 1, "s1", "E1")
    store.executions.submit(actor, {"id": "E2", "executor": "alice", "content_type": "str",
                                    "environment": {}}, b"m")
    result = http.get("/actors/utilization", headers=alice).json["result"]
    assert result["hosts"] == [{"name": "s1", "queues": ["default"], "slots": 4, "slots_in_use": 1}]
    assert result["total_slots"] == 4 and result["slots_in_use"] == 1
    assert result["actors"] == [{"actor_id": actor["id"], "queue": "default", "workers": 1,
                                 "busy_workers": 1, "max_workers": 6, "queued_messages": 1}]


# -- as Abaco shows them -------------------------------------------------------------
class _NoopRuntime:
    def ensure_image(self, image):
        pass


def test_a_ready_actor_has_a_worker_from_the_moment_it_is_ready(http, alice, config, store):
    actor = _actor(http, alice)
    seen = {}
    original = store.actors.set_status

    def set_status(actor_id, status, *args, **kwargs):
        seen[str(status)] = store.workers.list_for_actor(actor_id)  # what a reader sees then
        return original(actor_id, status, *args, **kwargs)

    store.actors.set_status = set_status
    runner.SpawnerContext(config, store, runtime=_NoopRuntime(), name="s1").check_image(actor["id"])
    assert [w["status"] for w in seen["READY"]] == ["READY"]
    workers = http.get(f"/actors/{actor['id']}/workers", headers=alice).json["result"]
    assert len(workers) == 1 and workers[0]["status"] == "READY"
    assert http.get(f"/actors/{actor['id']}", headers=alice).json["result"]["status"] == "READY"


def test_the_sweep_keeps_one_worker_for_a_ready_actor(http, alice, config, store):
    config = config.with_overrides(worker_idle_seconds=5)
    actor = _actor(http, alice, max_workers=None)
    runner.SpawnerContext(config, store, runtime=_NoopRuntime(), name="s1").check_image(actor["id"])
    base = f"/actors/{actor['id']}/workers"
    http.post(base, json={"num": 3}, headers=alice)
    http.post(base, json={"num": 0}, headers=alice)  # no minimum asked for any more
    counts = sweep.sweep_workers(store, config, "s1", ["default"], now=time.time() + 60)
    assert counts["retired"] == 2
    assert len(store.workers.list_for_actor(actor["id"])) == 1  # a READY actor keeps one
    only = store.workers.list_for_actor(actor["id"])[0]["id"]
    assert http.delete(f"{base}/{only}", headers=alice).status_code == 200
    assert store.workers.list_for_actor(actor["id"]) == []
    sweep.sweep_workers(store, config, "s1", ["default"])
    assert [w["status"] for w in store.workers.list_for_actor(actor["id"])] == ["READY"]
    # an actor that is not READY keeps none
    store.actors.set_status(actor["id"], "ERROR", "broken")
    sweep.sweep_workers(store, config, "s1", ["default"], now=time.time() + 60)
    assert store.workers.list_for_actor(actor["id"]) == []


def test_post_workers_num_makes_that_many_at_once_in_abacos_words(http, alice, store):
    actor = _actor(http, alice)
    base = f"/actors/{actor['id']}/workers"
    response = http.post(base, data={"num": "3"}, headers=alice)
    assert response.json["message"].startswith(
        "Scheduled 3 new worker(s) to start. Previously, there were 0 workers.")
    assert len(http.get(base, headers=alice).json["result"]) == 3
    again = http.post(base, data={"num": "2"}, headers=alice)
    assert again.json["message"].startswith(f"Actor {actor['id']} already had 3 worker(s).")


ABACO_WORKER_FIELDS = {"id", "tenant", "actor_id", "status", "image", "ch_name", "location",
                       "cid", "host_id", "host_ip", "create_time", "last_execution_time",
                       "last_health_check_time"}


def test_workers_carry_abacos_fields_also_in_another_tenant(http, config, store):
    for tenant in (None, "other"):
        headers = {"Authorization": f"Bearer {mint(config, 'carol', tenant=tenant)}"}
        actor = _actor(http, headers, image="me/thing:2")
        store.workers.start(actor["id"], f"{actor['id']}-1", 1, "s1", "E1")
        listed = http.get(f"/actors/{actor['id']}/workers", headers=headers).json["result"]
        one = http.get(f"/actors/{actor['id']}/workers/{listed[0]['id']}",
                       headers=headers).json["result"]
        found = http.get("/actors/search/workers", headers=headers).json["result"]["search"]
        for worker in (listed[0], one, found[0]):
            assert ABACO_WORKER_FIELDS <= set(worker), ABACO_WORKER_FIELDS - set(worker)
            assert worker["image"] == "me/thing:2" and worker["status"] == "BUSY"
            assert worker["tenant"] == (tenant or "default") and worker["host_id"] == "s1"
            assert worker["create_time"].endswith("Z")
