"""Warm actors in both forms, on Docker and on the process runtime, against real Redis and a
real spawner: per-execution logs, results and outputs, an exception's exit code, force-quit
of one of two executions sharing a container, a warm container dying, scale to zero.

Each runtime gets a spawner of its own on a queue of its own; containers are judged by that
spawner's label only (the Docker engine may be shared).
"""
from __future__ import annotations

import json
import os
import time
import uuid

import pytest

from .platform import SpawnerProcess

WARM_ECHO = "actors/warm-echo:latest"
LABEL_SPAWNER, LABEL_WARM = "actors.spawner", "actors.warm"


@pytest.fixture(scope="module")
def warm_image(docker_engine):
    import docker

    try:
        docker_engine.images.get(WARM_ECHO)
    except docker.errors.ImageNotFound:
        pytest.fail(f"test image {WARM_ECHO} is missing: run scripts/build-images.sh warm-echo")
    return WARM_ECHO


@pytest.fixture(scope="module")
def docker_warm(environment, docker_engine, platform_dir, warm_image):
    name = f"warm-{uuid.uuid4().hex[:6]}"
    process = SpawnerProcess(environment, name=name, queues="warm", slots=4,
                             log_path=platform_dir / "warm-spawner.log")
    yield Runtime("docker", "warm", process, docker_engine, platform_dir)
    process.stop()
    for container in docker_engine.containers.list(
            all=True, filters={"label": f"{LABEL_SPAWNER}={name}"}):
        container.remove(force=True)


@pytest.fixture(scope="module")
def process_warm(environment, platform_dir, docker_engine):
    name = f"warmp-{uuid.uuid4().hex[:6]}"
    process = SpawnerProcess(dict(environment, ACTORS_RUNTIME="process"), name=name,
                             queues="warmproc", slots=4,
                             log_path=platform_dir / "warm-process-spawner.log")
    runtime = Runtime("process", "warmproc", process, None, platform_dir)
    yield runtime
    process.stop()
    for pid in runtime.handler_pids():
        _kill(pid)


@pytest.fixture(params=["docker", "process"])
def runtime(request):
    return request.getfixturevalue(f"{request.param}_warm")


class Runtime:
    """One spawner and how to see its kept containers (Docker) or handler processes."""

    def __init__(self, name, queue, process, docker_client, platform_dir):
        self.name, self.queue, self.process = name, queue, process
        self.docker, self.platform_dir = docker_client, platform_dir

    def kept(self, actor_id: str) -> list:
        """What is kept for the actor now: container ids, or handler pids (process runtime;
        its exec form keeps no process, only a place)."""
        if self.name == "docker":
            listed = self.docker.api.containers(  # raw: no inspect per container
                all=True, filters={"label": [f"{LABEL_SPAWNER}={self.process.name}"]})
            return [c["Id"] for c in listed
                    if (c.get("Labels") or {}).get(LABEL_WARM, "").startswith(actor_id + ".")]
        return [record.get("id") for record in self._records(actor_id)]

    @property
    def root(self):
        from types import SimpleNamespace

        from spawner.warm_place import warm_root

        return warm_root(SimpleNamespace(spawner_workdir=str(self.platform_dir / "spawner")),
                         self.process.name)

    def _records(self, actor_id: str) -> list:
        found = []
        for path in self.root.glob(f"{actor_id}.*/kept.json"):
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                pass
        return found

    def handler_pids(self) -> list:
        pids = []
        for path in self.root.glob("*/process.json"):
            try:
                pids.append(json.loads(path.read_text())["pid"])
            except (OSError, ValueError, KeyError):
                pass
        return pids

    def kill_kept(self, actor_id: str) -> None:
        """The warm container dies under its executions (as an OOM kill would)."""
        if self.name == "docker":
            for container_id in self.kept(actor_id):
                self.docker.containers.get(container_id).kill()
            return
        for path in self.root.glob(f"{actor_id}.*/process.json"):
            _kill(json.loads(path.read_text())["pid"])


def _kill(pid: int) -> None:
    import os
    import signal

    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _warm_actor(admin, runtime, form: str, **fields) -> dict:
    actor = admin.create_actor(WARM_ECHO, queue=runtime.queue, warm=True, warm_form=form,
                               **fields)
    admin.wait_actor(actor["id"])
    return actor


def _wait_all(admin, actor_id, ids, timeout=90) -> list:
    return [admin.wait(actor_id, eid, timeout=timeout) for eid in ids]


FORMS = ["exec", "handler"]


@pytest.mark.parametrize("form", FORMS)
def test_each_execution_has_its_own_logs_exit_code_results_and_outputs(admin, runtime, form):
    actor = _warm_actor(admin, runtime, form, max_workers=1, concurrency=2)
    messages = ["hello", "result:answer-42", "output:made.txt", "fail", "exit:4", "hello2"]
    ids = [admin.send(actor["id"], message) for message in messages]
    records = dict(zip(messages, _wait_all(admin, actor["id"], ids)))
    for message, eid in zip(messages, ids):
        record, logs = records[message], admin.logs(actor["id"], eid)
        assert record["status"] == "COMPLETE", (message, record, logs)
        assert f"handled {message} " in logs and f"stderr of {message}" in logs
        others = [m for m in messages if m != message and not m.startswith(message)]
        assert not any(f"handled {m} " in logs for m in others), (message, logs)
        assert record["final_state"]["Warm"] is True
        assert record["cpu"] >= 0 and record["io"] >= 0
    assert records["hello"]["exit_code"] == 0
    assert records["fail"]["exit_code"] == 1
    fail_logs = admin.logs(actor["id"], ids[messages.index("fail")])
    assert "Traceback" in fail_logs and "ValueError: failing on request" in fail_logs
    assert records["exit:4"]["exit_code"] == 4
    result = admin.get(f"/actors/{actor['id']}/executions/{ids[1]}/results")
    assert result.content == b"answer-42"
    assert admin.get(f"/actors/{actor['id']}/executions/{ids[0]}/results").content == b""
    outputs = records["output:made.txt"]["outputs"]
    assert [o["path"] for o in outputs] == ["made.txt"]
    made = admin.get(f"/actors/{actor['id']}/executions/{ids[2]}/outputs/made.txt")
    assert made.content == f"written by {ids[2]}\n".encode()
    assert records["hello"]["outputs"] == []
    counts = [int(admin.logs(actor["id"], eid).split("(#")[1].split()[0]) for eid in ids]
    if form == "handler":  # one kept process: its memory is shared between messages
        assert sorted(counts) == list(range(counts and min(counts), min(counts) + 6))
    else:  # a new process per message, in the same container
        assert counts == [1] * 6
    kept = runtime.kept(actor["id"])
    if runtime.name == "docker" or form == "handler":
        assert len(kept) == 1, kept  # max_workers 1: one container served all six


@pytest.mark.parametrize("form", FORMS)
def test_force_quit_of_one_execution_leaves_the_other_in_its_container(admin, runtime, form):
    actor = _warm_actor(admin, runtime, form, max_workers=1, concurrency=2)
    long = admin.send(actor["id"], "sleep:60")
    short = admin.send(actor["id"], "sleep:3")
    admin.wait_for_log(actor["id"], long, "handled sleep:60")
    admin.wait_for_log(actor["id"], short, "handled sleep:3")
    assert admin.delete(f"/actors/{actor['id']}/executions/{long}").status_code == 200
    quit_ = admin.wait(actor["id"], long, timeout=30)
    other = admin.wait(actor["id"], short, timeout=30)
    assert quit_["status"] == "COMPLETE" and quit_["final_state"]["ForceQuit"] is True
    assert quit_["exit_code"] != 0
    assert "goes on" in quit_["status_message"]
    assert other["status"] == "COMPLETE" and other["exit_code"] == 0, other
    assert "slept 3" in admin.logs(actor["id"], short)


@pytest.mark.parametrize("form", FORMS)
def test_a_dying_warm_container_ends_its_executions_in_error_and_is_replaced(admin, runtime,
                                                                              form):
    if runtime.name == "process" and form == "exec":
        pytest.skip("the process runtime's exec form keeps no process that could die")
    actor = _warm_actor(admin, runtime, form, max_workers=1, concurrency=2)
    first = admin.send(actor["id"], "sleep:60")
    second = admin.send(actor["id"], "sleep:60")
    admin.wait_for_log(actor["id"], first, "handled sleep:60")
    admin.wait_for_log(actor["id"], second, "handled sleep:60")
    before = runtime.kept(actor["id"])
    runtime.kill_kept(actor["id"])
    for eid in (first, second):
        record = admin.wait(actor["id"], eid, timeout=30)
        assert record["status"] == "ERROR", record
        assert "warm container serving this execution is gone" in record["status_message"]
    after = admin.wait(actor["id"], admin.send(actor["id"], "hello"), timeout=60)
    assert after["status"] == "COMPLETE" and after["exit_code"] == 0
    assert runtime.kept(actor["id"]) and runtime.kept(actor["id"]) != before


def test_a_handler_that_ends_its_process_takes_its_neighbour_with_it_honestly(admin,
                                                                              runtime):
    actor = _warm_actor(admin, runtime, "handler", max_workers=1, concurrency=2)
    neighbour = admin.send(actor["id"], "sleep:60")
    admin.wait_for_log(actor["id"], neighbour, "handled sleep:60")
    dying = admin.send(actor["id"], "die")
    for eid in (dying, neighbour):
        record = admin.wait(actor["id"], eid, timeout=30)
        assert record["status"] == "ERROR", record
        assert "exited with code 3" in record["status_message"], record["status_message"]


@pytest.mark.parametrize("form", FORMS)
def test_warm_containers_scale_to_zero_after_their_idle_time(admin, runtime, form):
    if runtime.name == "process" and form == "exec":
        pytest.skip("the process runtime's exec form keeps no process")
    actor = _warm_actor(admin, runtime, form, max_workers=2, concurrency=1,
                        warm_idle_seconds=2)
    ids = [admin.send(actor["id"], f"sleep:{1 + i}") for i in range(2)]
    assert all(r["status"] == "COMPLETE" for r in _wait_all(admin, actor["id"], ids))
    assert 1 <= len(runtime.kept(actor["id"])) <= 2  # never more than max_workers
    deadline = time.monotonic() + 30
    while runtime.kept(actor["id"]):
        assert time.monotonic() < deadline, "warm containers were not removed when idle"
        time.sleep(0.5)
    again = admin.wait(actor["id"], admin.send(actor["id"], "hello"), timeout=60)
    assert again["status"] == "COMPLETE"  # and scales up again from zero


@pytest.mark.parametrize("runtime_name", ["docker", "process"])
def test_a_stopping_spawner_takes_its_kept_containers_with_it(admin, environment, platform_dir,
                                                              docker_engine, runtime_name):
    queue = f"warmstop{runtime_name}"
    extra = {"ACTORS_RUNTIME": "process"} if runtime_name == "process" else {}
    process = SpawnerProcess(dict(environment, **extra), name=f"ws-{uuid.uuid4().hex[:6]}",
                             queues=queue, slots=1, log_path=platform_dir / "warm-stop.log")
    runtime = Runtime(runtime_name, queue, process, docker_engine, platform_dir)
    try:
        actor = _warm_actor(admin, runtime, "handler")
        done = admin.wait(actor["id"], admin.send(actor["id"], "hello"), timeout=60)
        assert done["status"] == "COMPLETE" and runtime.kept(actor["id"])
        pids = runtime.handler_pids()
    finally:
        process.stop()
    assert runtime.kept(actor["id"]) == []
    if runtime_name == "process":
        from spawner.runtimes import procfs

        assert pids and not any(procfs.read_stat(pid) and procfs.read_stat(pid).state not in "ZX"
                                for pid in pids)  # gone, or a zombie not yet reaped


def test_an_execution_whose_warm_container_died_is_retried_where_the_actor_asks(admin,
                                                                                docker_warm):
    actor = _warm_actor(admin, docker_warm, "handler", max_workers=1, max_retries=1,
                        retry_backoff=0)
    first = admin.send(actor["id"], "die")
    record = admin.wait(actor["id"], first, timeout=60)
    assert record["status"] == "ERROR"
    deadline = time.monotonic() + 90
    while not admin.execution(actor["id"], first).get("retries"):
        assert time.monotonic() < deadline, "no retry was made"
        time.sleep(0.5)
    retry = admin.execution(actor["id"], first)["retries"][0]
    again = admin.wait(actor["id"], retry, timeout=60)
    assert again["status"] == "ERROR" and again["retry_of"] == first  # it dies again
    assert again["retry_number"] == 1 and "warm container" in again["status_message"]


def test_a_handler_that_cannot_be_interrupted_costs_its_container_and_says_so(admin, runtime):
    actor = _warm_actor(admin, runtime, "handler", max_workers=1, concurrency=2)
    stuck = admin.send(actor["id"], "block:120")  # one C call: ForceQuit waits for it
    neighbour = admin.send(actor["id"], "sleep:120")
    admin.wait_for_log(actor["id"], stuck, "handled block:120")
    admin.wait_for_log(actor["id"], neighbour, "handled sleep:120")
    assert admin.delete(f"/actors/{actor['id']}/executions/{stuck}").status_code == 200
    quit_ = admin.wait(actor["id"], stuck, timeout=60)
    assert quit_["status"] == "COMPLETE" and quit_["final_state"]["ForceQuit"] is True
    assert "its warm container was killed" in quit_["status_message"], quit_["status_message"]
    other = admin.wait(actor["id"], neighbour, timeout=60)
    assert other["status"] == "ERROR", other
    assert f"killed to force-quit execution {stuck}" in other["status_message"]


def test_a_put_that_changes_the_container_replaces_it_at_the_next_message(admin, docker_warm):
    fields = dict(image=WARM_ECHO, queue=docker_warm.queue, warm=True, warm_form="exec")
    actor = _warm_actor(admin, docker_warm, "exec")
    assert admin.wait(actor["id"], admin.send(actor["id"], "one"))["status"] == "COMPLETE"
    before = docker_warm.kept(actor["id"])
    admin.result(admin.put(f"/actors/{actor['id']}", json=dict(fields, description="same")))
    assert admin.wait(actor["id"], admin.send(actor["id"], "two"))["status"] == "COMPLETE"
    assert docker_warm.kept(actor["id"]) == before  # nothing the container is made from
    admin.result(admin.put(f"/actors/{actor['id']}", json=dict(fields, mem_limit="1g")))
    assert admin.wait(actor["id"], admin.send(actor["id"], "three"))["status"] == "COMPLETE"
    after = docker_warm.kept(actor["id"])
    assert len(after) == 1 and after != before
    limit = docker_warm.docker.containers.get(after[0]).attrs["HostConfig"]["Memory"]
    assert limit == 1 << 30


@pytest.mark.parametrize("form", FORMS)
def test_a_binary_message_reaches_a_warm_execution_whole(admin, runtime, form):
    import hashlib

    actor = _warm_actor(admin, runtime, form, max_workers=1, concurrency=2)
    data = os.urandom(300_000)
    response = admin.post(f"/actors/{actor['id']}/messages", data=data,
                          headers={"Content-Type": "application/octet-stream"})
    eid = admin.result(response)["execution_id"]
    assert admin.wait(actor["id"], eid)["exit_code"] == 0
    expected = f"handled binary {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}"
    assert expected in admin.logs(actor["id"], eid)
