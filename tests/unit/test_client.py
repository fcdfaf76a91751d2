"""The Python client against a tiny in-process HTTP server that answers like the API."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from runtime_sdk.client import Actor, ApiError, Client, Execution, SynchronousTimeout


def envelope(result, message="ok", status="success"):
    return {"message": message, "result": result, "status": status, "version": "test"}


class FakeApi:
    """An HTTP server whose answers are set per (method, path); it records every request.

    A route's answer is a JSON result (wrapped in the envelope), a
    ``(status, content_type, body)`` tuple, a list of either (one per call,
    the last repeated), or a callable taking the recorded request;
    ``fallback``, when set, answers requests no route matches.
    """

    def __init__(self):
        self.routes = {}
        self.fallback = None
        self.requests = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = {"method": self.command, "path": split.path,
                           "query": {k: v[0] for k, v in parse_qs(split.query).items()},
                           "headers": dict(self.headers), "body": self.rfile.read(length)}
                api.requests.append(request)
                status, content_type, body = api.answer(request)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def route(self, method: str, path: str, answer) -> None:
        self.routes[(method, path)] = answer

    def answer(self, request) -> tuple:
        key = (request["method"], request["path"])
        if key not in self.routes and self.fallback is not None:
            return self._tuple(self.fallback(request))
        if key not in self.routes:
            return 404, "application/json", json.dumps(
                envelope(None, "Not found: no such endpoint.", "error")).encode()
        answer = self.routes[key]
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if callable(answer):
            answer = answer(request)
        return self._tuple(answer)

    @staticmethod
    def _tuple(answer) -> tuple:
        if isinstance(answer, tuple):
            return answer
        return 200, "application/json", json.dumps(envelope(answer)).encode()

    def last(self, method: str = None) -> dict:
        matching = [r for r in self.requests if method is None or r["method"] == method]
        return matching[-1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def error(status: int, message: str, result=None) -> tuple:
    return status, "application/json", json.dumps(envelope(result, message, "error")).encode()


ACTOR = {"id": "a1", "image": "actors/echo:latest", "name": "echo", "description": "",
         "default_environment": {"FOO": "bar"}, "stateless": True, "privileged": False,
         "max_workers": None, "mem_limit": None, "max_cpus": None, "hints": [], "queue": "default",
         "log_ex": None, "token": False, "use_container_uid": False, "owner": "alice",
         "status": "READY", "status_message": "", "revision": 1, "create_time": "t",
         "last_update_time": "t"}


@pytest.fixture
def fake():
    api = FakeApi()
    yield api
    api.stop()


@pytest.fixture
def client(fake):
    return Client(fake.url, "secret-token", timeout=5)


@pytest.fixture
def actor(fake, client):
    fake.route("GET", "/actors/a1", dict(ACTOR))
    return client.actors.get("a1")


def test_create_sends_json_and_returns_an_actor(fake, client):
    fake.route("POST", "/actors", lambda request: dict(ACTOR, **json.loads(request["body"])))

    actor = client.actors.create(image="actors/echo:latest", stateless=False, token=True)

    assert isinstance(actor, Actor) and actor.id == "a1" and actor.attrs["stateless"] is False
    sent = fake.last("POST")
    assert json.loads(sent["body"]) == {"image": "actors/echo:latest", "stateless": False,
                                        "token": True}
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["headers"]["Authorization"] == "Bearer secret-token"


def test_list_and_get(fake, client):
    fake.route("GET", "/actors", [[ACTOR, dict(ACTOR, id="a2")]])
    fake.route("GET", "/actors/a2", dict(ACTOR, id="a2"))

    assert [a.id for a in client.actors.list()] == ["a1", "a2"]
    assert client.actors.get("a2") == Actor(client, {"id": "a2"})
    assert repr(client.actors.get("a2")) == "<Actor: a2>"


def test_errors_carry_the_servers_message(fake, client):
    fake.route("GET", "/actors/nope", error(404, "No actor with id 'nope'."))
    with pytest.raises(ApiError) as raised:
        client.actors.get("nope")
    assert raised.value.status_code == 404 and raised.value.message == "No actor with id 'nope'."

    fake.route("GET", "/actors/plain", (502, "text/plain", b"bad gateway"))
    with pytest.raises(ApiError) as raised:
        client.actors.get("plain")
    assert raised.value.status_code == 502 and raised.value.message == "bad gateway"


def test_unreachable_server_is_a_connection_error():
    with pytest.raises(ConnectionError, match="cannot reach the actors API"):
        Client("http://127.0.0.1:9", "t", timeout=2).actors.list()


def test_camel_case_answers_are_read_as_snake_case(fake, client):
    camel = {"id": "a1", "image": "x", "defaultEnvironment": {"myVar": "1"}, "maxWorkers": 2,
             "useContainerUid": False, "lastUpdateTime": "t"}
    fake.route("GET", "/actors/a1", camel)
    fake.route("POST", "/actors/a1/messages", {"executionId": "e1", "msg": "hi"})
    fake.route("GET", "/actors/a1/executions/e1",
               {"id": "e1", "actorId": "a1", "status": "COMPLETE", "exitCode": 0,
                "finalState": {"ExitCode": 0}})

    actor = client.actors.get("a1")
    execution = actor.send("hi").reload()

    assert actor.attrs["default_environment"] == {"myVar": "1"}  # user data keeps its keys
    assert actor.attrs["max_workers"] == 2 and "use_container_uid" in actor.attrs
    assert execution.id == "e1" and execution.exit_code == 0
    assert execution.attrs["final_state"] == {"ExitCode": 0}


def test_update_puts_the_full_description(fake, actor):
    fake.route("PUT", "/actors/a1", lambda request: dict(ACTOR, **json.loads(request["body"])))

    actor.update(image="actors/echo:v2", description="new")

    body = json.loads(fake.last("PUT")["body"])
    assert body["image"] == "actors/echo:v2" and body["description"] == "new"
    assert body["default_environment"] == {"FOO": "bar"} and body["stateless"] is True
    assert not {"id", "owner", "status", "revision", "create_time", "max_workers"} & set(body)
    assert actor.attrs["image"] == "actors/echo:v2"


def test_reload_and_delete(fake, actor):
    fake.route("GET", "/actors/a1", dict(ACTOR, status="ERROR"))
    fake.route("DELETE", "/actors/a1", None)
    assert actor.reload().attrs["status"] == "ERROR"
    actor.delete()
    assert fake.last()["method"] == "DELETE"


def test_send_in_the_three_forms(fake, actor):
    fake.route("POST", "/actors/a1/messages", {"execution_id": "e1", "msg": "x"})

    execution = actor.send("hello world", env={"FOO": "1"})
    sent = fake.last("POST")
    assert isinstance(execution, Execution) and execution.id == "e1" and execution.actor_id == "a1"
    assert sent["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(sent["body"].decode()) == {"message": ["hello world"]}
    assert sent["query"] == {"FOO": "1"}

    actor.send(json={"count": 3})
    assert fake.last("POST")["headers"]["Content-Type"] == "application/json"
    assert json.loads(fake.last("POST")["body"]) == {"count": 3}

    actor.send(json=None)  # JSON null is a value, not "no message"
    assert fake.last("POST")["body"] == b"null"

    actor.send(binary=b"\x00\xffdata")
    assert fake.last("POST")["headers"]["Content-Type"] == "application/octet-stream"
    assert fake.last("POST")["body"] == b"\x00\xffdata"


def test_send_needs_exactly_one_form(actor):
    with pytest.raises(TypeError):
        actor.send()
    with pytest.raises(TypeError):
        actor.send("text", binary=b"x")


def test_send_sync_answers_bytes_or_logs(fake, actor):
    fake.route("POST", "/actors/a1/messages",
               [(200, "application/octet-stream", b"42"), (200, "text/plain", b"some logs\n")])

    assert actor.send_sync("a b") == b"42"
    assert fake.last("POST")["query"] == {"_abaco_synchronous": "true"}
    assert actor.send_sync("a b", env={"X": "1"}) == "some logs\n"
    assert fake.last("POST")["query"] == {"_abaco_synchronous": "true", "X": "1"}


def test_send_sync_timeout_names_the_execution(fake, actor):
    fake.route("POST", "/actors/a1/messages",
               error(408, "The execution did not finish within 8 s", {"executionId": "e9"}))

    with pytest.raises(SynchronousTimeout) as raised:
        actor.send_sync(binary=b"x")

    assert raised.value.status_code == 408 and raised.value.execution_id == "e9"
    assert raised.value.execution == Execution(None, {"id": "e9"})
    assert raised.value.execution.actor_id == "a1"


def test_wait_polls_until_finished(fake, client):
    statuses = iter(["SUBMITTED", "RUNNING", "RUNNING", "COMPLETE"])
    fake.route("GET", "/actors/a1/executions/e1",
               lambda request: {"id": "e1", "actor_id": "a1", "status": next(statuses),
                                "exit_code": None})
    execution = Execution(client, {"id": "e1", "actor_id": "a1"})

    assert execution.wait(timeout=10, poll=0.01) is execution
    assert execution.attrs["status"] == "COMPLETE"


def test_wait_times_out(fake, client):
    fake.route("GET", "/actors/a1/executions/e1", {"id": "e1", "status": "RUNNING"})
    execution = Execution(client, {"id": "e1", "actor_id": "a1"})
    with pytest.raises(TimeoutError, match="still RUNNING"):
        execution.wait(timeout=0.2, poll=0.05)


def test_results_are_drained_in_order(fake, client):
    octets = lambda body: (200, "application/octet-stream", body)  # noqa: E731
    fake.route("GET", "/actors/a1/executions/e1/results",
               [octets(b"first"), octets(b"second"), octets(b"")])
    execution = Execution(client, {"id": "e1", "actor_id": "a1"})

    assert execution.results() == [b"first", b"second"]
    assert execution.result() is None


def test_logs_kill_and_executions(fake, actor, client):
    fake.route("GET", "/actors/a1/executions/e1/logs", {"logs": "hello\n"})
    fake.route("DELETE", "/actors/a1/executions/e1", {"id": "e1", "status": "COMPLETE"})
    fake.route("GET", "/actors/a1/executions",
               {"actor_id": "a1", "ids": ["e1", "e2"],
                "executions": [{"id": "e1", "status": "COMPLETE"},
                               {"id": "e2", "status": "RUNNING"}]})
    execution = Execution(client, {"id": "e1", "actor_id": "a1"})

    assert execution.logs() == "hello\n"
    assert execution.kill().attrs["status"] == "COMPLETE" and execution.actor_id == "a1"
    executions = actor.executions()
    assert [e.id for e in executions] == ["e1", "e2"]
    assert executions[1].attrs["status"] == "RUNNING" and executions[1].actor_id == "a1"


def test_state_and_mailbox(fake, actor):
    fake.route("GET", "/actors/a1/state", {"state": {"count": 2}})
    fake.route("POST", "/actors/a1/state", lambda request: {"state": json.loads(request["body"])})
    fake.route("GET", "/actors/a1/messages", {"messages": 7})

    assert actor.state == {"count": 2}
    actor.set_state([1, "two"])
    assert json.loads(fake.last("POST")["body"]) == [1, "two"]
    assert actor.messages_count() == 7


def test_stateless_state_is_an_api_error(fake, actor):
    fake.route("GET", "/actors/a1/state", error(400, "Actor 'a1' is stateless"))
    with pytest.raises(ApiError, match="stateless"):
        actor.state


def test_update_of_an_actor_known_by_id_fetches_its_fields_first(fake, client):
    fake.route("GET", "/actors/a1", dict(ACTOR))
    fake.route("PUT", "/actors/a1", lambda request: dict(ACTOR, **json.loads(request["body"])))

    Actor(client, {"id": "a1"}).update(description="new")

    body = json.loads(fake.last("PUT")["body"])
    assert body["image"] == ACTOR["image"] and body["description"] == "new"
