"""A container's true CPU and block I/O totals, however short its life, from its cgroup.

Docker's stats API samples a running container; one that lives a few milliseconds is gone
before the first sample, and its cgroup (where the kernel counted everything) is removed
when it exits. So each container is started under a parent cgroup of its own
(``--cgroup-parent /actors/<token>``): the kernel charges CPU time to every ancestor as it
is used, and a parent outlives its child, so after the exit the parent holds the child's
final totals. The spawner reads them, then removes the parent.

This needs Docker's ``cgroupfs`` driver and the host's cgroup tree visible and writable
here (a spawner on the host as root). Where it is not (the systemd driver, a spawner in a
container with a read-only ``/sys/fs/cgroup``), :meth:`CgroupAccounting.detect` answers
None and the runtime falls back to sampling the stats API.
"""
from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Optional

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")
PARENT = "actors"  # every execution's parent cgroup is /actors/<token>


class CgroupAccounting:
    """Where a parent cgroup's counters are, for one cgroup version."""

    def __init__(self, version: int, root: Path = ROOT):
        self.version = version
        self.root = root

    @classmethod
    def detect(cls, docker_info: dict, root: Path = ROOT) -> Optional["CgroupAccounting"]:
        if str(docker_info.get("CgroupDriver", "")).lower() != "cgroupfs":
            return None
        version = str(docker_info.get("CgroupVersion") or "1")
        if version == "2":
            usable = (root / "cgroup.controllers").exists() and os.access(root, os.W_OK)
        else:
            usable = (root / "cpuacct" / "cpuacct.usage").exists() and os.access(root / "cpuacct", os.W_OK)
        return cls(int(version), root) if usable else None

    @staticmethod
    def new_parent() -> str:
        """A parent cgroup for one container, as Docker's ``cgroup_parent`` wants it."""
        return f"/{PARENT}/{secrets.token_hex(8)}"

    @staticmethod
    def is_ours(parent: Optional[str]) -> bool:
        return bool(parent) and parent.strip("/").split("/")[0] == PARENT and parent.count("/") == 2

    # -- reading ---------------------------------------------------------------
    def cpu_ns(self, parent: str) -> Optional[int]:
        """CPU nanoseconds used under ``parent`` (the exited container's included)."""
        try:
            if self.version == 2:
                for line in self._path(parent, "cpu.stat").read_text().splitlines():
                    name, _, value = line.partition(" ")
                    if name == "usage_usec":
                        return int(value) * 1000
                return None
            return int(self._path(parent, "cpuacct.usage", "cpuacct").read_text())
        except (OSError, ValueError):
            return None

    def block_io_bytes(self, parent: str) -> Optional[int]:
        """Bytes read from and written to block devices under ``parent``."""
        try:
            if self.version == 2:
                total = 0
                for line in self._path(parent, "io.stat").read_text().splitlines():
                    for field in line.split()[1:]:
                        name, _, value = field.partition("=")
                        if name in ("rbytes", "wbytes"):
                            total += int(value)
                return total
            text = self._path(parent, "blkio.throttle.io_service_bytes_recursive", "blkio").read_text()
        except (OSError, ValueError):
            return None
        total = 0
        for line in text.splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[1] in ("Read", "Write"):
                total += int(fields[2])
        return total

    # -- cleaning up --------------------------------------------------------------
    def remove(self, parent: str) -> None:
        """Remove the (empty, once its container is gone) parent in every hierarchy."""
        if not self.is_ours(parent):
            return
        relative = parent.strip("/")
        places = [self.root / relative] if self.version == 2 else \
            [hierarchy / relative for hierarchy in self.root.iterdir()]
        for place in places:
            try:
                place.rmdir()
            except FileNotFoundError:
                pass
            except OSError as error:
                log.debug("could not remove cgroup %s: %s", place, error)

    def _path(self, parent: str, name: str, controller: str = "") -> Path:
        relative = parent.strip("/")
        if self.version == 2 or not controller:
            return self.root / relative / name
        return self.root / controller / relative / name
