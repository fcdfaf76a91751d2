"""Warm actors without Docker: the fields and the operator's caps, which container a worker
uses, the handler channel's two ends together (runtime_sdk.serve and spawner/warm_channel.py),
and the place's locks that keep the idle reaper away from a container in use."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from actors_core import scheduling
from spawner.warm_place import Place, warm_root
from spawner.warm_channel import HandlerCall, connect

from .conftest import bearer

REPO = Path(__file__).resolve().parents[2]
ACTOR = REPO / "images" / "warm-echo" / "actor.py"


# -- fields and caps ---------------------------------------------------------------
def test_warm_fields_have_their_defaults_and_are_returned(http, alice):
    actor = http.post("/actors", json={"image": "x"}, headers=alice).json["result"]
    assert (actor["warm"], actor["warm_form"], actor["warm_idle_seconds"],
            actor["concurrency"]) == (False, "exec", None, 1)
    warm = http.post("/actors", json={"image": "x", "warm": True, "warm_form": "handler",
                                      "warm_idle_seconds": 30, "concurrency": 4},
                     headers=alice).json["result"]
    assert (warm["warm"], warm["warm_form"], warm["warm_idle_seconds"],
            warm["concurrency"]) == (True, "handler", 30, 4)


def test_warm_fields_are_checked(http, alice):
    for fields in ({"warm_form": "fork"}, {"concurrency": 0}, {"warm_idle_seconds": 0},
                   {"stateless": False, "concurrency": 2}):
        response = http.post("/actors", json={"image": "x", **fields}, headers=alice)
        assert response.status_code == 400, (fields, response.json)


def test_beyond_the_operators_caps_only_privileged_users(http, alice, config):
    for fields in ({"concurrency": config.warm_max_concurrency + 1},
                   {"warm_idle_seconds": config.warm_max_idle_seconds + 1}):
        response = http.post("/actors", json={"image": "x", "warm": True, **fields},
                             headers=alice)
        assert response.status_code == 403, (fields, response.json)
        admin = bearer(config, "root", roles=("admin",))
        assert http.post("/actors", json={"image": "x", "warm": True, **fields},
                         headers=admin).status_code == 200


def test_an_operator_may_keep_warm_actors_for_privileged_users(config, store):
    from actors_api import create_app

    http = create_app(config.with_overrides(warm_allowed=False), store).test_client()
    assert http.post("/actors", json={"image": "x", "warm": True},
                     headers=bearer(config)).status_code == 403
    assert http.post("/actors", json={"image": "x"}, headers=bearer(config)).status_code == 200


def test_workers_share_containers_concurrency_at_a_time(config):
    actor = {"stateless": True, "warm": True, "concurrency": 3, "max_workers": 2}
    assert scheduling.worker_capacity(actor, config) == 6
    assert [scheduling.warm_container_of(actor, n) for n in range(1, 7)] == [0, 0, 0, 1, 1, 1]
    stateful = dict(actor, stateless=False)
    assert scheduling.worker_capacity(stateful, config) == 1
    assert scheduling.warm_container_of(stateful, 1) == 0
    cold = dict(actor, warm=False)
    assert scheduling.worker_capacity(cold, config) == 2


# -- the handler channel ---------------------------------------------------------------
@pytest.fixture
def handler(tmp_path):
    path = str(tmp_path / "h.sock")
    environment = dict(os.environ, _abaco_warm_socket=path, PYTHONPATH=str(REPO))
    server = subprocess.Popen([sys.executable, str(ACTOR)], env=environment)
    deadline = time.monotonic() + 20
    while True:
        try:
            connect(path).close()
            break
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None
            time.sleep(0.05)
    yield SimpleNamespace(path=path, server=server, tmp=tmp_path)
    server.kill()
    server.wait()


def _call(handler, message: str, execution_id: str, results=None, **variables) -> HandlerCall:
    """Started and read as the runner does: a log pump iterating its output at once."""
    call = HandlerCall(connect(handler.path), dict(MSG=message, _abaco_execution_id=execution_id,
                                                   **variables),
                       {"actors.execution": execution_id}, server_gone=lambda: None,
                       kill_server=handler.server.kill,
                       on_result=(results if results is not None else []).append).begin()
    call.output = []
    call.pump = threading.Thread(target=lambda: call.output.extend(call.stream_logs()))
    call.pump.start()
    return call


def _ended(call: HandlerCall) -> tuple:
    code = call.wait(10)
    call.pump.join(10)
    return code, b"".join(call.output).decode()


def test_each_message_has_its_own_output_and_exit_code(handler):
    code, logs = _ended(_call(handler, "hello", "e1"))
    assert code == 0 and logs == "handled hello (#1 in this process)\nstderr of hello\n"
    code, logs = _ended(_call(handler, "again", "e2"))
    assert code == 0 and "(#2 in this process)" in logs  # the process and its memory are kept
    code, logs = _ended(_call(handler, "fail", "e3"))
    assert code == 1 and "Traceback" in logs and "ValueError: failing on request (e3)" in logs
    assert _ended(_call(handler, "exit:4", "e4"))[0] == 4


def test_results_come_over_the_channel_and_outputs_go_where_that_message_says(handler):
    got = []
    outputs = handler.tmp / "out"
    outputs.mkdir()
    code, _ = _ended(_call(handler, "result:42", "r1", results=got))
    code2, _ = _ended(_call(handler, "output:f.txt", "o1", _abaco_outputs_path=str(outputs)))
    assert (code, code2, got) == (0, 0, [b"42"])
    assert (outputs / "f.txt").read_text() == "written by o1\n"


def test_force_quit_interrupts_one_handler_and_not_its_neighbour(handler):
    long, short = _call(handler, "sleep:30", "a"), _call(handler, "sleep:1", "b")
    time.sleep(0.3)
    long.kill()
    code, logs = _ended(long)
    assert code == 137 and "force-quit on request" in logs and not long.killed_container
    code, logs = _ended(short)
    assert code == 0 and "slept 1" in logs
    assert handler.server.poll() is None  # the kept process goes on
    # its threads are reused: no force-quit reaches a later message
    assert [_ended(_call(handler, "sleep:0.2", f"n{i}"))[0] for i in range(6)] == [0] * 6


def test_a_handler_process_that_dies_ends_its_calls(handler):
    neighbour = _call(handler, "sleep:30", "n")
    time.sleep(0.3)
    dying = _call(handler, "die", "d")
    assert dying.wait(10) == -1 and neighbour.wait(10) == -1  # no end frame: the runner asks why
    assert handler.server.wait(10) == 3


def test_serve_outside_a_warm_container_handles_its_one_message(tmp_path):
    environment = dict(os.environ, MSG="fail", PYTHONPATH=str(REPO))
    environment.pop("_abaco_warm_socket", None)
    done = subprocess.run([sys.executable, str(ACTOR)], env=environment, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 1 and "ValueError: failing on request" in done.stderr
    environment["MSG"] = "hello"
    done = subprocess.run([sys.executable, str(ACTOR)], env=environment, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0 and "handled hello (#1" in done.stdout


# -- places ------------------------------------------------------------------------------
def test_the_reaper_never_takes_a_container_in_use(tmp_path):
    place = Place(tmp_path, "actor", 0)
    place.enter()
    with place.idle() as idle:
        assert idle is False
    place.leave()
    with place.idle() as idle:
        assert idle is True


def test_places_are_short_enough_for_their_sockets(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    root = warm_root(SimpleNamespace(spawner_workdir=str(deep)), "spawner-name")
    socket_path = root / f"{'a' * 13}.12" / ("e" * 22) / "results.sock"
    assert len(os.fsencode(str(socket_path))) <= 107
    shallow = warm_root(SimpleNamespace(spawner_workdir="/w"), "s")
    assert str(shallow).startswith("/w/warm/")
