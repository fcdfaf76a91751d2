"""Force-quit, cancel, logs while running, log caps, stats, missing images, deletion."""
from __future__ import annotations

import time

from .conftest import ECHO, SLEEP


def test_force_quit_kills_a_running_container(client, docker_engine):
    actor = client.create_actor(SLEEP)
    execution_id = client.send(actor["id"], "120")
    client.wait(actor["id"], execution_id, statuses=("RUNNING",))
    client.wait_for_log(actor["id"], execution_id, "iteration 1 of 120")

    response = client.delete(f"/actors/{actor['id']}/executions/{execution_id}")
    assert response.status_code == 200
    execution = client.wait(actor["id"], execution_id, timeout=30)

    assert execution["status"] == "COMPLETE"
    assert execution["final_state"]["ForceQuit"] is True
    assert execution["final_state"]["ExitCode"] == 137 and execution["exit_code"] == 137
    assert execution["runtime"] < 60
    # The record is saved first, then the container is removed.
    deadline = time.monotonic() + 10
    while docker_engine.containers.list(all=True, filters={"label": f"actors.execution={execution_id}"}):
        assert time.monotonic() < deadline, "the killed container was never removed"
        time.sleep(0.2)


def test_cancelled_queued_execution_never_runs(client):
    actor = client.create_actor(SLEEP, stateless=False)  # one worker: the second waits
    running = client.send(actor["id"], "30")
    client.wait(actor["id"], running, statuses=("RUNNING",))
    queued = client.send(actor["id"], "1")

    response = client.delete(f"/actors/{actor['id']}/executions/{queued}")
    assert "cancelled" in response.json()["message"]
    client.delete(f"/actors/{actor['id']}/executions/{running}")
    client.wait(actor["id"], running)
    time.sleep(1.5)
    execution = client.execution(actor["id"], queued)
    assert execution["status"] == "COMPLETE" and execution["start_time"] is None
    assert client.logs(actor["id"], queued) == ""


def test_logs_are_readable_while_running_and_stats_are_recorded(client):
    actor = client.create_actor(SLEEP)
    execution_id = client.send(actor["id"], "3")
    client.wait(actor["id"], execution_id, statuses=("RUNNING",))
    client.wait_for_log(actor["id"], execution_id, "iteration 1 of 3")
    assert client.execution(actor["id"], execution_id)["status"] == "RUNNING"

    execution = client.wait(actor["id"], execution_id)
    logs = client.logs(actor["id"], execution_id)
    assert "iteration 3 of 3" in logs and logs.rstrip().endswith("done")
    assert execution["cpu"] > 0  # nanoseconds of CPU from the stats API's cumulative counter
    assert execution["io"] >= 0
    assert 2.5 < execution["runtime"] < 30

    summary = client.result(client.get(f"/actors/{actor['id']}/executions"))
    assert summary["ids"] == [execution_id] and summary["total_executions"] == 1
    assert summary["total_cpu"] == execution["cpu"] and summary["total_io"] == execution["io"]
    assert summary["executions"][0]["status"] == "COMPLETE"
    assert summary["owner"] == actor["owner"] and summary["actor_id"] == actor["id"]


def test_logs_are_capped_with_a_visible_marker(client):
    actor = client.create_actor(ECHO)
    big = "y" * 70000  # the test platform caps logs at 65536 bytes
    execution_id = client.send(actor["id"], big)
    client.wait(actor["id"], execution_id)
    logs = client.logs(actor["id"], execution_id)
    assert "[actors: log truncated at 65536 bytes]" in logs
    assert len(logs.encode()) <= 65536 + 100


def test_missing_image_puts_execution_and_actor_in_error(client):
    actor = client.create_actor("actors/no-such-image:never")
    ready = client.wait_actor(actor["id"])
    assert ready["status"] == "ERROR" and "no-such-image" in ready["status_message"]

    execution_id = client.send(actor["id"], "hello")
    execution = client.wait(actor["id"], execution_id)
    assert execution["status"] == "ERROR"
    assert "actors/no-such-image:never" in execution["status_message"]
    assert execution["exit_code"] is None


def test_delete_actor_removes_its_executions(client):
    actor = client.create_actor(ECHO)
    execution_id = client.send(actor["id"], "bye")
    client.wait(actor["id"], execution_id)

    assert client.delete(f"/actors/{actor['id']}").status_code == 200
    assert client.get(f"/actors/{actor['id']}").status_code == 404
    response = client.get(f"/actors/{actor['id']}/executions/{execution_id}/logs")
    assert response.status_code == 404 and response.json()["status"] == "error"


def test_update_with_a_new_image_bumps_revision(client):
    actor = client.create_actor(ECHO, description="first")
    updated = client.result(client.put(f"/actors/{actor['id']}", json={"image": SLEEP}))
    assert updated["revision"] == 2 and updated["image"] == SLEEP
    assert updated["description"] == ""  # PUT takes the full description
    assert client.wait_actor(actor["id"])["status"] == "READY"
    same = client.result(client.put(f"/actors/{actor['id']}", json={"image": SLEEP}))
    assert same["revision"] == 2
