"""The Slurm runtime against a real Slurm (scripts/slurm-setup.sh starts a one-node cluster).

Everything goes through the HTTP API to an ``actors spawner --runtime slurm``
subprocess; Slurm's own commands are used only to look at what it did. The
tests skip where no Slurm answers, except in CI (``CI=true``) or with
``ACTORS_REQUIRE_INTEGRATION=1`` (scripts/test.sh, which starts the cluster first), where
that is a failure.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from actors_core.times import parse_iso
from actors_core.tokens import mint

from .platform import REPO, ApiClient, SpawnerProcess

SLEEP = "actors/sleep-loop"
ECHO = "actors/echo"
REQUIRED = os.environ.get("CI") == "true" or os.environ.get("ACTORS_REQUIRE_INTEGRATION") == "1"

pytestmark = pytest.mark.timeout(180)


EPOCH = dict(os.environ, SLURM_TIME_FORMAT="%s")


def slurm(*argv: str, env: dict = None) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True,
                          env=env).stdout


@pytest.fixture(scope="module")
def cluster():
    """The node's name, CPUs and default partition; skip (or fail in CI) without Slurm."""
    problem = None
    if not shutil.which("sbatch"):
        problem = "Slurm's commands are not installed (run scripts/slurm-setup.sh as root)"
    else:
        try:
            slurm("scontrol", "ping")
            lines = slurm("sinfo", "--noheader", "--Node", "--format=%N|%c|%P|%T").split()
        except (subprocess.SubprocessError, OSError) as error:
            problem = f"Slurm does not answer ({error}); run scripts/slurm-setup.sh as root"
        else:
            ready = [line.split("|") for line in lines
                     if line.split("|")[3].rstrip("*") in ("idle", "mixed", "allocated")]
            if not ready:
                problem = f"no Slurm node is up: {lines}"
    if problem:
        if REQUIRED:
            pytest.fail(f"Slurm is required here (CI or ACTORS_REQUIRE_INTEGRATION=1): {problem}")
        pytest.skip(problem)
    node, cpus, partition, _ = ready[0]
    return {"node": node, "cpus": int(cpus), "partition": partition.rstrip("*")}


MISSING_PARTITION = "nosuchpartition"


def slurm_environment(environment: dict, cluster: dict) -> dict:
    """Actors may pick the real partition, or one the operator allowed but Slurm lacks."""
    queues = {"*": {"partitions": [cluster["partition"], MISSING_PARTITION], "time_limit": 10}}
    return dict(environment, ACTORS_RUNTIME="slurm", ACTORS_SLURM_QUEUES=json.dumps(queues))


@pytest.fixture(scope="module")
def queue(environment, cluster, platform_dir, api):
    """A queue of this module's own, served by a Slurm spawner (and by nothing else)."""
    name = f"slurm-{uuid.uuid4().hex[:6]}"
    spawner = SpawnerProcess(slurm_environment(environment, cluster), name=f"{name}-spawner",
                             queues=name, slots=4, log_path=platform_dir / f"{name}.log")
    yield name
    spawner.stop()
    cancel_leftovers(api)


def cancel_leftovers(api) -> None:
    """Jobs of this test platform's executions still in Slurm (a test failed half-way) are
    cancelled, so that they cannot hold the shared one-node cluster."""
    from actors_core.store import Store

    store = Store.from_config(api.config)
    listed = [line.split("|") for line in
              slurm("squeue", "--noheader", "--me", "--format=%i|%j").split()]
    leftovers = [job for job, name in listed if store.executions.get_internal(name)]
    if leftovers:
        subprocess.run(["scancel", *leftovers], capture_output=True)


@pytest.fixture
def client(api):
    """Privileged: only such users may put actors on a queue of their choosing."""
    return ApiClient(api.url, mint(api.config, f"user-{uuid.uuid4().hex[:8]}",
                                   roles=("privileged",)))


@pytest.fixture(scope="module")
def image_folders(tmp_path_factory):
    """Image folders the process semantics run: the SDK from this checkout on PYTHONPATH."""
    root = tmp_path_factory.mktemp("slurm-images")
    images = {
        # Sends the binary message back as its result (in through a file, out through the
        # relay) and keeps it as an output (the outputs folder on the shared storage).
        "mirror": "import os\n"
                  "from runtime_sdk import get_binary_message, outputs_dir, send_bytes_result\n"
                  "data = get_binary_message()\nprint('received', len(data), 'bytes')\n"
                  "send_bytes_result(data)\n"
                  "open(os.path.join(outputs_dir(), 'copy.bin'), 'wb').write(data)\n",
        # Takes memory 16 MiB at a time, touching every page, until something stops it.
        "hog": "import time\nblocks = []\nfor n in range(64):\n"
               "    blocks.append(bytes([n % 251]) * (16 << 20))\n"
               "    print('holding', 16 * len(blocks), 'MiB', flush=True)\n    time.sleep(0.1)\n"
               "print('never stopped')\n",
    }
    folders = {}
    for name, code in images.items():
        folder = root / name
        folder.mkdir()
        (folder / "actor.py").write_text(code)
        (folder / "Dockerfile").write_text(
            f"FROM scratch\nENV PYTHONPATH={REPO} PYTHONUNBUFFERED=1\n"
            f'CMD ["python3", "{folder / "actor.py"}"]\n')
        folders[name] = str(folder)
    return folders


def create(client, queue, image, **fields) -> str:
    actor = client.create_actor(image, queue=queue, **fields)
    assert client.wait_actor(actor["id"])["status"] == "READY"
    return actor["id"]


def squeue(job_id: str) -> dict:
    """The controller's view of a job (it keeps ended ones for MinJobAge, 300 s)."""
    name, state = slurm("squeue", "--noheader", "--states=all", f"--jobs={job_id}",
                        "--format=%j|%T").strip().split("|")
    return {"name": name, "state": state}


def submitted_at(job_id: str) -> int:
    return int(slurm("squeue", "--noheader", "--states=all", f"--jobs={job_id}", "--format=%V",
                     env=EPOCH).strip())


def wait_for(predicate, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)


# -- the tests --------------------------------------------------------------------------------
def test_echo_runs_as_a_job_named_after_its_execution(client, queue):
    actor = create(client, queue, ECHO, default_environment={"FROM_ACTOR": "yes"})
    hello = client.send(actor, "hello slurm", params={"GREETING": "hi"})
    failing = client.send(actor, "exit three", params={"ECHO_EXIT_CODE": "3"})

    execution = client.wait(actor, hello)
    assert execution["status"] == "COMPLETE" and execution["exit_code"] == 0
    logs = client.logs(actor, hello)
    for line in ("Contents of MSG: hello slurm", "GREETING=hi", "FROM_ACTOR=yes",
                 f"_abaco_execution_id={hello}", f"_abaco_actor_id={actor}",
                 f"_abaco_actor_dbid=DEFAULT_{actor}", "_abaco_Content_Type=str",
                 f"_abaco_container_repo={ECHO}", f"SLURM_JOB_NAME={hello}"):
        assert line in logs, line
    job = execution["job"]
    assert job["scheduler"] == "slurm" and job["state"] == "COMPLETED" and job["id"].isdigit()
    assert squeue(job["id"]) == {"name": hello, "state": "COMPLETED"}
    state = execution["final_state"]
    assert state["Status"] == "exited" and state["ExitCode"] == 0 and not state["OOMKilled"]
    assert execution["cpu"] > 0 and execution["runtime"] > 0 and execution["start_time"]
    provenance = execution["provenance"]
    assert provenance["runtime"] == "slurm" and provenance["host"] == job["nodes"]
    assert provenance["image_digest"].startswith("sha256:")

    execution = client.wait(actor, failing)
    assert execution["status"] == "COMPLETE" and execution["exit_code"] == 3
    assert execution["final_state"]["ExitCode"] == 3 and execution["job"]["state"] == "FAILED"
    assert "Contents of MSG: exit three" in client.logs(actor, failing)


def test_binary_message_comes_back_as_a_result(client, queue, image_folders):
    actor = create(client, queue, image_folders["mirror"])
    data = os.urandom(100_000) + b"\x00\xff end"
    response = client.post(f"/actors/{actor}/messages", data=data,
                           headers={"Content-Type": "application/octet-stream"})
    execution_id = client.result(response)["execution_id"]
    assert client.wait(actor, execution_id)["exit_code"] == 0
    assert f"received {len(data)} bytes" in client.logs(actor, execution_id)
    result = client.get(f"/actors/{actor}/executions/{execution_id}/results").content
    assert hashlib.sha256(result).hexdigest() == hashlib.sha256(data).hexdigest()
    outputs = client.execution(actor, execution_id)["outputs"]
    assert outputs == [{"path": "copy.bin", "size": len(data),
                        "sha256": hashlib.sha256(data).hexdigest()}]


def status_events(client, actor: str, execution_id: str) -> list:
    return client.result(client.get(
        f"/actors/{actor}/executions/{execution_id}/status"))["events"]


def test_what_the_operator_or_slurm_refuses_ends_in_error_with_the_reason(client, queue):
    forbidden = create(client, queue, ECHO, hints=["partition=bigmem"])
    missing = create(client, queue, ECHO, hints=[f"partition={MISSING_PARTITION}"])
    refused = client.wait(forbidden, client.send(forbidden, "no"))
    assert refused["status"] == "ERROR" and "job" not in refused
    assert "partition 'bigmem' is not one the operator allows" in refused["status_message"]
    refused = client.wait(missing, client.send(missing, "no"))
    assert refused["status"] == "ERROR"
    assert refused["status_message"].startswith("Slurm refused the job: sbatch: error:")
    assert "partition" in refused["status_message"].lower()


def test_logs_stream_while_it_runs_and_force_quit_cancels_the_job(client, queue):
    actor = create(client, queue, SLEEP)
    execution_id = client.send(actor, "60")
    client.wait(actor, execution_id, statuses=("RUNNING",))
    client.wait_for_log(actor, execution_id, "iteration 2 of 60")
    assert client.execution(actor, execution_id)["status"] == "RUNNING"

    client.result(client.delete(f"/actors/{actor}/executions/{execution_id}"))
    execution = client.wait(actor, execution_id, timeout=30)
    assert execution["status"] == "COMPLETE" and execution["exit_code"] == 137
    assert execution["final_state"]["ForceQuit"] is True
    assert squeue(execution["job"]["id"])["state"] == "CANCELLED"
    assert "iteration 60 of 60" not in client.logs(actor, execution_id)


def test_a_job_slurm_cannot_place_waits_with_its_reason_and_can_be_cancelled(client, queue,
                                                                             cluster):
    actor = create(client, queue, ECHO, max_cpus=cluster["cpus"] * 4)
    execution_id = client.send(actor, "never runs")

    def pending():
        execution = client.execution(actor, execution_id)
        job = execution.get("job") or {}
        return execution if job.get("state") == "PENDING" and job.get("reason") else None

    execution = wait_for(pending, "the job is PENDING in Slurm")
    assert execution["status"] == "SUBMITTED"  # queued in the cluster: still SUBMITTED
    assert execution["job"]["reason"] in execution["status_message"]
    assert execution["job"]["reason"] in ("PartitionConfig", "Resources")
    assert f"[actors] Waiting in the slurm queue as job {execution['job']['id']}" in \
        client.logs(actor, execution_id)
    pending = [e for e in status_events(client, actor, execution_id) if e["type"] == "PENDING"]
    assert pending and pending[0]["detail"]["reason"] == execution["job"]["reason"]
    assert execution["job"]["reason"] in pending[0]["message"]
    assert pending[0]["source"]["service"] == "runtime"
    time.sleep(2)  # a few polls later it is still there, still saying why
    assert client.execution(actor, execution_id)["status"] == "SUBMITTED"

    client.result(client.delete(f"/actors/{actor}/executions/{execution_id}"))
    execution = client.wait(actor, execution_id, timeout=30)
    assert execution["status"] == "COMPLETE" and execution["exit_code"] is None
    assert execution["status_message"] == "Cancelled before it started."
    assert squeue(execution["job"]["id"])["state"] == "CANCELLED"
    assert "Contents of MSG" not in client.logs(actor, execution_id)


def test_a_job_over_its_memory_limit_is_oom_killed(client, queue, image_folders):
    actor = create(client, queue, image_folders["hog"], mem_limit="96m")
    execution_id = client.send(actor, "eat")
    execution = client.wait(actor, execution_id)
    assert execution["status"] == "COMPLETE", execution
    assert execution["final_state"]["OOMKilled"] is True
    assert execution["job"]["state"] == "OUT_OF_MEMORY"
    assert execution["exit_code"] == 137
    assert "never stopped" not in client.logs(actor, execution_id)


def test_a_restarted_spawner_finds_its_jobs_by_name(client, environment, cluster, platform_dir):
    """Also: ``--slots 2`` holds two jobs in the cluster at most, before and after the restart."""
    queue = f"slurm-restart-{uuid.uuid4().hex[:6]}"
    name = f"{queue}-spawner"
    variables = slurm_environment(environment, cluster)
    first = SpawnerProcess(variables, name=name, queues=queue, slots=2,
                           log_path=platform_dir / f"{name}.log")
    try:
        sleeper = create(client, queue, SLEEP)
        long_run = client.send(sleeper, "10")
        short_run = client.send(sleeper, "3")
        client.wait(sleeper, long_run, statuses=("RUNNING",))
        client.wait(sleeper, short_run, statuses=("RUNNING", "COMPLETE"))
        client.wait_for_log(sleeper, long_run, "iteration 1 of 10")
        waiting = client.send(sleeper, "1")  # a third: no room for it while two are held
        first.crash()
        time.sleep(5)  # the jobs go on in Slurm; the short one ends while nobody watches
        assert client.execution(sleeper, waiting)["status"] == "SUBMITTED"
    finally:
        if first.process.poll() is None:
            first.crash()

    second = SpawnerProcess(variables, name=name, queues=queue, slots=2,
                            log_path=platform_dir / f"{name}.log")
    try:
        short = client.wait(sleeper, short_run)
        assert short["status"] == "COMPLETE" and short["exit_code"] == 0
        assert "done" in client.logs(sleeper, short_run)
        long = client.wait(sleeper, long_run)
        assert long["status"] == "COMPLETE" and long["exit_code"] == 0
        logs = client.logs(sleeper, long_run)
        assert logs.count("iteration 1 of 10") == 1 and "iteration 10 of 10" in logs
        third = client.wait(sleeper, waiting)
        assert third["exit_code"] == 0
        # Submitted only once the restarted spawner had recorded the short one's end.
        recorded = parse_iso(short["finish_time"]).timestamp()
        assert submitted_at(third["job"]["id"]) >= int(recorded)
    finally:
        second.stop()


def test_a_node_failure_is_an_error_unless_the_actor_asks_to_be_requeued(client, queue, cluster):
    """Last in the module: taking the node down kills whatever runs on it. The ERROR is
    retried where the actor asks for retries (``max_retries``), as any platform failure."""
    plain = create(client, queue, SLEEP, max_retries=1, retry_backoff=0)
    retried = create(client, queue, SLEEP, hints=["requeue"])
    lost = client.send(plain, "60")
    again = client.send(retried, "4")
    for actor, execution_id, total in ((plain, lost, 60), (retried, again, 4)):
        client.wait(actor, execution_id, statuses=("RUNNING",))
        client.wait_for_log(actor, execution_id, f"iteration 1 of {total}")
    try:
        slurm("scontrol", "update", f"nodename={cluster['node']}", "state=down",
              "reason=actors test: node failure")
        execution = client.wait(plain, lost, timeout=60)

        def requeued():
            record = client.execution(retried, again)
            return record if record["status_message"].startswith("Requeued by Slurm") else None

        job_id = wait_for(requeued, "the requeue hint's job is requeued")["job"]["id"]
    finally:
        subprocess.run(["scontrol", "update", f"nodename={cluster['node']}", "state=resume"],
                       capture_output=True)
        wait_for(lambda: slurm("sinfo", "--noheader", f"--nodes={cluster['node']}",
                               "--format=%T").strip().rstrip("*") in ("idle", "mixed"),
                 "the node is back", timeout=60)
    assert execution["status"] == "ERROR" and execution["job"]["state"] == "NODE_FAIL", execution
    message = execution["status_message"]
    assert "NODE_FAIL" in message and cluster["node"] in message
    assert execution["final_state"]["Dead"] is True
    assert "[actors] Slurm job" in client.logs(plain, lost)
    errors = [e for e in status_events(client, plain, lost) if e["type"] == "ERROR"]
    assert len(errors) == 1 and "NODE_FAIL" in errors[0]["message"]
    retry_id = wait_for(lambda: (client.execution(plain, lost).get("retries") or [None])[0],
                        "the node failure's retry is created")
    assert client.execution(plain, retry_id)["retry_of"] == lost
    client.result(client.delete(f"/actors/{plain}/executions/{retry_id}"))  # 60 s: not waited

    # Slurm holds a requeued job back for its credentials' lifetime (BeginTime; 15 s on the
    # test cluster, AuthInfo=cred_expire), then runs it again.
    execution = client.wait(retried, again, timeout=120)
    assert execution["status"] == "COMPLETE" and execution["exit_code"] == 0, execution
    assert execution["job"]["id"] == job_id and execution["job"]["state"] == "COMPLETED"
    logs = client.logs(retried, again)
    assert logs.count("iteration 1 of 4") == 2 and "done" in logs, logs  # both runs' output
