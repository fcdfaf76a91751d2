"""The search query language, and the search endpoint over fakeredis."""
from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from actors_api.errors import APIError
from actors_api.schemas.search import Condition, parse_query
from actors_core.enums import ExecutionStatus

from .conftest import bearer

FIELDS = ("id", "status", "exit_code", "hints", "final_state", "finish_time", "stateless",
          "create_time", "name", "cpu")


def query(text):
    pairs = [part.split("=", 1) for part in text.split("&") if part]
    return parse_query("executions", MultiDict(pairs), FIELDS)


def matches(text, record):
    return query(text).matches(record)


RECORD = {"id": "abc", "status": "COMPLETE", "exit_code": 2, "hints": ["gpu", "nightly"],
          "final_state": {"ExitCode": 2, "FinishedAt": "2026-05-01T10:00:00.5Z"},
          "finish_time": None, "stateless": True, "create_time": "2026-05-01T09:00:00.000000Z",
          "name": "Alpha One", "cpu": 1500}


@pytest.mark.parametrize("text, expected", [
    ("status.eq=COMPLETE", True), ("status=COMPLETE", True), ("status.eq=complete", False),
    ("status.neq=ERROR", True), ("status.in=ERROR,COMPLETE", True), ("status.nin=COMPLETE", False),
    ("exit_code.eq=2", True), ("exit_code.eq=2.0", True), ("exit_code.gt=1", True),
    ("exit_code.gt=2", False), ("exit_code.gte=2", True), ("exit_code.lt=2", False),
    ("exit_code.lte=2", True), ("exit_code.between=0,2", True), ("exit_code.between=3,9", False),
    ("exit_code.gt=abc", False), ("cpu.between=1000,2000", True),
    ("hints.eq=gpu", True), ("hints.neq=gpu", False), ("hints.in=cpu,nightly", True),
    ("hints.nin=cpu,gpu", False), ("hints.like=NIGHT", True),
    ("name.like=alpha", True), ("name.like=al*one", True), ("name.nlike=beta", True),
    ("name.like=a.p", False),
    ("final_state.ExitCode.eq=2", True), ("final_state.FinishedAt.gt=2026-05-01T10:00:00Z", True),
    ("final_state.FinishedAt.lt=2026-05-01", False), ("final_state.Missing.eq=1", False),
    ("final_state.Missing.neq=1", True),
    ("create_time.eq=2026-05-01T09:00:00Z", True),
    ("create_time.between=2026-05-01T08:00:00+00:00,2026-05-01T10:00:00+02:00", False),
    ("create_time.between=2026-05-01T08:00:00+00:00,2026-05-01T12:00:00+02:00", True),
    ("create_time.gt=yesterday", False),
    ("finish_time.eq=null", True), ("finish_time.neq=null", False), ("finish_time.gt=2020-01-01", False),
    ("stateless.eq=true", True), ("stateless.eq=false", False),
    ("search=alpha ONE", True), ("search=nightly", True), ("search=zzz", False),
    ("exactsearch=Alpha One", True), ("exactsearch=Alpha", False), ("exactsearch=2", True),
    ("status.eq=COMPLETE&exit_code.eq=3", False),
])
def test_operators(text, expected):
    assert matches(text, RECORD) is expected


@pytest.mark.parametrize("text, complaint", [
    ("bogus.eq=1", "Unknown field 'bogus'"), ("status.is=1", "Unknown search operator 'is'"),
    ("final_state.ExitCode=0", "Unknown search operator 'ExitCode'"),
    ("exit_code.between=1,2,3", "two values"), ("limit=x", "'limit'"), ("skip=-3", "'skip'"),
    ("limit=100000", "at most"),
])
def test_bad_queries_are_refused_with_the_reason(text, complaint):
    with pytest.raises(APIError) as raised:
        query(text)
    assert complaint in raised.value.message


def test_defaults_and_paging():
    parsed = query("skip=5&limit=7&status.in=A,B")
    assert (parsed.skip, parsed.limit) == (5, 7)
    assert parsed.conditions == [Condition(("status",), "in", ("A", "B"))]
    assert query("").limit == 100


# -- the endpoint over fakeredis ----------------------------------------------------
def _actor(http, headers, **fields):
    response = http.post("/actors", json={"image": "img", **fields}, headers=headers)
    return response.json["result"]


def _send(http, headers, actor_id):
    return http.post(f"/actors/{actor_id}/messages", data={"message": "m"},
                     headers=headers).json["result"]["execution_id"]


def test_search_route_wins_over_actor_routes(http, alice, store):
    actor = _actor(http, alice, hints=["x"])
    eid = _send(http, alice, actor["id"])
    for kind in ("executions", "workers", "logs", "actors"):
        response = http.get(f"/actors/search/{kind}", headers=alice)
        assert response.status_code == 200, (kind, response.json)
        assert set(response.json["result"]) == {"_metadata", "search"}
    found = http.get("/actors/search/executions", headers=alice).json["result"]["search"]
    assert [e["id"] for e in found] == [eid]


def test_search_is_limited_to_readable_actors(http, alice, config, store):
    bob = bearer(config, "bob")
    mine = _actor(http, alice)
    theirs = _actor(http, bob)
    _send(http, alice, mine["id"])
    _send(http, bob, theirs["id"])
    found = http.get("/actors/search/executions", headers=alice).json["result"]
    assert {e["actor_id"] for e in found["search"]} == {mine["id"]}
    assert found["_metadata"]["total_count"] == 1
    http.post(f"/actors/{theirs['id']}/permissions", json={"user": "alice", "level": "READ"},
              headers=bob)
    found = http.get("/actors/search/executions", headers=alice).json["result"]
    assert {e["actor_id"] for e in found["search"]} == {mine["id"], theirs["id"]}
    admin = bearer(config, "root", roles=("admin",))
    assert http.get("/actors/search/actors", headers=admin).json["result"]["_metadata"][
        "total_count"] == 2


def test_status_index_follows_every_transition(http, alice, store):
    actor = _actor(http, alice)
    first, second = _send(http, alice, actor["id"]), _send(http, alice, actor["id"])

    def statuses(status):
        return [e["id"] for e in http.get(f"/actors/search/executions?status.eq={status}",
                                          headers=alice).json["result"]["search"]]

    assert statuses("SUBMITTED") == [first, second]
    assert store.executions.claim_next(actor["id"], "sp", "w") == first
    assert statuses("RUNNING") == [first]
    store.executions.finish(store.executions.get_internal(first), ExecutionStatus.ERROR, 60,
                            exit_code=137)
    assert statuses("ERROR") == [first] and statuses("RUNNING") == []
    assert http.delete(f"/actors/{actor['id']}/executions/{second}", headers=alice).status_code == 200
    assert statuses("COMPLETE") == [second] and statuses("SUBMITTED") == []
    found = http.get("/actors/search/executions?exit_code.gte=100", headers=alice).json["result"]
    assert [e["id"] for e in found["search"]] == [first]


def test_camel_case_field_names(store):
    from actors_api import create_app
    from actors_core.config import Config

    config = Config(jwt_secret="unit-tests-secret-0123456789abcdef0123", case="camel")
    http = create_app(config, store).test_client()
    headers = bearer(config)
    actor = _actor(http, headers)
    http.post(f"/actors/{actor['id']}/messages", data={"message": "m"}, headers=headers)
    found = http.get(f"/actors/search/executions?actorId.eq={actor['id']}",
                     headers=headers).json["result"]
    assert found["_metadata"]["totalCount"] == 1
    assert found["search"][0]["actorId"] == actor["id"]


def test_reindex_rebuilds_what_was_lost(http, alice, store):
    actor = _actor(http, alice)
    first, second = _send(http, alice, actor["id"]), _send(http, alice, actor["id"])
    store.executions.claim_next(actor["id"], "sp", "w")
    store.executions.finish(store.executions.get_internal(first), ExecutionStatus.COMPLETE, 60,
                            exit_code=4)
    for key in store.redis.keys("actors:*executions:*"):
        if b"by-time" in key or b"status" in key or b"exit-code" in key:
            store.redis.delete(key)
    assert http.get("/actors/search/executions", headers=alice).json["result"]["search"] == []
    assert store.search.reindex() == 2
    found = http.get("/actors/search/executions?exit_code.eq=4&status.eq=COMPLETE",
                     headers=alice).json["result"]["search"]
    assert [e["id"] for e in found] == [first]
    assert [e["id"] for e in http.get("/actors/search/executions?status.eq=SUBMITTED",
                                      headers=alice).json["result"]["search"]] == [second]


# -- values as Abaco clients write them ---------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ('status.in=["COMPLETE", "READY"]', True), ("status.in=['ERROR', 'READY']", False),
    ('status.nin=["COMPLETE"]', False), ("exit_code.in=[1, 2]", True),
    ('exit_code.between=[0, 2]', True), ('hints.in=["gpu"]', True),
    # partial or offset times, completed with the earliest instant they name
    ("create_time.gt=2026-05-01T08:59", True), ("create_time.gt=2026-05-01T09:00", False),
    ("create_time.gte=2026-05-01T09", True), ("create_time.gt=2026-05-01", True),
    ("create_time.lt=2026-05-02", True), ("create_time.lt=2026-05", False),
    ("create_time.gt=2026", True), ("create_time.lt=2027", True),
    ("create_time.gt=2026-05-01T10:00+02:00", True),
    ("create_time.gt=2026-05-01T10:00 02:00", True),  # '+' decoded as a space
    ("create_time.between=2026-05-01T08,2026-05-01T10", True),
    ("create_time.between=2026-05-01T10,2026-05-02", False),
    ("create_time.lt=2026-05:00", False), ("create_time.gt=2026-05:00", True),
])
def test_values_as_abaco_clients_write_them(text, expected):
    assert matches(text, RECORD) is expected


def test_partial_times_are_completed_with_the_earliest_instant():
    from datetime import datetime, timedelta, timezone

    from actors_core.times import parse_partial_iso

    utc = timezone.utc
    assert parse_partial_iso("2000-01-01T01:00") == datetime(2000, 1, 1, 1, tzinfo=utc)
    assert parse_partial_iso("2000-01-01") == datetime(2000, 1, 1, tzinfo=utc)
    assert parse_partial_iso("2000-05:00") == datetime(2000, 1, 1, tzinfo=timezone(-timedelta(hours=5)))
    assert parse_partial_iso("2000-05") == datetime(2000, 5, 1, tzinfo=utc)
    assert parse_partial_iso("2000-02-30") is None and parse_partial_iso("soon") is None


def test_json_lists_and_partial_times_through_the_api_and_the_indexes(http, alice, store):
    actor = http.post("/actors", data={"image": "x"}, headers=alice).json["result"]
    ids = [http.post(f"/actors/{actor['id']}/messages", data={"message": str(n)},
                     headers=alice).json["result"]["execution_id"] for n in range(3)]
    store.executions.claim_next(actor["id"], "h", f"{actor['id']}-1")
    year = ids and http.get(f"/actors/{actor['id']}/executions/{ids[0]}",
                            headers=alice).json["result"]["message_received_time"][:4]
    cases = {
        'status.in=["SUBMITTED", "RUNNING"]': 3, "status.in=['RUNNING']": 1,
        'status.nin=["RUNNING"]': 2, f"message_received_time.gte={year}": 3,
        f"message_received_time.lt={year}": 0, "message_received_time.gt=2000-05:00": 3,
        f"message_received_time.between=[\"{year}\", \"{int(year) + 1}-01-01\"]": 3,
    }
    for text, count in cases.items():
        response = http.get(f"/actors/search/executions?{text}", headers=alice)
        assert response.status_code == 200, (text, response.json)
        assert response.json["result"]["_metadata"]["total_count"] == count, text
    bad = http.get("/actors/search/executions?status.in=[oops", headers=alice)
    assert bad.status_code == 200  # not a JSON list: comma-separated text, matching nothing
