"""The fast lane answers warm message posts exactly as the Flask route would, and leaves
everything else (first requests, refusals, forms, query strings) to the route."""
from __future__ import annotations

import json

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from actors_api import create_app
from actors_core.tokens import mint

from .conftest import bearer
from .test_front_door import RoundTrips


@pytest.fixture
def routed(app, monkeypatch):
    """Calls of the Flask route (the lane does not call it)."""
    calls = []
    view = app.view_functions["messages.send_message"]

    def counting(*args, **kwargs):
        calls.append(kwargs.get("actor_id"))
        return view(*args, **kwargs)

    monkeypatch.setitem(app.view_functions, "messages.send_message", counting)
    return calls


def _actor(http, headers, **fields):
    response = http.post("/actors", json={"image": "actors/echo", **fields}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json["result"]


def _post_json(http, path, headers, body=b'{"n": 1}', content_type="application/json"):
    return http.post(path, data=body, headers=dict(headers, **{"Content-Type": content_type}))


def _same_answer(lane, flask):
    """Equal but for the execution id (in the result and its links)."""
    assert lane.status_code == flask.status_code == 200
    assert dict(lane.headers) == dict(flask.headers)
    eid_lane = lane.json["result"]["execution_id"]
    eid_flask = flask.json["result"]["execution_id"]
    assert lane.data.replace(eid_lane.encode(), b"E") == flask.data.replace(eid_flask.encode(), b"E")


def test_a_warm_post_is_answered_by_the_lane_as_flask_answers_it(http, alice, store, routed,
                                                                 monkeypatch):
    actor = _actor(http, alice)
    path = f"/actors/{actor['id']}/messages"
    first = _post_json(http, path, alice)  # token verified, grant decided: by the route
    assert routed == [actor["id"]]
    trips = RoundTrips(monkeypatch, store.redis)
    with trips:
        lane = _post_json(http, path, alice)
    assert routed == [actor["id"]] and trips.count == 1  # the lane, one round trip
    _same_answer(lane, first)
    record = store.executions.get_internal(lane.json["result"]["execution_id"])
    assert record["executor"] == "alice" and record["content_type"] == "application/json"
    assert store.executions.message_body(record["id"]) == b'{"n": 1}'


@pytest.mark.parametrize("content_type,body", [("text/plain", "héllo".encode()),
                                               ("application/octet-stream", b"\x00\xff")])
def test_text_and_binary_take_the_lane_too(http, alice, store, routed, content_type, body):
    actor = _actor(http, alice)
    path = f"/actors/{actor['id']}/messages"
    first = _post_json(http, path, alice, body, content_type)
    lane = _post_json(http, path, alice, body, content_type)
    assert len(routed) == 1
    _same_answer(lane, first)
    assert store.executions.message_body(lane.json["result"]["execution_id"]) == body


def test_the_lane_off_leaves_every_post_to_flask(config, store):
    app = create_app(config.with_overrides(fast_lane=False), store)
    http = app.test_client()
    alice = bearer(config)
    actor = _actor(http, alice)
    calls = []
    view = app.view_functions["messages.send_message"]
    app.view_functions["messages.send_message"] = lambda **kw: calls.append(1) or view(**kw)
    for _ in range(2):
        assert _post_json(http, f"/actors/{actor['id']}/messages", alice).status_code == 200
    assert len(calls) == 2


def test_what_the_lane_does_not_take_goes_to_flask(http, alice, store, routed):
    actor = _actor(http, alice)
    path = f"/actors/{actor['id']}/messages"
    assert _post_json(http, path, alice).status_code == 200  # warm
    count = len(routed)
    # a form, a query string (an environment variable), no token (refused before the view)
    assert http.post(path, data={"message": "m"}, headers=alice).status_code == 200
    with_query = _post_json(http, path + "?NAME=v", alice)
    eid = with_query.json["result"]["execution_id"]
    assert store.executions.get_internal(eid)["environment"] == {"NAME": "v"}
    assert _post_json(http, path, {}).status_code == 401
    assert _post_json(http, path + "/", alice).status_code == 200  # another spelling
    assert len(routed) == count + 3


def test_refusals_are_flasks_with_the_body_put_back(http, alice, store, routed):
    actor = _actor(http, alice)
    path = f"/actors/{actor['id']}/messages"
    _post_json(http, path, alice)
    bad = _post_json(http, path, alice, b'{"n": ')
    assert bad.status_code == 400 and "JSON message was refused" in bad.json["message"]
    too_long = _post_json(http, path, alice, b"x" * 131_068, "text/plain")
    assert too_long.status_code == 413 and "MSG" in too_long.json["message"]
    assert store.executions.queued_count(actor["id"]) == 1


def test_a_changed_permission_or_a_revoked_token_is_flasks_to_answer(http, alice, config, store):
    actor = _actor(http, alice)
    path = f"/actors/{actor['id']}/messages"
    bob = bearer(config, "bob")
    share = f"/actors/{actor['id']}/permissions"
    http.post(share, json={"user": "bob", "level": "EXECUTE"}, headers=alice)
    assert _post_json(http, path, bob).status_code == 200
    assert _post_json(http, path, bob).status_code == 200  # the lane
    http.post(share, json={"user": "bob", "level": "READ"}, headers=alice)
    refused = _post_json(http, path, bob)
    assert refused.status_code == 403 and "EXECUTE" in refused.json["message"]
    token = mint(config, "alice", actor=actor["id"], token_id="lane-token")
    scoped = {"Authorization": f"Bearer {token}"}
    assert _post_json(http, path, scoped).status_code == 200
    store.revoked_tokens.revoke("lane-token", 2_000_000_000)
    revoked = _post_json(http, path, scoped)
    assert revoked.status_code == 401 and "revoked" in revoked.json["message"]
    assert store.executions.queued_count(actor["id"]) == 3


def test_camel_case_answers_are_flasks(config, store):
    app = create_app(config.with_overrides(case="camel"), store)
    http = app.test_client()
    alice = bearer(config)
    actor = _actor(http, alice)
    path = f"/actors/{actor['id']}/messages"
    for _ in range(2):
        assert "executionId" in _post_json(http, path, alice).json["result"]


def test_redis_away_is_the_apps_503(http, alice, store, monkeypatch):
    actor = _actor(http, alice)
    path = f"/actors/{actor['id']}/messages"
    _post_json(http, path, alice)

    def away(*args, **kwargs):
        raise RedisConnectionError("gone")

    monkeypatch.setattr(store.executions, "submit", away)
    response = _post_json(http, path, alice)
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert json.loads(response.data)["status"] == "error"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_the_lane_counts_and_times_its_posts_like_the_route(http, alice):
    actor = _actor(http, alice)
    path = f"/actors/{actor['id']}/messages"

    def figures():
        text = http.get("/metrics").data.decode()
        accepted = [line for line in text.splitlines() if line.startswith(
            'actors_messages_accepted_total{content_type="application/json",queue="default"}')]
        timed = [line for line in text.splitlines() if line.startswith(
            "actors_api_request_duration_seconds_count") and 'method="POST"' in line
            and 'route="/actors/<actor:actor_id>/messages"' in line and 'status="200"' in line]
        return (float(accepted[0].split()[-1]) if accepted else 0.0,
                float(timed[0].split()[-1]) if timed else 0.0)

    _post_json(http, path, alice)
    before = figures()
    _post_json(http, path, alice)  # the lane
    after = figures()
    assert after[0] == before[0] + 1 and after[1] == before[1] + 1


def test_links_name_the_host_the_client_used(http, alice):
    actor = _actor(http, alice)
    path = f"/actors/{actor['id']}/messages"
    _post_json(http, path, alice)
    for host in ("api.example.org", "localhost:8000"):
        links = http.post(path, data=b"{}", base_url=f"https://{host}",
                          headers=dict(alice, **{"Content-Type": "application/json"})
                          ).json["result"]["_links"]
        assert links["messages"] == f"https://{host}{path}"
