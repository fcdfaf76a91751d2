"""Users cannot set MSG, _actor_configs or _abaco_* variables (issue 12, item 8)."""
from __future__ import annotations

import pytest

from actors_core.platform_variables import refusal
from spawner.environment import execution_environment

FORBIDDEN = ["_actor_configs", "MSG", "_abaco_execution_id", "_abaco_username", "_abaco_cron",
             "_abaco_link_depth", "_abaco_anything", "_abaco_access_token",
             '_actor_configs={"forged":"1"}', "A=B"]


@pytest.fixture
def actor(http, alice):
    response = http.post("/actors", headers=alice, json={"image": "x/y"})
    assert response.status_code == 200
    return response.json["result"]


@pytest.mark.parametrize("name", FORBIDDEN)
def test_a_message_cannot_set_a_platform_variable(http, alice, actor, name):
    response = http.post(f"/actors/{actor['id']}/messages", headers=alice,
                         query_string={name: "forged", "OK": "1"}, data={"message": "hi"})
    assert response.status_code == 400, response.json
    assert repr(name) in response.json["message"]
    queued = http.get(f"/actors/{actor['id']}/messages", headers=alice).json["result"]
    assert queued["messages"] == 0


@pytest.mark.parametrize("name", ["_actor_configs", "_abaco_cron", "MSG"])
def test_a_nonce_holder_cannot_set_a_platform_variable(http, alice, actor, name):
    nonce = http.post(f"/actors/{actor['id']}/nonces", headers=alice,
                      json={"level": "EXECUTE"}).json["result"]
    response = http.post(f"/actors/{actor['id']}/messages",
                         query_string={"x-nonce": nonce["id"], name: "{}"},
                         data={"message": "hi"})
    assert response.status_code == 400 and repr(name) in response.json["message"]


def test_ordinary_query_parameters_and_the_consumed_ones_still_pass(http, alice, actor):
    response = http.post(f"/actors/{actor['id']}/messages", headers=alice,
                         query_string={"FOO": "bar", "msg": "lower-case is not MSG",
                                       "_abaco": "not the prefix"},
                         data={"message": "hi"})
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("name", ["_actor_configs", "MSG", "_abaco_api_server", "_abaco_cron"])
def test_default_environment_cannot_hold_a_platform_variable(http, alice, actor, name):
    for method, path in (("POST", "/actors"), ("PUT", f"/actors/{actor['id']}")):
        response = http.open(path, method=method, headers=alice,
                             json={"image": "x/y", "default_environment": {"A": "1", name: "x"}})
        assert response.status_code == 400, (method, response.json)
        assert "default_environment" in response.json["message"]
        assert repr(name) in response.json["message"]
    form = http.post("/actors", headers=alice,
                     data={"image": "x/y", "default_environment": f'{{"{name}": "x"}}'})
    assert form.status_code == 400 and repr(name) in form.json["message"]


def _environment(default_environment: dict, message_environment: dict) -> dict:
    actor = {"id": "A1", "image": "x/y", "default_environment": default_environment}
    execution = {"id": "E1", "content_type": "str", "executor": "alice",
                 "environment": message_environment}
    return execution_environment(actor, execution, b"real", "http://api", "w1", None,
                                 actor_configs={"real": "1"})


def test_the_spawner_drops_platform_variables_whatever_the_record_holds():
    """Defence in depth: a record written before the API refused them, or by other means."""
    forged = {"_actor_configs": '{"forged": "1"}', "MSG": "forged", "_abaco_cron": "true",
              "_abaco_link_depth": "99", "_abaco_extra": "x", "_abaco_username": "root",
              '_actor_configs={"forged":"1"}': "", "KEEP": "default"}
    message = {"_abaco_anything": "x", "X=Y": "z", "QUERY": "q", "_abaco_execution_id": "E0",
               "_abaco_cron": "true", "_abaco_link_depth": "2"}
    environment = _environment(forged, message)
    assert environment["_actor_configs"] == '{"real": "1"}'
    assert environment["MSG"] == "real" and environment["_abaco_username"] == "alice"
    assert environment["_abaco_execution_id"] == "E1"
    assert environment["KEEP"] == "default" and environment["QUERY"] == "q"
    for name in ("_abaco_extra", "_abaco_anything", "X=Y", '_actor_configs={"forged":"1"}'):
        assert name not in environment
    # what the platform itself puts in a message's environment passes from there only
    assert environment["_abaco_cron"] == "true" and environment["_abaco_link_depth"] == "2"
    assert "_abaco_cron" not in _environment({"_abaco_cron": "true"}, {})


def test_refusal_names_the_variable_and_lets_ordinary_names_through():
    assert refusal("PATH") is None and refusal("msg") is None and refusal("_abaco") is None
    for name in FORBIDDEN + [""]:
        assert refusal(name)
