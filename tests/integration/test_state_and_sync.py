"""Actor state, synchronous messages, results and a stateful actor's strict order."""
from __future__ import annotations

import uuid

from spawner.runtimes.base import parse_state_time

from .conftest import ECHO, SLEEP
from .platform import SpawnerProcess


def test_state_is_set_read_and_seen_by_the_container(client):
    actor = client.create_actor(ECHO, stateless=False)
    assert client.result(client.get(f"/actors/{actor['id']}/state")) == {"state": None}
    value = {"count": 41, "tags": ["a", "b"]}
    assert client.result(client.post(f"/actors/{actor['id']}/state", json=value)) == {"state": value}
    assert client.result(client.get(f"/actors/{actor['id']}/state")) == {"state": value}

    execution_id = client.send(actor["id"], "show state")
    client.wait(actor["id"], execution_id)
    assert '_abaco_actor_state={"count": 41, "tags": ["a", "b"]}' in client.logs(actor["id"], execution_id)


def test_stateless_actors_refuse_state_and_stateful_cannot_become_stateless(client):
    stateless = client.create_actor(ECHO)
    response = client.post(f"/actors/{stateless['id']}/state", json={"x": 1})
    assert response.status_code == 409 and "stateless" in response.json()["message"]
    stateful = client.create_actor(ECHO, stateless=False)
    response = client.put(f"/actors/{stateful['id']}", json={"image": ECHO, "stateless": True})
    assert response.status_code == 409 and "stateless" in response.json()["message"]
    bad = client.post(f"/actors/{stateful['id']}/state", data="{oops",
                      headers={"Content-Type": "application/json"})
    assert bad.status_code == 400


def test_results_endpoint_is_empty_without_results(client):
    actor = client.create_actor(ECHO)
    execution_id = client.send(actor["id"], "no results here")
    client.wait(actor["id"], execution_id)
    response = client.get(f"/actors/{actor['id']}/executions/{execution_id}/results")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["Content-Type"] == "application/octet-stream"


def test_synchronous_message_answers_with_logs_when_there_is_no_result(client):
    actor = client.create_actor(ECHO)
    response = client.post(f"/actors/{actor['id']}/messages", data={"message": "sync hello"},
                           params={"_abaco_synchronous": "true"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "Contents of MSG: sync hello" in response.text


def test_synchronous_message_times_out_with_the_execution_id(client):
    actor = client.create_actor(SLEEP)  # the test API waits 8 s at most
    response = client.post(f"/actors/{actor['id']}/messages", data={"message": "30"},
                           params={"_abaco_synchronous": "true"})
    assert response.status_code == 408
    execution_id = response.json()["result"]["execution_id"]
    assert execution_id in response.json()["message"]
    assert client.execution(actor["id"], execution_id)["status"] == "RUNNING"
    client.delete(f"/actors/{actor['id']}/executions/{execution_id}")
    client.wait(actor["id"], execution_id)


def test_stateful_actor_runs_strictly_in_order_under_two_spawners(admin, environment, platform_dir):
    queue = f"serial-{uuid.uuid4().hex[:6]}"
    spawners = [SpawnerProcess(environment, name=f"serial-{n}-{uuid.uuid4().hex[:4]}", queues=queue,
                               slots=2, log_path=platform_dir / f"{queue}-{n}.log") for n in (1, 2)]
    try:
        actor = admin.create_actor(SLEEP, stateless=False, queue=queue)
        ids = [admin.send(actor["id"], "1", params={"SLEEP_SECONDS": "0.3"}) for _ in range(6)]
        executions = [admin.wait(actor["id"], eid, timeout=90) for eid in ids]
    finally:
        for spawner in spawners:
            spawner.stop()
    assert all(e["status"] == "COMPLETE" and e["exit_code"] == 0 for e in executions)
    for earlier, later in zip(executions, executions[1:]):
        assert parse_state_time(earlier["final_state"]["FinishedAt"]) <= parse_state_time(later["final_state"]["StartedAt"])
        assert earlier["start_time"] < later["start_time"]
    assert len({e["worker_id"] for e in executions}) == 1

