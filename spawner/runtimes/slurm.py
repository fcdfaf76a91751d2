"""Executions as Slurm jobs: ``ACTORS_RUNTIME=slurm`` (``actors spawner --runtime slurm``).

Each execution becomes one batch job named after the execution id. The job
runs ``slurm_job.py`` (copied into the execution's folder) which starts the
actor with the process runtime's semantics: the image folder's ENV, WORKDIR,
COPY (staged into the shared image cache), CMD and ENTRYPOINT, the same
environment contract. With ``ACTORS_SLURM_ENGINE=podman|apptainer`` the job runs
the image itself under that engine instead (see docs/scaling.md for the
isolation each choice gives).

The spawner's work folder (``ACTORS_SPAWNER_WORKDIR``) must be on storage the
spawner and every compute node share, at the same path: the job script, the
binary message (a plain file), the outputs folder, the job's output, the
results (one file per result) and the wrapper's ``started.json``/``exit.json``
all live in the execution's folder there.

What maps to what (nothing a user sets ever becomes an sbatch word of its own
choosing: every option is built here from a checked number or an
operator-approved name, and the command is an argv, never a shell line):

===================  ==========================================================
actor / operator     sbatch
===================  ==========================================================
execution id         ``--job-name`` (letters and digits only)
``mem_limit``        ``--mem=<MiB>M``
``max_cpus``         ``--cpus-per-task=<ceil>``
``gpus``             ``--gres=gpu:<n>`` (``"all"`` is refused: Slurm needs a count)
queue settings       ``--partition`` (first allowed), ``--account``, ``--qos``,
                     ``--time`` (``time_limit`` minutes)
hint ``partition=P`` ``--partition=P`` when P is one the operator allows for the queue
hint ``time=M``      ``--time=M`` up to the queue's ``max_time_limit``
hint ``requeue``     ``--requeue``: Slurm re-runs the job after a node failure;
                     without it ``--no-requeue``, and a node failure is an ERROR
===================  ==========================================================

Following jobs is batched (spawner/batch.py polls): one ``squeue`` for every job
the spawner holds, one ``sacct`` for those that ended (and for any job squeue
has already forgotten), one ``scancel`` for all force-quits.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

from ..environment import RESULTS_TARGET
from .base import (LABEL_EXECUTION, BatchRuntime, ImageUnavailable, JobOutcome, JobPhase, JobStatus,
                   RunSpec, SchedulerUnavailable, StartFailed, Usage)
from .images import find_image, read_dockerfile, stage
from .process import HOME, IMAGE_CACHE, _docker_time, _environment, _size, folder_digest
from . import slurm_job

log = logging.getLogger(__name__)

JOB_FILE = "job.json"
SCRIPT = "job.sh"
WRAPPER = "actors_job.py"
OUTPUT = "job.log"
RESULTS = "results"
STARTED = "started.json"
EXITED = "exit.json"
ENGINES = ("podman", "apptainer")
RECALL = "now-7days"  # how far back sacct looks for a job squeue has forgotten
COMMAND_TIMEOUT = 60
READ_LIMIT = 1 << 20  # bytes of output taken from one job in one poll
MiB = 1 << 20

NAME = re.compile(r"[A-Za-z0-9]{1,64}\Z")  # execution ids
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")  # partition, account and QoS names
IMAGE_REFERENCE = re.compile(r"([a-z]+://)?[A-Za-z0-9][A-Za-z0-9._/:@+-]*\Z")
SQUEUE_FORMAT = "%i|%j|%T|%N|%P|%S|%e|%r"  # the reason last: it is free text
SACCT_FIELDS = ("JobID,JobName,State,ExitCode,Start,End,NodeList,Partition,TotalCPU,MaxRSS,"
                "MaxDiskRead,MaxDiskWrite,Reason")

# Slurm's job states, by what they mean for an execution.
PENDING_STATES = {"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD",
                  "CONFIGURING"}  # configuring: nodes are being readied, nothing runs yet
RUNNING_STATES = {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT",
                  "RESIZING"}
# state -> (the execution ends in ERROR, OOMKilled, what it means); any other state ended too.
ENDINGS = {
    "COMPLETED": (False, False, ""),
    "FAILED": (False, False, ""),
    "CANCELLED": (False, False, "Slurm cancelled the job."),
    "TIMEOUT": (False, False, "Slurm stopped the job at its time limit."),
    "DEADLINE": (False, False, "Slurm stopped the job at its deadline."),
    "OUT_OF_MEMORY": (False, True, "The job went over its memory limit and was killed."),
    "NODE_FAIL": (True, False, "The job's node failed."),
    "BOOT_FAIL": (True, False, "The job's node failed to boot."),
    "PREEMPTED": (True, False, "Slurm preempted the job."),
    "REVOKED": (True, False, "Slurm revoked the job (it ran on another cluster)."),
    "SPECIAL_EXIT": (True, False, "Slurm held the job after a special exit."),
}


# -- what the operator allows -----------------------------------------------------------
@dataclass(frozen=True)
class Placement:
    """Where a queue's jobs go. The first partition is the default; hints choose among them."""

    partitions: tuple = ()  # empty: the cluster's default partition, and no hint may pick one
    account: Optional[str] = None
    qos: Optional[str] = None
    time_limit: int = 60  # minutes
    max_time_limit: Optional[int] = None  # what a ``time=`` hint may ask; default time_limit

    @classmethod
    def from_settings(cls, queue: str, settings: Mapping) -> "Placement":
        unknown = set(settings) - {"partitions", "account", "qos", "time_limit", "max_time_limit"}
        if unknown:
            raise ValueError(f"ACTORS_SLURM_QUEUES[{queue!r}]: unknown settings {sorted(unknown)}")
        partitions = settings.get("partitions") or ()
        if isinstance(partitions, str):
            partitions = [p.strip() for p in partitions.split(",") if p.strip()]
        placement = cls(partitions=tuple(partitions), account=settings.get("account") or None,
                        qos=settings.get("qos") or None,
                        time_limit=int(settings.get("time_limit") or cls.time_limit),
                        max_time_limit=(int(settings["max_time_limit"])
                                        if settings.get("max_time_limit") else None))
        for name in placement.partitions + tuple(filter(None, (placement.account, placement.qos))):
            if not WORD.match(str(name)):
                raise ValueError(f"ACTORS_SLURM_QUEUES[{queue!r}]: {name!r} is not a Slurm name")
        if placement.time_limit < 1 or placement.longest < placement.time_limit:
            raise ValueError(f"ACTORS_SLURM_QUEUES[{queue!r}]: time limits must be whole "
                             "minutes, max_time_limit at least time_limit")
        return placement

    @property
    def longest(self) -> int:
        return self.max_time_limit or self.time_limit


def placements(settings) -> dict:
    """``ACTORS_SLURM_QUEUES`` (its JSON text, or the object) as {queue: Placement}; ``"*"``
    applies to queues not named."""
    if isinstance(settings, str):
        try:
            settings = json.loads(settings) if settings.strip() else {}
        except ValueError as error:
            raise ValueError(f"ACTORS_SLURM_QUEUES is not JSON: {error}")
    if not isinstance(settings, Mapping):
        raise ValueError("ACTORS_SLURM_QUEUES must be a JSON object")
    return {queue: Placement.from_settings(queue, value or {}) for queue, value in settings.items()}


@dataclass(frozen=True)
class JobRequest:
    """The sbatch options of one execution, every one of them checked."""

    name: str
    partition: Optional[str]
    account: Optional[str]
    qos: Optional[str]
    minutes: int
    mem_mib: Optional[int] = None
    cpus: Optional[int] = None
    gpus: int = 0
    requeue: bool = False


def job_request(spec: RunSpec, name: str, placement: Placement) -> JobRequest:
    """sbatch options from the actor's fields and hints; StartFailed says what to fix."""
    if not NAME.match(name):
        raise StartFailed(f"{name!r} cannot name a Slurm job.")
    partition = placement.partitions[0] if placement.partitions else None
    minutes, requeue = placement.time_limit, False
    for hint in spec.hints or ():
        key, equals, value = str(hint).partition("=")
        key, value = key.strip(), value.strip()
        if key == "partition" and equals:
            if value not in placement.partitions:
                allowed = ", ".join(placement.partitions) or "none"
                raise StartFailed(f"Hint {hint!r}: partition {value!r} is not one the operator "
                                  f"allows for queue {spec.queue!r} (allowed: {allowed}).")
            partition = value
        elif key == "time" and equals:
            if not value.isdigit() or not 1 <= int(value) <= placement.longest:
                raise StartFailed(f"Hint {hint!r}: the time limit is whole minutes from 1 to "
                                  f"{placement.longest} on queue {spec.queue!r}.")
            minutes = int(value)
        elif key == "requeue" and not equals:
            requeue = True
        # Other hints are the actor's own tags (search, routing elsewhere): not ours.
    mem_mib = None
    if spec.mem_limit:
        mem_mib = max(1, math.ceil(_size(spec.mem_limit) / MiB))
    cpus = None
    if spec.max_cpus:
        cpus = max(1, math.ceil(float(spec.max_cpus)))
    gpus = int(spec.gpu_count or 0)
    if gpus < 0:
        raise StartFailed(f"{gpus} is not a number of GPUs.")
    return JobRequest(name=name, partition=partition, account=placement.account,
                      qos=placement.qos, minutes=minutes, mem_mib=mem_mib, cpus=cpus, gpus=gpus,
                      requeue=requeue)


def sbatch_argv(request: JobRequest, workdir: str, script: str) -> list:
    """The whole sbatch command line: one argv element per option, no shell."""
    argv = ["sbatch", "--parsable", f"--job-name={request.name}",
            f"--output={workdir}/{OUTPUT}", "--open-mode=append", f"--chdir={workdir}",
            "--export=NONE", "--requeue" if request.requeue else "--no-requeue",
            f"--time={request.minutes}"]
    if request.partition:
        argv.append(f"--partition={request.partition}")
    if request.account:
        argv.append(f"--account={request.account}")
    if request.qos:
        argv.append(f"--qos={request.qos}")
    if request.mem_mib:
        argv.append(f"--mem={request.mem_mib}M")
    if request.cpus:
        argv.append(f"--cpus-per-task={request.cpus}")
    if request.gpus:
        argv.append(f"--gres=gpu:{request.gpus}")
    argv.append(script)
    return argv


# -- the runtime ------------------------------------------------------------------------
class SlurmRuntime(BatchRuntime):
    name = "slurm"

    def __init__(self, workdir: str, image_path: Sequence[str] = (), engine: Optional[str] = None,
                 queues: Optional[Mapping] = None, python: Optional[str] = None,
                 poll_interval: float = 1.0):
        """``queues``: {queue: Placement} (see :func:`placements`); ``"*"`` for the rest."""
        if engine and engine not in ENGINES:
            raise ValueError(f"ACTORS_SLURM_ENGINE must be one of {', '.join(ENGINES)}, "
                             f"not {engine!r}")
        self.workdir = Path(workdir)
        self.image_path = tuple(image_path)
        self.engine = engine or None
        self.queues = dict(queues or {})
        self.python = python or sys.executable
        self.poll_interval = poll_interval

    # -- images -----------------------------------------------------------------------
    def ensure_image(self, image: str) -> None:
        if self.engine:  # pulled on the node by the engine; here only the reference is checked
            if not IMAGE_REFERENCE.match(image) and not os.path.isabs(image):
                raise ImageUnavailable(f"{image!r} is not an image reference {self.engine} "
                                       "can run.")
            return
        self._stage(image)

    def image_identity(self, image: str, handle=None) -> dict:
        """The staged image folder's hash, as the process runtime gives (the files the job runs
        from); nothing with an engine, which resolves the image on the node."""
        if self.engine:
            return {}
        try:
            digest = "sha256:" + folder_digest(self._stage(image).root)
        except (ImageUnavailable, OSError):
            return {}
        return {"image_id": digest, "image_digest": digest}

    def _stage(self, image: str):
        folder = find_image(image, self.image_path)
        try:
            return stage(read_dockerfile(folder), self.workdir / IMAGE_CACHE, image)
        except (OSError, ValueError) as error:
            raise ImageUnavailable(f"Image {image!r} ({folder}) could not be prepared: {error}")

    # -- submitting ---------------------------------------------------------------------
    def placement(self, queue: Optional[str]) -> Placement:
        return self.queues.get(queue or "") or self.queues.get("*") or Placement()

    def submit(self, spec: RunSpec) -> str:
        try:
            done = self._call(self.prepare(spec))
        except SchedulerUnavailable as error:
            raise StartFailed(f"Slurm could not take the job: {error}")
        if done.returncode != 0:
            raise StartFailed(f"Slurm refused the job: {_last_line(done.stderr)}")
        job_id = done.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise StartFailed(f"sbatch answered {done.stdout.strip()!r}, not a job id")
        return job_id

    def prepare(self, spec: RunSpec) -> list:
        """Write the execution's folder (job.json, the wrapper, job.sh); the sbatch argv."""
        name = spec.labels.get(LABEL_EXECUTION, "")
        request = job_request(spec, name, self.placement(spec.queue))
        if not spec.workdir:
            raise StartFailed("the Slurm runtime needs the execution's folder on shared storage")
        workdir = Path(spec.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        workdir.chmod(0o700)  # job.json holds the execution's token and secret configs
        job = self._job(spec, workdir)
        descriptor = workdir / JOB_FILE
        descriptor.touch(mode=0o600)
        descriptor.write_text(json.dumps(job))
        shutil.copyfile(slurm_job.__file__, workdir / WRAPPER)
        script = workdir / SCRIPT
        script.write_text(f"#!/bin/sh\n# actors execution {name}\nexec "
                          f"{shlex.quote(self.python)} {shlex.quote(str(workdir / WRAPPER))} "
                          f"{shlex.quote(str(workdir))}\n")
        script.chmod(0o700)
        return sbatch_argv(request, str(workdir), str(script))

    def _job(self, spec: RunSpec, workdir: Path) -> dict:
        """What slurm_job.py needs: the command, its folder and the whole environment."""
        home = workdir / HOME
        home.mkdir(exist_ok=True)
        # The results socket is the wrapper's own (on the node); every other mount (the
        # binary message, the outputs folder, a run's inputs) is a path in the shared folder.
        mounts = [m for m in spec.mounts if m.target != RESULTS_TARGET]
        binds = [[m.source, m.target, bool(m.read_only)] for m in mounts]
        if self.engine:
            return {"mode": self.engine, "image": spec.image, "binds": binds,
                    "environment": dict(spec.environment), "home": str(home), "cwd": None}
        image = self._stage(spec.image)
        environment = _environment(image, _replace_mounts(spec, mounts), str(home))
        return {"mode": "process", "argv": image.argv, "cwd": image.cwd, "home": str(home),
                "environment": environment, "image": spec.image, "binds": binds}

    # -- following ------------------------------------------------------------------------
    def statuses(self, jobs: Mapping) -> dict:
        """One squeue for all (by name: that is how a restart finds them); sacct only for
        jobs squeue has forgotten (ended more than MinJobAge ago), by id where it is known,
        since accounting may show a placeholder name for a moment after a job starts."""
        names = [n for n in jobs if NAME.match(n)]
        if not names:
            return {}
        done = self._call(["squeue", "--noheader", "--me", "--states=all",
                           f"--name={','.join(names)}", f"--format={SQUEUE_FORMAT}"])
        if done.returncode != 0:
            raise SchedulerUnavailable(f"squeue: {_last_line(done.stderr)}")
        found = parse_squeue(done.stdout)
        missing = [n for n in names if n not in found]
        if not missing:
            return found
        ids = {str(jobs[n]): n for n in missing if str(jobs[n] or "").isdigit()}
        unnamed = [n for n in missing if not str(jobs[n] or "").isdigit()]
        queries = []
        if ids:
            queries.append([f"--jobs={','.join(ids)}"])
        if unnamed:  # e.g. submitted just before a crash, before its id was recorded
            queries.append([f"--name={','.join(unnamed)}", f"--starttime={RECALL}"])
        for selection in queries:
            done = self._call(["sacct", "--noheader", "--parsable2", "--allocations",
                               *selection, f"--format={SACCT_FIELDS}"])
            if done.returncode != 0:
                continue  # no accounting: those jobs stay unknown
            for record in parse_sacct(done.stdout).values():
                name = ids.get(record.job_id) or (record.name if record.name in unnamed else None)
                if name is not None:
                    status = _status_from_accounting(name, record)
                    if name not in found or int(status.job_id) > int(found[name].job_id):
                        found[name] = status
        return found

    def outcomes(self, ended: Sequence[JobStatus], workdirs: dict) -> dict:
        accounting, available = {}, True
        ids = [s.job_id for s in ended]
        if ids:
            done = self._call(["sacct", "--noheader", "--parsable2", f"--jobs={','.join(ids)}",
                               f"--format={SACCT_FIELDS}"])
            if done.returncode == 0:
                accounting = parse_sacct(done.stdout)
            else:  # accounting storage disabled or down: the wrapper's own figures
                available = False
                log.warning("sacct failed (%s); recording the jobs' own figures",
                            _last_line(done.stderr))
        outcomes = {}
        for status in ended:
            folder = Path(workdirs[status.name])
            outcomes[status.name] = outcome(status, accounting.get(status.job_id),
                                            _read(folder / STARTED), _read(folder / EXITED),
                                            accounting_available=available)
        return outcomes

    def cancel(self, job_ids: Sequence[str]) -> None:
        ids = [i for i in job_ids if str(i).isdigit()]
        if ids:
            done = self._call(["scancel", *ids])
            if done.returncode != 0:  # e.g. one had just finished: the others are cancelled
                log.info("scancel: %s", _last_line(done.stderr))

    def read_output(self, workdir: str, offset: int) -> bytes:
        try:
            with open(Path(workdir) / OUTPUT, "rb") as stream:
                stream.seek(offset)
                return stream.read(READ_LIMIT)
        except FileNotFoundError:
            return b""

    def take_results(self, workdir: str) -> list:
        folder = Path(workdir) / RESULTS
        try:
            names = sorted(n for n in os.listdir(folder) if n.isdigit())
        except FileNotFoundError:
            return []
        results = []
        for name in names:
            path = folder / name
            results.append(path.read_bytes())
            path.rename(folder / f".taken-{name}")  # numbers stay used: a requeued job goes on
        return results

    def exited(self, workdir: str) -> bool:
        return (Path(workdir) / EXITED).exists()

    def started(self, workdir: str) -> Optional[float]:
        record = _read(Path(workdir) / STARTED)
        return record["started_at"] / 1e9 if record and record.get("started_at") else None

    def _call(self, argv: list) -> subprocess.CompletedProcess:
        environment = dict(os.environ, SLURM_TIME_FORMAT="%s")  # epoch seconds: no time zones
        try:
            return subprocess.run(argv, capture_output=True, text=True, env=environment,
                                  timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise SchedulerUnavailable(f"{argv[0]}: {error}")


# -- reading Slurm's answers ---------------------------------------------------------------
@dataclass(frozen=True)
class Accounting:
    """sacct's figures for one job: the allocation's line and its batch step's."""

    job_id: str
    name: str
    state: str
    exit_code: str  # "code:signal"
    start: Optional[float]
    end: Optional[float]
    nodes: str
    partition: str
    reason: str
    cpu_ns: Optional[int] = None
    max_rss: Optional[int] = None
    io_bytes: Optional[int] = None
    has_batch_step: bool = False


def parse_squeue(text: str) -> dict:
    """{job name: JobStatus} from ``squeue --format=SQUEUE_FORMAT``; the newest job per name."""
    found = {}
    for line in text.splitlines():
        parts = line.split("|", 7)
        if len(parts) < 8:
            continue
        job_id, name, state, nodes, partition, start, end, reason = (p.strip() for p in parts)
        state = state.split()[0] if state else ""
        phase = _phase(state)
        status = JobStatus(name=name, job_id=job_id, state=state, phase=phase,
                           reason="" if reason in ("None", "(null)") else reason, nodes=nodes,
                           partition=partition,
                           started_at=_epoch(start) if phase is not JobPhase.PENDING else None,
                           finished_at=_epoch(end) if phase is JobPhase.ENDED else None)
        if name not in found or int(job_id) > int(found[name].job_id):
            found[name] = status
    return found


def parse_sacct(text: str) -> dict:
    """{job id: Accounting} from ``sacct --parsable2 --format=SACCT_FIELDS``."""
    jobs, steps = {}, {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 13:
            continue
        (job_id, name, state, exit_code, start, end, nodes, partition, cpu, rss, read, written,
         reason) = parts[:13]
        main, _, step = job_id.partition(".")
        if not main.isdigit():
            continue  # array or heterogeneous jobs: never submitted by this runtime
        if step:
            steps.setdefault(main, {})[step] = (cpu, rss, read, written)
            continue
        jobs[main] = Accounting(job_id=main, name=name, state=state.split()[0] if state else "",
                                exit_code=exit_code, start=_epoch(start), end=_epoch(end),
                                nodes=nodes, partition=partition,
                                reason="" if reason in ("None", "") else reason,
                                cpu_ns=_cpu_ns(cpu))  # the batch step's figures replace it
    for main, record in list(jobs.items()):
        batch = steps.get(main, {}).get("batch")
        if batch is None:
            continue
        cpu, rss, read, written = batch
        io = [_bytes(read), _bytes(written)]
        jobs[main] = Accounting(**{**record.__dict__, "cpu_ns": _cpu_ns(cpu),
                                   "max_rss": _bytes(rss),
                                   "io_bytes": sum(v or 0 for v in io)
                                   if any(v is not None for v in io) else None,
                                   "has_batch_step": True})
    return jobs


def _status_from_accounting(name: str, record: Accounting) -> JobStatus:
    return JobStatus(name=name, job_id=record.job_id, state=record.state,
                     phase=_phase(record.state), reason=record.reason, nodes=record.nodes,
                     partition=record.partition, started_at=record.start, finished_at=record.end)


def outcome(status: JobStatus, accounting: Optional[Accounting], started: Optional[dict],
            exited: Optional[dict], accounting_available: bool = True) -> JobOutcome:
    """How the execution ends, from Slurm's word and the wrapper's files.

    The wrapper's ``exit.json`` is the actor's own exit code; Slurm's state says
    why a job ended that the wrapper could not see end (killed for memory, at
    its time limit, with its node). A job with neither ``started.json`` nor
    ``exit.json`` never ran the actor: its exit code is None.
    """
    ended = accounting is not None and _phase(accounting.state) is JobPhase.ENDED
    final = accounting if ended else None
    state = final.state if final else status.state
    in_error, oom, meaning = ENDINGS.get(state, (True, False, f"Slurm ended the job ({state})."))
    ran = started is not None or exited is not None
    if exited is not None:
        exit_code = int(exited.get("exit_code", 0))
    elif ran:  # the wrapper died with the actor: Slurm's "code:signal" is all there is
        code, _, signal_number = (final.exit_code if final else "0:0").partition(":")
        number = int(signal_number) if signal_number.isdigit() else 0
        exit_code = 128 + number if 0 < number < 65 else int(code) if code.isdigit() else 0
        if oom or (exit_code == 0 and state != "COMPLETED"):
            exit_code = 137  # killed without a word from the actor: as Docker reports a kill
    else:
        exit_code = None
    nodes = (final.nodes if final else "") or status.nodes
    error = ""
    if exited is not None and exited.get("error"):
        error = f"The job could not start the actor: {exited['error']}"
    elif in_error:
        reason = (final.reason if final else "") or status.reason
        error = (f"Slurm job {status.job_id} ended {state}"
                 + (f" on {nodes}" if nodes and nodes != "None" else "")
                 + (f" ({reason})" if reason else "") + f": {meaning}")
    elif not ran and state != "CANCELLED":
        reason = (final.reason if final else "") or status.reason
        error = (f"Slurm job {status.job_id} ended {state} before the actor started"
                 + (f" ({reason})" if reason else "") + ".")
    started_ns = (started or {}).get("started_at")
    finished_ns = (exited or {}).get("finished_at")
    start = started_ns / 1e9 if started_ns else (final.start if final else status.started_at)
    end = finished_ns / 1e9 if finished_ns else (final.end if final else status.finished_at)
    final_state = {
        "Status": "exited", "Running": False, "Paused": False, "Restarting": False,
        "OOMKilled": oom, "Dead": in_error, "Pid": 0,
        "ExitCode": exit_code if exit_code is not None else 0,
        "Error": error or (f"Slurm: {state}. {meaning}" if meaning else ""),
        "StartedAt": _docker_time(int(start * 1e9)) if ran and start else _docker_time(None),
        "FinishedAt": _docker_time(int(end * 1e9)) if end else _docker_time(None),
    }
    cpu = final.cpu_ns if final and final.cpu_ns is not None else (exited or {}).get("cpu_ns")
    io = final.io_bytes if final and final.io_bytes else (exited or {}).get("io_bytes")
    rss = final.max_rss if final and final.max_rss else (exited or {}).get("max_rss")
    usage = Usage(cpu_ns=int(cpu or 0), io_bytes=int(io or 0)) if ran else None
    gpus = [{"index": int(g)} if str(g).isdigit() else {"id": str(g)}
            for g in (started or {}).get("gpus") or []]
    settled = (not accounting_available or not ran
               or (final is not None and final.has_batch_step))
    return JobOutcome(final_state=final_state, exit_code=exit_code if ran else None, usage=usage,
                      max_rss=int(rss) if rss else None, error=error, gpus=gpus, settled=settled)


def _phase(state: str) -> JobPhase:
    if state in PENDING_STATES:
        return JobPhase.PENDING
    if state in RUNNING_STATES:
        return JobPhase.RUNNING
    return JobPhase.ENDED


def _epoch(text: str) -> Optional[float]:
    try:
        value = float(text)
    except (TypeError, ValueError):  # N/A, Unknown, None
        return None
    return value if value > 0 else None


def _cpu_ns(text: str) -> Optional[int]:
    """sacct's [DD-[HH:]]MM:SS[.mmm] as nanoseconds."""
    text = (text or "").strip()
    if not text:
        return None
    days, _, clock = text.rpartition("-")
    seconds = 0.0
    for part in clock.split(":"):
        seconds = seconds * 60 + float(part)
    return int((int(days or 0) * 86400 + seconds) * 1e9)


def _bytes(text: str) -> Optional[int]:
    """sacct's sizes (``199280K``, ``1.61M``, ``512``) as bytes; powers of 1024."""
    text = (text or "").strip()
    if not text:
        return None
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
    factor = units.get(text[-1].upper(), 1)
    number = text[:-1] if text[-1].upper() in units else text
    try:
        return int(float(number) * factor)
    except ValueError:
        return None


def _read(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _replace_mounts(spec: RunSpec, mounts: list) -> RunSpec:
    from dataclasses import replace

    return replace(spec, mounts=mounts)
