"""Security defaults against real Redis, real spawners and Docker (issue 12, items 5-8)."""
from __future__ import annotations

import uuid

import pytest

from actors_core.ids import new_id
from actors_core.store import Store

from .conftest import ECHO


@pytest.fixture
def store(api):
    return Store.from_config(api.config)


# -- 8. platform variables -------------------------------------------------------------
def test_platform_variables_are_refused_by_the_api_and_dropped_by_the_spawner(client, store):
    actor = client.create_actor(ECHO, default_environment={"KEEP": "1"})
    client.wait_actor(actor["id"])
    for name in ("_actor_configs", "MSG", "_abaco_cron", "_abaco_username", "A=B"):
        response = client.post(f"/actors/{actor['id']}/messages", data={"message": "x"},
                               params={name: '{"forged": "1"}'})
        assert response.status_code == 400 and repr(name) in response.json()["message"]
    response = client.put(f"/actors/{actor['id']}", json={
        "image": ECHO, "default_environment": {"_actor_configs": '{"forged": "1"}'}})
    assert response.status_code == 400 and "'_actor_configs'" in response.json()["message"]

    # A record that holds them anyway (written before the API refused them): the
    # spawner drops them, and the platform's own values are what the container sees.
    store.actors.update(actor["id"], default_environment={
        "KEEP": "1", "_abaco_cron": "true", "_actor_configs": '{"forged": "1"}',
        "_abaco_username": "root"})
    execution = store.executions.submit(store.actors.get(actor["id"]), {
        "id": new_id(), "executor": actor["owner"], "content_type": "str",
        "environment": {"QUERY": "q", "_abaco_forged": "yes", "MSG": "forged",
                        '_actor_configs={"forged":"1"}': "", "_abaco_link_depth": "3"}},
        b"the real message")
    finished = client.wait(actor["id"], execution["id"])
    logs = client.logs(actor["id"], execution["id"])
    assert finished["status"] == "COMPLETE", logs
    assert "Contents of MSG: the real message" in logs
    assert "KEEP=1" in logs and "QUERY=q" in logs
    assert "_actor_configs={}" in logs and "forged" not in logs
    assert f"_abaco_username={actor['owner']}" in logs
    assert "_abaco_cron" not in logs  # only from a message's environment, where cron puts it
    assert "_abaco_link_depth=3" in logs  # the platform's own message context passes


# -- 5. privilege escalation ------------------------------------------------------------
def test_an_update_holder_cannot_turn_a_privileged_actor_to_their_image(admin, client, api):
    actor = admin.create_actor(ECHO, privileged=True, mem_limit="256m")
    user = client.session.headers["Authorization"]
    from actors_core.tokens import verify

    username = verify(api.config, user.split()[1]).username
    admin.result(admin.post(f"/actors/{actor['id']}/permissions",
                            json={"user": username, "level": "UPDATE"}))
    for body in ({"image": "actors/sleep-loop:latest"},
                 {"image": "actors/sleep-loop:latest", "privileged": True, "mem_limit": "256m"}):
        response = client.put(f"/actors/{actor['id']}", json=body)
        assert response.status_code == 403, response.text
        assert "is privileged" in response.json()["message"]
    assert client.result(client.get(f"/actors/{actor['id']}"))["image"] == ECHO
    shown = client.result(client.get(f"/actors/{actor['id']}"))
    assert (shown["privileged"], shown["mem_limit"], shown["revision"]) == (True, "256m", 1)
    # (Running it is not part of this test: privileged containers need a Docker engine
    # that may grant every capability, which a nested test engine often cannot.)
