"""Events, cron and log_ex against real Redis, real spawners and Docker.

A link chain A -> B, a webhook to a local HTTP server whose first answer is a
500, a dead webhook that never holds up an execution, a cron actor fired by
real spawners (exactly once with three of them ticking), and logs that expire.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from actors_core.times import parse_iso

from .conftest import ECHO
from .platform import ApiClient, SpawnerProcess, free_port


def _until(check, timeout=60, step=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not met after {timeout}s"
        time.sleep(step)


def _executions(client: ApiClient, actor_id: str) -> list:
    return client.result(client.get(f"/actors/{actor_id}/executions"))["executions"]


def test_a_linked_actor_gets_the_events_of_its_source(client):
    b = client.create_actor(ECHO)
    a = client.create_actor(ECHO, link=b["id"])
    assert client.wait_actor(a["id"])["status"] == "READY"
    execution_id = client.send(a["id"], "to A", params={"TRACE": "t-1"})
    assert client.wait(a["id"], execution_id)["status"] == "COMPLETE"

    def completion_event():
        for summary in _executions(client, b["id"]):
            if summary["status"] != "COMPLETE":
                continue
            logs = client.logs(b["id"], summary["id"])
            first = logs.splitlines()[0].removeprefix("Contents of MSG: ")
            event = json.loads(first)
            if event["event_type"] == "EXECUTION_COMPLETE":
                return event, logs, summary["id"]
        return None

    event, logs, b_execution = _until(completion_event, what="B running A's EXECUTION_COMPLETE")
    assert (event["actor_id"], event["execution_id"], event["status"], event["exit_code"]) == \
        (a["id"], execution_id, "COMPLETE", 0)
    # the platform's _abaco_* context travels along (users cannot set _abaco_* names)
    assert (event["_abaco_username"], event["_abaco_Content_Type"]) == (a["owner"], "str")
    assert "TRACE" not in event
    assert "_abaco_Content_Type=application/json" in logs
    assert client.execution(b["id"], b_execution)["executor"] == a["owner"]
    kinds = {e["event_type"] for e in client.result(client.get(f"/actors/{a['id']}/events"))}
    assert kinds == {"ACTOR_READY", "EXECUTION_COMPLETE"}


class Hook:
    """An HTTP endpoint on 127.0.0.1 whose first answer is a 500, then 200s."""

    def __init__(self):
        self.received, hook = [], self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.received.append(body)
                self.send_response(500 if len(hook.received) == 1 else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def test_a_webhook_is_retried_after_a_failure_and_the_attempts_are_shown(client):
    hook = Hook()
    try:
        actor = client.create_actor(ECHO, webhook=hook.url)
        client.wait_actor(actor["id"])
        execution_id = client.send(actor["id"], "hooked")
        client.wait(actor["id"], execution_id)

        def settled():
            events = client.result(client.get(f"/actors/{actor['id']}/events"))
            done = [e for e in events if e["status"] == "DELIVERED"]
            return events if len(done) == 2 else None

        events = _until(settled, timeout=60, what="both webhook events delivered")
    finally:
        hook.stop()
    by_type = {e["event_type"]: e for e in events}
    ready = by_type["ACTOR_READY"]  # the first event sent, so the one that met the 500
    assert [(a["attempt"], a["status_code"]) for a in ready["attempts"]] == [(1, 500), (2, 200)]
    assert ready["attempts"][0]["next_delay"] > 0 and ready["attempts"][0]["error"] == "HTTP 500"
    completed = [b for b in hook.received if b["event_type"] == "EXECUTION_COMPLETE"]
    assert [(b["execution_id"], b["status"], b["exit_code"]) for b in completed] == \
        [(execution_id, "COMPLETE", 0)]
    assert sum(b["event_type"] == "ACTOR_READY" for b in hook.received) == 2  # at least once


def test_a_dead_webhook_never_holds_up_executions(client):
    actor = client.create_actor(ECHO, webhook=f"http://127.0.0.1:{free_port()}/nobody")
    client.wait_actor(actor["id"])
    started = time.monotonic()
    ids = [client.send(actor["id"], str(n)) for n in range(3)]
    assert {client.wait(actor["id"], e, timeout=60)["status"] for e in ids} == {"COMPLETE"}
    assert time.monotonic() - started < 30
    events = _until(lambda: [e for e in client.result(client.get(f"/actors/{actor['id']}/events"))
                             if e["attempts"]], what="a failed attempt")
    assert "ConnectionError" in events[0]["attempts"][0]["error"]


def test_real_spawners_fire_a_due_cron_actor_once(admin, environment, platform_dir):
    queue = f"cron-{uuid.uuid4().hex[:6]}"
    spawners = [SpawnerProcess(environment, name=f"{queue}-{n}", queues=queue, slots=1,
                               log_path=platform_dir / f"{queue}-{n}.log") for n in range(2)]
    try:
        time.sleep(2)  # three supervisors (these two and the session's) are ticking
        actor = admin.create_actor(ECHO, queue=queue, cron_schedule="now + 1 hour")
        due = actor["cron_next_ex"]
        [summary] = _until(lambda: _executions(admin, actor["id"]), what="the cron message")
        execution = admin.wait(actor["id"], summary["id"])
        time.sleep(5)  # more ticks from every spawner: still one execution
        assert len(_executions(admin, actor["id"])) == 1
        logs = admin.logs(actor["id"], execution["id"])
        shown = admin.result(admin.get(f"/actors/{actor['id']}"))
    finally:
        for spawner in spawners:
            spawner.stop()
    assert execution["status"] == "COMPLETE" and execution["content_type"] == "str"
    assert "_abaco_cron=true" in logs and "_abaco_Content_Type=str" in logs
    assert f"Contents of MSG: {due}" in logs
    # the next period (two on if the firing landed just after an hour boundary)
    assert parse_iso(shown["cron_next_ex"]) - parse_iso(due) in (timedelta(hours=1),
                                                                   timedelta(hours=2))


def test_logs_expire_log_ex_seconds_after_the_execution_finishes(client):
    actor = client.create_actor(ECHO, log_ex=2)
    execution_id = client.send(actor["id"], "short-lived")
    client.wait(actor["id"], execution_id)
    assert "short-lived" in client.logs(actor["id"], execution_id)
    _until(lambda: client.logs(actor["id"], execution_id) == "", timeout=10,
           what="the logs expiring")
    assert client.execution(actor["id"], execution_id)["status"] == "COMPLETE"  # the record stays
