"""Execution statistics that are true: CPU (and I/O) of an execution however short its life.

An echo execution lives a few milliseconds; the Docker runtime reads its parent cgroup's
counters after the exit (spawner/runtimes/cgroups.py), the process runtime the reaped
child's rusage. Several in a row, so a sampling that is only sometimes lucky fails.
"""
from __future__ import annotations

import uuid

import pytest

from spawner.runtimes.base import RunSpec
from spawner.runtimes.docker import DockerRuntime

from .conftest import ECHO
from .platform import SpawnerProcess

RUNS = 5


def _assert_true_statistics(executions):
    for execution in executions:
        assert (execution["status"], execution["exit_code"]) == ("COMPLETE", 0), execution
        assert execution["cpu"] > 0, executions
        assert execution["io"] >= 0
        # never more than the host's cores could have given it (plus start-up slack)
        assert execution["cpu"] < (execution["runtime"] + 5) * 64 * 1e9


def test_cpu_is_counted_for_every_short_docker_execution(client):
    actor = client.create_actor(ECHO)
    executions = []
    for n in range(RUNS):  # one after the other: each is short and alone
        executions.append(client.wait(actor["id"], client.send(actor["id"], f"run {n}")))
    _assert_true_statistics(executions)
    summary = client.result(client.get(f"/actors/{actor['id']}/executions"))
    assert summary["total_cpu"] == sum(e["cpu"] for e in executions)


def test_cpu_is_counted_for_every_short_process_execution(admin, environment, platform_dir):
    queue = f"stats-{uuid.uuid4().hex[:6]}"
    spawner = SpawnerProcess(dict(environment, ACTORS_RUNTIME="process"), name=queue,
                             queues=queue, slots=1, log_path=platform_dir / f"{queue}.log")
    try:
        actor = admin.create_actor(ECHO, queue=queue)
        executions = [admin.wait(actor["id"], admin.send(actor["id"], f"run {n}"), timeout=90)
                      for n in range(RUNS)]
    finally:
        spawner.stop()
    _assert_true_statistics(executions)


def test_the_docker_runtime_reads_the_cgroup_after_the_exit(docker_engine):
    runtime = DockerRuntime()
    if runtime.accounting is None:
        pytest.skip("Docker's cgroupfs tree is not writable here: the stats API is sampled")
    for _ in range(3):
        handle = runtime.start(RunSpec(image=ECHO, environment={"MSG": "x"},
                                       labels={"actors.spawner": "test-statistics"}))
        try:
            assert handle.wait(60) == 0
            usage = handle.final_usage()
            assert usage is not None and usage.cpu_ns > 0
        finally:
            handle.remove()
        parent = runtime.accounting.root / "cpuacct" / handle.cgroup_parent.strip("/")
        assert not parent.exists() or runtime.accounting.version == 2  # removed with it
