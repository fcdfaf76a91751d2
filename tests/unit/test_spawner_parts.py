"""Pieces of the spawner that need no container: environment, FIFO, results socket."""
from __future__ import annotations

import os
import socket
import threading
import time

from runtime_sdk import context as sdk_context
from spawner.binary_pipe import BinaryPipe
from spawner.environment import execution_environment
from spawner.results import MAX_RESULT_BYTES, ResultsSocket


def _env(content_type="str", default=None, query=None, message=b"hello"):
    actor = {"id": "A1", "image": "img", "owner": "alice", "name": "n", "revision": 3,
             "default_environment": default or {}}
    execution = {"id": "E1", "executor": "bob", "content_type": content_type,
                 "environment": query or {}}
    return execution_environment(actor, execution, message, "http://api", "A1-1", None, {"k": 1})


def test_environment_precedence_and_contract():
    env = _env(default={"X": "default", "Y": "default", "_abaco_actor_id": "spoof"},
               query={"Y": "query", "MSG": "spoof"})
    assert env["X"] == "default" and env["Y"] == "query"
    assert env["MSG"] == "hello" and env["_abaco_actor_id"] == "A1"  # system variables win
    assert env["_abaco_Content_Type"] == "str" and env["_abaco_username"] == "bob"
    assert env["_abaco_actor_revision"] == "3" and env["_abaco_actor_state"] == '{"k": 1}'
    assert env["_abaco_access_token"] == "" and env["_abaco_actor_dbid"] == "DEFAULT_A1"
    assert "MSG" not in _env(content_type="application/octet-stream", query={"MSG": "x"})


def test_fifo_delivers_everything_then_eof(tmp_path, monkeypatch):
    data = os.urandom(300_000)
    pipe = BinaryPipe(str(tmp_path / "fifo"), data).start()
    monkeypatch.setenv("_abaco_Content_Type", "application/octet-stream")
    monkeypatch.setenv("_abaco_binary_path", str(tmp_path / "fifo"))
    time.sleep(0.2)  # the reader may come late: nothing is lost
    assert sdk_context.get_binary_message() == data
    pipe.stop()


def test_fifo_with_no_reader_never_blocks(tmp_path):
    pipe = BinaryPipe(str(tmp_path / "fifo"), os.urandom(1_000_000)).start()
    started = time.monotonic()
    pipe.stop(timeout=2)
    assert time.monotonic() - started < 3


def test_results_socket_keeps_boundaries_and_rejects_oversize(tmp_path):
    got, rejected = [], []
    server = ResultsSocket(str(tmp_path / "r.sock"), got.append, rejected.append).start()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
        client.sendto(b"one", server.path)
        client.sendto(b"x" * MAX_RESULT_BYTES, server.path)
        client.sendto(b"y" * (MAX_RESULT_BYTES + 10), server.path)
        client.sendto(b"", server.path)
    server.stop()
    assert got == [b"one", b"x" * MAX_RESULT_BYTES, b""]
    assert rejected == [MAX_RESULT_BYTES + 10]
