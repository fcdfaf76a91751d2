"""Warm actors: kept containers (or processes) serve the executions (docs/warm.md).

A warm actor's worker n (its lease, as for any actor) uses container
``scheduling.warm_container_of(actor, n)``: ``concurrency`` workers share one container,
so the leases that bound the executions also bound the containers to ``max_workers`` per
spawner. Each container has a **place** on this host, a folder mounted at ``/_abaco_warm``
in it, which holds what is kept there and for which version of the actor, the locks that keep the idle
reaper away from a container in use, and one folder per execution (warm_place.py). The
containers themselves are started, replaced and removed by the pool (warm_pool.py).

:class:`WarmRun` is an :class:`~spawner.runner.ExecutionRun` whose ``_launch`` uses the
place instead of a new container, so it ends through the same ``finish()`` and
``release()``. Two forms: ``exec`` runs the image's command in the kept container per
message (``docker exec``; in the process runtime, a process per message sharing the place's
home folder), ``handler`` hands the message to ``runtime_sdk.serve(handler)`` in the kept
container over its socket (warm_channel.py).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from actors_core.enums import ExecutionStatus

from .runner import ExecutionRun, _runtime_seconds
from .runtimes import Handle, RunSpec
from .warm_place import fingerprint
from .warm_pool import pool_of


class WarmRun(ExecutionRun):
    """An execution of a warm actor: the same life and end as any other (runner.py), in a
    kept container."""

    @staticmethod
    def serves(actor: dict) -> bool:
        """GPU actors stay cold: their devices are given per execution."""
        return actor.get("gpus") in (None, 0, "0")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pool = pool_of(self.spawner)
        self.place = self.pool.place(self.actor, self.worker_number)

    @property
    def workdir(self) -> Path:
        return self.place.dir / self.execution_id

    def idle_seconds(self) -> int:
        return int(self.actor.get("warm_idle_seconds") or self.config.warm_idle_seconds)

    def _ensure_image(self):
        """A kept container of this version of the actor runs the image: it is here."""
        record = self.place.record()
        if record is not None and record.get("fingerprint") == fingerprint(self.actor):
            return False
        return super()._ensure_image()

    def _results_mounts(self) -> list:
        """The handler form sends results over its channel: no socket of their own."""
        if (self.actor.get("warm_form") or "exec") == "handler":
            return []
        return super()._results_mounts()

    def _launch(self, spec: RunSpec) -> Handle:
        self.place.enter()
        try:
            return self.pool.launch(self, spec)
        except BaseException:
            self.place.leave()
            raise

    def _cleanup(self) -> None:
        try:
            super()._cleanup()
        finally:
            self.place.leave()

    def _remove_workdir(self) -> None:
        """Renamed away now, removed by the pool's reaper thread: removing a folder inside
        a running container's mount waits on the kernel (about a millisecond per folder)."""
        try:
            os.rename(self.workdir, self.place.dir / f".done-{self.execution_id}")
        except OSError:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _collect(self, exit_code: int) -> None:
        """As any run's, except when the kept container died under the execution: then
        ERROR, saying so (and why, when another execution's force-quit killed it)."""
        lost = getattr(self.handle, "container_lost", None)
        if not lost or (self.killed and getattr(self.handle, "killed_container", False)):
            super()._collect(exit_code)
            return
        self._log_thread.join(timeout=10)
        self.logs.flush()
        self.usage = self.handle.final_usage() or self.usage
        self._stop_results()
        final_state = self.handle.final_state()
        fields = dict(final_state=final_state, runtime=_runtime_seconds(final_state))
        if self.usage is not None:
            fields.update(cpu=self.usage.cpu_ns, io=self.usage.io_bytes)
        killed_for = self.place.killed_for()
        if killed_for and killed_for != self.execution_id:
            lost = f"the warm container was killed to force-quit execution {killed_for}"
        self._remove_handle()
        self.finish(ExecutionStatus.ERROR, f"The warm container serving this execution is "
                    f"gone: {lost}.", exit_code, **fields)
