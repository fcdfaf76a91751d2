"""The status values and kinds shared by the API and the spawner: one enum for each."""
from __future__ import annotations

import enum


class ActorStatus(str, enum.Enum):
    SUBMITTED = "SUBMITTED"
    READY = "READY"
    ERROR = "ERROR"

    def __str__(self) -> str:
        return self.value


class ExecutionStatus(str, enum.Enum):
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    ERROR = "ERROR"

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        return self in (ExecutionStatus.COMPLETE, ExecutionStatus.ERROR)


class WorkerStatus(str, enum.Enum):
    """An actor's worker record (one per worker slot of the actor; docs/scheduling.md)."""

    READY = "READY"  # idle: the next execution of the actor may run here
    BUSY = "BUSY"  # running ``execution_id``
    SHUTDOWN_REQUESTED = "SHUTDOWN_REQUESTED"  # deleted while BUSY: goes when its execution ends

    def __str__(self) -> str:
        return self.value


class PermissionLevel(enum.IntEnum):
    """Abaco's permission levels; each implies the ones below it."""

    NONE = 0
    READ = 1
    EXECUTE = 2
    UPDATE = 3

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, text: str) -> "PermissionLevel":
        """A level from its name (any case); ValueError names the choices."""
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            raise ValueError(f"{text!r} is not a permission level: use one of "
                             f"{', '.join(level.name for level in cls)}.")


class ContentType(str, enum.Enum):
    """The three message kinds, spelled as ``_abaco_Content_Type`` spells them."""

    STR = "str"
    JSON = "application/json"
    BINARY = "application/octet-stream"

    def __str__(self) -> str:
        return self.value
