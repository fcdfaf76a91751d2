"""Events over fakeredis: link validation, link messages, webhook attempts with backoff."""
from __future__ import annotations

import json

import requests

from actors_core.config import Config
from actors_core.enums import ActorStatus, ExecutionStatus
from spawner import events

from .conftest import bearer


def _create(http, headers, **fields):
    response = http.post("/actors", headers=headers, json={"image": "x/y", **fields})
    assert response.status_code == 200, response.json
    return response.json["result"]


def test_a_link_must_name_an_actor_the_caller_may_execute(http, config, alice):
    bob = bearer(config, "bob")
    bobs = _create(http, bob)
    missing = http.post("/actors", headers=alice, json={"image": "x/y", "link": "nope"})
    assert missing.status_code == 404 and "no actor with id or alias 'nope'" in missing.json["message"]
    refused = http.post("/actors", headers=alice, json={"image": "x/y", "link": bobs["id"]})
    assert refused.status_code == 403 and "EXECUTE" in refused.json["message"]

    http.post(f"/actors/{bobs['id']}/permissions", headers=bob,
              json={"user": "alice", "level": "EXECUTE"})
    linked = _create(http, alice, link=bobs["id"])
    assert linked["link"] == bobs["id"]


def test_cycles_of_links_are_refused(http, alice):
    c = _create(http, alice)
    b = _create(http, alice, link=c["id"])
    a = _create(http, alice, link=b["id"])
    response = http.put(f"/actors/{c['id']}", headers=alice, json={"image": "x/y", "link": a["id"]})
    assert response.status_code == 400
    assert f"{c['id']} -> {a['id']} -> {b['id']} -> {c['id']}" in response.json["message"]
    self_link = http.put(f"/actors/{c['id']}", headers=alice, json={"image": "x/y", "link": c["id"]})
    assert self_link.status_code == 400 and "cycle" in self_link.json["message"]
    # through an alias too
    http.post("/actors/aliases", headers=alice, json={"alias": "the-a", "actor_id": a["id"]})
    via_alias = http.put(f"/actors/{c['id']}", headers=alice,
                         json={"image": "x/y", "link": "the-a"})
    assert via_alias.status_code == 400 and "cycle" in via_alias.json["message"]


def test_a_bad_webhook_url_is_a_400_and_an_empty_one_clears_it(http, alice):
    response = http.post("/actors", headers=alice, json={"image": "x/y", "webhook": "ftp://x"})
    assert response.status_code == 400 and "webhook" in response.json["message"]
    actor = _create(http, alice, webhook="http://hooks.example.org:8080/hook")
    cleared = http.put(f"/actors/{actor['id']}", headers=alice, data={"image": "x/y", "webhook": ""})
    assert cleared.status_code == 200 and cleared.json["result"]["webhook"] is None


def test_an_execution_event_becomes_a_json_message_to_the_linked_actor(http, alice, config, store):
    target = _create(http, alice)
    source = _create(http, alice, link=target["id"])
    store.actors.update(source["id"], owner="alice")
    execution = store.executions.submit(source, {
        "id": "exec1", "executor": "carol", "content_type": "str",
        "environment": {"_abaco_custom": "kept", "plain": "not kept"}}, b"hi")
    events.execution_finished(store, source["id"], store.executions.get_internal("exec1"),
                              ExecutionStatus.COMPLETE, 3)

    [sent] = [e for e in store.executions.list_for_actor(target["id"])]
    assert sent["content_type"] == "application/json" and sent["executor"] == "alice"
    event = json.loads(store.executions.message_body(sent["id"]))
    assert event["event_type"] == "EXECUTION_COMPLETE"
    assert (event["actor_id"], event["execution_id"], event["status"], event["exit_code"]) == \
        (source["id"], execution["id"], "COMPLETE", 3)
    assert event["_abaco_custom"] == "kept" and "plain" not in event
    assert event["_abaco_Content_Type"] == "str" and event["_abaco_username"] == "carol"
    assert event["event_time_utc"].endswith("Z")
    assert store.executions.get_internal(sent["id"])["environment"] == {"_abaco_link_depth": "1"}

    listed = http.get(f"/actors/{source['id']}/events", headers=alice).json["result"]
    assert [(e["kind"], e["status"], e["execution_id"]) for e in listed] == \
        [("link", "SUBMITTED", sent["id"])]


def test_status_changes_send_actor_events(http, alice, store):
    target = _create(http, alice)
    source = _create(http, alice, link=target["id"])
    events.actor_status_changed(store, source["id"], ActorStatus.READY)
    events.actor_status_changed(store, source["id"], ActorStatus.ERROR, "image gone")
    bodies = [json.loads(store.executions.message_body(e))
              for e in store.executions.ids_for_actor(target["id"])]
    assert [(b["event_type"], b["status"]) for b in bodies] == \
        [("ACTOR_READY", "READY"), ("ACTOR_ERROR", "ERROR")]
    assert bodies[1]["status_message"] == "image gone" and bodies[1]["execution_id"] is None


def test_run_outcomes_report_status_changes_only(store, http, alice):
    actor = _create(http, alice)
    store.actors.set_status(actor["id"], ActorStatus.READY)
    assert store.actors.record_run_outcome(actor["id"], True, threshold=2) is None
    assert store.actors.record_run_outcome(actor["id"], False, threshold=2) is None
    assert store.actors.record_run_outcome(actor["id"], False, threshold=2) is ActorStatus.ERROR
    assert store.actors.record_run_outcome(actor["id"], False, threshold=2) is None
    assert store.actors.record_run_outcome(actor["id"], True, threshold=2) is ActorStatus.READY


def test_a_link_chain_that_comes_round_stops(http, alice, store):
    a = _create(http, alice)
    b = _create(http, alice, link=a["id"])
    store.actors.update(a["id"], link=b["id"])  # as if an alias had been repointed
    context = {"_abaco_link_depth": str(events.MAX_LINK_DEPTH)}
    events.send_link(store, store.actors.get_internal(a["id"]), {"event_type": "X"}, context)
    assert store.executions.ids_for_actor(b["id"]) == []
    [record] = store.events.list_for_actor(a["id"])
    assert record["status"] == "FAILED" and "links" in record["status_message"]


class FakeEndpoint:
    """Answers each POST from a script: an exception to raise or a status code."""

    def __init__(self, *script):
        self.script, self.calls = list(script), []

    def __call__(self, url, json=None, timeout=None, headers=None):
        self.calls.append((url, json))
        outcome = self.script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return type("Response", (), {"status_code": outcome})()


def test_webhooks_retry_with_backoff_and_record_every_attempt(http, alice, store):
    config = Config(jwt_secret="x" * 32, webhook_backoff=(5, 30), webhook_max_attempts=4)
    actor = _create(http, alice, webhook="http://hooks.example.org:9/hook")
    events.actor_status_changed(store, actor["id"], ActorStatus.READY)
    [record] = store.events.list_for_actor(actor["id"])
    assert record["status"] == "PENDING" and record["target"] == "http://hooks.example.org:9/hook"

    endpoint = FakeEndpoint(requests.ConnectionError("refused"), 503, 200)
    now = 1000.0
    assert events.deliver(store, config, record["id"], endpoint, clock=lambda: now) == "RETRYING"
    assert events.release_due(store, clock=lambda: now + 4) == []  # not yet: 5 s backoff
    assert events.release_due(store, clock=lambda: now + 5) == [record["id"]]
    assert events.release_due(store, clock=lambda: now + 6) == []  # claimed once
    assert events.deliver(store, config, record["id"], endpoint, clock=lambda: now + 5) == "RETRYING"
    assert events.deliver(store, config, record["id"], endpoint, clock=lambda: now + 40) == "DELIVERED"
    assert events.deliver(store, config, record["id"], endpoint) is None  # settled: no more posts

    shown = http.get(f"/actors/{actor['id']}/events", headers=alice).json["result"][0]
    assert shown["status"] == "DELIVERED" and shown["event"]["event_type"] == "ACTOR_READY"
    attempts = shown["attempts"]
    assert [(a["attempt"], a["status_code"], a.get("next_delay")) for a in attempts] == \
        [(1, None, 5.0), (2, 503, 30.0), (3, 200, None)]
    assert "refused" in attempts[0]["error"] and attempts[1]["error"] == "HTTP 503"
    assert len(endpoint.calls) == 3 and endpoint.calls[0][1]["actor_id"] == actor["id"]
    assert events.release_due(store, clock=lambda: now + 10_000) == []


def test_a_dead_webhook_fails_after_its_last_attempt(http, alice, store):
    config = Config(jwt_secret="x" * 32, webhook_backoff=(1,), webhook_max_attempts=2)
    actor = _create(http, alice, webhook="http://hooks.example.org:9/hook")
    events.actor_status_changed(store, actor["id"], ActorStatus.READY)
    [record] = store.events.list_for_actor(actor["id"])
    endpoint = FakeEndpoint(requests.Timeout("slow"), requests.Timeout("slow"))
    assert events.deliver(store, config, record["id"], endpoint) == "RETRYING"
    assert events.deliver(store, config, record["id"], endpoint) == "FAILED"
    assert store.events.get(record["id"])["status_message"].startswith("Timeout")


def test_an_event_never_raises_into_its_caller(store, monkeypatch, http, alice):
    actor = _create(http, alice, webhook="http://hooks.example.org:9/hook")
    monkeypatch.setattr(store.events, "create_webhook",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("redis down")))
    events.actor_status_changed(store, actor["id"], ActorStatus.READY)  # logged, not raised


def test_deleting_an_actor_deletes_its_events(http, alice, store):
    actor = _create(http, alice, webhook="http://hooks.example.org:9/hook")
    events.actor_status_changed(store, actor["id"], ActorStatus.READY)
    [record] = store.events.list_for_actor(actor["id"])
    http.delete(f"/actors/{actor['id']}", headers=alice)
    assert store.events.get(record["id"]) is None
    assert events.release_due(store, clock=lambda: 1e12) == []
