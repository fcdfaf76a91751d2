"""Hostile requests through the production server (gunicorn) and real Redis: every
refusal is a JSON error with a message, never a 500 or an HTML page (issue 12, item 9)."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
import requests

from actors_core.tokens import mint

from .platform import REPO, free_port, platform_environment

DEEP = 10_000
WORKER = "actors_api.gunicorn_worker.ThreadWorker"


class Gunicorn:
    def __init__(self, environment: dict, worker: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}", "-k", worker,
             "--threads", "4", "--log-level", "warning", "actors_api:create_app()"],
            env=environment, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                assert self.process.poll() is None, self.process.stderr.read().decode()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)

    def raw(self, request: bytes) -> tuple:
        """(status, headers text, body) of a request sent byte for byte."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(request)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        return int(head.split()[1]), head.decode("latin-1"), body

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


@pytest.fixture(scope="module")
def server_environment(redis_server, tmp_path_factory):
    return platform_environment(redis_server.url, tmp_path_factory.mktemp("gunicorn"))


@pytest.fixture(scope="module")
def gunicorn(server_environment):
    server = Gunicorn(server_environment, WORKER)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def headers():
    from actors_core.config import Config

    from .platform import SECRET

    token = mint(Config(jwt_secret=SECRET), "fuzzer", roles=("admin",))
    return {"Authorization": f"Bearer {token}"}


BAD_TRANSFER_ENCODINGS = ["garbage", "chunked, chunked", "\x01\x02", "gzip", "chunked;x=y",
                          "identity"]


@pytest.mark.parametrize("coding", BAD_TRANSFER_ENCODINGS)
def test_a_bad_transfer_encoding_is_a_json_error(gunicorn, coding):
    request = (f"POST /actors HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Transfer-Encoding: {coding}\r\n\r\n{{}}").encode("latin-1")
    status, head, body = gunicorn.raw(request)
    assert status in (400, 501), (status, head)
    assert "Content-Type: application/json" in head
    answer = __import__("json").loads(body)
    assert answer["status"] == "error" and answer["result"] is None and answer["message"]


def test_the_stock_gthread_worker_answers_html(server_environment):
    """Why the worker exists: the same request through plain ``-k gthread``."""
    server = Gunicorn(server_environment, "gthread")
    try:
        status, head, body = server.raw(b"POST /actors HTTP/1.1\r\nHost: x\r\n"
                                        b"Transfer-Encoding: garbage\r\n\r\n")
    finally:
        server.stop()
    assert status == 501 and b"<html>" in body


def test_other_requests_gunicorn_refuses_are_json_too(gunicorn):
    for request in (b"GARBAGE\r\n\r\n", b"GET /actors HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
                    b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"):
        status, head, body = gunicorn.raw(request)
        assert 400 <= status < 500, (status, head)
        assert "application/json" in head and b'"status": "error"' in body


def test_deeply_nested_json_through_gunicorn_is_a_400(gunicorn, headers):
    nested = "[" * DEEP + "]" * DEEP
    actor = requests.post(f"{gunicorn.url}/actors", headers=headers, timeout=30,
                          json={"image": "actors/echo:latest", "stateless": False}).json()["result"]
    alias = f"deep-{actor['id'].lower()}"
    assert requests.post(f"{gunicorn.url}/actors/aliases", headers=headers, timeout=30,
                         json={"alias": alias, "actor_id": actor["id"]}).status_code == 200
    for method, path in (("POST", "/actors"), ("PUT", f"/actors/{actor['id']}"),
                         ("POST", f"/actors/{actor['id']}/messages"),
                         ("POST", f"/actors/{actor['id']}/state"),
                         ("POST", "/actors/configs"), ("POST", "/actors/aliases"),
                         ("PUT", f"/actors/aliases/{alias}"),
                         ("POST", f"/actors/{actor['id']}/permissions"),
                         ("POST", f"/actors/{actor['id']}/nonces"),
                         ("POST", f"/actors/{actor['id']}/workers")):
        response = requests.request(method, gunicorn.url + path, data=nested, timeout=30,
                                    headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 400, (method, path, response.status_code, response.text)
        assert "nested" in response.json()["message"]
    response = requests.post(f"{gunicorn.url}/actors/{actor['id']}/workers", data='{"num": 1e309}',
                             headers={**headers, "Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 400 and response.json()["status"] == "error"
    # nothing of it was stored: the actor still has its empty state and no messages
    state = requests.get(f"{gunicorn.url}/actors/{actor['id']}/state", headers=headers, timeout=30)
    assert state.json()["result"]["state"] in (None, {})
    assert requests.get(f"{gunicorn.url}/actors/{actor['id']}/messages", headers=headers,
                        timeout=30).json()["result"]["messages"] == 0
