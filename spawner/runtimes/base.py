"""The one interface every runtime (Docker, plain processes) implements.

A runtime knows how to start an image with an environment and limits and how
to watch what it does; it knows nothing about actors, HTTP or Redis.
"""
from __future__ import annotations

import abc
from datetime import datetime
from dataclasses import dataclass, field
from typing import Iterator, Optional

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
