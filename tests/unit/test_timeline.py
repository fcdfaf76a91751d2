"""Status events: order, exactly-once, the final event closes the log, the actor feed."""
from __future__ import annotations

import pytest

from actors_core.enums import ExecutionStatus
from actors_core.ids import new_id
from actors_core.store import timeline


@pytest.fixture
def registered(store):
    def make(**fields):
        return store.actors.create({"id": new_id(), "owner": "alice", "image": "img",
                                    "stateless": True, "queue": "default", "max_workers": None,
                                    **fields})
    return make


def _submit(store, actor):
    return store.executions.submit(actor, {"id": new_id(), "executor": "alice",
                                           "content_type": "str", "environment": {}}, b"hi")


def _types(store, eid):
    return [e["type"] for e in store.timeline.since(eid)["events"]]


def test_an_execution_life_is_recorded_in_order_exactly_once(store, registered):
    actor = registered()
    execution = _submit(store, actor)
    eid = execution["id"]
    store.timeline.identify("spawner", "spawner-a")
    assert store.executions.claim_next(actor["id"], "spawner-a", "w1") == eid
    store.executions.request_kill(eid)
    store.executions.request_kill(eid)  # a second DELETE adds nothing
    record = store.executions.get_internal(eid)
    assert store.executions.finish(record, ExecutionStatus.COMPLETE, 60, exit_code=137,
                                   final_state={"ForceQuit": True})
    assert not store.executions.finish(record, ExecutionStatus.ERROR, 60, status_message="again")
    page = store.timeline.since(eid)
    assert [e["type"] for e in page["events"]] == [
        "ACCEPTED", "QUEUED", "CLAIMED", "FORCE_QUIT_REQUESTED", "FINISHED"]
    assert [e["seq"] for e in page["events"]] == [1, 2, 3, 4, 5]
    assert page["cursor"] == 5 and page["final"] is True
    first, claimed, finished = page["events"][0], page["events"][2], page["events"][4]
    assert first["source"]["service"] == "api" and first["time"].endswith("Z")
    assert len(first["time"]) == len("2024-05-01T12:00:01.123Z")
    assert claimed["source"] == {"service": "spawner", "node": "spawner-a", "version": "0.1.0"}
    assert "spawner-a" in claimed["message"]
    assert finished["detail"]["exit_code"] == 137 and "Force-quit" in finished["message"]
    # Nothing is appended after the final event.
    assert store.timeline.record(eid, "STARTED", "late") is None
    assert store.timeline.last_seq(eid) == 5


def test_since_pages_and_says_when_the_log_is_final(store, registered):
    actor = registered()
    eid = _submit(store, actor)["id"]
    page = store.timeline.since(eid, since=0, limit=1)
    assert [e["seq"] for e in page["events"]] == [1] and page["cursor"] == 1
    page = store.timeline.since(eid, since=1)
    assert [e["seq"] for e in page["events"]] == [2] and not page["final"]
    assert store.timeline.since(eid, since=2) == {"events": [], "cursor": 2, "final": False}
    assert store.executions.cancel(actor["id"], eid)
    page = store.timeline.since(eid, since=2)
    assert [e["type"] for e in page["events"]] == ["CANCELLED"] and page["final"]
    assert store.timeline.since(eid, since=3)["final"]


def test_error_events_carry_the_reason(store, registered):
    actor = registered()
    eid = _submit(store, actor)["id"]
    store.executions.claim_next(actor["id"], "s", "w")
    store.executions.finish(store.executions.get_internal(eid), ExecutionStatus.ERROR, 60,
                            status_message="Image 'x' is missing.")
    last = store.timeline.since(eid)["events"][-1]
    assert last["type"] == "ERROR" and last["message"] == "Error: Image 'x' is missing."


def test_the_actor_feed_pages_over_all_executions(store, registered):
    actor = registered()
    first, second = _submit(store, actor)["id"], _submit(store, actor)["id"]
    feed = store.timeline.feed_since(actor["id"], 0)
    assert [(e["execution_id"], e["type"]) for e in feed["events"]] == [
        (first, "ACCEPTED"), (first, "QUEUED"), (second, "ACCEPTED"), (second, "QUEUED")]
    assert [e["cursor"] for e in feed["events"]] == [1, 2, 3, 4] and feed["cursor"] == 4
    assert store.timeline.feed_since(actor["id"], 3, limit=10)["events"][0]["cursor"] == 4
    assert store.timeline.feed_since(actor["id"], 4) == {"events": [], "cursor": 4, "head": 4}


def test_deleting_the_actor_removes_its_events(store, registered):
    actor = registered()
    eid = _submit(store, actor)["id"]
    store.delete_actor(actor)
    assert store.timeline.since(eid)["events"] == []
    assert store.timeline.feed_since(actor["id"])["events"] == []
    store.executions.request_kill(eid)  # a deleted execution gets no new log
    assert store.timeline.last_seq(eid) == 0


def test_events_are_published_for_streams(store, registered):
    pubsub = store.redis.pubsub()
    pubsub.subscribe("actors:status")
    pubsub.get_message(timeout=1)
    actor = registered()
    eid = _submit(store, actor)["id"]
    message = pubsub.get_message(timeout=1)
    assert message["data"].decode() == f"{actor['id']} {eid}"
    assert timeline.FINAL == ("FINISHED", "ERROR", "CANCELLED")


def test_an_events_body_is_json_dumps_of_its_fields(store):
    """Timeline.event builds the body from parts (a message post makes two); the bytes are
    those json.dumps would write, whatever the text holds."""
    import json

    from actors_core.store.timeline import Timeline

    timeline = Timeline(store.redis)
    message, detail = 'Queued "x" \\ é \u2603 \n', {"queue": "q", "n": [1, None, True]}
    spec = timeline.event("e1", "QUEUED", message, "a1", detail=detail,
                          when="2026-01-01T00:00:00.123Z")
    expected = {"time": "2026-01-01T00:00:00.123Z", "type": "QUEUED", "message": message,
                "source": timeline.source.as_dict(), "execution_id": "e1", "detail": detail}
    assert spec[4] == json.dumps(expected, separators=(",", ":"))[1:]
    plain = json.loads("{" + timeline.event("e1", "ACCEPTED", "m", "a1", service="runtime")[4])
    assert plain["source"]["service"] == "runtime" and "detail" not in plain


def test_events_appended_together_are_what_appending_them_one_by_one_writes(store):
    """submit's script appends ACCEPTED and QUEUED together (append_together): the same
    execution log, actor feed and cursors as two append_event calls, and once-only kinds
    are still refused the second time."""
    from actors_core.store import timeline as tl

    script = store.redis.register_script(tl.APPEND_LUA + """
local specs = cjson.decode(ARGV[1])
if ARGV[2] == 'together' then return append_together(specs) end
local n = 0
for _, spec in ipairs(specs) do if append_event(unpack(spec)) > 0 then n = n + 1 end end
return n
""")
    timeline = store.timeline
    logs = {}
    for how, eid, actor in (("together", "e1", "a1"), ("one by one", "e2", "a2")):
        specs = [timeline.event(eid, tl.ACCEPTED, "accepted", actor, when="2026-01-01T00:00:00.000Z"),
                 timeline.event(eid, tl.QUEUED, "queued", actor, detail={"queue": "q"},
                                when="2026-01-01T00:00:00.000Z")]
        import json

        assert script(args=[json.dumps(specs), how]) == 2
        assert script(args=[json.dumps(specs), how]) == 0  # once-only kinds: refused again
        log = timeline.since(eid)
        feed = timeline.feed_since(actor)
        logs[how] = ([(e["seq"], e["type"]) for e in log["events"]],
                     [(e["cursor"], e["seq"], e["type"]) for e in feed["events"]],
                     timeline.feed_cursor(actor))
    assert logs["together"] == logs["one by one"] == (
        [(1, "ACCEPTED"), (2, "QUEUED")], [(1, 1, "ACCEPTED"), (2, 2, "QUEUED")], 2)
