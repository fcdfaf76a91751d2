"""A run survives stopping the whole platform mid-run: API, spawner and Redis (AOF).

``actors dev`` stops with ``--stop-mode kill``: the executions running then are force-quit
(their stages FAILED, what needs them SKIPPED, all recorded before it exits); the ones still
queued wait in Redis's AOF and run after the restart, without any stage running twice.
Re-running the failed items then completes the run. The process runtime (``images/run-step``
run as plain processes), so only redis-server is needed.
"""
from __future__ import annotations

import json
import time

import pytest

from .conftest import DevPlatform


@pytest.fixture
def platform(tmp_path, redis_server_binary):
    platform = DevPlatform(tmp_path, ACTORS_RUNTIME="process")
    yield platform
    platform.stop()


def _run(platform, run_id: str) -> dict:
    return platform.cli_json("run-status", run_id)


def _cells(platform, run_id: str) -> dict:
    run = platform.cli_json("run-status", run_id, "--items")
    return {(item["index"], s["name"]): s for item in run["items"] for s in item["stages"]}


def test_a_run_goes_on_after_the_platform_restarts_mid_run(platform, tmp_path):
    platform.start()
    one = platform.create("actors/run-step")
    two = platform.create("actors/run-step")
    description = tmp_path / "run.json"
    description.write_text(json.dumps({
        "stages": [{"name": "one", "actor": one,
                    "message": {"sleep": 3, "write": {"one.txt": "one of $N"}}},
                   {"name": "two", "actor": two, "needs": ["one"], "message": {"copy": "two.txt"}}],
        "items": [{"N": n} for n in range(4)]}))
    run_id = platform.cli("run", description, "-q").stdout.strip()
    deadline = time.monotonic() + 60
    while _run(platform, run_id)["stages"][0]["counts"]["running"] < 2:  # two slots: two wait
        assert time.monotonic() < deadline, [(k, c["status"], c["reason"]) for k, c in _cells(platform, run_id).items()]
        time.sleep(0.3)

    platform.stop()
    platform.start()

    deadline = time.monotonic() + 90
    while (run := _run(platform, run_id))["status"] == "RUNNING":
        assert time.monotonic() < deadline, run
        time.sleep(0.5)
    cells = _cells(platform, run_id)
    killed = [i for i in range(4) if cells[(i, "one")]["status"] == "FAILED"]
    assert run["status"] == "FAILED" and len(killed) == 2, cells
    for index in killed:
        assert cells[(index, "one")]["reason"] == "The execution was force-quit."
        assert cells[(index, "two")]["status"] == "SKIPPED"
    survived = [i for i in range(4) if i not in killed]
    for index in survived:  # queued across the restart, then run once
        assert cells[(index, "one")]["status"] == cells[(index, "two")]["status"] == "SUCCEEDED"
    assert {cell["attempt"] for cell in cells.values() if cell["attempt"]} == {1}
    assert len(platform.cli_json("executions", one)["ids"]) == 4

    rerun = platform.cli("run-rerun", run_id, "--wait", check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    cells = _cells(platform, run_id)
    for index in range(4):
        two_id = cells[(index, "two")]["execution_id"]
        logs = platform.cli("logs", two, two_id).stdout
        assert f"input one/one.txt: one of {index}" in logs
    assert len(platform.cli_json("executions", one)["ids"]) == 6  # the two killed, once more
