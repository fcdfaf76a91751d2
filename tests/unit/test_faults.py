"""Fast checks of the fault handling parts (with real processes and Redis: tests/chaos and
tests/integration)."""
from __future__ import annotations

import socket
import time

import pytest

from actors_api import create_app
from actors_core.config import Config
from actors_core.enums import ExecutionStatus
from actors_core.store import keys
from actors_core.store.retries import retry_id
from spawner import retries
from spawner.identity import NameClaim, NameTaken, default_name

from .conftest import SECRET, bearer


# -- the API while Redis is away -----------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_api_answers_503_with_retry_after_when_redis_is_unreachable(caplog):
    config = Config(jwt_secret=SECRET, redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    app = create_app(config)  # the real client, to a port where nothing listens
    started = time.monotonic()
    answer = app.test_client().get("/actors", headers=bearer(config))
    assert time.monotonic() - started < 5  # fails fast: a client is asked to come back
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "2"
    body = answer.get_json()
    assert body["status"] == "error" and "try again" in body["message"]
    assert "Traceback" not in caplog.text


# -- names ----------------------------------------------------------------------------------

def test_default_names_tell_queue_sets_apart():
    assert default_name(["default"], "host") == "host"  # as before: restarts re-attach
    assert default_name(["gpu"], "host") == "host-gpu"
    assert default_name(["a", "b"], "host") == "host-a+b"
    assert default_name(["default", "default.gpu"], "host") == "host-default+default.gpu"


def test_a_name_is_held_once_per_work_folder(tmp_path, store):
    record = {"name": "s", "last_heartbeat": "then"}
    first = NameClaim("s", str(tmp_path))
    first.acquire(store.hosts, record, ttl=30)
    with pytest.raises(NameTaken, match="already running on this host"):
        NameClaim("s", str(tmp_path)).acquire(store.hosts, record, ttl=30)
    # from another work folder (as another host) while the registration is live
    with pytest.raises(NameTaken, match="is alive on host"):
        NameClaim("s", str(tmp_path / "other")).acquire(store.hosts, record, ttl=30)
    first.release()
    # the same folder after its holder died: the live registration is its own, taken over
    again = NameClaim("s", str(tmp_path))
    again.acquire(store.hosts, record, ttl=30)
    assert store.hosts.get("s")["instance"] == again.instance
    # a heartbeat of the old instance no longer overwrites the new one's
    assert store.hosts.heartbeat("s", dict(record, instance=first.instance), ttl=30)
    again.release()


# -- retries ----------------------------------------------------------------------------------

def _ended(store, actor, status, exit_code=None, now=None, **extra):
    execution = store.executions.submit(actor, {"id": f"e{time.monotonic_ns()}", "executor": "u",
                                                "content_type": "str",
                                                "environment": {"X": "1"}, **extra}, b"msg")
    claimed = store.executions.claim_next(actor["id"], "sp", "w-1")
    assert claimed == execution["id"]
    _finish(store, claimed, status, exit_code=exit_code, now=now)
    return claimed


def _finish(store, execution_id, status, exit_code=None, now=None):
    """As ExecutionRun.finish does: the retry decision is written by the finish script."""
    record = store.executions.get_internal(execution_id)
    fields = {} if exit_code is None else {"exit_code": exit_code}
    retry = retries.decide(store.actors.get(record["actor_id"]),
                           dict(record, status=str(status), **fields), now=now)
    if retry is not None:
        fields.update(retry.fields)
    assert store.executions.finish(record, status, 60, retry_at=retry and retry.due, **fields)
    return retry


@pytest.fixture
def actor(store):
    record = {"id": "a1", "owner": "u", "image": "i", "queue": "default", "stateless": True,
              "max_retries": 2, "retry_backoff": 5, "retry_on_exit_code": False}
    store.actors.create(record)
    return record


def test_errors_are_retried_after_the_backoff_and_linked_both_ways(store, actor):
    first = _ended(store, actor, ExecutionStatus.ERROR, now=1000.0)
    ended = store.executions.get(first)  # the final record says so: one script wrote both
    assert ended["retried_by"] == retry_id(first, 1) and ended["retry_due"].startswith("1970")
    assert store.retries.pending(first) == 1005.0
    assert retries.release_due(store, now=1004.0) == []
    (second,) = retries.release_due(store, now=1005.0)
    assert second == retry_id(first, 1)
    assert retries.release_due(store, now=2000.0) == []  # created once
    record = store.executions.get_internal(second)
    assert (record["retry_of"], record["retry_number"], record["status"]) == (first, 1, "SUBMITTED")
    assert record["environment"] == {"X": "1"} and store.executions.message_body(second) == b"msg"
    assert store.executions.get(first)["retries"] == [second]

    # the retry fails too: the next one doubles the wait, and the last is exhausted
    claimed = store.executions.claim_next("a1", "sp", "w-1")
    assert claimed == second
    assert _finish(store, second, ExecutionStatus.ERROR, now=3000.0).due == 3010.0
    assert store.retries.pending(second) == 3010.0
    (third,) = retries.release_due(store, now=3010.0)
    assert store.executions.get(first)["retries"] == [second, third]
    store.executions.claim_next("a1", "sp", "w-1")
    assert _finish(store, third, ExecutionStatus.ERROR).fields == {"retries_exhausted": True}
    assert store.executions.get(third)["retries_exhausted"] is True
    assert store.retries.pending(third) is None


def test_a_retry_lost_with_its_spawner_is_made_once_after_the_lease(store, actor):
    first = _ended(store, actor, ExecutionStatus.ERROR, now=0.0)
    assert store.retries.lease_due(now=10.0) == [first]  # a spawner leased it, then died
    assert retries.release_due(store, now=11.0) == []  # leased: nobody else for a minute
    assert retries.release_due(store, now=71.0) == [retry_id(first, 1)]


def test_a_retry_keeps_the_message_until_it_is_due(store, actor):
    store.actors.update("a1", retry_backoff=3000)
    first = _ended(store, actor, ExecutionStatus.ERROR)
    assert store.redis.ttl(keys.message(first)) > 3000  # log_ex is 60 here


def test_exit_codes_are_retried_only_when_asked_and_never_after_a_force_quit(store, actor):
    def decided(status, exit_code=None):
        record = {"id": "x", "status": str(status), "exit_code": exit_code}
        return retries.decide(store.actors.get("a1"), record)

    assert decided(ExecutionStatus.COMPLETE, 3) is None
    store.actors.update("a1", retry_on_exit_code=True)
    assert decided(ExecutionStatus.COMPLETE, 3).fields["retried_by"] == retry_id("x", 1)
    assert decided(ExecutionStatus.COMPLETE, 0) is None
    store.actors.update("a1", max_retries=0)
    assert decided(ExecutionStatus.ERROR) is None
    assert not retries.retryable({"max_retries": 1, "retry_on_exit_code": True}, {
        "status": "COMPLETE", "exit_code": 137, "final_state": {"ForceQuit": True}})


def test_retry_fields_are_validated(http, alice):
    answer = http.post("/actors", json={"image": "x", "max_retries": -1}, headers=alice)
    assert answer.status_code == 400 and "max_retries" in answer.get_json()["message"]
    answer = http.post("/actors", json={"image": "x", "max_retries": 2, "retry_backoff": 1.5,
                                        "retry_on_exit_code": True}, headers=alice)
    actor = answer.get_json()["result"]
    assert (actor["max_retries"], actor["retry_backoff"], actor["retry_on_exit_code"]) == \
        (2, 1.5, True)
    plain = http.post("/actors", json={"image": "x"}, headers=alice).get_json()["result"]
    assert (plain["max_retries"], plain["retry_on_exit_code"]) == (0, False)


def test_rerun_of_an_unfinished_or_expired_execution_is_refused(http, alice, store):
    actor = http.post("/actors", json={"image": "x"}, headers=alice).get_json()["result"]
    sent = http.post(f"/actors/{actor['id']}/messages", data={"message": "m"},
                     headers=alice).get_json()["result"]["execution_id"]
    path = f"/actors/{actor['id']}/executions/{sent}/rerun"
    assert http.post(path, headers=alice).status_code == 409
    claimed = store.executions.claim_next(actor["id"], "sp", "w-1")
    store.executions.finish(store.executions.get_internal(claimed), ExecutionStatus.COMPLETE, 60,
                            exit_code=0)
    again = http.post(path, headers=alice)
    assert again.status_code == 200, again.get_json()
    new = again.get_json()["result"]["execution_id"]
    assert store.executions.get(new)["rerun_of"] == sent
    assert store.executions.message_body(new) == b"m"
    store.redis.delete(f"actors:execution:{sent}:message")  # as when log_ex has passed
    gone = http.post(path, headers=alice)
    assert gone.status_code == 410 and "no longer kept" in gone.get_json()["message"]
