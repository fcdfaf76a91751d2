"""Search against a real redis-server: every operator, paging, and only what the caller may read.

The API runs in-process (Flask's test client) over a Store on the session's
redis-server; executions are moved through the store's real write paths
(submit, claim, finish, cancel), so the indexes searched are the ones the
platform maintains. Each test has its own tenant: admin searches see only it.
"""
from __future__ import annotations

import time
import uuid

import pytest
import redis as redis_lib

from actors_api import create_app
from actors_core.config import Config
from actors_core.enums import ExecutionStatus, PermissionLevel
from actors_core.ids import new_id
from actors_core.store import Store, keys
from actors_core.times import isoformat, utcnow
from actors_core.tokens import mint

SECRET = "integration-search-secret-0123456789abcdef"


class World:
    """Three users and an admin of a fresh tenant, with actors and executions of each."""

    def __init__(self, redis_url: str):
        self.config = Config(jwt_secret=SECRET, redis_url=redis_url)
        self.store = Store(redis_lib.Redis.from_url(redis_url), self.config)
        self.http = create_app(self.config, self.store).test_client()
        self.tenant = f"t-{uuid.uuid4().hex[:8]}"

    def token(self, user, roles=(), tenant=None):
        return {"Authorization": "Bearer " + mint(self.config, user, roles=roles,
                                                  tenant=tenant or self.tenant)}

    def actor(self, user, tenant=None, **fields):
        """On a queue of its own (privileged users may choose one), so no spawner of the
        session's other tests takes its executions: this test moves them itself."""
        response = self.http.post("/actors", json={"image": "abc/img", "queue": self.tenant,
                                                   **fields},
                                  headers=self.token(user, ("privileged",), tenant=tenant))
        assert response.status_code == 200, response.json
        return response.json["result"]

    def execution(self, actor, status="SUBMITTED", exit_code=None, logs=None, message=None):
        store = self.store
        record = store.executions.submit(actor, {"id": new_id(), "executor": actor["owner"],
                                                 "content_type": "str", "environment": {}}, b"m")
        eid = record["id"]
        if status != "SUBMITTED":
            assert store.executions.claim_next(actor["id"], "sp", "w-1") == eid
        if status in ("COMPLETE", "ERROR"):
            fields = {"exit_code": exit_code,
                      "final_state": {"ExitCode": exit_code, "FinishedAt": isoformat(utcnow())}}
            if message:
                fields["status_message"] = message
            store.executions.finish(store.executions.get_internal(eid), ExecutionStatus(status),
                                    600, **fields)
        if logs:
            store.logs.append(eid, logs.encode())
        return eid

    def search(self, user, kind, query="", roles=(), status=200):
        response = self.http.get(f"/actors/search/{kind}?{query}", headers=self.token(user, roles))
        assert response.status_code == status, response.json
        return response.json["result"] if status == 200 else response.json["message"]

    def ids(self, user, kind="executions", query="", roles=()):
        found = self.search(user, kind, query, roles)["search"]
        key = "execution_id" if kind == "logs" else "id"
        return [r[key] for r in found]


@pytest.fixture
def world(redis_server):
    """ana owns a1 (4 executions) and a2 (1); ben owns b1, shared with ana at READ; cy owns
    c1 shared with ABACO_WORLD and d1 shared with nobody; another tenant has its own actor."""
    w = World(redis_server.url)
    w.a1 = w.actor("ana", name="alpha-one", hints=["gpu", "nightly"])
    w.a2 = w.actor("ana", name="alpha-two", hints=["cpu"])
    w.b1 = w.actor("ben", name="beta")
    w.c1 = w.actor("cy", name="world-shared")
    w.d1 = w.actor("cy", name="private")
    w.store.permissions.grant("actor", w.tenant, w.b1["id"], "ana", PermissionLevel.READ)
    w.store.permissions.grant("actor", w.tenant, w.c1["id"], "ABACO_WORLD", PermissionLevel.READ)
    w.e_ok = w.execution(w.a1, "COMPLETE", 0, logs="all fine\n")
    w.e_one = w.execution(w.a1, "COMPLETE", 1, logs="Traceback: BOOM happened\n")
    time.sleep(0.01)
    w.midpoint = isoformat(utcnow())
    time.sleep(0.01)
    w.e_two = w.execution(w.a1, "COMPLETE", 2, message="Force-quit on request")
    w.e_run = w.execution(w.a1, "RUNNING")
    w.e_err = w.execution(w.a2, "ERROR", message="image could not be pulled")
    w.e_ben = w.execution(w.b1, "COMPLETE", 0, logs="boom from ben\n")
    w.e_world = w.execution(w.c1, "SUBMITTED")
    w.e_private = w.execution(w.d1, "COMPLETE", 0, logs="boom secret\n")
    elsewhere = w.actor("ana", tenant=f"{w.tenant}-other", name="other-tenant")
    w.e_other_tenant = w.execution(elsewhere, "COMPLETE", 0, logs="boom elsewhere\n")
    return w


def test_each_caller_sees_only_executions_they_may_read(world):
    w = world
    ana = {w.e_ok, w.e_one, w.e_two, w.e_run, w.e_err, w.e_ben, w.e_world}
    assert set(w.ids("ana")) == ana
    assert set(w.ids("ben")) == {w.e_ben, w.e_world}
    assert set(w.ids("cy")) == {w.e_world, w.e_private}
    assert set(w.ids("zed")) == {w.e_world}  # a stranger: only what ABACO_WORLD may read
    assert set(w.ids("root", roles=("admin",))) == ana | {w.e_private}  # never the other tenant
    result = w.search("ana", "executions", "actor_id.eq=" + w.d1["id"])
    assert result["_metadata"]["total_count"] == 0 and result["search"] == []


def test_operators_on_indexed_fields(world):
    w = world
    assert w.ids("ana", query="status.eq=COMPLETE") == [w.e_ok, w.e_one, w.e_two, w.e_ben]
    assert set(w.ids("ana", query="status.in=RUNNING,ERROR")) == {w.e_run, w.e_err}
    assert set(w.ids("ana", query="status.nin=COMPLETE,ERROR")) == {w.e_run, w.e_world}
    assert set(w.ids("ana", query="status.neq=COMPLETE")) == {w.e_run, w.e_err, w.e_world}
    assert w.ids("ana", query="status.eq=complete") == []  # eq is exact
    assert set(w.ids("ana", query="exit_code.eq=0")) == {w.e_ok, w.e_ben}
    assert set(w.ids("ana", query="exit_code.gt=0")) == {w.e_one, w.e_two}
    assert set(w.ids("ana", query="exit_code.gte=1&exit_code.lt=2")) == {w.e_one}
    assert set(w.ids("ana", query="exit_code.lte=1")) == {w.e_ok, w.e_one, w.e_ben}
    assert set(w.ids("ana", query="exit_code.between=1,2")) == {w.e_one, w.e_two}
    assert set(w.ids("ana", query=f"actor_id.eq={w.a1['id']}&status.eq=COMPLETE")) == \
        {w.e_ok, w.e_one, w.e_two}
    assert set(w.ids("ana", query=f"actor_id.in={w.a2['id']},{w.b1['id']}")) == {w.e_err, w.e_ben}
    later = w.ids("ana", query=f"message_received_time.gt={w.midpoint}")
    assert later == [w.e_two, w.e_run, w.e_err, w.e_ben, w.e_world]
    assert w.ids("ana", query=f"message_received_time.lte={w.midpoint}") == [w.e_ok, w.e_one]
    between = f"message_received_time.between=2000-01-01,{w.midpoint}&exit_code.eq=1"
    assert w.ids("ana", query=between) == [w.e_one]
    # one actor's index, and the whole tenant's (an admin), cut by time without a union
    assert w.ids("ana", query=f"actor_id.eq={w.a1['id']}&message_received_time.gt={w.midpoint}"
                 ) == [w.e_two, w.e_run]
    assert w.ids("root", roles=("admin",), query=f"message_received_time.lt={w.midpoint}"
                 "&message_received_time.gte=2000-01-01&status.eq=COMPLETE") == [w.e_ok, w.e_one]
    assert set(w.ids("root", roles=("admin",), query=f"message_received_time.gt={w.midpoint}")) \
        == {w.e_two, w.e_run, w.e_err, w.e_ben, w.e_world, w.e_private}


def test_operators_evaluated_on_records(world):
    w = world
    assert set(w.ids("ana", query="exit_code.in=1,2")) == {w.e_one, w.e_two}
    assert set(w.ids("ana", query="exit_code.nin=0,1&status.eq=COMPLETE")) == {w.e_two}
    assert set(w.ids("ana", query="exit_code.neq=0&status.eq=COMPLETE")) == {w.e_one, w.e_two}
    assert w.ids("ana", query="status_message.like=FORCE-QUIT") == [w.e_two]
    assert w.ids("ana", query="status_message.like=image*pulled") == [w.e_err]
    assert w.e_two not in w.ids("ana", query="status_message.nlike=force")
    assert set(w.ids("ana", query="final_state.ExitCode.gte=1")) == {w.e_one, w.e_two}
    assert w.ids("ana", query=f"final_state.FinishedAt.gt={w.midpoint}&actor_id.eq={w.a1['id']}") \
        == [w.e_two]
    assert set(w.ids("ana", query="finish_time.eq=null")) == {w.e_run, w.e_world}
    assert set(w.ids("ana", query="worker_id.eq=w-1&status.eq=RUNNING")) == {w.e_run}
    assert w.ids("ana", query="search=could NOT be") == [w.e_err]
    assert w.ids("ana", query=f"exactsearch={w.e_ben}") == [w.e_ben]
    assert w.ids("ana", query=f"exactsearch={w.e_ben[:-1]}") == []


def test_paging_and_metadata(world):
    w = world
    everything = w.ids("ana")
    assert len(everything) == 7
    page = w.search("ana", "executions", "skip=2&limit=3")
    assert page["_metadata"] == {"total_count": 7, "records_skipped": 2, "record_limit": 3,
                                 "count_returned": 3}
    assert [r["id"] for r in page["search"]] == everything[2:5]
    filtered = w.search("ana", "executions", "status.eq=COMPLETE&search=0&skip=1&limit=1")
    assert filtered["_metadata"]["count_returned"] == 1
    assert filtered["_metadata"]["total_count"] >= 1
    empty = w.search("ana", "executions", "limit=0")
    assert empty["_metadata"]["total_count"] == 7 and empty["search"] == []


def test_logs_search_matches_text_only_in_readable_logs(world):
    w = world
    found = w.search("ana", "logs", "search=boom")["search"]
    assert {r["execution_id"] for r in found} == {w.e_one, w.e_ben}
    assert {tuple(sorted(r)) for r in found} == {("_links", "actor_id", "execution_id", "logs")}
    assert w.ids("cy", "logs", "logs.like=secret") == [w.e_private]
    assert w.ids("ana", "logs", f"actor_id.eq={w.a1['id']}&logs.like=fine") == [w.e_ok]


def test_actor_search_by_hints_and_fields(world):
    w = world
    assert w.ids("ana", "actors", "hints.eq=gpu") == [w.a1["id"]]
    assert set(w.ids("ana", "actors", "hints.in=cpu,nightly")) == {w.a1["id"], w.a2["id"]}
    assert set(w.ids("ana", "actors", "hints.nin=gpu")) == {w.a2["id"], w.b1["id"], w.c1["id"]}
    assert w.ids("ana", "actors", "name.like=ALPHA&hints.neq=gpu") == [w.a2["id"]]
    assert w.ids("ana", "actors", "search=world-SHARED") == [w.c1["id"]]
    assert w.ids("ben", "actors", "name.eq=private") == []
    assert w.ids("root", "actors", "name.eq=private", roles=("admin",)) == [w.d1["id"]]
    assert set(w.ids("ana", "actors", "create_time.gte=2000-01-01T00:00:00Z")) == \
        {w.a1["id"], w.a2["id"], w.b1["id"], w.c1["id"]}


def test_bad_queries_name_the_problem(world):
    w = world
    assert "nosuch" in w.search("ana", "executions", "nosuch.eq=1", status=400)
    assert "'around'" in w.search("ana", "executions", "exit_code.around=1", status=400)
    assert "two values" in w.search("ana", "executions", "exit_code.between=1", status=400)
    assert "'limit'" in w.search("ana", "executions", "limit=-1", status=400)
    assert "'skip'" in w.search("ana", "executions", "skip=x", status=400)
    assert "Cannot search" in w.search("ana", "everything", status=404)


def test_deleting_an_actor_leaves_nothing_in_the_indexes(world):
    w = world
    ids = w.store.executions.ids_for_actor(w.a1["id"])
    assert w.http.delete(f"/actors/{w.a1['id']}", headers=w.token("ana")).status_code == 200
    redis = w.store.redis
    for status in ExecutionStatus:
        assert not any(redis.sismember(keys.executions_by_status(status.value), e) for e in ids)
    assert all(redis.zscore(keys.EXECUTIONS_BY_EXIT_CODE, e) is None for e in ids)
    assert not redis.exists(keys.actor_executions_by_time(w.a1["id"]))
    assert all(redis.zscore(keys.tenant_executions_by_time(w.tenant), e) is None for e in ids)
    assert set(w.ids("ana")) == {w.e_err, w.e_ben, w.e_world}


def test_cancelled_and_finished_executions_move_between_status_sets(world):
    w = world
    eid = w.execution(w.a2)
    assert eid in w.ids("ana", query="status.eq=SUBMITTED")
    assert w.store.executions.cancel(w.a2["id"], eid)
    assert eid not in w.ids("ana", query="status.eq=SUBMITTED")
    assert eid in w.ids("ana", query="status.eq=COMPLETE&exit_code.eq=null")


def test_workers_search_covers_only_readable_actors(world):
    w = world
    workers = w.store.workers
    workers.create_idle(w.a1["id"], "wk-a1", 0)
    workers.create_idle(w.d1["id"], "wk-d1", 0)
    assert w.ids("ana", "workers") == ["wk-a1"]
    assert w.ids("ana", "workers", f"actor_id.eq={w.a1['id']}&status.eq=READY") == ["wk-a1"]
    assert w.ids("cy", "workers", "status.in=READY,BUSY") == ["wk-d1"]
