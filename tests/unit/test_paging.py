"""Listing an actor's executions: pages of at most 1,000, newest 100 by default; totals are
counters that agree with the records however the executions ended."""
from __future__ import annotations

import math

from actors_core.enums import ExecutionStatus
from actors_core.ids import new_id


def _actor(http, headers):
    response = http.post("/actors", json={"image": "actors/echo"}, headers=headers)
    return response.json["result"]


def _send(store, actor_id, count):
    actor = store.actors.get_internal(actor_id)
    return [store.executions.submit(actor, {"id": new_id(), "executor": "alice",
                                            "content_type": "str", "environment": {}}, b"m")["id"]
            for _ in range(count)]


def _list(http, headers, actor_id, query=""):
    response = http.get(f"/actors/{actor_id}/executions{query}", headers=headers)
    assert response.status_code == 200, response.json
    return response.json["result"]


def test_an_abaco_client_that_never_pages_gets_the_newest_100_oldest_first(http, alice, store):
    actor = _actor(http, alice)
    sent = _send(store, actor["id"], 130)
    listing = _list(http, alice, actor["id"])
    assert listing["ids"] == sent[-100:]
    assert [e["id"] for e in listing["executions"]] == sent[-100:]
    assert set(listing["executions"][0]) == {"id", "status", "message_received_time",
                                             "start_time", "finish_time"}
    assert listing["_metadata"] == {"total_count": 130, "records_skipped": 30, "record_limit": 100,
                                    "count_returned": 100, "next_offset": None,
                                    "next_cursor": None, "previous_offset": 0}


def test_offsets_walk_every_execution_in_arrival_order(http, alice, store):
    actor = _actor(http, alice)
    sent = _send(store, actor["id"], 25)
    seen, offset = [], 0
    while offset is not None:
        page = _list(http, alice, actor["id"], f"?limit=10&offset={offset}")
        assert page["_metadata"]["records_skipped"] == offset
        seen += page["ids"]
        offset = page["_metadata"]["next_offset"]
    assert seen == sent
    assert _list(http, alice, actor["id"], "?offset=99")["ids"] == []


def test_cursors_continue_where_the_last_page_ended_while_messages_arrive(http, alice, store):
    actor = _actor(http, alice)
    sent = _send(store, actor["id"], 12)
    page = _list(http, alice, actor["id"], "?limit=5&offset=0")
    seen = list(page["ids"])
    sent += _send(store, actor["id"], 4)  # arrive while the client pages
    while page["_metadata"]["next_cursor"]:
        cursor = page["_metadata"]["next_cursor"]
        page = _list(http, alice, actor["id"], f"?limit=5&cursor={cursor}")
        assert page["_metadata"]["records_skipped"] == len(seen)
        seen += page["ids"]
    assert seen == sent and page["_metadata"]["next_offset"] is None


def test_limit_zero_counts_only_and_bad_paging_is_a_400(http, alice, store):
    actor = _actor(http, alice)
    _send(store, actor["id"], 3)
    counted = _list(http, alice, actor["id"], "?limit=0")
    assert counted["ids"] == [] and counted["_metadata"]["total_count"] == 3
    for query, named in (("?limit=1001", "limit"), ("?limit=-1", "limit"), ("?offset=x", "offset"),
                         ("?cursor=bm9wZQ", "cursor"), ("?cursor=%%%", "cursor"),
                         ("?offset=1&cursor=YWZ0ZXI6MQ", "cursor"),
                         ("?offset=1372496570600722530304", "offset"),  # past Redis's integers
                         ("?cursor=%s" % "YWZ0ZXI6MTE4MDU5MTYyMDcxNzQxMTMwMzQyNA", "cursor")):
        response = http.get(f"/actors/{actor['id']}/executions{query}", headers=alice)
        assert response.status_code == 400 and named in response.json["message"], query


def test_a_listing_reads_only_its_page(http, alice, store, monkeypatch):
    """However many executions an actor has, a page reads only its own records."""
    actor = _actor(http, alice)
    _send(store, actor["id"], 60)
    from redis.client import Pipeline

    read = []
    for cls in (type(store.redis), Pipeline):
        for method in ("hmget", "hgetall"):
            original = getattr(cls, method)

            def counting(redis, name, *args, _original=original, **kwargs):
                read.append(name)
                return _original(redis, name, *args, **kwargs)

            monkeypatch.setattr(cls, method, counting)
    _list(http, alice, actor["id"], "?limit=7")
    assert len([key for key in read if ":execution:" in str(key)]) == 7


def test_the_dead_letter_view_pages_over_the_dead_letters_only(http, alice, store):
    actor = _actor(http, alice)
    sent = _send(store, actor["id"], 9)
    dead = sent[1::3]
    for eid in dead:
        store.executions.update(eid, retries_exhausted=True)
    page = _list(http, alice, actor["id"], "?retries_exhausted=true&limit=2&offset=0")
    assert page["ids"] == dead[:2] and page["_metadata"]["total_count"] == 3
    rest = _list(http, alice, actor["id"],
                 f"?retries_exhausted=true&limit=2&cursor={page['_metadata']['next_cursor']}")
    assert rest["ids"] == dead[2:] and rest["_metadata"]["next_cursor"] is None
    assert _list(http, alice, actor["id"], "?retries_exhausted=true")["ids"] == dead


# -- totals ------------------------------------------------------------------------------

def _recount(store, actor_id) -> dict:
    """The totals computed the slow way, from every record."""
    ids = store.executions.ids_for_actor(actor_id)
    finished = [store.executions.get(eid) for eid in ids]
    finished = [e for e in finished if ExecutionStatus(e["status"]).finished]
    return {"total_executions": len(finished),
            "total_cpu": sum(e["cpu"] or 0 for e in finished),
            "total_io": sum(e["io"] or 0 for e in finished),
            "total_runtime": round(sum(e["runtime"] or 0 for e in finished), 3)}


def test_totals_are_counters_that_agree_with_every_record(http, alice, store):
    actor = _actor(http, alice)
    ids = _send(store, actor["id"], 12)
    outcomes = {}
    for n, eid in enumerate(ids[:8]):  # 8 run: COMPLETE or ERROR, with usage
        assert store.executions.claim_next(actor["id"], "sp", f"{actor['id']}-1") == eid
        record = store.executions.get_internal(eid)
        status = ExecutionStatus.ERROR if n % 3 == 0 else ExecutionStatus.COMPLETE
        outcomes[eid] = status
        assert store.executions.finish(record, status, 60, cpu=1000 * n, io=10 * n,
                                       runtime=0.1 * n + 0.013, exit_code=n % 2)
    for eid in ids[8:10]:  # 2 cancelled while queued (COMPLETE, never ran)
        response = http.delete(f"/actors/{actor['id']}/executions/{eid}", headers=alice)
        assert response.json["result"]["status"] == "COMPLETE"
    assert store.executions.cancel(actor["id"], ids[8]) is False  # a second cancel counts nothing
    # 2 still queued: not finished, not counted
    listing = _list(http, alice, actor["id"], "?limit=3")
    expected = _recount(store, actor["id"])
    assert expected["total_executions"] == 10
    for name, value in expected.items():
        assert math.isclose(listing[name], value, abs_tol=0.001), name
    assert store.executions.totals(actor["id"])["total_executions"] == 10


def test_purge_counts_what_it_cancelled(http, alice, store):
    actor = _actor(http, alice)
    _send(store, actor["id"], 4)
    assert http.delete(f"/actors/{actor['id']}/messages", headers=alice).json["result"]["cancelled"] == 4
    assert _list(http, alice, actor["id"])["total_executions"] == _recount(store, actor["id"])[
        "total_executions"] == 4


def test_deleting_the_actor_takes_its_counters(http, alice, store):
    actor = _actor(http, alice)
    _send(store, actor["id"], 2)
    http.delete(f"/actors/{actor['id']}/messages", headers=alice)
    http.delete(f"/actors/{actor['id']}", headers=alice)
    assert store.executions.totals(actor["id"])["total_executions"] == 0
