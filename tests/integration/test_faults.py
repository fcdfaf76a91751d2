"""Faults the chaos suite (tests/chaos) does not reach, and retries and re-runs.

Real redis-server, real Docker, real processes killed with SIGKILL.
"""
from __future__ import annotations

import hashlib
import os
import signal
import time
import uuid

from actors_core.config import Config
from actors_core.store import Store
from actors_core.tokens import mint

from .conftest import ECHO, SLEEP
from .platform import ApiClient, SpawnerProcess, wait_until


# -- reconcile: a container that vanishes between the listing and its inspection -----------

def test_reconcile_goes_on_when_a_container_vanishes_mid_listing(environment, docker_engine):
    from spawner import reconcile, runner
    from spawner.runtimes.docker import DockerRuntime

    name = f"vanish-{uuid.uuid4().hex[:6]}"
    config = Config(redis_url=environment["ACTORS_REDIS_URL"], jwt_secret="x" * 32,
                    spawner_workdir=environment["ACTORS_SPAWNER_WORKDIR"])
    store = Store.from_config(config)
    labels = {"actors.spawner": name, "actors.actor": "gone"}
    vanishing = docker_engine.containers.create(SLEEP, labels=dict(labels, **{
        "actors.execution": "vanishing"}))
    staying = docker_engine.containers.create(SLEEP, labels=dict(labels, **{
        "actors.execution": "staying"}))
    runtime = DockerRuntime()
    inspect = runtime.client.api.inspect_container

    def remove_first(container, *args, **kwargs):  # as a dying spawner's slot removing it
        if container == vanishing.id:
            vanishing.remove(force=True)
        return inspect(container, *args, **kwargs)

    runtime.client.api.inspect_container = remove_first
    try:
        followers = reconcile.reconcile(runner.SpawnerContext(config, store, runtime, name))
    finally:
        for container in (vanishing, staying):
            try:
                container.remove(force=True)
            except Exception:
                pass
    assert followers == []
    # the one that stayed had no execution: reconcile removed it, the loop went on
    assert not docker_engine.containers.list(all=True, filters={"label": f"actors.spawner={name}"})


# -- a lost spawner of the process runtime -------------------------------------------------

FAST = {"ACTORS_HEARTBEAT_SECONDS": "1", "ACTORS_HOST_LOST_SECONDS": "3",
        "ACTORS_RUNTIME": "process"}


def test_lost_process_spawner_is_settled_and_its_return_records_nothing_twice(
        admin, environment, platform_dir):
    queue = f"lostproc-{uuid.uuid4().hex[:6]}"
    lost_name, live_name = f"{queue}-lost", f"{queue}-live"
    store = Store.from_config(Config(redis_url=environment["ACTORS_REDIS_URL"],
                                     jwt_secret="x" * 32))
    # Two work folders: as two hosts, neither sees the other's processes.
    lost_env = dict(environment, ACTORS_SPAWNER_WORKDIR=str(platform_dir / lost_name), **FAST)
    live_env = dict(environment, ACTORS_SPAWNER_WORKDIR=str(platform_dir / live_name), **FAST)
    lost = SpawnerProcess(lost_env, lost_name, queues=queue, slots=2,
                          log_path=platform_dir / f"{lost_name}.log")
    live = None
    try:
        actor = admin.create_actor(SLEEP, queue=queue,
                                   default_environment={"SLEEP_SECONDS": "0.25"})
        admin.wait_actor(actor["id"])
        sent = [admin.send(actor["id"], "240") for _ in range(2)]  # a minute each
        wait_until(lambda: len(store.executions.running_on(lost_name)) == 2, 60,
                   "both on the lost one")
        for eid in sent:
            admin.wait_for_log(actor["id"], eid, "iteration 1 of 240")
        live = SpawnerProcess(live_env, live_name, queues=queue, slots=2,
                              log_path=platform_dir / f"{live_name}.log")
        pids = [_pid_of(platform_dir / lost_name, eid) for eid in sent]
        os.killpg(lost.process.pid, signal.SIGKILL)
        lost.process.wait(10)

        settled = [admin.wait(actor["id"], eid, timeout=60) for eid in sent]
        for execution in settled:
            assert execution["status"] == "ERROR", execution
            assert lost_name in execution["status_message"], execution
            assert "last heartbeat" in execution["status_message"], execution
        assert all(_alive(pid) for pid in pids), "another host cannot see these processes"
        assert admin.result(admin.get(f"/actors/{actor['id']}/executions"))["total_executions"] == 2
        logs = {eid: admin.logs(actor["id"], eid) for eid in sent}
        assert all(f"[actors] Spawner {lost_name}" in text for text in logs.values())

        # The lost spawner comes back: it removes what was settled, records nothing again.
        lost = SpawnerProcess(lost_env, lost_name, queues=queue, slots=2,
                              log_path=platform_dir / f"{lost_name}.log")
        wait_until(lambda: not any(_alive(pid) for pid in pids), 60, "the leftovers to be removed")
        time.sleep(1)
        for before in settled:
            after = admin.execution(actor["id"], before["id"])
            assert {k: after[k] for k in ("status", "status_message", "finish_time")} == \
                {k: before[k] for k in ("status", "status_message", "finish_time")}
            assert admin.logs(actor["id"], before["id"]) == logs[before["id"]]
        again = admin.result(admin.get(f"/actors/{actor['id']}/executions"))
        assert again["total_executions"] == 2  # counted once
        assert not store.executions.running_on(lost_name)
    finally:
        lost.crash() if lost.process.poll() is None else None
        if live is not None:
            live.stop()


def _pid_of(workdir, execution_id: str) -> int:
    import json

    record = json.loads((workdir / execution_id / "process.json").read_text())
    return record["pid"]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False


# -- retries ----------------------------------------------------------------------------------

def test_retries_on_exit_code_are_linked_tries_with_a_dead_letter_view(admin):
    actor = admin.create_actor(ECHO, max_retries=2, retry_backoff=0, retry_on_exit_code=True)
    assert (actor["max_retries"], actor["retry_backoff"], actor["retry_on_exit_code"]) == \
        (2, 0, True)
    admin.wait_actor(actor["id"])
    first_id = admin.send(actor["id"], "try me", params={"ECHO_EXIT_CODE": "3"})
    fine_id = admin.send(actor["id"], "fine")

    first = wait_until(lambda: (lambda e: e if len(e.get("retries") or []) == 2 else None)(
        admin.execution(actor["id"], first_id)), 90, "two retries")
    tries = [admin.wait(actor["id"], eid, timeout=60) for eid in [first_id] + first["retries"]]
    # The dead-letter mark is written just after the last try's final record: wait for it.
    tries[-1] = wait_until(lambda: (lambda e: e if e.get("retries_exhausted") else None)(
        admin.execution(actor["id"], tries[-1]["id"])), 30, "the dead-letter mark")
    assert [t["exit_code"] for t in tries] == [3, 3, 3]
    assert [t.get("retry_number", 0) for t in tries] == [0, 1, 2]
    assert [t.get("retry_of") for t in tries[1:]] == [first_id, first_id]
    assert [bool(t.get("retries_exhausted")) for t in tries] == [False, False, True]
    for tried in tries[1:]:
        logs = admin.logs(actor["id"], tried["id"])
        assert "Contents of MSG: try me" in logs and "ECHO_EXIT_CODE=3" in logs
    fine = admin.wait(actor["id"], fine_id)
    assert fine["exit_code"] == 0 and not fine.get("retries")

    dead = admin.result(admin.get(f"/actors/{actor['id']}/executions",
                                  params={"retries_exhausted": "true"}))
    assert dead["ids"] == [tries[-1]["id"]]
    found = admin.result(admin.get("/actors/search/executions", params={
        "actor_id": actor["id"], "retries_exhausted": "true"}))
    assert [e["id"] for e in found["search"]] == [tries[-1]["id"]]


def test_a_pending_retry_can_be_cancelled(admin):
    actor = admin.create_actor(ECHO, max_retries=3, retry_backoff=3600, retry_on_exit_code=True)
    admin.wait_actor(actor["id"])
    eid = admin.send(actor["id"], "once", params={"ECHO_EXIT_CODE": "1"})
    execution = wait_until(lambda: (lambda e: e if e.get("retry_due") else None)(
        admin.execution(actor["id"], eid)), 60, "a scheduled retry")
    assert execution["status"] == "COMPLETE" and execution["exit_code"] == 1
    answer = admin.delete(f"/actors/{actor['id']}/executions/{eid}")
    assert "pending retry is cancelled" in answer.json()["message"]


# -- re-runs ------------------------------------------------------------------------------------

def test_rerun_repeats_string_json_and_binary_messages(admin, api):
    actor = admin.create_actor(ECHO)
    admin.wait_actor(actor["id"])
    base = f"/actors/{actor['id']}/messages"
    data = os.urandom(3000)
    sent = [
        admin.result(admin.post(base, data={"message": "words"}, params={"EXTRA": "kept"})),
        admin.result(admin.post(base, json={"n": [1, 2]})),
        admin.result(admin.post(base, data=data,
                                headers={"Content-Type": "application/octet-stream"})),
    ]
    expected = ["Contents of MSG: words", '"n": [1, 2]',
                f"sha256 {hashlib.sha256(data).hexdigest()}"]
    for result, text in zip(sent, expected):
        eid = result["execution_id"]
        admin.wait(actor["id"], eid)
        rerun = admin.result(admin.post(f"/actors/{actor['id']}/executions/{eid}/rerun"))
        assert rerun["rerun_of"] == eid
        again = admin.wait(actor["id"], rerun["execution_id"])
        assert again["exit_code"] == 0 and again["rerun_of"] == eid
        logs = admin.logs(actor["id"], rerun["execution_id"])
        assert text in logs
        assert admin.execution(actor["id"], eid)["reruns"] == [rerun["execution_id"]]
    assert "EXTRA=kept" in admin.logs(actor["id"], admin.execution(
        actor["id"], sent[0]["execution_id"])["reruns"][0])


def test_rerun_needs_execute_and_a_finished_execution(admin, api):
    actor = admin.create_actor(SLEEP)
    admin.wait_actor(actor["id"])
    running = admin.send(actor["id"], "30")
    admin.wait(actor["id"], running, statuses=("RUNNING",))
    path = f"/actors/{actor['id']}/executions/{running}/rerun"
    answer = admin.post(path)
    assert answer.status_code == 409 and "RUNNING" in answer.json()["message"]
    reader = f"reader-{uuid.uuid4().hex[:6]}"
    admin.result(admin.post(f"/actors/{actor['id']}/permissions",
                            json={"user": reader, "level": "READ"}))
    as_reader = ApiClient(api.url, mint(api.config, reader))
    refused = as_reader.post(path)
    assert refused.status_code == 403 and "EXECUTE" in refused.json()["message"]
    assert admin.post(f"/actors/{actor['id']}/executions/nope/rerun").status_code == 404
    admin.delete(f"/actors/{actor['id']}/executions/{running}")


def test_python_client_rerun(admin, api, user_token):
    from runtime_sdk.client import Client

    client = Client(api.url, user_token)
    actor = client.actors.create(ECHO)
    wait_until(lambda: actor.reload().attrs["status"] == "READY", 60, "the actor")
    first = actor.send("from python").wait(timeout=60)
    again = first.rerun()
    assert again.attrs["rerun_of"] == first.id
    again.wait(timeout=60)
    assert "Contents of MSG: from python" in again.logs()
