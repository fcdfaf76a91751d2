"""Sharing and access end to end: real Redis, the API over HTTP, real containers."""
from __future__ import annotations

import json
import threading
import time
import uuid

import redis
import requests

from actors_core.tokens import mint

from .conftest import ECHO, SLEEP
from .platform import ApiClient


def _running_container_env(docker_engine, execution_id: str, timeout: float = 30) -> dict:
    """The environment Docker holds for a running execution's container."""
    deadline = time.monotonic() + timeout
    while True:
        found = docker_engine.containers.list(filters={"label": f"actors.execution={execution_id}"})
        if found:
            return dict(item.split("=", 1) for item in found[0].attrs["Config"]["Env"])
        assert time.monotonic() < deadline, "the execution's container never showed up"
        time.sleep(0.1)


def _everything_in_redis(url: str) -> bytes:
    """Every key and value in the store, to prove what is (not) kept in the clear."""
    connection = redis.Redis.from_url(url)
    chunks = []
    for key in connection.scan_iter(count=1000):
        kind = connection.type(key)
        if kind == b"string":
            chunks.append(connection.get(key) or b"")
        elif kind == b"hash":
            chunks.extend(b"%s=%s" % kv for kv in connection.hgetall(key).items())
        elif kind == b"list":
            chunks.extend(connection.lrange(key, 0, -1))
        elif kind == b"set":
            chunks.extend(connection.smembers(key))
        elif kind == b"zset":
            chunks.extend(connection.zrange(key, 0, -1))
        chunks.append(key)
    return b"\n".join(chunks)


def test_a_nonce_lets_an_anonymous_request_run_the_actor(client, api):
    actor = client.create_actor(ECHO)
    nonce = client.result(client.post(f"/actors/{actor['id']}/nonces",
                                      data={"max_uses": "2", "description": "webhook"}))
    assert nonce["level"] == "EXECUTE" and nonce["remaining_uses"] == 2

    # curl -d message=... "$BASE/actors/$ID/messages?x-nonce=$NONCE", no Authorization header
    response = requests.post(f"{api.url}/actors/{actor['id']}/messages",
                             params={"x-nonce": nonce["id"]}, data={"message": "via a nonce"},
                             timeout=30)
    assert response.status_code == 200, response.text
    execution_id = response.json()["result"]["execution_id"]

    execution = client.wait(actor["id"], execution_id)
    logs = client.logs(actor["id"], execution_id)
    assert execution["status"] == "COMPLETE" and execution["exit_code"] == 0
    assert execution["executor"] == actor["owner"]
    assert "Contents of MSG: via a nonce" in logs and "x-nonce" not in logs
    assert f"_abaco_username={actor['owner']}" in logs

    # A nonce reaches only what it was made for.
    anonymous = ApiClient(api.url)
    assert anonymous.get("/actors", params={"x-nonce": nonce["id"]}).status_code == 403
    assert anonymous.get(f"/actors/{actor['id']}/executions/{execution_id}/logs",
                         params={"x-nonce": nonce["id"]}).status_code == 200
    spent = anonymous.post(f"/actors/{actor['id']}/messages", params={"x-nonce": nonce["id"]},
                           data={"message": "one too many"})
    assert spent.status_code == 403 and "no uses left" in spent.json()["message"]
    assert client.result(client.get(f"/actors/{actor['id']}/nonces/{nonce['id']}"))["current_uses"] == 2


def test_concurrent_redemption_never_spends_more_than_max_uses(client, api):
    actor = client.create_actor(ECHO)
    nonce = client.result(client.post(f"/actors/{actor['id']}/nonces", json={"max_uses": 5}))
    start = threading.Barrier(20)
    codes, lock = [], threading.Lock()

    def send(n: int) -> None:
        session = requests.Session()
        start.wait()
        response = session.post(f"{api.url}/actors/{actor['id']}/messages",
                                params={"x-nonce": nonce["id"]}, data={"message": f"race {n}"},
                                timeout=60)
        with lock:
            codes.append(response.status_code)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(codes) == [200] * 5 + [403] * 15
    record = client.result(client.get(f"/actors/{actor['id']}/nonces/{nonce['id']}"))
    assert record["current_uses"] == 5 and record["remaining_uses"] == 0
    summary = client.result(client.get(f"/actors/{actor['id']}/executions"))
    assert len(summary["ids"]) == 5
    for execution_id in summary["ids"]:
        assert client.wait(actor["id"], execution_id)["exit_code"] == 0


def test_an_alias_names_the_actor_for_messages_and_executions(client):
    actor = client.create_actor(ECHO)
    alias = f"echo.{uuid.uuid4().hex[:8]}"
    client.result(client.post("/actors/aliases", json={"alias": alias, "actor_id": actor["id"]}))

    execution_id = client.send(alias, "sent to an alias")
    execution = client.wait(alias, execution_id)
    logs = client.logs(alias, execution_id)

    assert execution["actor_id"] == actor["id"] and execution["status"] == "COMPLETE"
    assert "Contents of MSG: sent to an alias" in logs
    assert f"_abaco_actor_id={actor['id']}" in logs
    assert client.result(client.get(f"/actors/{alias}/executions"))["ids"] == [execution_id]
    assert client.get(f"/actors/{alias}/executions/{execution_id}/results").content == b""


def test_a_secret_config_reaches_the_container_and_nothing_else(client, api, docker_engine,
                                                                 redis_server, platform_dir):
    secret = f"pw-{uuid.uuid4().hex}"
    actor = client.create_actor(SLEEP)  # prints only its iterations: never its environment
    alias = f"sleeper-{uuid.uuid4().hex[:8]}"
    client.result(client.post("/actors/aliases", json={"alias": alias, "actor_id": actor["id"]}))
    name = f"db-{uuid.uuid4().hex[:6]}"
    created = client.post("/actors/configs", data={"name": name, "value": secret, "is_secret": "true",
                                                   "actors": alias})
    client.result(client.post("/actors/configs", json={"name": f"{name}-host", "value": "db.local",
                                                       "actors": [actor["id"]]}))
    responses = [created, client.get("/actors/configs"), client.get(f"/actors/configs/{name}")]

    execution_id = client.send(actor["id"], "4", params={"SLEEP_SECONDS": "0.5"})
    client.wait(actor["id"], execution_id, statuses=("RUNNING",))
    environment = _running_container_env(docker_engine, execution_id)
    assert json.loads(environment["_actor_configs"]) == {name: secret, f"{name}-host": "db.local"}
    client.wait(actor["id"], execution_id)

    responses += [client.get(f"/actors/{actor['id']}/executions/{execution_id}"),
                  client.get(f"/actors/{actor['id']}/executions/{execution_id}/logs"),
                  client.get(f"/actors/{actor['id']}/executions"), client.get(f"/actors/{actor['id']}"),
                  client.get(f"/actors/{alias}/executions/{execution_id}/logs")]
    assert all(r.status_code == 200 for r in responses)
    assert client.result(responses[2])["value"] is None
    for response in responses:
        assert secret not in response.text
    assert "iteration 4 of 4" in client.logs(actor["id"], execution_id)
    assert secret.encode() not in _everything_in_redis(redis_server.url)  # encrypted at rest
    spawner_log = (platform_dir / "spawner.log").read_text(errors="replace")
    assert secret not in spawner_log


def test_an_actor_that_prints_its_environment_shows_its_own_configs(client):
    """The echo actor prints its environment: _actor_configs is there, for the actor to use."""
    actor = client.create_actor(ECHO)
    name = f"token-{uuid.uuid4().hex[:6]}"
    client.result(client.post("/actors/configs", json={"name": name, "value": "open-value",
                                                       "actors": actor["id"]}))
    execution_id = client.send(actor["id"], "show configs")
    client.wait(actor["id"], execution_id)
    assert f'_actor_configs={{"{name}": "open-value"}}' in client.logs(actor["id"], execution_id)


def test_an_execution_token_ends_with_its_execution(client, docker_engine):
    actor = client.create_actor(SLEEP, token=True)
    execution_id = client.send(actor["id"], "4", params={"SLEEP_SECONDS": "0.5"})
    client.wait(actor["id"], execution_id, statuses=("RUNNING",))
    token = _running_container_env(docker_engine, execution_id)["_abaco_access_token"]
    scoped = ApiClient(client.url, token)
    assert scoped.get(f"/actors/{actor['id']}").status_code == 200
    other = client.create_actor(ECHO)
    assert scoped.get(f"/actors/{other['id']}").status_code == 403

    client.wait(actor["id"], execution_id)
    response = scoped.get(f"/actors/{actor['id']}")
    assert response.status_code == 401 and "revoked" in response.json()["message"]


def test_tenants_are_isolated_end_to_end(api, spawner):
    lab = ApiClient(api.url, mint(api.config, "alice", tenant="lab"))
    other = ApiClient(api.url, mint(api.config, "alice", tenant="other"))
    other_admin = ApiClient(api.url, mint(api.config, "root", roles=("admin",), tenant="other"))
    alias = f"shared-name-{uuid.uuid4().hex[:6]}"
    mine = lab.create_actor(ECHO)
    theirs = other.create_actor(ECHO)
    lab.result(lab.post("/actors/aliases", json={"alias": alias, "actor_id": mine["id"]}))
    other.result(other.post("/actors/aliases", json={"alias": alias, "actor_id": theirs["id"]}))

    lab_run = lab.send(alias, "lab message")
    other_run = other.send(alias, "other message")
    lab_logs = (lab.wait(alias, lab_run), lab.logs(alias, lab_run))[1]
    other_logs = (other.wait(alias, other_run), other.logs(alias, other_run))[1]
    assert f"_abaco_actor_id={mine['id']}" in lab_logs and "Contents of MSG: lab message" in lab_logs
    assert f"_abaco_actor_dbid=LAB_{mine['id']}" in lab_logs
    assert f"_abaco_actor_dbid=OTHER_{theirs['id']}" in other_logs

    for outsider in (other, other_admin):
        for path in (f"/actors/{mine['id']}", f"/actors/{mine['id']}/executions",
                     f"/actors/{mine['id']}/executions/{lab_run}",
                     f"/actors/{mine['id']}/executions/{lab_run}/logs", f"/actors/{mine['id']}/messages"):
            response = outsider.get(path)
            assert response.status_code == 404 and "tenant" not in response.text, path
        assert outsider.post(f"/actors/{mine['id']}/messages", data={"message": "x"}).status_code == 404
        assert mine["id"] not in [a["id"] for a in outsider.result(outsider.get("/actors"))]
    assert [a["id"] for a in lab.result(lab.get("/actors"))] == [mine["id"]]
    for response in (lab.get(f"/actors/{mine['id']}"), lab.get("/actors/aliases"),
                     lab.get(f"/actors/{mine['id']}/executions/{lab_run}")):
        assert '"tenant"' not in response.text
