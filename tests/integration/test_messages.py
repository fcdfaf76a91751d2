"""Messages in their three forms, run as real containers; assertions on what the container did."""
from __future__ import annotations

import hashlib
import json
import os

from .conftest import ECHO


def test_string_message_reaches_the_container(client):
    actor = client.create_actor(ECHO, default_environment={"GREETING": "hi", "FOO": "default"})
    assert client.wait_actor(actor["id"])["status"] == "READY"
    execution_id = client.send(actor["id"], "hello world", params={"FOO": "from-query"})

    execution = client.wait(actor["id"], execution_id)
    logs = client.logs(actor["id"], execution_id)

    assert execution["status"] == "COMPLETE" and execution["exit_code"] == 0
    assert "Contents of MSG: hello world" in logs
    assert "_abaco_Content_Type=str" in logs
    assert f"_abaco_execution_id={execution_id}" in logs
    assert f"_abaco_actor_id={actor['id']}" in logs
    assert f"_abaco_username={actor['owner']}" in logs
    assert f"_abaco_container_repo={ECHO}" in logs
    assert "_abaco_actor_revision=1" in logs
    assert "GREETING=hi" in logs and "FOO=from-query" in logs  # query parameters win
    assert execution["worker_id"] and execution["executor"] == actor["owner"]
    assert execution["final_state"]["ExitCode"] == 0
    assert execution["final_state"]["Status"] == "exited"
    assert execution["runtime"] >= 0 and execution["start_time"] and execution["finish_time"]
    assert execution["message_received_time"].endswith("Z")


def test_json_message_is_passed_as_json(client):
    actor = client.create_actor(ECHO)
    response = client.post(f"/actors/{actor['id']}/messages", json={"count": 3, "word": "x"})
    execution_id = client.result(response)["execution_id"]

    client.wait(actor["id"], execution_id)
    logs = client.logs(actor["id"], execution_id)

    assert "_abaco_Content_Type=application/json" in logs
    line = next(l for l in logs.splitlines() if l.startswith("Contents of MSG: "))
    assert json.loads(line[len("Contents of MSG: "):]) == {"count": 3, "word": "x"}


def test_binary_message_round_trips_byte_for_byte(client):
    actor = client.create_actor(ECHO)
    payload = os.urandom(3 * 1024 * 1024 + 17)  # larger than a pipe buffer many times over
    response = client.post(f"/actors/{actor['id']}/messages", data=payload,
                           headers={"Content-Type": "application/octet-stream"})
    result = client.result(response)
    assert result["msg"] == "binary - omitted"

    execution = client.wait(actor["id"], result["execution_id"])
    logs = client.logs(actor["id"], result["execution_id"])

    assert execution["exit_code"] == 0
    assert f"{len(payload)} bytes, sha256 {hashlib.sha256(payload).hexdigest()}" in logs
    assert "_abaco_Content_Type=application/octet-stream" in logs
    assert "\nMSG=" not in logs  # no MSG for binary messages


def test_empty_binary_message_does_not_hang(client):
    actor = client.create_actor(ECHO)
    response = client.post(f"/actors/{actor['id']}/messages", data=b"",
                           headers={"Content-Type": "application/octet-stream"})
    execution_id = client.result(response)["execution_id"]
    client.wait(actor["id"], execution_id, timeout=30)
    assert "0 bytes, sha256 " + hashlib.sha256(b"").hexdigest() in client.logs(actor["id"], execution_id)


def test_non_zero_exit_is_complete_with_its_code(client):
    actor = client.create_actor(ECHO)
    execution_id = client.send(actor["id"], "fail please", params={"ECHO_EXIT_CODE": "3",
                                                                   "ECHO_STDERR": "to stderr"})
    execution = client.wait(actor["id"], execution_id)
    assert execution["status"] == "COMPLETE"
    assert execution["exit_code"] == 3 and execution["final_state"]["ExitCode"] == 3
    assert "to stderr" in client.logs(actor["id"], execution_id)


def test_message_queue_count_and_purge(client):
    actor = client.create_actor("actors/sleep-loop:latest", stateless=False)
    first = client.send(actor["id"], "30")
    client.wait(actor["id"], first, statuses=("RUNNING",))
    queued = [client.send(actor["id"], "1") for _ in range(2)]

    assert client.result(client.get(f"/actors/{actor['id']}/messages"))["messages"] == 2
    purged = client.result(client.delete(f"/actors/{actor['id']}/messages"))
    assert purged["cancelled"] == 2
    assert client.result(client.get(f"/actors/{actor['id']}/messages"))["messages"] == 0
    for execution_id in queued:
        execution = client.execution(actor["id"], execution_id)
        assert execution["status"] == "COMPLETE" and execution["start_time"] is None
    client.delete(f"/actors/{actor['id']}/executions/{first}")
    client.wait(actor["id"], first)


def test_message_over_the_size_limit_is_413(client):
    actor = client.create_actor(ECHO)
    response = client.post(f"/actors/{actor['id']}/messages", data=b"x" * (9 * 1024 * 1024),
                           headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 413
    assert response.json()["status"] == "error" and "bytes" in response.json()["message"]
    assert client.result(client.get(f"/actors/{actor['id']}/executions"))["ids"] == []


def test_message_without_a_body_is_400(client):
    actor = client.create_actor(ECHO)
    response = client.post(f"/actors/{actor['id']}/messages", data={"other": "x"})
    assert response.status_code == 400 and "message" in response.json()["message"]
    response = client.post(f"/actors/{actor['id']}/messages", data="{not json",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "JSON" in response.json()["message"]


def test_the_longest_text_message_msg_can_hold_runs_and_a_longer_one_is_refused(client):
    """MSG is an environment variable: Linux caps "MSG=<message>" plus its NUL at 131072 bytes
    (MAX_ARG_STRLEN). The longest message that fits runs in a real container; one byte more
    is refused with 413 when sent, instead of failing later with "argument list too long"."""
    from actors_api.routes.messages import MAX_TEXT_MESSAGE_BYTES

    actor = client.create_actor(ECHO)
    largest = "m" * (MAX_TEXT_MESSAGE_BYTES - 3) + "end"
    execution_id = client.send(actor["id"], largest)
    execution = client.wait(actor["id"], execution_id)
    assert (execution["status"], execution["exit_code"]) == ("COMPLETE", 0), execution
    assert client.logs(actor["id"], execution_id).startswith("Contents of MSG: mmmm")

    refused = client.post(f"/actors/{actor['id']}/messages", data={"message": largest + "!"})
    assert refused.status_code == 413 and "binary" in refused.json()["message"]
    as_json = client.post(f"/actors/{actor['id']}/messages",
                          data=json.dumps("j" * MAX_TEXT_MESSAGE_BYTES),
                          headers={"Content-Type": "application/json"})
    assert as_json.status_code == 413
