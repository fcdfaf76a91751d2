"""Slot processes die with their supervisor, whatever kills it.

A slot runs in a process group of its own (so a terminal's Ctrl-C reaches only the
supervisor), which also means a ``kill -9`` of the supervisor's group does not
reach it. Left alive, a slot would go on taking work with a dead spawner's
configuration and no heartbeat, and would follow the same executions as the
restarted spawner. So each slot:

* asks the kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``,
  Linux), then checks that the parent did not die before that took effect;
* watches its parent from a thread, once a second (any OS, and a second line of
  defence should the parent-death signal be lost);
* checks again before each job (:func:`orphaned`).

A container or process an orphaned slot was following stays running: the
restarted spawner re-attaches to it (reconcile.py), or another spawner settles
it once this host's heartbeat expires (takeover.py).
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL = 1.0

_parent_pid = None


def bind_to_parent(parent_pid: int) -> bool:
    """Make this process die with ``parent_pid``; True if the kernel will see to it."""
    global _parent_pid
    _parent_pid = parent_pid
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
        if not armed:
            log.warning("prctl(PR_SET_PDEATHSIG) is not available; relying on the parent check")
    if orphaned():  # the parent died before the signal was armed
        _die()
    threading.Thread(target=_watch, name="lifeline", daemon=True).start()
    return armed


def orphaned() -> bool:
    """The supervisor that started this process is gone."""
    return _parent_pid is not None and os.getppid() != _parent_pid


def exit_if_orphaned() -> None:
    if orphaned():
        _die()


def _watch() -> None:
    while True:
        time.sleep(WATCH_INTERVAL)
        exit_if_orphaned()


def _die() -> None:
    # As the parent-death signal would: no clean-up that could touch a container or
    # a record the restarted spawner is about to take over.
    os.kill(os.getpid(), signal.SIGKILL)
