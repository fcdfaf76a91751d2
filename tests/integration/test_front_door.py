"""The front door against a real redis-server: what Redis itself sees of a message post and
of an execution read (MONITOR), paging over HTTP, and totals against a recount.

These tests run their own redis-server and API (no spawner), so every command MONITOR
shows in a request's window is that request's.
"""
from __future__ import annotations

import math
import threading
import time

import pytest
import redis as redis_lib

from actors_core.enums import ExecutionStatus
from actors_core.ids import new_id
from actors_core.tokens import mint

from .conftest import _need
from .platform import ApiClient, ApiServer, RedisServer, platform_environment, redis_available


@pytest.fixture(scope="module")
def private(tmp_path_factory):
    """A redis-server and an API (werkzeug, threaded) that no other test or spawner uses."""
    _need(redis_available(), "redis-server")
    server = RedisServer(tmp_path_factory.mktemp("front-door-redis"))
    api = ApiServer(platform_environment(server.url, tmp_path_factory.mktemp("front-door")))
    yield server, api
    api.stop()
    server.stop()


class Monitor:
    """Redis's MONITOR between two markers: the commands clients sent (not those a script ran)."""

    def __init__(self, url: str):
        self.url = url
        self.commands = []
        self._ready = threading.Event()

    def __enter__(self):
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        assert self._ready.wait(5)
        redis_lib.Redis.from_url(self.url).echo("front-door-begin")
        return self

    def _watch(self):
        connection = redis_lib.Redis.from_url(self.url)
        with connection.monitor() as monitor:
            self._ready.set()
            started = False
            for entry in monitor.listen():
                command = entry["command"]
                if command.startswith("ECHO front-door-"):
                    if started:
                        return
                    started = True
                elif started and entry.get("client_type") != "lua":
                    self.commands.append(command)

    def __exit__(self, *exc):
        redis_lib.Redis.from_url(self.url).echo("front-door-end")
        self._thread.join(5)
        return False


@pytest.mark.parametrize("form", [{"data": {"message": "m"}}, {"json": {"n": 1}}],
                         ids=["form (the Flask route)", "JSON (the fast lane)"])
def test_redis_sees_one_command_per_message_and_per_execution_read(private, form):
    server, api = private
    client = ApiClient(api.url, mint(api.config, "alice"))
    actor = client.create_actor("actors/echo")
    path = f"/actors/{actor['id']}/messages"
    client.result(client.post(path, **form))
    with Monitor(server.url) as seen:
        execution_id = client.result(client.post(path, **form))["execution_id"]
    assert len(seen.commands) == 1 and seen.commands[0].startswith("EVALSHA"), seen.commands
    events = api.app.extensions["actors_store"].timeline.since(execution_id)["events"]
    assert [e["type"] for e in events] == ["ACCEPTED", "QUEUED"]
    read = f"/actors/{actor['id']}/executions/{execution_id}"
    client.result(client.get(read))
    with Monitor(server.url) as seen:
        assert client.result(client.get(read))["status"] == "SUBMITTED"
    assert len(seen.commands) == 1 and seen.commands[0].startswith("EVALSHA"), seen.commands


def test_a_revoked_token_gets_nothing_from_the_one_command(private):
    server, api = private
    client = ApiClient(api.url, mint(api.config, "alice"))
    actor = client.create_actor("actors/echo")
    scoped = ApiClient(api.url, mint(api.config, "alice", actor=actor["id"], token_id="jti-fd-1"))
    path = f"/actors/{actor['id']}/messages"
    scoped.result(scoped.post(path, data={"message": "before"}))
    api.app.extensions["actors_store"].revoked_tokens.revoke("jti-fd-1", time.time() + 600)
    with Monitor(server.url) as seen:
        response = scoped.post(path, data={"message": "after"})
    assert response.status_code == 401 and len(seen.commands) == 1
    with Monitor(server.url) as seen:
        response = scoped.post(path, json={"n": 1})  # the fast lane leaves it to the route
    assert response.status_code == 401 and len(seen.commands) == 2
    assert client.result(client.get(path))["messages"] == 1


def test_paging_over_http_with_offsets_and_cursors(private):
    server, api = private
    client = ApiClient(api.url, mint(api.config, "alice"))
    actor = client.create_actor("actors/echo")
    path = f"/actors/{actor['id']}/messages"
    sent = [client.result(client.post(path, data={"message": str(n)}))["execution_id"]
            for n in range(23)]
    listing = f"/actors/{actor['id']}/executions"
    default = client.result(client.get(listing, params={"limit": 10}))
    assert default["ids"] == sent[-10:] and default["_metadata"]["previous_offset"] == 3
    seen, page = [], client.result(client.get(listing, params={"limit": 10, "offset": 0}))
    seen += page["ids"]
    while page["_metadata"]["next_cursor"]:
        page = client.result(client.get(listing, params={"limit": 10,
                                                         "cursor": page["_metadata"]["next_cursor"]}))
        seen += page["ids"]
    assert seen == sent
    assert default["_metadata"]["total_count"] == 23 and default["total_executions"] == 0


def test_totals_are_counters_equal_to_a_recount(private):
    server, api = private
    store = api.app.extensions["actors_store"]
    client = ApiClient(api.url, mint(api.config, "alice"))
    actor = client.create_actor("actors/echo")
    internal = store.actors.get_internal(actor["id"])
    ids = [store.executions.submit(internal, {"id": new_id(), "executor": "alice",
                                              "content_type": "str", "environment": {}}, b"m")["id"]
           for _ in range(9)]
    for n, eid in enumerate(ids[:6]):
        assert store.executions.claim_next(actor["id"], "fd", f"{actor['id']}-1") == eid
        status = ExecutionStatus.ERROR if n in (1, 4) else ExecutionStatus.COMPLETE
        store.executions.finish(store.executions.get_internal(eid), status, 60, cpu=7 * n,
                                io=3 * n, runtime=0.25 * n, exit_code=0)
    for eid in ids[6:8]:
        client.result(client.delete(f"/actors/{actor['id']}/executions/{eid}"))
    summary = client.result(client.get(f"/actors/{actor['id']}/executions", params={"limit": 1}))
    finished = [e for e in (store.executions.get(eid) for eid in ids)
                if ExecutionStatus(e["status"]).finished]
    assert summary["total_executions"] == len(finished) == 8
    assert summary["total_cpu"] == sum(e["cpu"] for e in finished)
    assert summary["total_io"] == sum(e["io"] for e in finished)
    assert math.isclose(summary["total_runtime"], sum(e["runtime"] for e in finished), abs_tol=1e-3)
