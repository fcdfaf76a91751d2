"""One table of actor fields (actors_core/actor_fields.py), and what the clients make of it."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from actors_api import casing
from actors_cli import client_commands
from actors_core import actor_fields
from actors_core.tokens import mint
from runtime_sdk import client as sdk_client, context as sdk_context, resources
from runtime_sdk import results as sdk_results
from runtime_sdk.client import Client
from spawner import environment, results as spawner_results
from spawner.runtimes import process


@pytest.fixture
def served(app):
    """The real API over HTTP (fakeredis behind it), for the Python client."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_sdk_update_keeps_the_fields_it_was_not_asked_to_change(served, config):
    client = Client(served, mint(config, "alice"), timeout=10)
    target = client.actors.create("actors/echo", name="target")
    actor = client.actors.create(
        "actors/echo", name="source", link=target.id, webhook="http://example.org/hook",
        cron_schedule="2030-01-01 10 + 1 hour", cron_on=False, hints=["a"], gpus=0,
        default_environment={"K": "v"}, log_ex=120, description="old")

    client.actors.get(actor.id).update(description="new")

    after = client.actors.get(actor.id).attrs
    assert after["description"] == "new"
    assert after["link"] == target.id and after["webhook"] == "http://example.org/hook"
    assert after["cron_schedule"] == "2030-01-01 10 + 1 hour" and after["cron_on"] is False
    assert after["hints"] == ["a"] and after["default_environment"] == {"K": "v"}
    assert after["log_ex"] == 120 and after["name"] == "source"
    assert after["revision"] == actor.attrs["revision"]  # same image: not a new revision


def test_the_schema_accepts_exactly_the_settable_fields():
    from actors_api.schemas.actor import ActorSchema, ActorUpdateSchema

    assert set(ActorSchema().fields) == set(actor_fields.SETTABLE_FIELDS)
    assert set(ActorUpdateSchema().fields) == set(actor_fields.SETTABLE_FIELDS) | {"force"}
    assert ActorSchema().fields["image"].required


def test_defaults_have_their_declared_types_and_are_fresh_each_time():
    defaults = actor_fields.defaults()
    assert set(defaults) == set(actor_fields.SETTABLE_FIELDS) - {"image"}
    for name, value in defaults.items():
        declared = actor_fields.BY_NAME[name].type
        assert value is None or isinstance(value, declared), name
    defaults["default_environment"]["X"] = "1"
    defaults["hints"].append("h")
    assert actor_fields.defaults()["default_environment"] == {} == actor_fields.BY_NAME[
        "default_environment"].default
    assert actor_fields.defaults()["hints"] == []


def test_an_actor_is_returned_in_the_tables_order_without_internal_fields(http, alice):
    created = http.post("/actors", json={"image": "actors/echo"}, headers=alice).json["result"]
    actor = http.get(f"/actors/{created['id']}", headers=alice).json["result"]
    assert tuple(actor) == actor_fields.RESPONSE_ORDER + ("_links",)  # Abaco's links last
    assert not set(actor_fields.INTERNAL_FIELDS) & set(actor)


@pytest.mark.parametrize("name, value", [("privileged", True), ("max_workers", 3),
                                         ("mem_limit", "1g"), ("max_cpus", 2), ("queue", "q")])
def test_only_privileged_users_set_the_privileged_fields(http, alice, name, value):
    assert name in actor_fields.PRIVILEGED_FIELDS
    response = http.post("/actors", json={"image": "actors/echo", name: value}, headers=alice)
    assert response.status_code == 403 and name in response.json["message"]


def test_the_privileged_fields_are_those_of_the_table():
    assert set(actor_fields.PRIVILEGED_FIELDS) == {"privileged", "max_workers", "max_cpus",
                                                   "mem_limit", "queue", "gpus",
                                                   "use_container_uid"}


def test_the_sdk_sends_back_all_but_the_servers_fields():
    """runtime_sdk keeps its own list (it imports nothing of the platform): it must be the
    table's server-set fields, so Actor.update never sends one nor drops a settable one."""
    assert set(resources.READ_ONLY_FIELDS) == set(actor_fields.READ_ONLY_FIELDS)


def test_the_cli_shows_fields_that_exist():
    assert set(client_commands.ACTOR_SHOWN_FIRST) <= set(actor_fields.RESPONSE_ORDER)


def test_constants_both_sides_keep_by_copy_are_equal():
    """The spawner and the SDK inside a container agree without importing each other."""
    assert spawner_results.MAX_RESULT_BYTES == sdk_results.MAX_RESULT_BYTES
    assert environment.BINARY_TARGET == sdk_context.DEFAULT_BINARY_PATH
    assert environment.RESULTS_TARGET == sdk_context.DEFAULT_RESULTS_PATH
    assert environment.OUTPUTS_TARGET == sdk_context.DEFAULT_OUTPUTS_PATH
    assert environment.INPUTS_TARGET == sdk_context.DEFAULT_INPUTS_PATH
    assert process.MOUNT_VARIABLES[environment.INPUTS_TARGET] == sdk_context.INPUTS_PATH_VARIABLE
    assert casing.OPAQUE_KEYS == sdk_client.OPAQUE_KEYS
