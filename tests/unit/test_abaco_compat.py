"""Abaco clients work unchanged: what they send, and the words they match on in answers."""
from __future__ import annotations

import pytest

from .conftest import bearer


def _create(http, headers, **fields):
    response = http.post("/actors", data={"image": "actors/echo", **fields}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json["result"]


# -- PUT /actors/{id} ------------------------------------------------------------------
def test_a_put_without_name_keeps_the_name(http, alice):
    actor = _create(http, alice, name="finder", description="old")
    replaced = http.put(f"/actors/{actor['id']}", data={"image": "actors/echo"}, headers=alice)
    assert replaced.status_code == 200
    assert replaced.json["result"]["name"] == "finder"
    assert replaced.json["result"]["description"] == ""  # other fields return to defaults
    assert http.get(f"/actors/{actor['id']}", headers=alice).json["result"]["name"] == "finder"


def test_a_put_with_another_name_keeps_the_name_and_says_so(http, alice):
    actor = _create(http, alice, name="finder")
    replaced = http.put(f"/actors/{actor['id']}", json={"image": "actors/echo", "name": "other"},
                        headers=alice)
    assert replaced.status_code == 200 and replaced.json["result"]["name"] == "finder"
    message = replaced.json["message"]
    assert message.startswith("Actor updated successfully.")
    assert "'name' cannot be changed by a PUT" in message and "'finder'" in message
    same = http.put(f"/actors/{actor['id']}", json={"image": "actors/echo", "name": "finder"},
                    headers=alice)
    assert same.json["message"] == "Actor updated successfully."


def test_force_on_put_checks_the_image_again_and_bumps_the_revision(http, alice, store):
    actor = _create(http, alice)
    store.actors.set_status(actor["id"], "READY")
    unchanged = http.put(f"/actors/{actor['id']}", data={"image": "actors/echo"}, headers=alice)
    assert unchanged.json["result"]["revision"] == 1
    assert unchanged.json["result"]["status"] == "READY"
    forced = http.put(f"/actors/{actor['id']}", data={"image": "actors/echo", "force": "true"},
                      headers=alice).json["result"]
    assert forced["revision"] == 2 and forced["status"] == "SUBMITTED"
    assert "force" not in forced
    new_image = http.put(f"/actors/{actor['id']}", data={"image": "actors/other"},
                         headers=alice).json["result"]
    assert new_image["revision"] == 3


# -- fields of other resources, and typos ----------------------------------------------
def test_a_field_of_another_resource_is_ignored_and_the_message_says_so(http, alice):
    actor = _create(http, alice)
    config = http.post("/actors/configs", headers=alice, data={
        "name": "shared", "value": "v", "actors": actor["id"], "image": "actors/echo"})
    assert config.status_code == 200, config.json
    message = config.json["message"]
    assert message.startswith("Actor config created successfully.")
    assert "Ignored 'image' (a field of actors)" in message
    assert "image" not in config.json["result"]


def test_a_record_sent_back_as_read_is_accepted(http, alice):
    """Read-modify-write: the server's own fields (id, owner, _links...) are ignored."""
    actor = http.get(f"/actors/{_create(http, alice)['id']}", headers=alice).json["result"]
    actor["description"] = "changed"
    response = http.put(f"/actors/{actor['id']}", json=actor, headers=alice)
    assert response.status_code == 200, response.json
    assert response.json["result"]["description"] == "changed"
    assert "'owner' (set by the server)" in response.json["message"]


def test_a_field_no_resource_has_is_a_400_naming_the_nearest(http, alice):
    response = http.post("/actors", data={"image": "x", "stateles": "false"}, headers=alice)
    assert response.status_code == 400
    message = response.json["message"]
    assert "'stateles'" in message and "did you mean 'stateless'?" in message
    response = http.post("/actors", json={"image": "x", "zzzz": 1}, headers=alice)
    assert response.status_code == 400 and "unknown field 'zzzz'" in response.json["message"]


# -- Abaco's words -----------------------------------------------------------------------
def test_stateful_actors_can_only_have_one_worker(http, config):
    admin = bearer(config, "root", roles=("admin",))
    response = http.post("/actors", json={"image": "x", "stateless": False, "max_workers": 3},
                         headers=admin)
    assert response.status_code == 400
    assert response.json["message"].startswith(
        "Invalid actor description: stateful actors can only have 1 worker.")


def test_force_quit_message(http, alice, store):
    actor = _create(http, alice)
    sent = http.post(f"/actors/{actor['id']}/messages", data={"message": "m"}, headers=alice)
    execution_id = sent.json["result"]["execution_id"]
    assert store.executions.claim_next(actor["id"], "host", f"{actor['id']}-1") == execution_id
    response = http.delete(f"/actors/{actor['id']}/executions/{execution_id}", headers=alice)
    assert response.json["message"].startswith(
        f"Issued force quit command for execution {execution_id}.")


def test_cycle_of_links_message(http, alice):
    b = _create(http, alice)
    a = _create(http, alice, link=b["id"])
    response = http.put(f"/actors/{b['id']}", json={"image": "x/y", "link": a["id"]},
                        headers=alice)
    assert response.status_code == 400
    assert response.json["message"].startswith(
        "Error: this update would result in a cycle of linked actors.")
    self_link = http.put(f"/actors/{b['id']}", json={"image": "x/y", "link": b["id"]},
                         headers=alice)
    assert self_link.json["message"].startswith(
        "Invalid link parameter. An actor cannot link to itself.")


@pytest.mark.parametrize("method, path, begins", [
    ("get", "/actors/nope", "No actor found with identifier: nope."),
    ("get", "/actors/aliases/nope", "No alias found: nope."),
    ("get", "/actors/configs/nope", "No config found: nope."),
])
def test_not_found_messages(http, alice, method, path, begins):
    response = getattr(http, method)(path, headers=alice)
    assert response.status_code == 404 and response.json["message"].startswith(begins)


def test_permission_and_privilege_messages(http, alice, config):
    actor = _create(http, alice)
    bob = bearer(config, "bob")
    response = http.get(f"/actors/{actor['id']}", headers=bob)
    assert response.status_code == 403
    assert response.json["message"].startswith(
        "Not authorized -- you do not have access to this actor.")
    response = http.post("/actors", data={"image": "x", "max_workers": "3"}, headers=alice)
    assert response.status_code == 403 and response.json["message"].startswith(
        "Not authorized -- only admins and privileged users can set max workers.")


def test_other_messages_begin_with_abacos(http, alice):
    stateless = _create(http, alice)
    response = http.get(f"/actors/{stateless['id']}/state", headers=alice)
    assert response.json["message"].startswith("actor is stateless.")
    purged = http.delete(f"/actors/{stateless['id']}/messages", headers=alice).json
    assert purged["result"]["msg"] == "Actor mailbox purged."
    alias = http.post("/actors/aliases", json={"alias": "al", "actor_id": stateless["id"]},
                      headers=alice)
    assert alias.json["message"] == "Actor alias created successfully."
    renamed = http.put("/actors/aliases/al", json={"alias": "other", "actor_id": stateless["id"]},
                       headers=alice)
    assert renamed.status_code == 400 and renamed.json["message"].startswith(
        "Invalid alias update description. The alias itself cannot be updated in a PUT request.")


# -- _links ------------------------------------------------------------------------------
def _assert_links(record, **expected_paths):
    assert "_links" in record, record
    for name, path in expected_paths.items():
        assert record["_links"][name].endswith(path), (name, record["_links"])


@pytest.mark.parametrize("ident", ["id", "alias"])
def test_links_on_every_resource_in_every_response(http, alice, store, ident):
    actor = _create(http, alice)
    aid = actor["id"]
    _assert_links(actor, self=f"/actors/{aid}", owner="/profiles/alice",
                  executions=f"/actors/{aid}/executions")
    http.post("/actors/aliases", json={"alias": "by-alias", "actor_id": aid}, headers=alice)
    ref = aid if ident == "id" else "by-alias"  # links always name the actor's id

    _assert_links(http.get(f"/actors/{ref}", headers=alice).json["result"], self=f"/actors/{aid}")
    listed = http.get("/actors", headers=alice).json["result"]
    _assert_links(listed[0], self=f"/actors/{aid}")
    replaced = http.put(f"/actors/{ref}", data={"image": "actors/echo"}, headers=alice)
    _assert_links(replaced.json["result"], self=f"/actors/{aid}")

    sent = http.post(f"/actors/{ref}/messages", data={"message": "m"}, headers=alice).json["result"]
    eid = sent["execution_id"]
    _assert_links(sent, self=f"/actors/{aid}/executions/{eid}", messages=f"/actors/{aid}/messages")
    _assert_links(http.get(f"/actors/{ref}/messages", headers=alice).json["result"],
                  self=f"/actors/{aid}/messages", owner="/profiles/alice")
    _assert_links(http.get(f"/actors/{ref}/executions", headers=alice).json["result"],
                  self=f"/actors/{aid}/executions", owner="/profiles/alice")
    _assert_links(http.get(f"/actors/{ref}/executions/{eid}", headers=alice).json["result"],
                  self=f"/actors/{aid}/executions/{eid}", logs=f"/executions/{eid}/logs")
    _assert_links(http.get(f"/actors/{ref}/executions/{eid}/logs", headers=alice).json["result"],
                  self=f"/executions/{eid}/logs", execution=f"/actors/{aid}/executions/{eid}")
    nonce = http.post(f"/actors/{ref}/nonces", data={"level": "READ"}, headers=alice).json["result"]
    _assert_links(nonce, owner="/profiles/alice")
    workers = http.post(f"/actors/{ref}/workers", data={"num": "1"}, headers=alice).json["result"]
    _assert_links(workers[0], self=f"/actors/{aid}/workers/{workers[0]['id']}",
                  actor=f"/actors/{aid}")
    _assert_links(http.get(f"/actors/{ref}/workers", headers=alice).json["result"][0],
                  actor=f"/actors/{aid}")
    _assert_links(http.get(f"/actors/{ref}/workers/{workers[0]['id']}", headers=alice)
                  .json["result"], actor=f"/actors/{aid}")
    cancelled = http.delete(f"/actors/{ref}/executions/{eid}", headers=alice).json["result"]
    _assert_links(cancelled, self=f"/actors/{aid}/executions/{eid}")
    _assert_links(http.delete(f"/actors/{ref}/messages", headers=alice).json["result"],
                  self=f"/actors/{aid}/messages")
    for kind, path in (("actors", f"/actors/{aid}"), ("executions", f"/executions/{eid}"),
                       ("workers", f"/workers/{workers[0]['id']}")):
        found = http.get(f"/actors/search/{kind}", headers=alice).json["result"]["search"]
        _assert_links(found[0], self=path)


# -- nonces --------------------------------------------------------------------------------
def test_nonces_carry_the_roles_of_their_creator(http, config):
    pat = bearer(config, "pat", roles=("privileged",))
    actor = _create(http, pat)
    nonce = http.post(f"/actors/{actor['id']}/nonces", data={"level": "EXECUTE"},
                      headers=pat).json["result"]
    assert nonce["roles"] == ["privileged"]
    listed = http.get(f"/actors/{actor['id']}/nonces", headers=pat).json["result"]
    assert listed[0]["roles"] == ["privileged"]
    http.post("/actors/aliases", json={"alias": "pats", "actor_id": actor["id"]}, headers=pat)
    alias_nonce = http.post("/actors/aliases/pats/nonces", data={}, headers=pat).json["result"]
    assert alias_nonce["roles"] == ["privileged"] and "tenant" not in alias_nonce


def test_alias_nonces_need_permission_on_the_alias_and_the_actor(http, alice, config):
    """Security: a nonce of an alias runs its actor, so holding the alias alone is not enough."""
    actor = _create(http, alice)
    http.post("/actors/aliases", json={"alias": "guarded", "actor_id": actor["id"]}, headers=alice)
    alices = http.post("/actors/aliases/guarded/nonces", data={"max_uses": "3"},
                       headers=alice).json["result"]
    pat = bearer(config, "pat", roles=("privileged",))
    http.post("/actors/aliases/guarded/permissions", json={"user": "pat", "level": "UPDATE"},
              headers=alice)
    base = "/actors/aliases/guarded/nonces"
    for method, path, data in (("get", base, None), ("post", base, {"level": "EXECUTE"}),
                               ("get", f"{base}/{alices['id']}", None),
                               ("delete", f"{base}/{alices['id']}", None)):
        response = getattr(http, method)(path, data=data, headers=pat)
        assert response.status_code == 403, (method, path, response.json)
        assert response.json["message"].startswith(
            "Not authorized -- you do not have access to this alias and actor."), response.json
        assert response.json["result"] is None
    assert http.get(f"/actors/{actor['id']}/nonces", headers=alice).json["result"] == []
    assert len(http.get(base, headers=alice).json["result"]) == 1  # nothing was made or deleted

    # READ on the actor: listing (READ on both) works, and shows only pat's own nonces;
    # creating still needs UPDATE on the actor.
    http.post(f"/actors/{actor['id']}/permissions", json={"user": "pat", "level": "READ"},
              headers=alice)
    assert http.get(base, headers=pat).json["result"] == []
    refused = http.post(base, data={"level": "EXECUTE"}, headers=pat)
    assert refused.status_code == 403 and "UPDATE" in refused.json["message"]
    # UPDATE on both: allowed, and then pat manages every nonce of the alias
    http.post(f"/actors/{actor['id']}/permissions", json={"user": "pat", "level": "UPDATE"},
              headers=alice)
    made = http.post(base, data={"level": "EXECUTE"}, headers=pat)
    assert made.status_code == 200 and made.json["result"]["owner"] == "pat"
    assert len(http.get(base, headers=pat).json["result"]) == 2
    # without permission on the alias, permission on the actor is not enough either
    bob = bearer(config, "bob")
    http.post(f"/actors/{actor['id']}/permissions", json={"user": "bob", "level": "UPDATE"},
              headers=alice)
    response = http.get(base, headers=bob)
    assert response.status_code == 403 and "alias and actor" in response.json["message"]
