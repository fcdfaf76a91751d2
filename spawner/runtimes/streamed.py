"""A handle for an execution inside a kept container: its output arrives on a stream.

Both warm forms (a command run in the container, docker-exec style, and a message handed
to a handler over its socket) are one call whose output is read until the call ends with an
exit code. The reading is done by whoever iterates :meth:`stream_logs` (the runner's log
pump), so a warm execution starts no thread of its own. :class:`StreamedExecution` turns that into the
:class:`~spawner.runtimes.base.Handle` the runner follows, so a warm execution ends through
the same ``finish()`` and ``release()`` as a cold one. Subclasses say how to start the call
(:meth:`_call`, yielding output and returning the exit code), how to stop it (:meth:`kill`)
and what it used (:meth:`usage`).

``container_lost`` says the kept container (or process) died under the call: the runner
then ends the execution in ERROR (docs/warm.md).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Iterator, Optional

from .base import Handle, Usage

log = logging.getLogger(__name__)

NEVER = "0001-01-01T00:00:00Z"


class StreamedExecution(Handle):
    killed_how = "the execution's processes were killed; its container goes on"

    def __init__(self, labels: dict):
        self.id = labels.get("actors.execution", "")
        self.labels = labels
        self.container_lost: Optional[str] = None  # why the kept container is gone
        self.exit_code: Optional[int] = None
        self.started_ns = time.time_ns()
        self.finished_ns: Optional[int] = None
        self._exited = threading.Event()
        self._streaming = threading.Lock()  # the call is read once, by one reader

    def begin(self) -> "StreamedExecution":
        return self

    # -- what a subclass provides ------------------------------------------------
    def _call(self) -> Iterator[bytes]:
        """Start the call and yield its output; its ``return`` value is the exit code."""
        raise NotImplementedError

    def _lost(self) -> Optional[str]:
        """After the call ended: why the kept container is gone, or None if it is not."""
        return None

    # -- the Handle interface --------------------------------------------------
    def wait(self, timeout: float) -> Optional[int]:
        return self.exit_code if self._exited.wait(timeout) else None

    def is_running(self) -> bool:
        return not self._exited.is_set()

    def stream_logs(self) -> Iterator[bytes]:
        """The call's output as it comes; the call ends when this does."""
        if not self._streaming.acquire(blocking=False):
            self._exited.wait()
            return
        code = None
        try:
            calling = self._call()
            while True:
                try:
                    chunk = next(calling)
                except StopIteration as stop:
                    code = stop.value
                    break
                yield chunk
        except Exception as error:  # noqa: BLE001 - said in the record, never left hanging
            log.info("warm call of %s broke off: %s", self.id, error)
            self.container_lost = self.container_lost or f"the call broke off: {error}"
        finally:
            self._end(code)

    def _end(self, code: Optional[int], look: bool = True) -> None:
        self.exit_code = code if code is not None else -1
        if look and self.container_lost is None and code != 0:  # a dead container ends its calls
            self.container_lost = self._safely_lost()
        self.finished_ns = time.time_ns()
        self._exited.set()

    def final_state(self) -> dict:
        running = not self._exited.is_set()
        return {"Status": "running" if running else "exited", "Running": running,
                "Paused": False, "Restarting": False, "OOMKilled": False, "Dead": False,
                "Pid": 0, "ExitCode": self.exit_code or 0,
                "Error": self.container_lost or "", "Warm": True,
                "StartedAt": _docker_time(self.started_ns),
                "FinishedAt": NEVER if running else _docker_time(self.finished_ns)}

    def remove(self) -> None:
        """The call's processes go if still there; the kept container stays (warm.py)."""
        if self._exited.is_set():
            return
        if self._streaming.acquire(blocking=False):  # never read: it never ran its course
            self._abandon()
            self._end(-1, look=False)
            return
        self.kill()
        self._exited.wait(5)

    def _abandon(self) -> None:
        """Let go of a call nobody read (a start that failed after it was made)."""

    def _safely_lost(self) -> Optional[str]:
        try:
            return self._lost()
        except Exception as error:  # noqa: BLE001
            return f"its state could not be read: {error}"


def _docker_time(ns: Optional[int]) -> str:
    if ns is None:
        return NEVER
    seconds, fraction = divmod(int(ns), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


__all__ = ["StreamedExecution", "Usage"]
