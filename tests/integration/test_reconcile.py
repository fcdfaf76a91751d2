"""A spawner killed mid-execution leaves nothing RUNNING once it comes back."""
from __future__ import annotations

import time
import uuid

from .conftest import ECHO, SLEEP
from .platform import SpawnerProcess


def test_restarted_spawner_reattaches_and_records(admin, environment, platform_dir, docker_engine):
    queue = f"crash-{uuid.uuid4().hex[:6]}"
    name = f"crashy-{uuid.uuid4().hex[:6]}"
    first = SpawnerProcess(environment, name=name, queues=queue, slots=2,
                           log_path=platform_dir / f"{name}.log")
    try:
        long_actor = admin.create_actor(SLEEP, queue=queue)
        short_actor = admin.create_actor(ECHO, queue=queue)
        long_run = admin.send(long_actor["id"], "6")
        admin.wait(long_actor["id"], long_run, statuses=("RUNNING",))
        admin.wait_for_log(long_actor["id"], long_run, "iteration 1 of 6")
        first.crash()

        # While the spawner is down: a container keeps running, a message waits.
        assert docker_engine.containers.list(filters={"label": f"actors.execution={long_run}"})
        waiting = admin.send(short_actor["id"], "after the crash")
        assert admin.execution(short_actor["id"], waiting)["status"] == "SUBMITTED"
    finally:
        first.crash() if first.process.poll() is None else None

    second = SpawnerProcess(environment, name=name, queues=queue, slots=2,
                            log_path=platform_dir / f"{name}.log")
    try:
        execution = admin.wait(long_actor["id"], long_run, timeout=60)
        assert execution["status"] == "COMPLETE" and execution["exit_code"] == 0
        assert "iteration 6 of 6" in admin.logs(long_actor["id"], long_run)
        assert admin.wait(short_actor["id"], waiting)["exit_code"] == 0
        assert "Contents of MSG: after the crash" in admin.logs(short_actor["id"], waiting)
        # A container is removed just after its execution is recorded COMPLETE: wait for it,
        # and list sparsely (one removed between listing and inspection is not an error).
        deadline = time.monotonic() + 15
        while docker_engine.containers.list(all=True, sparse=True,
                                            filters={"label": f"actors.spawner={name}"}):
            assert time.monotonic() < deadline, "the spawner left containers behind"
            time.sleep(0.2)
    finally:
        second.stop()
