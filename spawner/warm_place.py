"""A warm container's place on the spawner's host: the folder it shares with the spawner.

Mounted at ``/_abaco_warm`` in a kept container (the process runtime passes its path), it
holds ``kept.json`` (what is kept there and for which version of the actor), the locks that
keep the idle reaper away from a container in use (``.use.lock``, shared by every execution
in it; ``.start.lock`` while it is checked, started or replaced), the handler's socket and
one folder per execution (results socket, outputs, binary message), given to the execution
by path since a running container's mounts cannot change. See warm.py.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Optional

UNIX_PATH_MAX = 107
DEEPEST = 80  # bytes a place's deepest socket adds below the root: /<actor>.<n>/<eid>/results.sock
MOUNT_POINT = "/_abaco_warm"


def warm_root(config, spawner_name: str) -> Path:
    """Where this spawner's places are: in its work folder, unless that is too deep for the
    Unix sockets in them (then a short folder of its own under the temporary folder)."""
    name = hashlib.sha1(spawner_name.encode()).hexdigest()[:8]
    root = Path(config.spawner_workdir) / "warm" / name
    if len(os.fsencode(str(root))) + DEEPEST <= UNIX_PATH_MAX:
        return root
    folder = hashlib.sha1(f"{config.spawner_workdir}|{spawner_name}".encode()).hexdigest()[:10]
    return Path("/tmp") / f"actors-warm-{folder}"


# What a kept container is made from: a PUT that changes one of these replaces it at the next
# message. (Everything else reaches each execution with its message: environment, token,
# configs, state.) Not last_update_time: an execution's outcome bumps it too.
CONTAINER_FIELDS = ("image", "revision", "warm_form", "mem_limit", "max_cpus", "privileged",
                    "use_container_uid")


def fingerprint(actor: dict) -> str:
    """The actor as its kept container was made for it."""
    return json.dumps([actor.get(name) for name in CONTAINER_FIELDS])


class Place:
    """One kept container's folder on this host (see the module's docstring)."""

    def __init__(self, root: Path, actor_id: str, number: int):
        self.key = f"{actor_id}.{number}"
        self.actor_id = actor_id
        self.dir = root / self.key
        self._use = None

    def make(self) -> None:
        """The container's user (any uid) writes its socket here: writable by all, but
        sticky (no one replaces another user's socket) below a root no one else can list."""
        self.dir.mkdir(parents=True, exist_ok=True)  # (the runner may have made it first)
        os.chmod(self.dir.parent, 0o711)
        os.chmod(self.dir, 0o1777)

    # -- locks --------------------------------------------------------------
    def enter(self) -> None:
        """Held (shared) while an execution uses the container."""
        self.make()
        self._use = open(self.dir / ".use.lock", "a+")
        fcntl.flock(self._use, fcntl.LOCK_SH)
        self.touch()

    def leave(self) -> None:
        if self._use is not None:
            self.touch()
            self._use.close()  # drops the lock
            self._use = None

    @contextlib.contextmanager
    def starting(self):
        with open(self.dir / ".start.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    @contextlib.contextmanager
    def idle(self):
        """Yields True when no execution uses the container (then none can start until the
        block ends), else False at once."""
        with open(self.dir / ".use.lock", "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True

    # -- what is kept --------------------------------------------------------------
    def record(self) -> Optional[dict]:
        try:
            return json.loads((self.dir / "kept.json").read_text())
        except (OSError, ValueError):
            return None

    def keep(self, record: dict) -> None:
        scratch = self.dir / f".kept.{os.getpid()}.{threading.get_ident()}"
        scratch.write_text(json.dumps(record))
        os.replace(scratch, self.dir / "kept.json")
        (self.dir / ".killed-for").unlink(missing_ok=True)

    def forget(self) -> None:
        (self.dir / "kept.json").unlink(missing_ok=True)

    def touch(self) -> None:
        (self.dir / ".last").touch()

    def idle_for(self) -> float:
        try:
            return time.time() - (self.dir / ".last").stat().st_mtime
        except OSError:
            return float("inf")

    def killed_for(self) -> Optional[str]:
        try:
            return (self.dir / ".killed-for").read_text() or None
        except OSError:
            return None

    def note_kill(self, execution_id: str) -> None:
        (self.dir / ".killed-for").write_text(execution_id)

    def path_inside(self, host_path: str) -> str:
        """Where ``host_path`` (in this place) is inside the container."""
        relative = Path(host_path).relative_to(self.dir)
        return f"{MOUNT_POINT}/{relative}"
