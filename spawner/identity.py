"""A spawner's name: its default, and holding it so that no two live spawners share one.

The name labels every container a spawner starts and keys its set of running
executions, so a spawner restarted under the same name re-attaches to what it
left running (reconcile.py). Two live spawners with one name would each take the
other's fresh executions for leftovers, so a spawner refuses to start (exit 1,
saying who holds the name) while:

* a spawner with that name runs on this host with the same work folder: it holds
  the lock file ``<work folder>/.spawners/<name>.lock`` (the kernel drops the lock
  when its holder dies, whatever kills it);
* slot processes of an earlier spawner with that name are still alive (they hold
  ``<name>.slots.lock`` shared; they die with their supervisor, lifeline.py, so
  this waits a few seconds for them first);
* the name's registration in Redis is live and was written by another instance
  on another host, or from another work folder. A registration from this host
  and work folder belongs to a dead predecessor (we hold the lock), so a restart
  right after ``kill -9`` re-attaches at once instead of waiting for the
  heartbeat to expire.

Default name (``--name`` and ``ACTORS_SPAWNER_NAME`` override it): the hostname for
a spawner serving only the ``default`` queue (as before), else
``<hostname>-<queue>+<queue>...`` over every queue it serves (GPU twins included).
So one spawner per set of queues per host needs no ``--name``, and a restart with
the same options finds its leftovers; a second spawner with the same queues on
the same host is refused and needs a ``--name`` of its own.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import socket
import time
import uuid
from pathlib import Path
from typing import Optional, Sequence

SLOT_WAIT_SECONDS = 15.0  # how long a start waits for an earlier run's slots to die
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]")


class NameTaken(Exception):
    """Another live spawner holds this name; the message says which and what to do."""


def default_name(queues: Sequence[str], hostname: Optional[str] = None) -> str:
    host = hostname or socket.gethostname()
    served = list(queues)
    return host if served == ["default"] else f"{host}-{'+'.join(served)}"


def _file_name(name: str) -> str:
    safe = _UNSAFE.sub("_", name)[:64]
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


class NameClaim:
    """This spawner's hold on its name, from :meth:`acquire` until the process ends."""

    def __init__(self, name: str, workdir: str):
        self.name = name
        self.workdir = str(Path(workdir).resolve())
        self.instance = uuid.uuid4().hex
        self.hostname = socket.gethostname()
        folder = Path(workdir) / ".spawners"
        self.lock_path = folder / f"{_file_name(name)}.lock"
        self.slots_lock_path = folder / f"{_file_name(name)}.slots.lock"
        self._lock = None

    def fields(self) -> dict:
        """What the name's registration says about who holds it."""
        return {"instance": self.instance, "hostname": self.hostname, "workdir": self.workdir,
                "pid": os.getpid()}

    def acquire(self, hosts, record: dict, ttl: float) -> None:
        """Hold the name or raise :class:`NameTaken`. ``hosts``: the HostStore."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(self.lock_path, "a+")  # not inherited by children (PEP 446)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            lock.close()
            raise NameTaken(
                f"a spawner named {self.name!r} is already running on this host (pid {holder}, "
                f"work folder {self.workdir}); stop it first, or give this one another --name")
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            self._wait_for_earlier_slots()
            holder = hosts.claim(self.name, dict(record, **self.fields()), ttl)
        except BaseException:
            lock.close()
            raise
        if holder is not None:
            lock.close()
            raise NameTaken(
                f"spawner {self.name!r} is alive on host {holder.get('hostname')!r} (work folder "
                f"{holder.get('workdir')}, pid {holder.get('pid')}, last heartbeat "
                f"{holder.get('last_heartbeat')}); two spawners with one name would take each "
                f"other's executions for leftovers. Give this one another --name, or stop that "
                f"one (its name is free {ttl:g} s after its last heartbeat)")
        self._lock = lock

    def _wait_for_earlier_slots(self) -> None:
        with open(self.slots_lock_path, "a+") as slots:
            deadline = time.monotonic() + SLOT_WAIT_SECONDS
            while True:
                try:
                    fcntl.flock(slots, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(slots, fcntl.LOCK_UN)
                    return
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise NameTaken(
                            f"slot processes of an earlier spawner named {self.name!r} are still "
                            f"running on this host (they hold {self.slots_lock_path}); stop them "
                            "first")
                    time.sleep(0.2)

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def hold_as_slot(slots_lock_path: str):
    """In a slot process: say "a slot of this name is alive" for as long as it lives."""
    handle = open(slots_lock_path, "a+")
    fcntl.flock(handle, fcntl.LOCK_SH)
    return handle
