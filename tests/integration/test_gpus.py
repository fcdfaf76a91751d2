"""GPU routing and allocation with a simulated two-GPU inventory, then a real GPU if there is one."""
from __future__ import annotations

import json
import os
import time
import uuid

import pytest

from spawner.runtimes.base import parse_state_time

from .conftest import ECHO, SLEEP
from .platform import ApiClient, SpawnerProcess

TWO_GPUS = json.dumps([
    {"index": 0, "uuid": "GPU-sim-0000", "name": "Simulated A", "memory_total": 8 << 30},
    {"index": 1, "uuid": "GPU-sim-0001", "name": "Simulated B", "memory_total": 8 << 30},
])



def test_gpu_executions_wait_for_a_free_gpu_on_a_gpu_spawner(admin, environment, platform_dir):
    queue = f"gpuq-{uuid.uuid4().hex[:6]}"
    cpu_only = SpawnerProcess(environment, name=f"cpu-{queue}", queues=queue, slots=3,
                              log_path=platform_dir / f"cpu-{queue}.log")
    gpu_spawner = None
    try:
        actor = admin.create_actor(SLEEP, queue=queue, gpus=1, max_workers=3)
        assert actor["gpus"] == 1
        ids = [admin.send(actor["id"], "2") for _ in range(3)]
        time.sleep(3)  # a spawner without GPUs never takes them
        assert {admin.execution(actor["id"], e)["status"] for e in ids} == {"SUBMITTED"}

        gpu_spawner = SpawnerProcess(dict(environment, ACTORS_GPUS=TWO_GPUS),
                                     name=f"gpu-{queue}", queues=queue, slots=3,
                                     log_path=platform_dir / f"gpu-{queue}.log")
        hosts = _wait_for_host(admin, f"gpu-{queue}")
        assert [g["uuid"] for g in hosts["gpus"]] == ["GPU-sim-0000", "GPU-sim-0001"]
        executions = [admin.wait(actor["id"], e, timeout=90) for e in ids]
    finally:
        cpu_only.stop()
        if gpu_spawner:
            gpu_spawner.stop()

    assert [(e["status"], e["exit_code"]) for e in executions] == [("COMPLETE", 0)] * 3, [e["status_message"] for e in executions]
    spans = [(parse_state_time(e["final_state"]["StartedAt"]), parse_state_time(e["final_state"]["FinishedAt"]),
              e["gpus"][0]["uuid"]) for e in executions]
    for start, _, _ in spans:  # never more than two at once
        running = [s for s in spans if s[0] <= start < s[1]]
        assert len(running) <= 2
        assert len({gpu for _, _, gpu in running}) == len(running)  # never one GPU twice
    assert max(s[0] for s in spans) >= min(s[1] for s in spans)  # the third waited
    summary = admin.result(admin.get(f"/actors/{actor['id']}/executions"))
    assert summary["total_gpu_seconds"] >= 3 * 2 * 0.9


def test_assigned_gpus_are_in_the_environment_and_the_record(admin, environment, platform_dir):
    queue = f"gpue-{uuid.uuid4().hex[:6]}"
    spawner = SpawnerProcess(dict(environment, ACTORS_GPUS=TWO_GPUS), name=f"gpu-{queue}",
                             queues=queue, slots=2, log_path=platform_dir / f"{queue}.log")
    try:
        actor = admin.create_actor(ECHO, queue=queue, gpus="all")
        execution = admin.wait(actor["id"], admin.send(actor["id"], "gpus?"), timeout=60)
        logs = admin.logs(actor["id"], execution["id"])
        too_many = admin.create_actor(ECHO, queue=queue, gpus=3)
        refused = admin.wait(too_many["id"], admin.send(too_many["id"], "x"), timeout=60)
    finally:
        spawner.stop()
    assert execution["exit_code"] == 0
    assert [g["uuid"] for g in execution["gpus"]] == ["GPU-sim-0000", "GPU-sim-0001"]
    assert "_abaco_gpus=GPU-sim-0000,GPU-sim-0001" in logs
    assert "NVIDIA_VISIBLE_DEVICES=GPU-sim-0000,GPU-sim-0001" in logs
    assert execution["gpu_stats"] is None  # simulated GPUs have nothing to sample
    assert refused["status"] == "ERROR" and "3 GPUs" in refused["status_message"]


def test_hosts_endpoint_is_for_admins(client):
    response = client.get("/actors/admin/hosts")
    assert response.status_code == 403 and "admin" in response.json()["message"]


def _wait_for_host(admin: ApiClient, name: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for host in admin.result(admin.get("/actors/admin/hosts")):
            if host["name"] == name:
                return host
        time.sleep(0.2)
    raise AssertionError(f"host {name} never registered")


def _has_gpu() -> bool:
    try:
        from spawner.gpus import discover

        return bool(discover("auto"))
    except Exception:
        return False


@pytest.mark.gpu
@pytest.mark.skipif(not _has_gpu(), reason="no NVIDIA GPU visible to NVML on this machine")
def test_real_cuda_matmul_runs_on_the_assigned_gpu(admin, environment, platform_dir):
    """On a GPU host without Docker: the process runtime runs images/cuda-matmul."""
    pytest.importorskip("torch")
    queue = f"cuda-{uuid.uuid4().hex[:6]}"
    spawner = SpawnerProcess(dict(environment, ACTORS_GPUS="auto", ACTORS_RUNTIME="process",
                                  ACTORS_GPU_SAMPLE_INTERVAL="0.1"),
                             name=f"cuda-{queue}", queues=queue, slots=1,
                             log_path=platform_dir / f"{queue}.log")
    try:
        actor = admin.create_actor("actors/cuda-matmul", queue=queue, gpus=1)
        execution = admin.wait(actor["id"], admin.send(actor["id"], "4"), timeout=300)
        logs = admin.logs(actor["id"], execution["id"])
    finally:
        spawner.stop()
    assert execution["exit_code"] == 0, logs
    report = json.loads(logs.strip().splitlines()[-1])
    assigned = execution["gpus"][0]
    assert report["visible"] == assigned["uuid"] == report["assigned"]
    stats = execution["gpu_stats"]
    print("GPU execution:", json.dumps({"gpus": execution["gpus"], "gpu_stats": stats,
                                        "runtime": execution["runtime"], "rounds": report["rounds"]}))
    assert stats["peak_memory_used"] > 0 and stats["peak_utilization"] > 0
    assert stats["mean_utilization"] > 0
