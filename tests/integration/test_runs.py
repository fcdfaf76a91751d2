"""Runs against real Redis and Docker: stages over items, inputs from what a stage needs,
skips, the finally stage, cancel, re-run, the outputs zip, and a spawner killed mid-run.

Every stage runs ``actors/run-step`` (images/run-step), steered by its message and the
item's keys, as the README's grading example does.
"""
from __future__ import annotations

import csv
import io
import json
import time
import uuid
import zipfile

import pytest

from runtime_sdk.client import Client

from .platform import SpawnerProcess

STEP = "actors/run-step:latest"


@pytest.fixture(scope="module")
def step_image(docker_engine):
    try:
        docker_engine.images.get(STEP)
    except Exception:
        pytest.fail(f"test image {STEP} is missing: run scripts/build-images.sh run-step")


def _run(client, body: dict) -> dict:
    return client.result(client.post("/runs", json=body))


def _get(client, run_id: str, **params) -> dict:
    return client.result(client.get(f"/runs/{run_id}", params=params or None))


def _wait_run(client, run_id: str, timeout: float = 120, statuses=("COMPLETE", "FAILED",
                                                                     "CANCELLED")) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = _get(client, run_id, limit=1000)
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, f"run still {run['status']}: {run['stages']}"
        time.sleep(0.3)


def _events(client, run_id: str) -> list:
    return client.result(client.get(f"/runs/{run_id}/status",
                                    params={"limit": 1000}))["events"]


def _cells(run: dict) -> dict:
    return {(item["index"], s["name"]): s for item in run["items"] for s in item["stages"]}


def _output(client, actor_id: str, execution_id: str, path: str) -> str:
    answer = client.get(f"/actors/{actor_id}/executions/{execution_id}/outputs/{path}")
    assert answer.status_code == 200, answer.text
    return answer.text


def test_a_two_stage_pipeline_over_five_items_reads_stage_ones_files(client, step_image, api,
                                                                     user_token):
    compile_ = client.create_actor(STEP)
    test = client.create_actor(STEP)
    students = ["ann", "bob", "cy", "dee", "eve"]
    run = _run(client, {
        "stages": [
            {"name": "compile", "actor": compile_["id"],
             "message": {"write": {"build.txt": "built $STUDENT with $CC"}}},
            {"name": "test", "actor": test["id"], "needs": ["compile"],
             "message": {"copy": "tested.txt", "write": {"score.txt": "$SCORE"}}}],
        "items": [{"STUDENT": s, "SCORE": 90 + n} for n, s in enumerate(students)],
        "env": {"CC": "gcc"}})
    # The Python client sees the same run and waits for it.
    finished = Client(api.url, user_token).runs.get(run["id"]).wait(timeout=180)
    assert finished.attrs["status"] == "COMPLETE", finished.attrs
    done = _get(client, run["id"], limit=1000)
    assert done["items_ended"] == 5 and done["items_failed"] == 0
    assert [s["counts"]["succeeded"] for s in done["stages"]] == [5, 5]
    cells = _cells(done)
    for index, student in enumerate(students):
        tested = cells[(index, "test")]["execution_id"]
        assert _output(client, test["id"], tested, "tested.txt") == f"built {student} with gcc"
        logs = client.logs(test["id"], tested)
        assert f"input compile/build.txt: built {student} with gcc" in logs
        assert "inputs writable: no" in logs  # read-only, even for the image's root user
        execution = client.execution(test["id"], tested)
        assert execution["run_id"] == run["id"] and execution["run_item"] == index
        assert execution["run_stage"] == "test"

    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/runs/{run['id']}/outputs").content))
    names = set(archive.namelist())
    for index in range(5):
        assert {f"items/{index}/compile/outputs/build.txt", f"items/{index}/compile/logs.txt",
                f"items/{index}/test/outputs/tested.txt", f"items/{index}/test/outputs/score.txt",
                f"items/{index}/test/logs.txt"} <= names
    assert archive.read("items/3/test/outputs/score.txt") == b"93"
    summary = json.loads(archive.read("run.json"))
    assert summary["status"] == "COMPLETE" and summary["items"][4]["env"]["STUDENT"] == "eve"
    types = [e["type"] for e in _events(client, run["id"])]
    assert types[0] == "RUN_ACCEPTED" and types[-1] == "RUN_COMPLETE"
    assert types.count("STAGE_STARTED") == 10 and types.count("ITEM_ENDED") == 5


def test_a_failing_item_is_skipped_downstream_finally_sees_all_then_only_it_reruns(
        client, step_image):
    compile_, test, grade = (client.create_actor(STEP) for _ in range(3))
    body = {
        "stages": [
            {"name": "compile", "actor": compile_["id"],
             "message": {"write": {"build.txt": "built $STUDENT"}, "fail_if": "FLAKY",
                         "fail_attempts": 1}},
            {"name": "test", "actor": test["id"], "needs": ["compile"],
             "message": {"write": {"score.txt": "$SCORE"}}}],
        "items": [{"STUDENT": "ann", "SCORE": "92"}, {"STUDENT": "bob", "SCORE": "75"},
                  {"STUDENT": "cy", "SCORE": "88", "FLAKY": "1"},
                  {"STUDENT": "dee", "SCORE": "60"}],
        "finally": {"name": "grades", "actor": grade["id"], "needs": ["test"],
                    "message": {"grades": "grades.csv", "write": {"cancelled.txt":
                                                                  "$_abaco_run_cancelled"}}}}
    run = _run(client, body)
    failed = _wait_run(client, run["id"])
    assert failed["status"] == "FAILED" and failed["items_failed"] == 1
    cells = _cells(failed)
    assert cells[(2, "compile")]["status"] == "FAILED" and cells[(2, "compile")]["exit_code"] == 3
    assert cells[(2, "test")]["status"] == "SKIPPED"
    assert cells[(2, "test")]["reason"] == "Not run: it needs compile, which failed."
    assert all(cells[(i, s)]["status"] == "SUCCEEDED" for i in (0, 1, 3)
               for s in ("compile", "test"))
    final = failed["finally"]
    assert final["status"] == "SUCCEEDED"
    rows = list(csv.reader(io.StringIO(_output(client, grade["id"], final["execution_id"],
                                               "grades.csv"))))
    assert rows[0] == ["item", "FLAKY", "SCORE", "STUDENT", "status", "test score"]
    assert [(r[3], r[4], r[5]) for r in rows[1:]] == [
        ("ann", "COMPLETE", "92"), ("bob", "COMPLETE", "75"), ("cy", "FAILED", "-"),
        ("dee", "COMPLETE", "60")]
    assert _output(client, grade["id"], final["execution_id"], "cancelled.txt") == "false"

    # Only the failed item runs again; the others keep their executions and outputs.
    answer = client.post(f"/runs/{run['id']}/rerun", json={"items": [2]})
    assert answer.status_code == 200, answer.text
    again = _wait_run(client, run["id"])
    assert again["status"] == "COMPLETE", again
    after = _cells(again)
    for key, cell in cells.items():
        if key[0] != 2:
            assert after[key]["execution_id"] == cell["execution_id"]
    assert after[(2, "compile")]["attempt"] == 2 and after[(2, "test")]["attempt"] == 1
    assert again["finally"]["attempt"] == 2
    rows = list(csv.reader(io.StringIO(_output(client, grade["id"],
                                               again["finally"]["execution_id"], "grades.csv"))))
    assert [r[4] for r in rows[1:]] == ["COMPLETE"] * 4 and rows[3][5] == "88"
    assert len(client.result(client.get(f"/actors/{compile_['id']}/executions"))["ids"]) == 5


def test_cancel_mid_run_queued_never_run_running_are_killed_finally_runs(admin, step_image):
    slow = admin.create_actor(STEP, max_workers=2)
    after, final = admin.create_actor(STEP), admin.create_actor(STEP)
    run = _run(admin, {
        "stages": [{"name": "slow", "actor": slow["id"], "message": {"sleep": 60}},
                   {"name": "after", "actor": after["id"], "needs": ["slow"]}],
        "items": [{"N": str(n)} for n in range(5)],
        "finally": {"name": "report", "actor": final["id"],
                    "message": {"write": {"cancelled.txt": "$_abaco_run_cancelled"}}}})
    deadline = time.monotonic() + 90
    while _get(admin, run["id"], limit=0)["stages"][0]["counts"]["running"] < 2:
        assert time.monotonic() < deadline, "two slow stages never started"
        time.sleep(0.3)
    answer = admin.delete(f"/runs/{run['id']}")
    assert answer.status_code == 200 and "3 queued execution(s) cancelled" in \
        answer.json()["message"], answer.text
    ended = _wait_run(admin, run["id"], timeout=90)
    assert ended["status"] == "CANCELLED" and ended["cancel_requested"] is True
    cells = _cells(ended)
    assert {cells[(i, "slow")]["status"] for i in range(5)} == {"CANCELLED"}
    assert {cells[(i, "after")]["status"] for i in range(5)} == {"CANCELLED"}
    killed = queued = 0
    for index in range(5):
        execution = admin.execution(slow["id"], cells[(index, "slow")]["execution_id"])
        if execution["start_time"]:
            assert execution["final_state"]["ForceQuit"] is True
            killed += 1
        else:
            assert execution["status"] == "COMPLETE" and execution["exit_code"] is None
            queued += 1
    assert (killed, queued) == (2, 3)
    assert not admin.result(admin.get(f"/actors/{after['id']}/executions"))["ids"]
    report = ended["finally"]
    assert report["status"] == "SUCCEEDED"
    assert _output(admin, final["id"], report["execution_id"], "cancelled.txt") == "true"
    assert _events(admin, run["id"])[-1]["type"] == "RUN_CANCELLED"


def test_a_spawner_killed_mid_run_runs_no_stage_twice_and_forgets_none(
        admin, environment, platform_dir, step_image, docker_engine):
    queue = f"runs-{uuid.uuid4().hex[:6]}"
    name = f"runs-crashy-{uuid.uuid4().hex[:6]}"
    first = SpawnerProcess(environment, name=name, queues=queue, slots=3,
                           log_path=platform_dir / f"{name}.log")
    try:
        one = admin.create_actor(STEP, queue=queue, max_workers=2)  # two run, two wait
        two, final = (admin.create_actor(STEP, queue=queue) for _ in range(2))
        run = _run(admin, {
            "stages": [{"name": "one", "actor": one["id"],
                        "message": {"sleep": 4, "write": {"one.txt": "one of $N"}}},
                       {"name": "two", "actor": two["id"], "needs": ["one"],
                        "message": {"copy": "two.txt"}}],
            "items": [{"N": str(n)} for n in range(4)],
            "finally": {"name": "end", "actor": final["id"]}})
        deadline = time.monotonic() + 90
        while len([e for e in admin.result(admin.get(f"/actors/{one['id']}/executions"))[
                "executions"] if e["start_time"]]) < 2:
            assert time.monotonic() < deadline, "stage one never started"
            time.sleep(0.2)
        first.crash()  # mid-run: two containers keep running, two messages wait, none told
    finally:
        first.crash() if first.process.poll() is None else None

    second = SpawnerProcess(environment, name=name, queues=queue, slots=3,
                            log_path=platform_dir / f"{name}.log")
    try:
        ended = _wait_run(admin, run["id"], timeout=180)
    finally:
        second.stop()
    assert ended["status"] == "COMPLETE", ended
    cells = _cells(ended)
    assert {cell["attempt"] for cell in cells.values()} == {1}  # nothing was issued twice
    for actor, count in ((one, 4), (two, 4), (final, 1)):
        ids = admin.result(admin.get(f"/actors/{actor['id']}/executions"))["ids"]
        assert len(ids) == count, (actor["id"], ids)
    for index in range(4):
        two_id = cells[(index, "two")]["execution_id"]
        assert _output(admin, two["id"], two_id, "two.txt") == f"one of {index}"
    reattached = [cells[(i, "one")]["execution_id"] for i in range(4)
                  if any(e["type"] == "REATTACHED" for e in admin.result(admin.get(
                      f"/actors/{one['id']}/executions/{cells[(i, 'one')]['execution_id']}"
                      "/status"))["events"])]
    assert len(reattached) == 2  # the two that ran through the crash
    started = [e for e in _events(admin, run["id"]) if e["type"] == "STAGE_STARTED"]
    assert len(started) == 9 and len({e["execution_id"] for e in started}) == 9
    assert not docker_engine.containers.list(all=True, filters={"label": f"actors.spawner={name}"})
