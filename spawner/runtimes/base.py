"""The one interface every runtime (Docker, plain processes, a cluster) implements.

A runtime knows how to start an image with an environment and limits and how
to watch what it does; it knows nothing about actors, HTTP or Redis.

Two kinds: a :class:`Runtime` starts an execution on this host and hands back a
:class:`Handle` that the spawner watches for as long as it runs. A
:class:`BatchRuntime` hands executions to a cluster scheduler (Slurm) as jobs
named after them; the spawner follows all of its jobs with a few batched calls
per poll (spawner/batch.py), never a thread per job.
"""
from __future__ import annotations

import abc
import enum
from datetime import datetime
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

def parse_state_time(text: str) -> datetime:
    """A ``StartedAt``/``FinishedAt`` stamp of Docker's ``State`` (nanoseconds, trailing
    zeros trimmed) as an aware datetime, to the microsecond."""
    head, _, fraction = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(fraction + '000000')[:6]}+00:00")


# Labels every execution container carries, so a restarted spawner finds its own.
LABEL_SPAWNER = "actors.spawner"
LABEL_EXECUTION = "actors.execution"
LABEL_ACTOR = "actors.actor"


class ImageUnavailable(Exception):
    """The image is not on this host and could not be pulled."""


class StartFailed(Exception):
    """The runtime refused to create or start the execution."""


class SchedulerUnavailable(Exception):
    """A cluster scheduler could not be asked at all (controller down, command missing)."""


@dataclass(frozen=True)
class Mount:
    source: str  # path on the host
    target: str  # path inside the execution
    read_only: bool = True


@dataclass
class RunSpec:
    """Everything a runtime needs to start one execution."""

    image: str
    environment: dict
    labels: dict
    mounts: list = field(default_factory=list)
    mem_limit: Optional[str] = None
    max_cpus: Optional[float] = None
    pids_limit: Optional[int] = None
    privileged: bool = False
    user: Optional[str] = None
    run_as_image_user: bool = False  # the actor's use_container_uid: never a default user
    workdir: Optional[str] = None  # a host folder private to this execution
    gpus: list = field(default_factory=list)  # spawner.gpus.Gpu, whole devices for this execution
    # The image's entrypoint and command, replaced (Docker only): a warm container of the
    # exec form is kept alive by a command of its own (spawner/warm.py).
    entrypoint: Optional[list] = None
    command: Optional[list] = None
    # For a BatchRuntime, where the cluster assigns devices and places the job:
    gpu_count: int = 0
    queue: Optional[str] = None  # the actor's queue: the operator's placement rules for it
    hints: tuple = ()  # the actor's hints; a runtime reads only those it documents


@dataclass(frozen=True)
class Usage:
    """Cumulative resource use so far (each sample supersedes the last)."""

    cpu_ns: int
    io_bytes: int


class Handle(abc.ABC):
    """One started execution."""

    id: str
    labels: dict

    @abc.abstractmethod
    def wait(self, timeout: float) -> Optional[int]:
        """The exit code, or None if still running after ``timeout`` seconds."""

    @abc.abstractmethod
    def is_running(self) -> bool: ...

    @abc.abstractmethod
    def stream_logs(self) -> Iterator[bytes]:
        """stdout and stderr from the start, following until the execution ends."""

    @abc.abstractmethod
    def usage(self) -> Optional[Usage]:
        """A cumulative sample, or None when none can be had (e.g. already exited)."""

    def final_usage(self) -> Optional[Usage]:
        """The totals after exit, where the runtime knows them without asking again."""
        return None

    @abc.abstractmethod
    def kill(self) -> None: ...

    @abc.abstractmethod
    def final_state(self) -> dict:
        """Docker's ``State`` shape: Status, ExitCode, OOMKilled, Error, StartedAt, FinishedAt."""

    @abc.abstractmethod
    def remove(self) -> None:
        """Free everything the execution held; safe to call twice."""


class Runtime(abc.ABC):
    name: str

    @abc.abstractmethod
    def ensure_image(self, image: str) -> Optional[bool]:
        """Make the image usable here (pulling it once if missing) or raise ImageUnavailable;
        True when it had to be pulled just now."""

    @abc.abstractmethod
    def start(self, spec: RunSpec) -> Handle:
        """Create and start; raise StartFailed with a reason a user can act on."""

    @abc.abstractmethod
    def labelled(self, spawner: str) -> list:
        """Handles of every execution this spawner started and has not removed."""

    def image_identity(self, image: str, handle: Handle) -> dict:
        """What ``handle`` actually runs, for the execution's provenance:
        ``{"image_id": ..., "image_digest": ...}``, or {} when the runtime cannot tell."""
        return {}


# -- executions handed to a cluster scheduler -------------------------------------
class JobPhase(str, enum.Enum):
    PENDING = "PENDING"  # queued in the cluster: the execution is still SUBMITTED
    RUNNING = "RUNNING"
    ENDED = "ENDED"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class JobStatus:
    """One job as the scheduler reports it now."""

    name: str  # the execution id the job is named after
    job_id: str
    state: str  # the scheduler's own word: PENDING, RUNNING, COMPLETED, OUT_OF_MEMORY, ...
    phase: JobPhase
    reason: str = ""  # why it waits (Resources, Priority, ...) or why it ended
    nodes: str = ""
    partition: str = ""
    started_at: Optional[float] = None  # seconds since the epoch, once it started
    finished_at: Optional[float] = None


@dataclass
class JobOutcome:
    """How an ended job ended, in the shape an execution records."""

    final_state: dict  # Docker's State shape
    exit_code: Optional[int]  # None: the job never ran
    usage: Optional[Usage] = None
    max_rss: Optional[int] = None  # bytes
    error: str = ""  # set: the execution ends in ERROR with this reason (node failure, ...)
    gpus: list = field(default_factory=list)  # what the cluster assigned: [{"index": n}, ...]
    settled: bool = True  # False: accounting is not complete yet; ask again a little later


class BatchRuntime(Runtime):
    """Executions as jobs of a cluster scheduler.

    ``submit`` returns as soon as the scheduler has the job; everything after
    that is answered for many jobs at once, so one spawner can follow
    thousands: ``statuses`` (one scheduler call), ``outcomes`` of those that
    ended (one accounting call), ``cancel`` (one call). A job is named after
    its execution, which is how a restarted spawner finds its jobs again.
    Output and results travel through the execution's folder (``spec.workdir``),
    which the spawner and the cluster's nodes share.
    """

    detached = True
    poll_interval: float = 1.0

    @abc.abstractmethod
    def submit(self, spec: RunSpec) -> str:
        """Hand the execution to the scheduler; its job id. StartFailed with the reason."""

    @abc.abstractmethod
    def statuses(self, jobs: dict) -> dict:
        """{name: JobStatus} for ``jobs`` ({name: job id, or None where the id is not known
        yet}); a name the scheduler has no job for is left out."""

    @abc.abstractmethod
    def outcomes(self, ended: Sequence[JobStatus], workdirs: dict) -> dict:
        """{name: JobOutcome} for ended jobs (``workdirs``: name -> execution folder)."""

    @abc.abstractmethod
    def cancel(self, job_ids: Sequence[str]) -> None:
        """Stop these jobs, queued or running (force-quit)."""

    @abc.abstractmethod
    def read_output(self, workdir: str, offset: int) -> bytes:
        """The job's stdout and stderr from ``offset`` on (b"" when nothing new)."""

    @abc.abstractmethod
    def take_results(self, workdir: str) -> list:
        """Results the job sent since the last call, oldest first; each is taken once."""

    def exited(self, workdir: str) -> bool:
        """A cheap local sign that the job's actor has ended, before the scheduler says so:
        the follower then asks the scheduler at once rather than at its next poll."""
        return False

    def started(self, workdir: str) -> Optional[float]:
        """When the actor started (seconds since the epoch), as the job itself recorded it."""
        return None

    def start(self, spec: RunSpec) -> Handle:
        raise StartFailed(f"the {self.name} runtime submits jobs (submit()); nothing is "
                          "started and watched on the spawner's host")

    def labelled(self, spawner: str) -> list:
        return []  # jobs are found again by name through statuses()


def detached(runtime) -> bool:
    """Its executions run elsewhere (a cluster) and are followed in batches (spawner/batch.py)."""
    return isinstance(runtime, BatchRuntime)
