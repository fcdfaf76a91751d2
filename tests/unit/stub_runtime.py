"""A runtime that runs nothing: :class:`StubRuntime` implements spawner/runtimes/base.py
in memory, so an execution's whole life (ERROR, kill, GPU release, re-attach) is tested
without Docker, as Dramatiq's StubBroker tests a worker without a broker.

A handle exits when the test says so (:meth:`StubHandle.exit`), when it is killed, or at
once if the runtime was told an ``exit_code``; the test can also make images missing or
starts fail.
"""
from __future__ import annotations

import threading
from typing import Iterator, Optional

from spawner.runtimes.base import (LABEL_SPAWNER, Handle, ImageUnavailable, Runtime, RunSpec,
                                   StartFailed, Usage)

KILLED = 137  # what a container killed with SIGKILL exits with


class StubHandle(Handle):
    def __init__(self, spec: RunSpec, logs: tuple = (), exit_code: Optional[int] = None,
                 usage: Optional[Usage] = None):
        self.spec = spec
        self.id = f"stub-{spec.labels.get('actors.execution', '?')}"
        self.labels = dict(spec.labels)
        self.logs = list(logs)
        self.killed = self.removed = False
        self.exit_code: Optional[int] = None
        self._usage = usage
        self._exited = threading.Event()
        if exit_code is not None:
            self.exit(exit_code)

    def exit(self, code: int = 0) -> None:
        self.exit_code = code
        self._exited.set()

    # -- the interface ------------------------------------------------------
    def wait(self, timeout: float) -> Optional[int]:
        return self.exit_code if self._exited.wait(timeout) else None

    def is_running(self) -> bool:
        return not self._exited.is_set()

    def stream_logs(self) -> Iterator[bytes]:
        yield from self.logs
        self._exited.wait(30)

    def usage(self) -> Optional[Usage]:
        return None if self._exited.is_set() else self._usage

    def final_usage(self) -> Optional[Usage]:
        return self._usage

    def kill(self) -> None:
        self.killed = True
        self.exit(KILLED)

    def final_state(self) -> dict:
        return {"Status": "exited", "ExitCode": self.exit_code, "OOMKilled": False, "Error": "",
                "StartedAt": "2026-01-01T00:00:00.000000000Z",
                "FinishedAt": "2026-01-01T00:00:02.500000000Z"}

    def remove(self) -> None:
        self.removed = True


class StubRuntime(Runtime):
    name = "stub"

    def __init__(self, exit_code: Optional[int] = 0, logs: tuple = (b"ran\n",),
                 usage: Optional[Usage] = Usage(cpu_ns=5_000_000, io_bytes=42)):
        self.exit_code, self.logs, self.usage = exit_code, tuple(logs), usage
        self.missing_images: set = set()
        self.start_error: Optional[str] = None
        self.started: list = []  # every StubHandle, in start order
        self.leftovers: list = []  # handles labelled() returns, as a restarted spawner finds them

    def ensure_image(self, image: str) -> None:
        if image in self.missing_images:
            raise ImageUnavailable(f"Image {image!r} is not available here.")

    def start(self, spec: RunSpec) -> StubHandle:
        if self.start_error:
            raise StartFailed(self.start_error)
        handle = StubHandle(spec, self.logs, self.exit_code, self.usage)
        self.started.append(handle)
        return handle

    def labelled(self, spawner: str) -> list:
        return [h for h in self.leftovers + self.started
                if h.labels.get(LABEL_SPAWNER) == spawner and not h.removed]
