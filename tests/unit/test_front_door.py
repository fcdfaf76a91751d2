"""The front door: a message or an execution read costs one Redis round trip once warm; the
caches behind that (verified tokens, access grants) never let through what the uncached
path would refuse."""
from __future__ import annotations

from actors_core.tokens import mint

from .conftest import bearer


class RoundTrips:
    """Counts what reaches Redis: one ``send_packed_command`` is one round trip (a pipeline
    or a script is one; so is each plain command)."""

    def __init__(self, monkeypatch, redis):
        self.count = 0
        cls = redis.connection_pool.connection_class
        send = cls.send_packed_command

        def counting(connection, *args, **kwargs):
            self.count += 1
            return send(connection, *args, **kwargs)

        monkeypatch.setattr(cls, "send_packed_command", counting)

    def __enter__(self):
        self.count = 0
        return self

    def __exit__(self, *exc):
        return False


def _actor(http, headers, **fields):
    response = http.post("/actors", json={"image": "actors/echo", **fields}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json["result"]


def _post(http, actor_id, headers, message="hi"):
    return http.post(f"/actors/{actor_id}/messages", data={"message": message}, headers=headers)


def test_reading_one_execution_is_one_round_trip_once_warm(http, alice, store, monkeypatch):
    actor = _actor(http, alice)
    eid = _post(http, actor["id"], alice).json["result"]["execution_id"]
    path = f"/actors/{actor['id']}/executions/{eid}"
    trips = RoundTrips(monkeypatch, store.redis)
    assert http.get(path, headers=alice).status_code == 200
    with trips:
        response = http.get(path, headers=alice)
    assert trips.count == 1 and response.json["result"]["id"] == eid
    assert response.json["result"]["_links"]["self"].endswith(path)
    assert "sequence" not in response.json["result"]
    with trips:
        missing = http.get(f"/actors/{actor['id']}/executions/nope", headers=alice)
    assert missing.status_code == 404 and trips.count == 1


def test_another_actors_execution_is_not_found_through_this_one(http, alice):
    first, second = _actor(http, alice), _actor(http, alice)
    eid = _post(http, first["id"], alice).json["result"]["execution_id"]
    assert http.get(f"/actors/{second['id']}/executions/{eid}", headers=alice).status_code == 404


# -- the guards: a cached grant is never acted on once what it rested on changed ------------

def test_a_withdrawn_permission_is_refused_at_once(http, alice, config):
    actor = _actor(http, alice)
    eid = _post(http, actor["id"], alice).json["result"]["execution_id"]
    path = f"/actors/{actor['id']}/executions/{eid}"
    bob = bearer(config, "bob")
    share = f"/actors/{actor['id']}/permissions"
    http.post(share, json={"user": "bob", "level": "READ"}, headers=alice)
    assert http.get(path, headers=bob).status_code == 200  # bob's grant is now cached
    http.post(share, json={"user": "bob", "level": "NONE"}, headers=alice)
    response = http.get(path, headers=bob)
    assert response.status_code == 403 and "READ" in response.json["message"]


def test_a_world_permission_is_a_guard_too(http, alice, config):
    actor = _actor(http, alice)
    eid = _post(http, actor["id"], alice).json["result"]["execution_id"]
    path = f"/actors/{actor['id']}/executions/{eid}"
    carol = bearer(config, "carol")
    share = f"/actors/{actor['id']}/permissions"
    http.post(share, json={"user": "ABACO_WORLD", "level": "READ"}, headers=alice)
    assert http.get(path, headers=carol).status_code == 200
    http.post(share, json={"user": "ABACO_WORLD", "level": "NONE"}, headers=alice)
    assert http.get(path, headers=carol).status_code == 403


def test_a_deleted_actor_is_gone_at_once(http, alice):
    actor = _actor(http, alice)
    eid = _post(http, actor["id"], alice).json["result"]["execution_id"]
    assert http.get(f"/actors/{actor['id']}/executions/{eid}", headers=alice).status_code == 200
    assert http.delete(f"/actors/{actor['id']}", headers=alice).status_code == 200
    assert _post(http, actor["id"], alice).status_code == 404
    assert http.get(f"/actors/{actor['id']}/executions/{eid}", headers=alice).status_code == 404


def test_a_repointed_alias_reads_through_its_new_actor(http, alice):
    first, second = _actor(http, alice), _actor(http, alice)
    http.post("/actors/aliases", json={"alias": "front", "actor_id": first["id"]}, headers=alice)
    one = _post(http, first["id"], alice).json["result"]["execution_id"]
    two = _post(http, second["id"], alice).json["result"]["execution_id"]
    assert http.get(f"/actors/front/executions/{one}", headers=alice).status_code == 200
    http.put("/actors/aliases/front", json={"actor_id": second["id"]}, headers=alice)
    assert http.get(f"/actors/front/executions/{one}", headers=alice).status_code == 404
    assert http.get(f"/actors/front/executions/{two}", headers=alice).status_code == 200


def test_a_revoked_token_is_refused_before_a_grant_is_decided(http, alice, config, store):
    actor = _actor(http, alice)
    token = mint(config, "alice", actor=actor["id"], token_id="execution-token-2")
    store.revoked_tokens.revoke("execution-token-2", 2_000_000_000)
    scoped = {"Authorization": f"Bearer {token}"}
    for response in (_post(http, actor["id"], scoped), _post(http, "nope", scoped),
                     http.get(f"/actors/{actor['id']}/executions/x", headers=scoped)):
        assert response.status_code == 401 and "revoked" in response.json["message"]


def test_grants_answer_like_load_actor(http, alice, config):
    """The first request decides from Redis as load_actor does: 404, 403, an execution's token
    only on its own actor, admin everywhere in the tenant, never another tenant."""
    actor, other = _actor(http, alice), _actor(http, alice)
    eid = _post(http, actor["id"], alice).json["result"]["execution_id"]
    other_eid = _post(http, other["id"], alice).json["result"]["execution_id"]

    def read(ident, headers, execution=eid):
        return http.get(f"/actors/{ident}/executions/{execution}", headers=headers).status_code

    assert read("nope", alice) == 404
    assert read(actor["id"], bearer(config, "bob")) == 403
    scoped = {"Authorization": f"Bearer {mint(config, 'alice', actor=actor['id'])}"}
    assert read(actor["id"], scoped) == 200
    assert read(other["id"], scoped, other_eid) == 403
    assert read(actor["id"], bearer(config, "root", roles=("admin",))) == 200
    elsewhere = {"Authorization": f"Bearer {mint(config, 'alice', tenant='other')}"}
    assert read(actor["id"], elsewhere) == 404


def test_guards_survive_any_bytes_in_what_they_compare(http, config):
    """A username with spaces, quotes or non-ASCII letters is a permission field like any
    other; its grant is checked and withdrawn exactly."""
    owner = bearer(config, "owner")
    actor = _actor(http, owner)
    eid = _post(http, actor["id"], owner).json["result"]["execution_id"]
    path = f"/actors/{actor['id']}/executions/{eid}"
    name = "d'Artagnan \\ é ünïcode"
    guest = bearer(config, name)
    share = f"/actors/{actor['id']}/permissions"
    http.post(share, json={"user": name, "level": "READ"}, headers=owner)
    assert http.get(path, headers=guest).status_code == 200
    assert http.get(path, headers=guest).status_code == 200
    http.post(share, json={"user": name, "level": "NONE"}, headers=owner)
    assert http.get(path, headers=guest).status_code == 403


def test_a_nonce_still_spends_one_use_per_read(http, alice, store):
    actor = _actor(http, alice)
    eid = _post(http, actor["id"], alice).json["result"]["execution_id"]
    nonce = http.post(f"/actors/{actor['id']}/nonces", json={"level": "READ", "max_uses": 2},
                      headers=alice).json["result"]
    path = f"/actors/{actor['id']}/executions/{eid}?x-nonce={nonce['id']}"
    assert [http.get(path).status_code for _ in range(3)] == [200, 200, 403]


# -- posting a message ---------------------------------------------------------------------

def test_posting_a_message_is_one_round_trip_once_warm(http, alice, store, monkeypatch):
    actor = _actor(http, alice)
    trips = RoundTrips(monkeypatch, store.redis)
    assert _post(http, actor["id"], alice).status_code == 200  # loads the script, decides
    with trips:
        response = _post(http, actor["id"], alice, "counted")
    assert response.status_code == 200 and trips.count == 1
    eid = response.json["result"]["execution_id"]
    # ... and it did everything the transaction did: record, message, mailbox, events, wake-up
    execution = store.executions.get_internal(eid)
    assert execution["status"] == "SUBMITTED" and execution["actor_id"] == actor["id"]
    assert execution["sequence"] > 0 and execution["cpu"] == 0 and execution["exit_code"] is None
    assert store.executions.message_body(eid) == b"counted"
    assert store.executions.queued_count(actor["id"]) == 2
    assert [e["type"] for e in store.timeline.since(eid)["events"]] == ["ACCEPTED", "QUEUED"]
    assert store.work.listed_wakes("default") == [actor["id"]] * 2  # two free workers: two
    assert store.work.pending_wakes(actor["id"]) == 2


def test_wake_ups_stop_at_the_free_workers(http, alice, config, store):
    stateful = _actor(http, alice, stateless=False)
    pat = bearer(config, "pat", roles=("privileged",))
    stateless = _actor(http, pat, max_workers=2)
    for _ in range(4):
        assert _post(http, stateful["id"], alice).status_code == 200
        assert _post(http, stateless["id"], pat).status_code == 200
    wakes = store.work.listed_wakes("default")
    assert wakes.count(stateful["id"]) == 1 and wakes.count(stateless["id"]) == 2


def test_a_warm_actors_wake_ups_count_every_place_in_its_containers(http, config, store):
    pat = bearer(config, "pat", roles=("privileged",))
    warm = _actor(http, pat, max_workers=2, warm=True, concurrency=3)
    for _ in range(8):
        assert _post(http, warm["id"], pat).status_code == 200
    assert store.work.listed_wakes("default").count(warm["id"]) == 6  # 2 containers x 3


def test_an_alias_and_a_shared_actor_take_the_same_one_round_trip(http, alice, config, store,
                                                                   monkeypatch):
    actor = _actor(http, alice)
    assert http.post("/actors/aliases", json={"alias": "greeter", "actor_id": actor["id"]},
                     headers=alice).status_code == 200
    bob = bearer(config, "bob")
    http.post(f"/actors/{actor['id']}/permissions", json={"user": "bob", "level": "EXECUTE"},
              headers=alice)
    trips = RoundTrips(monkeypatch, store.redis)
    for headers, ident in ((alice, "greeter"), (bob, actor["id"]), (bob, "greeter")):
        assert _post(http, ident, headers).status_code == 200
        with trips:
            response = _post(http, ident, headers)
        assert response.status_code == 200 and trips.count == 1, (ident, trips.count)
        assert store.executions.get(response.json["result"]["execution_id"])["actor_id"] == actor["id"]


def test_a_withdrawn_execute_permission_is_refused_at_once(http, alice, config):
    actor = _actor(http, alice)
    bob = bearer(config, "bob")
    share = f"/actors/{actor['id']}/permissions"
    http.post(share, json={"user": "bob", "level": "EXECUTE"}, headers=alice)
    assert _post(http, actor["id"], bob).status_code == 200  # bob's grant is now cached
    http.post(share, json={"user": "bob", "level": "READ"}, headers=alice)
    response = _post(http, actor["id"], bob)
    assert response.status_code == 403 and "EXECUTE" in response.json["message"]


def test_a_repointed_alias_sends_to_its_new_actor(http, alice, store):
    first, second = _actor(http, alice), _actor(http, alice)
    http.post("/actors/aliases", json={"alias": "front", "actor_id": first["id"]}, headers=alice)
    eid = _post(http, "front", alice).json["result"]["execution_id"]
    assert store.executions.get(eid)["actor_id"] == first["id"]
    http.put("/actors/aliases/front", json={"actor_id": second["id"]}, headers=alice)
    eid = _post(http, "front", alice).json["result"]["execution_id"]
    assert store.executions.get(eid)["actor_id"] == second["id"]


def test_a_changed_queue_takes_the_next_message(http, config, store):
    pat = bearer(config, "pat", roles=("privileged",))
    actor = _actor(http, pat, queue="first")
    _post(http, actor["id"], pat)
    response = http.put(f"/actors/{actor['id']}", json={"image": "actors/echo", "queue": "second"},
                        headers=pat)
    assert response.status_code == 200
    eid = _post(http, actor["id"], pat).json["result"]["execution_id"]
    assert store.executions.get_internal(eid)["queue"] == "second"


def test_a_nonce_still_spends_one_use_per_message(http, alice):
    actor = _actor(http, alice)
    nonce = http.post(f"/actors/{actor['id']}/nonces", json={"level": "EXECUTE", "max_uses": 2},
                      headers=alice).json["result"]
    path = f"/actors/{actor['id']}/messages?x-nonce={nonce['id']}"
    assert [http.post(path, data={"message": "m"}).status_code for _ in range(3)] == [200, 200, 403]


def test_a_revoked_token_writes_nothing(http, alice, config, store):
    actor = _actor(http, alice)
    token = mint(config, "alice", actor=actor["id"], token_id="execution-token-3")
    scoped = {"Authorization": f"Bearer {token}"}
    assert _post(http, actor["id"], scoped).status_code == 200  # the grant is cached
    store.revoked_tokens.revoke("execution-token-3", 2_000_000_000)
    response = _post(http, actor["id"], scoped)
    assert response.status_code == 401 and "revoked" in response.json["message"]
    assert store.executions.queued_count(actor["id"]) == 1


def test_bulk_submission_writes_what_submit_writes(store):
    actor = {"id": "a1", "queue": "default", "tenant": "default", "stateless": False, "log_ex": 5}
    assert store.executions.submit_many(actor, ({"id": f"e{n}", "executor": "x",
                                                 "content_type": "str", "environment": {}}
                                                for n in range(5)), b"m", batch=2) == 5
    assert store.executions.queued_count("a1") == 5
    assert store.executions.get_internal("e4")["status"] == "SUBMITTED"
    assert store.work.listed_wakes("default") == ["a1"]  # a stateful actor: one worker
