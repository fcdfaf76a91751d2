"""The exec form of a warm actor on Docker: the image's command run in a kept container.

As ``docker exec`` does: one exec per message, with that message's environment, as the
container's user, in the image's working folder; its output is the execution's log and its
exit code the execution's. Force-quit kills the exec's processes from the host (their host
pids, found from the exec's pid through /proc), so other executions in the container go on;
where that is not allowed (the spawner is not root) the container is killed, and every
execution in it ends in ERROR saying so (docs/warm.md).

CPU and I/O: the container's own cgroup counters, before and after, when the execution had
the container to itself (``concurrency: 1``); otherwise the exec's process tree as sampled
from /proc while it ran (a lower bound: the last moments of a process are not seen).
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from typing import Callable, Iterator, Optional

from docker.errors import DockerException, NotFound

from . import procfs
from .base import Usage
from .streamed import StreamedExecution

log = logging.getLogger(__name__)


def create_exec(client, container_id: str, argv: list, environment: dict,
                workdir: Optional[str]) -> str:
    """The exec's id; raises docker's NotFound or APIError (409) if the container is not
    running, which is how warm.py learns that a kept container died while idle."""
    return client.api.exec_create(container_id, argv, stdout=True, stderr=True,
                                  environment=environment, workdir=workdir)["Id"]


class DockerExec(StreamedExecution):
    def __init__(self, client, container, exec_id: str, labels: dict,
                 kill_container: Callable[[], None],
                 container_usage: Optional[Callable[[], Optional[Usage]]] = None,
                 alone: bool = False):
        super().__init__(labels)
        self.client = client
        self.container = container
        self.exec_id = exec_id
        self.pid: Optional[int] = None
        self._kill_container = kill_container
        self._container_usage = container_usage
        self._alone = alone
        self._before = container_usage() if (alone and container_usage) else None
        self._usage: Optional[Usage] = None
        self.killed_container = False
        self._killed_by_us = False

    def _call(self) -> Iterator[bytes]:
        api = self.client.api
        for chunk in api.exec_start(self.exec_id, stream=True, demux=False):
            yield chunk
        code = api.exec_inspect(self.exec_id).get("ExitCode")
        return int(code) if code is not None else -1

    def _lost(self) -> Optional[str]:
        """A SIGKILLed exec that we did not kill may have died with its container, which
        Docker may still show running for a moment (longer on a loaded host): looked at
        for up to 3 s."""
        looks = 1 if self._killed_by_us or self.exit_code not in (None, -1, 137) else 60
        for look in range(looks):
            try:
                self.container.reload()
            except NotFound:
                return "the warm container was removed"
            state = self.container.attrs.get("State", {})
            if not state.get("Running"):
                break
            if look + 1 < looks:
                time.sleep(0.05)
        else:
            return None
        if self.killed_container:
            return "the warm container was killed to force-quit this execution"
        oom = " (out of memory)" if state.get("OOMKilled") else ""
        return f"the warm container exited with code {state.get('ExitCode')}{oom}"

    def usage(self) -> Optional[Usage]:
        """Sampled from /proc (not when the container's cgroup counts it alone), from the
        exec's second second on: a short exec costs no extra request to Docker."""
        if self._exited.is_set():
            return self.final_usage()
        if self._before is not None or time.time_ns() - self.started_ns < 1_000_000_000:
            return self._usage
        if self.pid is None:
            with contextlib.suppress(DockerException):
                self.pid = self.client.api.exec_inspect(self.exec_id).get("Pid") or None
        if self.pid:
            members = procfs.descendants(self.pid)
            stats = [s for s in map(procfs.read_stat, members) if s is not None]
            if stats:
                sample = Usage(cpu_ns=sum(s.cpu_ticks for s in stats) * 1_000_000_000
                               // procfs.CLOCK_TICKS,
                               io_bytes=sum(map(procfs.io_bytes, members)))
                if self._usage is None or sample.cpu_ns >= self._usage.cpu_ns:
                    self._usage = sample
        return self._usage

    def final_usage(self) -> Optional[Usage]:
        if self._before is not None and self._container_usage is not None:
            after = self._container_usage()
            if after is not None:
                return Usage(cpu_ns=max(after.cpu_ns - self._before.cpu_ns, 0),
                             io_bytes=max(after.io_bytes - self._before.io_bytes, 0))
        return self._usage

    def kill(self) -> None:
        """The exec's process tree, from the host; the container only if that is refused."""
        if self._exited.is_set():
            return
        self._killed_by_us = True
        if self.pid is None and self.exec_id is not None:
            try:
                self.pid = self.client.api.exec_inspect(self.exec_id).get("Pid") or None
            except DockerException:
                pass
        try:
            if self.pid is None:
                raise PermissionError("the exec's process is not known")
            for pid in procfs.descendants(self.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        except PermissionError as error:
            log.warning("could not kill exec %s (%s): killing its container", self.exec_id, error)
            self.killed_container = True
            self._kill_container()
            self.killed_how = "its warm container had to be killed"

