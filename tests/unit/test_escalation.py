"""Fields only admin or privileged users may set, and actors that carry them (issue 12, item 5).

A user with UPDATE on an actor that is privileged, or that a privileged user gave
resources (mem_limit, max_cpus, max_workers, queue, gpus, use_container_uid), cannot
PUT it: otherwise their image or environment would run with what they could not grant.
"""
from __future__ import annotations

import pytest

from .conftest import bearer

GRANTS = [("privileged", True), ("mem_limit", "64g"), ("max_cpus", 8), ("max_workers", 20),
          ("queue", "big"), ("gpus", 1), ("gpus", "all"), ("use_container_uid", True)]


@pytest.fixture
def root(config):
    return bearer(config, "root", roles=("admin",))


@pytest.fixture
def bob(config):
    return bearer(config, "bob")


def _create(http, headers, **fields):
    response = http.post("/actors", headers=headers, json={"image": "trusted/image", **fields})
    assert response.status_code == 200, response.json
    return response.json["result"]


def _share(http, headers, actor_id, user, level="UPDATE"):
    response = http.post(f"/actors/{actor_id}/permissions", headers=headers,
                         json={"user": user, "level": level})
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("field,value", GRANTS)
def test_an_update_holder_cannot_put_an_actor_with_privileged_values(http, root, bob, field, value):
    actor = _create(http, root, **{field: value})
    _share(http, root, actor["id"], "bob")
    attempts = [
        {"image": "bob/own-image"},  # left out: would have reset it, still refused
        {"image": "bob/own-image", field: actor[field]},  # kept as it is
        {"image": "trusted/image", field: actor[field], "description": "only this"},
    ]
    for body in attempts:
        response = http.put(f"/actors/{actor['id']}", headers=bob, json=body)
        assert response.status_code == 403, (body, response.json)
        assert field in response.json["message"] and "privileged" in response.json["message"]
    after = http.get(f"/actors/{actor['id']}", headers=root).json["result"]
    assert after["image"] == "trusted/image" and after[field] == actor[field]
    assert after["revision"] == actor["revision"]


def test_a_privileged_actor_says_it_is_privileged(http, root, bob):
    actor = _create(http, root, privileged=True)
    _share(http, root, actor["id"], "bob")
    response = http.put(f"/actors/{actor['id']}", headers=bob, json={"image": "bob/own-image"})
    assert response.status_code == 403
    assert f"Actor {actor['id']!r} is privileged" in response.json["message"]


@pytest.mark.parametrize("roles", [("admin",), ("privileged",)])
def test_admin_and_privileged_users_can_change_them(http, root, config, roles):
    actor = _create(http, root, privileged=True, mem_limit="64g")
    _share(http, root, actor["id"], "carol")
    carol = bearer(config, "carol", roles=roles)
    response = http.put(f"/actors/{actor['id']}", headers=carol,
                        json={"image": "new/image", "privileged": True, "mem_limit": "64g"})
    assert response.status_code == 200, response.json
    assert response.json["result"]["image"] == "new/image"


def test_limited_privileged_users_are_not_privileged(http, root, config):
    actor = _create(http, root, mem_limit="2g")
    _share(http, root, actor["id"], "lim")
    both = bearer(config, "lim", roles=("limited", "privileged"))
    response = http.put(f"/actors/{actor['id']}", headers=both, json={"image": "x/y", "mem_limit": "2g"})
    assert response.status_code == 403


@pytest.mark.parametrize("field,value", GRANTS)
def test_ordinary_users_cannot_set_them_on_post_or_put(http, alice, field, value):
    response = http.post("/actors", headers=alice, json={"image": "x/y", field: value})
    assert response.status_code == 403 and repr(field) in response.json["message"]
    actor = _create(http, alice)
    response = http.put(f"/actors/{actor['id']}", headers=alice, json={"image": "x/y", field: value})
    assert response.status_code == 403 and repr(field) in response.json["message"]


def test_ordinary_actors_stay_updatable_by_their_update_holders(http, alice, bob):
    actor = _create(http, alice)
    _share(http, alice, actor["id"], "bob")
    defaults = {"privileged": False, "mem_limit": None, "max_cpus": None, "max_workers": None,
                "queue": "default", "gpus": 0, "use_container_uid": False}
    for headers in (alice, bob):
        response = http.put(f"/actors/{actor['id']}", headers=headers,
                            json={"image": "other/image", **defaults})
        assert response.status_code == 200, response.json


def test_a_nonce_never_acts_as_a_privileged_user(http, root):
    actor = _create(http, root, privileged=True)
    nonce = http.post(f"/actors/{actor['id']}/nonces", headers=root,
                      json={"level": "UPDATE"}).json["result"]
    response = http.put(f"/actors/{actor['id']}?x-nonce={nonce['id']}",
                        json={"image": "anyone/image", "privileged": True})
    assert response.status_code == 403 and "nonce" in response.json["message"]
    plain = _create(http, root)
    nonce = http.post(f"/actors/{plain['id']}/nonces", headers=root,
                      json={"level": "UPDATE"}).json["result"]
    response = http.put(f"/actors/{plain['id']}?x-nonce={nonce['id']}",
                        json={"image": "anyone/image", "mem_limit": "64g"})
    assert response.status_code == 403
    response = http.put(f"/actors/{plain['id']}?x-nonce={nonce['id']}",
                        json={"image": "anyone/image"})
    assert response.status_code == 200, response.json
