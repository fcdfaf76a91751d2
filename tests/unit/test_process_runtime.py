"""The process runtime: an image folder's CMD run as a child process, no Docker needed."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from spawner.environment import BINARY_TARGET
from spawner.runtimes import (LABEL_EXECUTION, LABEL_SPAWNER, ImageUnavailable, Mount, RunSpec,
                              make_runtime)
from spawner.runtimes.images import REPOSITORY_IMAGES, find_image, read_dockerfile
from spawner.runtimes.process import LOST, ProcessRuntime

pytestmark = pytest.mark.timeout(60)

REPOSITORY = Path(__file__).resolve().parents[2]
SPAWNER = "test-spawner"
DOCKER_STATE_FIELDS = {"Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid",
                       "ExitCode", "Error", "StartedAt", "FinishedAt"}
DOCKER_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")

DOCKERFILE = """\
# A test image in the layout of this repository's images/.
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}
COPY images/probe/probe.py /opt/probe/probe.py
ENV PROBE_HOME=/opt/probe GREETING="hello there"
ENV LEGACY_FORM value with spaces
WORKDIR /opt/probe
CMD ["python3", "/opt/probe/probe.py"]
"""

PROBE = """\
import os, subprocess, sys, time

mode = os.environ.get("MODE", "print")
if mode == "print":
    print("greeting:", os.environ["GREETING"])
    print("legacy:", os.environ["LEGACY_FORM"])
    home = os.environ["PROBE_HOME"]
    print("home:", home, os.path.isfile(os.path.join(home, "probe.py")))
    print("cwd:", os.getcwd())
    print("binary:", os.environ.get("_abaco_binary_path", "-"))
    print("to stderr", file=sys.stderr)
    sys.exit(int(os.environ.get("CODE", "0")))
if mode == "sleep":
    child = subprocess.Popen(["sleep", "60"])
    print("grandchild", child.pid, flush=True)
    time.sleep(float(os.environ.get("SECONDS", "60")))
if mode == "busy":
    end = time.process_time() + float(os.environ.get("SECONDS", "0.5"))
    while time.process_time() < end:
        sum(range(1000))
    print("busy done")
if mode == "allocate":
    block = bytearray(int(os.environ["BYTES"]))
    print("allocated", len(block))
"""


@pytest.fixture
def images(tmp_path):
    repository = tmp_path / "repo"
    folder = repository / "images" / "probe"
    folder.mkdir(parents=True)
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / "probe.py").write_text(PROBE)
    return repository / "images"


@pytest.fixture
def workdir(tmp_path):
    return tmp_path / "spawner"


@pytest.fixture
def runtime(workdir, images):
    return ProcessRuntime(workdir=str(workdir), image_path=[str(images)])


def make_spec(workdir: Path, name: str, image: str = "probe", **options) -> RunSpec:
    environment = options.pop("environment", {})
    folder = workdir / name
    folder.mkdir(parents=True, exist_ok=True)
    return RunSpec(image=image, environment=environment, workdir=str(folder),
                   labels={LABEL_SPAWNER: SPAWNER, LABEL_EXECUTION: name}, **options)


def run(runtime, spec, timeout: float = 30) -> tuple:
    handle = runtime.start(spec)
    exit_code = handle.wait(timeout=timeout)
    return exit_code, b"".join(handle.stream_logs()).decode(), handle


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan may wait for a reaper that never comes)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def wait_for_line(handle, prefix: str) -> str:
    logs = handle.stream_logs()
    buffered = b""
    for chunk in logs:
        buffered += chunk
        for line in buffered.decode().splitlines():
            if line.startswith(prefix):
                logs.close()
                return line
    raise AssertionError(f"no line starting with {prefix!r} in {buffered!r}")


# -- running an image -------------------------------------------------------------
def test_runs_the_image_command_with_its_environment_and_copied_files(runtime, workdir):
    exit_code, logs, handle = run(runtime, make_spec(workdir, "e1"))

    assert exit_code == 0
    assert "greeting: hello there" in logs
    assert "legacy: value with spaces" in logs
    assert "to stderr" in logs  # stdout and stderr both land in the log
    home = re.search(r"home: (\S+) (\w+)", logs)
    assert home.group(2) == "True"  # /opt/probe was rewritten to the staged copy
    assert home.group(1).startswith(str(workdir / ".process-images"))
    assert f"cwd: {home.group(1)}" in logs  # so was WORKDIR


def test_a_failing_command_reports_its_exit_code(runtime, workdir):
    exit_code, logs, handle = run(runtime, make_spec(workdir, "e2", environment={"CODE": "3"}))

    assert exit_code == 3
    assert handle.final_state()["ExitCode"] == 3
    assert not handle.is_running()


def test_a_binary_message_mount_becomes_a_path_in_the_environment(runtime, workdir, tmp_path):
    fifo = tmp_path / "binary_data"
    spec = make_spec(workdir, "e3", mounts=[Mount(str(fifo), BINARY_TARGET)])

    exit_code, logs, _ = run(runtime, spec)

    assert exit_code == 0
    assert f"binary: {fifo}" in logs


def test_the_environment_holds_no_spawner_settings(runtime, workdir, monkeypatch):
    monkeypatch.setenv("ACTORS_JWT_SECRET", "not for actors")
    spec = make_spec(workdir, "e4", image=str(REPOSITORY_IMAGES / "echo"),
                     environment={"MSG": "hi"})

    exit_code, logs, _ = run(runtime, spec)

    assert exit_code == 0
    assert "ACTORS_JWT_SECRET" not in logs


# -- kill, limits, usage ----------------------------------------------------------
def test_kill_ends_the_process_and_everything_it_started(runtime, workdir):
    handle = runtime.start(make_spec(workdir, "k1", environment={"MODE": "sleep"}))
    grandchild = int(wait_for_line(handle, "grandchild").split()[1])
    assert running(grandchild)

    handle.kill()

    assert handle.wait(timeout=10) == 137  # 128 + SIGKILL, as Docker reports it
    deadline = time.monotonic() + 5
    while running(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(grandchild)


def test_whatever_is_left_when_the_main_process_exits_is_killed(runtime, workdir):
    spec = make_spec(workdir, "k2", environment={"MODE": "sleep", "SECONDS": "0.5"})
    handle = runtime.start(spec)
    grandchild = int(wait_for_line(handle, "grandchild").split()[1])

    assert handle.wait(timeout=10) == 0
    assert not running(grandchild)


def test_usage_counts_cpu_time(runtime, workdir):
    handle = runtime.start(make_spec(workdir, "u1", environment={"MODE": "busy", "SECONDS": "1"}))
    time.sleep(0.5)
    while_running = handle.usage()

    assert handle.wait(timeout=30) == 0
    final = handle.usage()

    assert while_running is not None and while_running.cpu_ns > 0
    assert final.cpu_ns >= while_running.cpu_ns
    assert final.cpu_ns >= 0.9e9  # the reaped process's own rusage is in the last sample
    assert handle.final_usage() == final


def test_mem_limit_stops_a_process_that_allocates_too_much(runtime, workdir):
    allocate = {"MODE": "allocate", "BYTES": str(400 * 2**20)}

    limited, logs, _ = run(runtime, make_spec(workdir, "m1", environment=allocate,
                                               mem_limit="200m"))
    unlimited, _, _ = run(runtime, make_spec(workdir, "m2", environment=allocate))

    assert limited != 0
    assert "MemoryError" in logs
    assert unlimited == 0


def test_final_state_has_dockers_shape(runtime, workdir):
    handle = runtime.start(make_spec(workdir, "f1", environment={"MODE": "sleep",
                                                                  "SECONDS": "0.3"}))
    while_running = handle.final_state()
    handle.wait(timeout=10)
    finished = handle.final_state()

    assert set(while_running) == set(finished) == DOCKER_STATE_FIELDS
    assert while_running["Status"] == "running" and while_running["Running"] is True
    assert while_running["Pid"] == handle.pid
    assert while_running["FinishedAt"] == "0001-01-01T00:00:00Z"
    assert finished["Status"] == "exited" and finished["Running"] is False
    assert finished["Pid"] == 0 and finished["ExitCode"] == 0 and finished["Error"] == ""
    assert finished["OOMKilled"] is False
    assert DOCKER_TIME.match(finished["StartedAt"]) and DOCKER_TIME.match(finished["FinishedAt"])
    assert finished["StartedAt"] < finished["FinishedAt"]


def test_remove_deletes_what_start_created_and_is_safe_twice(runtime, workdir):
    spec = make_spec(workdir, "r1", environment={"MODE": "sleep"})
    handle = runtime.start(spec)

    handle.remove()
    handle.remove()

    assert handle.wait(timeout=1) == 137
    assert os.listdir(spec.workdir) == []
    assert runtime.labelled(SPAWNER) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_as_root_the_execution_runs_as_the_requested_user_with_a_process_limit(runtime, workdir,
                                                                                images):
    folder = images / "whoami"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM scratch\n"
                                       "CMD id -u; id -g; grep processes /proc/self/limits\n")
    spec = make_spec(workdir, "u2", image="whoami", user="65534:65534", pids_limit=50)

    exit_code, logs, _ = run(runtime, spec)

    assert exit_code == 0, logs
    assert logs.splitlines()[:2] == ["65534", "65534"]
    assert int(logs.splitlines()[2].split()[2]) >= 50  # pids_limit more than the user runs
    assert (Path(spec.workdir) / "home").stat().st_uid == 65534  # a HOME the user may write


# -- after a spawner restart ------------------------------------------------------
def test_a_restarted_spawner_finds_and_follows_a_running_execution(runtime, workdir, images):
    runtime.start(make_spec(workdir, "l1", environment={"MODE": "sleep", "SECONDS": "1"}))
    restarted = ProcessRuntime(workdir=str(workdir), image_path=[str(images)])

    handles = restarted.labelled(SPAWNER)

    assert [h.labels[LABEL_EXECUTION] for h in handles] == ["l1"]
    assert handles[0].is_running()
    assert restarted.labelled("another-spawner") == []
    assert handles[0].wait(timeout=10) == 0  # its first parent recorded the exit code
    assert "grandchild" in b"".join(handles[0].stream_logs()).decode()


def test_an_execution_outlives_a_spawner_that_died(workdir, images):
    script = textwrap.dedent(f"""
        import os
        from spawner.runtimes import RunSpec
        from spawner.runtimes.process import ProcessRuntime
        runtime = ProcessRuntime(workdir={str(workdir)!r}, image_path=[{str(images)!r}])
        os.makedirs({str(workdir / "d1")!r})
        runtime.start(RunSpec(image="probe", environment={{"MODE": "sleep", "SECONDS": "1"}},
                              labels={{{LABEL_SPAWNER!r}: {SPAWNER!r}, {LABEL_EXECUTION!r}: "d1"}},
                              workdir={str(workdir / "d1")!r}))
        os._exit(0)  # die without reaping: the process is orphaned
    """)
    subprocess.run([sys.executable, "-c", script], cwd=REPOSITORY, check=True, timeout=30)
    restarted = ProcessRuntime(workdir=str(workdir), image_path=[str(images)])

    [handle] = restarted.labelled(SPAWNER)

    assert handle.is_running()
    assert handle.wait(timeout=10) == -1
    assert handle.final_state()["Error"] == LOST
    assert "grandchild" in b"".join(handle.stream_logs()).decode()
    handle.remove()
    assert restarted.labelled(SPAWNER) == []


# -- images -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["actors/echo", "actors/echo:latest", "echo"])
def test_image_names_resolve_to_the_repositorys_images(name):
    assert find_image(name) == REPOSITORY / "images" / "echo"


def test_the_repositorys_echo_image_runs_with_the_runtime_sdk(runtime, workdir):
    spec = make_spec(workdir, "i1", image="actors/echo:latest", environment={"MSG": "hello"},
                     mem_limit="512m", pids_limit=64)

    exit_code, logs, _ = run(runtime, spec)

    assert exit_code == 0, logs
    assert "Contents of MSG: hello" in logs


def test_an_unknown_image_says_where_it_looked(runtime, images):
    with pytest.raises(ImageUnavailable) as error:
        runtime.ensure_image("actors/nothing-here:1.0")
    assert str(images / "nothing-here") in str(error.value)
    assert str(REPOSITORY_IMAGES / "nothing-here") in str(error.value)


def test_dockerfile_forms(tmp_path):
    folder = tmp_path / "images" / "forms"
    folder.mkdir(parents=True)
    (folder / "Dockerfile").write_text(textwrap.dedent("""\
        ARG TOOL=tool
        FROM scratch
        ENV BASE=/srv \\
            OTHER=x
        ENV DIR ${BASE}/${TOOL}
        WORKDIR $DIR
        RUN echo ignored
        ENTRYPOINT ["tini", "--"]
        CMD echo "$DIR"
    """))

    recipe = read_dockerfile(folder)

    assert recipe.env == {"BASE": "/srv", "OTHER": "x", "DIR": "/srv/tool"}
    assert recipe.workdir == "/srv/tool"
    assert recipe.argv() == ["tini", "--", "/bin/sh", "-c", 'echo "$DIR"']


def test_a_dockerfile_without_a_command_is_unavailable(tmp_path):
    folder = tmp_path / "images" / "empty"
    folder.mkdir(parents=True)
    (folder / "Dockerfile").write_text("FROM scratch\n")

    with pytest.raises(ImageUnavailable, match="no CMD or ENTRYPOINT"):
        read_dockerfile(folder)


# -- building the runtime -----------------------------------------------------------
def test_make_runtime_builds_the_process_runtime_from_config(tmp_path):
    from actors_core.config import Config

    config = Config(spawner_workdir=str(tmp_path), process_image_path=("/somewhere",))

    runtime = make_runtime("process", config=config)

    assert isinstance(runtime, ProcessRuntime)
    assert runtime.workdir == tmp_path and runtime.image_path == ("/somewhere",)


def test_make_runtime_gives_docker_only_what_it_takes():
    pytest.importorskip("docker")
    from actors_core.config import Config

    client = object()
    runtime = make_runtime("docker", config=Config(), client=client)

    assert runtime.client is client
