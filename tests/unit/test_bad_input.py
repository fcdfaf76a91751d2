"""Hostile request bodies get a 400 with a message, never a 500 (issue 12, item 9)."""
from __future__ import annotations

import json

import pytest

from .conftest import bearer

DEEP = 10_000
NESTED_OBJECT = '{"a":' * DEEP + "1" + "}" * DEEP
NESTED_LIST = "[" * DEEP + "]" * DEEP


@pytest.fixture
def actor(http, alice):
    response = http.post("/actors", headers=alice, json={"image": "x/y", "stateless": False})
    assert response.status_code == 200, response.json
    return response.json["result"]


@pytest.fixture
def named(http, alice, actor):
    """An alias and a config of alice's, so their PUT and permission routes exist."""
    assert http.post("/actors/aliases", headers=alice,
                     json={"alias": "nested-alias", "actor_id": actor["id"]}).status_code == 200
    assert http.post("/actors/configs", headers=alice,
                     json={"name": "nested-config", "value": "v",
                           "actors": actor["id"]}).status_code == 200


ROUTES = [
    ("POST", "/actors"),
    ("PUT", "/actors/{id}"),
    ("POST", "/actors/{id}/messages"),
    ("POST", "/actors/{id}/state"),
    ("POST", "/actors/{id}/permissions"),
    ("POST", "/actors/{id}/nonces"),
    ("POST", "/actors/{id}/workers"),
    ("POST", "/actors/aliases"),
    ("PUT", "/actors/aliases/nested-alias"),
    ("POST", "/actors/aliases/nested-alias/permissions"),
    ("POST", "/actors/aliases/nested-alias/nonces"),
    ("POST", "/actors/configs"),
    ("PUT", "/actors/configs/nested-config"),
    ("POST", "/actors/configs/nested-config/permissions"),
]


@pytest.mark.parametrize("body", [NESTED_OBJECT, NESTED_LIST], ids=["object", "list"])
@pytest.mark.parametrize("method,path", ROUTES)
def test_deeply_nested_json_is_a_400_that_says_so(http, alice, actor, named, method, path, body):
    response = http.open(path.format(id=actor["id"]), method=method, headers=alice,
                         data=body, content_type="application/json")
    assert response.status_code == 400, (response.status_code, response.json)
    assert response.json["status"] == "error"
    assert "nested" in response.json["message"], response.json["message"]


@pytest.mark.parametrize("method,path", [("POST", "/actors"), ("PUT", "/actors/{id}")])
def test_deeply_nested_json_in_a_form_field_is_a_400(http, alice, actor, method, path):
    for name in ("default_environment", "hints"):
        response = http.open(path.format(id=actor["id"]), method=method, headers=alice,
                             data={"image": "x/y", "stateless": "false", name: NESTED_LIST})
        assert response.status_code == 400, (name, response.status_code, response.json)
        assert name in response.json["message"]


def test_moderately_nested_json_beyond_the_limit_is_refused_and_shallow_json_is_kept(
        http, alice, actor):
    """Between what Python can parse and what it can encode back there is no 500 either."""
    for depth in (101, 500, 900, 990):
        state = "[" * depth + "]" * depth
        response = http.post(f"/actors/{actor['id']}/state", headers=alice, data=state,
                             content_type="application/json")
        assert response.status_code == 400, (depth, response.status_code)
        assert "nested" in response.json["message"]
    shallow = json.loads("[" * 50 + "]" * 50)
    response = http.post(f"/actors/{actor['id']}/state", headers=alice, json=shallow)
    assert response.status_code == 200 and response.json["result"]["state"] == shallow


@pytest.mark.parametrize("body", ['{"num": 1e309}', '{"num": -1e309}', '{"num": NaN}',
                                  '{"num": Infinity}', '{"num": 1e400000}'])
def test_non_finite_numbers_are_a_400_on_workers(http, alice, actor, body):
    response = http.post(f"/actors/{actor['id']}/workers", headers=alice, data=body,
                         content_type="application/json")
    assert response.status_code == 400, (response.status_code, response.json)
    assert response.json["message"]


def test_non_finite_numbers_are_a_400_in_actor_fields(http, alice):
    admin = bearer(http.application.config["ACTORS"], "root", roles=("admin",))
    for body in ('{"image": "x/y", "max_cpus": 1e309}', '{"image": "x/y", "max_workers": 1e309}',
                 '{"image": "x/y", "log_ex": 1e309}'):
        response = http.post("/actors", headers=admin, data=body, content_type="application/json")
        assert response.status_code == 400, (body, response.status_code, response.json)


def test_a_deeply_nested_message_with_a_nonce_is_a_400(http, alice, actor):
    nonce = http.post(f"/actors/{actor['id']}/nonces", headers=alice,
                      json={"level": "EXECUTE"}).json["result"]
    response = http.post(f"/actors/{actor['id']}/messages?x-nonce={nonce['id']}",
                         data=NESTED_LIST, content_type="application/json")
    assert response.status_code == 400 and "nested" in response.json["message"]
