"""The Slurm runtime's pure parts: what sbatch is asked, how Slurm's answers are read, how a
job's end becomes an execution's. (Against a real Slurm: tests/integration/test_slurm.py.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from spawner.runtimes import JobPhase, JobStatus, RunSpec, StartFailed, make_runtime
from spawner.runtimes import slurm_job
from spawner.runtimes.slurm import (Accounting, Placement, SlurmRuntime, job_request, outcome,
                                    parse_sacct, parse_squeue, placements, sbatch_argv)

QUEUE = Placement(partitions=("debug", "gpu"), account="proj1", qos="normal", time_limit=30,
                  max_time_limit=120)
NAME = "Ab3dEfGh1jKlM"
SAFE_WORD = r"^(--[a-z-]+(=[A-Za-z0-9_.:/-]+)?|/[A-Za-z0-9_./-]+|sbatch)$"


def spec(**fields) -> RunSpec:
    return RunSpec(image="actors/echo", environment={}, labels={}, queue="default", **fields)


# -- what sbatch is asked ---------------------------------------------------------------------
def test_actor_fields_map_to_sbatch_options():
    request = job_request(spec(mem_limit="1.5g", max_cpus=2.5, gpu_count=2), NAME, QUEUE)
    argv = sbatch_argv(request, "/shared/work/" + NAME, "/shared/work/job.sh")
    assert argv[:2] == ["sbatch", "--parsable"] and argv[-1] == "/shared/work/job.sh"
    for option in (f"--job-name={NAME}", "--mem=1536M", "--cpus-per-task=3", "--gres=gpu:2",
                   "--partition=debug", "--account=proj1", "--qos=normal", "--time=30",
                   "--export=NONE", "--no-requeue", f"--output=/shared/work/{NAME}/job.log"):
        assert option in argv


def test_hints_choose_only_among_the_partitions_the_operator_allows():
    request = job_request(spec(hints=("nightly", "partition=gpu", "time=90", "requeue")), NAME,
                          QUEUE)
    assert (request.partition, request.minutes, request.requeue) == ("gpu", 90, True)
    with pytest.raises(StartFailed, match="not one the operator allows"):
        job_request(spec(hints=("partition=bigmem",)), NAME, QUEUE)
    with pytest.raises(StartFailed, match="whole minutes from 1 to 120"):
        job_request(spec(hints=("time=121",)), NAME, QUEUE)
    with pytest.raises(StartFailed, match="not one the operator allows"):
        job_request(spec(hints=("partition=debug",)), NAME, Placement())  # none allowed


@pytest.mark.parametrize("hints", [
    ("partition=debug --uid=0",), ("partition=--wrap=rm -rf ~",), ("partition=debug,gpu",),
    ("partition=debug\n#SBATCH --uid=0",), ("time=10 --wrap=id",), ("time=-5",), ("time=1e3",),
])
def test_no_hint_can_smuggle_an_sbatch_option(hints):
    with pytest.raises(StartFailed):
        job_request(spec(hints=hints), NAME, QUEUE)


@pytest.mark.parametrize("name", ["x --wrap=id", "--wrap=id", "a;b", "a/../b", "", "a\nb"])
def test_only_an_execution_id_names_a_job(name):
    with pytest.raises(StartFailed):
        job_request(spec(), name, QUEUE)


@pytest.mark.parametrize("fields", [{"mem_limit": "--wrap=id"}, {"mem_limit": "1g --uid=0"}])
def test_a_memory_limit_must_be_a_size(fields):
    with pytest.raises(StartFailed):
        job_request(spec(**fields), NAME, QUEUE)


def test_every_sbatch_word_is_built_from_checked_values():
    request = job_request(spec(mem_limit="512m", max_cpus=1, gpu_count=1,
                               hints=("partition=gpu", "time=5", "odd; tag $(id)")), NAME, QUEUE)
    import re

    for word in sbatch_argv(request, f"/shared/{NAME}", f"/shared/{NAME}/job.sh"):
        assert re.match(SAFE_WORD, word), word


def test_operator_settings_are_checked_names():
    assert placements({"default": {"partitions": "debug, gpu", "qos": "high"}})["default"] \
        .partitions == ("debug", "gpu")
    for bad in ({"partitions": ["debug --uid=0"]}, {"account": "-x"}, {"colour": "blue"},
                {"time_limit": 60, "max_time_limit": 10}):
        with pytest.raises(ValueError):
            placements({"q": bad})


def test_the_job_script_runs_the_wrapper_by_quoted_paths_and_the_message_stays_data(tmp_path):
    runtime = SlurmRuntime(str(tmp_path), python="/opt/py thon/bin/python3")
    workdir = tmp_path / NAME
    run = RunSpec(image="actors/echo", environment={"MSG": "$(reboot)\n; --uid=0"},
                  labels={"actors.execution": NAME}, workdir=str(workdir), queue="default")
    argv = runtime.prepare(run)
    script = (workdir / "job.sh").read_text()
    assert script.splitlines()[-1] == (f"exec '/opt/py thon/bin/python3' {workdir}/actors_job.py "
                                      f"{workdir}")
    assert argv[-1] == str(workdir / "job.sh")
    assert "reboot" not in " ".join(argv) and "reboot" not in script
    job = json.loads((workdir / "job.json").read_text())
    assert job["environment"]["MSG"] == "$(reboot)\n; --uid=0"  # data, handed to exec as is
    assert job["mode"] == "process" and job["argv"][1].endswith("/opt/actors/actor.py")
    assert oct(os.stat(workdir / "job.json").st_mode & 0o777) == "0o600"
    assert oct(os.stat(workdir).st_mode & 0o777) == "0o700"


# -- reading Slurm's answers ------------------------------------------------------------------
def test_squeue_lines_become_statuses_the_newest_job_per_name():
    text = (f"41|{NAME}|CANCELLED|vm|debug|1795995000|1795995010|None\n"
            f"42|{NAME}|PENDING||debug|N/A|N/A|Resources\n"
            "43|Other0000000|RUNNING|node7|gpu|1795995100|1795998700|None\n"
            "44|Reasons00000|PENDING||debug|N/A|N/A|QOSMaxJobsPerUserLimit|odd|text\n")
    found = parse_squeue(text)
    assert found[NAME].job_id == "42" and found[NAME].phase is JobPhase.PENDING
    assert found[NAME].reason == "Resources" and found[NAME].started_at is None
    other = found["Other0000000"]
    assert other.phase is JobPhase.RUNNING and other.nodes == "node7"
    assert other.started_at == 1795995100 and other.finished_at is None
    assert found["Reasons00000"].reason == "QOSMaxJobsPerUserLimit|odd|text"


def test_sacct_lines_give_the_batch_steps_figures():
    text = ("77|allocation|COMPLETED|0:0|1795995201|1795995205|vm|debug|00:02.926||||None\n"
            "77.batch|batch|COMPLETED|0:0|1795995201|1795995205|vm||00:02.926|117324K|1.5M|100M|\n"
            "78|Job78|OUT_OF_MEMORY|0:125|1795995225|1795995226|vm|debug|1-00:00:01|||||\n"
            "79|Job79|CANCELLED by 0|0:0|Unknown|1795995300|None assigned|debug|||||None\n")
    found = parse_sacct(text)
    assert found["77"].has_batch_step and found["77"].cpu_ns == 2_926_000_000
    assert found["77"].max_rss == 117324 * 1024
    assert found["77"].io_bytes == int(1.5 * 2 ** 20) + 100 * 2 ** 20
    assert found["78"].cpu_ns == (86400 + 1) * 10 ** 9 and not found["78"].has_batch_step
    assert found["79"].state == "CANCELLED" and found["79"].start is None


# -- how a job's end becomes an execution's -------------------------------------------------------
def status(state, job_id="77", reason="", nodes="vm") -> JobStatus:
    phase = JobPhase.PENDING if state == "PENDING" else JobPhase.ENDED
    return JobStatus(name=NAME, job_id=job_id, state=state, phase=phase, reason=reason,
                     nodes=nodes, started_at=1795995201.0, finished_at=1795995205.0)


def accounting(state, exit_code="0:0", batch=True, **figures) -> Accounting:
    return Accounting(job_id="77", name=NAME, state=state, exit_code=exit_code,
                      start=1795995201.0, end=1795995205.0, nodes="vm", partition="debug",
                      reason="", has_batch_step=batch, **figures)


STARTED = {"started_at": 1795995201_500_000_000, "gpus": ["0", "3"]}


def exited(code, **more):
    return dict({"exit_code": code, "finished_at": 1795995204_000_000_000, "cpu_ns": 5,
                 "io_bytes": 6, "max_rss": 7}, **more)


def test_the_actors_own_exit_code_and_slurms_accounting_figures():
    done = outcome(status("FAILED"), accounting("FAILED", "3:0", cpu_ns=900, io_bytes=800,
                                                max_rss=700), STARTED, exited(3))
    assert done.exit_code == 3 and not done.error and done.settled
    assert done.final_state["ExitCode"] == 3 and done.final_state["OOMKilled"] is False
    assert done.final_state["StartedAt"] == "2026-11-29T23:33:21.500000000Z"
    assert (done.usage.cpu_ns, done.usage.io_bytes, done.max_rss) == (900, 800, 700)
    assert done.gpus == [{"index": 0}, {"index": 3}]
    assert set(done.final_state) >= {"Status", "Running", "Paused", "Restarting", "OOMKilled",
                                     "Dead", "Pid", "ExitCode", "Error", "StartedAt",
                                     "FinishedAt"}


def test_the_jobs_own_figures_when_accounting_has_none():
    done = outcome(status("COMPLETED"), None, STARTED, exited(0), accounting_available=False)
    assert done.settled and (done.usage.cpu_ns, done.usage.io_bytes, done.max_rss) == (5, 6, 7)
    waiting = outcome(status("COMPLETED"), accounting("COMPLETED", batch=False), STARTED,
                      exited(0))
    assert not waiting.settled  # the batch step's line is not in accounting yet


def test_out_of_memory_is_oomkilled():
    done = outcome(status("OUT_OF_MEMORY"), accounting("OUT_OF_MEMORY", "0:125"), STARTED, None)
    assert done.final_state["OOMKilled"] is True and done.exit_code == 137 and not done.error
    assert "memory" in done.final_state["Error"]


@pytest.mark.parametrize("state", ["NODE_FAIL", "BOOT_FAIL", "PREEMPTED", "SOMETHING_NEW"])
def test_the_cluster_failing_the_job_is_an_error_with_the_reason(state):
    done = outcome(status(state, reason="NodeDown"), accounting(state), STARTED, None)
    assert done.error.startswith(f"Slurm job 77 ended {state} on vm (NodeDown)")
    assert done.final_state["Dead"] is True and done.exit_code == 137


def test_timeout_and_cancellation_of_a_running_job_are_kills():
    for state in ("TIMEOUT", "CANCELLED"):
        done = outcome(status(state), accounting(state, "0:15"), STARTED, None)
        assert done.exit_code == 143 and not done.error
    done = outcome(status("CANCELLED"), accounting("CANCELLED"), STARTED, exited(137))
    assert done.exit_code == 137


def test_a_job_that_never_started():
    cancelled = outcome(status("CANCELLED"), accounting("CANCELLED", batch=False), None, None)
    assert cancelled.exit_code is None and not cancelled.error and cancelled.usage is None
    assert cancelled.settled and cancelled.final_state["StartedAt"] == "0001-01-01T00:00:00Z"
    failed = outcome(status("FAILED", reason="JobLaunchFailure"),
                     accounting("FAILED", "1:0", batch=False), None, None)
    assert failed.error == "Slurm job 77 ended FAILED before the actor started (JobLaunchFailure)."
    nothing_to_run = outcome(status("FAILED"), accounting("FAILED", "127:0"), STARTED,
                             exited(127, error="could not start 'python3': No such file"))
    assert "could not start 'python3'" in nothing_to_run.error


# -- the job's side: engines and the results relay ----------------------------------------------
def test_engine_commands_pass_values_by_name_only(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin")
    actor = {"MSG": "--privileged; $(id)\nline two", "_abaco_execution_id": NAME,
             "_abaco_binary_path": "/shared/x/binary_data"}
    argv, environment = slurm_job.engine_command("podman", "docker.io/me/actor:1", actor,
                                                 [["/shared/x/binary_data", "/_abaco_binary_data", True],
                                                  ["/shared/x/outputs", "/_abaco_outputs", False]],
                                                 "/tmp/a/results.sock")
    assert argv[:4] == ["podman", "run", "--rm", "--network=host"]
    assert argv[-1] == "docker.io/me/actor:1"
    assert "--volume=/shared/x/binary_data:/_abaco_binary_data:ro" in argv
    assert "--volume=/shared/x/outputs:/_abaco_outputs" in argv
    assert "--volume=/tmp/a/results.sock:/_abaco_results.sock" in argv
    assert "--env=MSG" in argv and not any("privileged" in word for word in argv)
    assert environment["MSG"] == actor["MSG"] and environment["PATH"] == "/usr/bin"
    assert "_abaco_binary_path" not in environment  # inside, the SDK's default path applies

    argv, environment = slurm_job.engine_command("apptainer", "me/actor:1", actor, [],
                                                 "/tmp/a/results.sock")
    assert argv[:4] == ["apptainer", "run", "--containall", "--cleanenv"]
    assert argv[-1] == "docker://me/actor:1"
    assert "--bind=/tmp/a/results.sock:/_abaco_results.sock" in argv
    assert environment["APPTAINERENV_MSG"] == actor["MSG"]
    assert not any("privileged" in word for word in argv)
    assert slurm_job.engine_command("apptainer", "/images/a.sif", {}, [], "/s")[0][-1] == \
        "/images/a.sif"


@pytest.mark.parametrize("image", ["--privileged", "me/actor --rm", "", "a\nb"])
def test_an_image_reference_cannot_be_an_engine_option(image):
    with pytest.raises(ValueError):
        slurm_job.engine_command("podman", image, {}, [], "/s")
    runtime = SlurmRuntime("/tmp/unused", engine="podman")
    with pytest.raises(Exception, match="not an image reference"):
        runtime.ensure_image(image)


def test_the_job_wrapper_relays_results_and_records_the_exit(tmp_path):
    """slurm_job.py run by hand as Slurm would run it: a real process, a real socket."""
    code = ("import os, socket\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
            "for part in (b'one', b'two', b'x' * 200000, b'three'):\n"
            "    s.sendto(part, os.environ['_abaco_results_path'])\n"
            "print('sent', os.environ['MSG'])\nraise SystemExit(4)\n")
    workdir = tmp_path / NAME
    (workdir / "home").mkdir(parents=True)
    (workdir / "job.json").write_text(json.dumps({
        "mode": "process", "argv": [sys.executable, "-c", code], "cwd": None,
        "home": str(workdir / "home"), "environment": {"MSG": "hi", "PATH": "/usr/bin"}}))
    done = subprocess.run([sys.executable, slurm_job.__file__, str(workdir)], capture_output=True,
                          text=True, timeout=60, env={"SLURM_JOB_GPUS": "1"})
    assert done.returncode == 4 and "sent hi" in done.stdout
    assert "a result of 200000 bytes was rejected" in done.stderr
    results = SlurmRuntime(str(tmp_path)).take_results(str(workdir))
    assert results == [b"one", b"two", b"three"]
    assert SlurmRuntime(str(tmp_path)).take_results(str(workdir)) == []  # taken once
    record = json.loads((workdir / "exit.json").read_text())
    assert record["exit_code"] == 4 and record["cpu_ns"] > 0
    assert json.loads((workdir / "started.json").read_text())["gpus"] == ["1"]


def test_make_runtime_builds_the_slurm_runtime_from_config(config, tmp_path):
    settings = config.with_overrides(
        spawner_workdir=str(tmp_path), slurm_engine="apptainer", slurm_poll_interval=0.5,
        slurm_queues=json.dumps({"default": {"partitions": ["debug"], "time_limit": 15}}))
    runtime = make_runtime("slurm", config=settings)
    assert runtime.detached and runtime.engine == "apptainer" and runtime.poll_interval == 0.5
    assert runtime.placement("default").partitions == ("debug",)
    assert runtime.placement("elsewhere") == Placement()


@pytest.mark.parametrize("variable, value, says", [
    ("ACTORS_SLURM_QUEUES", '{"default": {"partitions": ["debug --uid=0"]}}', "not a Slurm name"),
    ("ACTORS_SLURM_QUEUES", '{"default": {"partition": "debug"}}', "unknown settings"),
    ("ACTORS_SLURM_QUEUES", "[1, 2]", "must be a JSON object"),
    ("ACTORS_SLURM_ENGINE", "docker", "must be one of podman, apptainer"),
])
def test_the_spawner_refuses_bad_slurm_settings_before_anything_starts(monkeypatch, tmp_path,
                                                                        variable, value, says):
    from click.testing import CliRunner

    from actors_cli.main import main

    monkeypatch.setenv("ACTORS_SPAWNER_WORKDIR", str(tmp_path))
    monkeypatch.setenv("ACTORS_JWT_SECRET", "x" * 32)
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(main, ["spawner", "--runtime", "slurm", "--gpus", "none"])
    assert result.exit_code != 0 and says in result.output
