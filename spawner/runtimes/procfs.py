"""Reading Linux's /proc: a process's state, session, CPU and I/O counters, and ending a
session. The process runtime (process.py) watches executions that may not be its own
children (after a restart) with these; nothing here knows about executions.
"""
from __future__ import annotations

import os
import signal
import time
from typing import NamedTuple, Optional

SETTLE = 2.0  # seconds to wait for killed processes to be gone
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Stat(NamedTuple):
    state: str
    session: int
    threads: int
    cpu_ticks: int  # utime + stime + cutime + cstime: itself and its reaped children
    start: int  # clock ticks after boot: with the pid, names one process for good


def _stat_fields(pid) -> Optional[list]:
    """The fields after the command name (which may hold spaces and parentheses)."""
    try:
        descriptor = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(descriptor, 4096)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    return data[data.rindex(b")") + 2:].split()


def read_stat(pid: int) -> Optional[Stat]:
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return Stat(state=fields[0].decode("ascii", "replace"), session=int(fields[3]),
                threads=int(fields[17]), cpu_ticks=sum(int(f) for f in fields[11:15]),
                start=int(fields[19]))


def pids() -> list:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def session_members(sid: int) -> list:
    """Processes in session ``sid`` other than its leader (zombies included). One pass over
    /proc's pids asking each its session (``getsid``, one system call, no file read), so
    it stays well under a millisecond on a host with hundreds of processes."""
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == sid:
            continue
        try:
            if os.getsid(pid) == sid:
                members.append(pid)
        except OSError:  # gone since the listing (or not ours to ask)
            continue
    return members


def io_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/io") as stream:
            counters = dict(line.split(":", 1) for line in stream if ":" in line)
    except OSError:
        return 0
    return int(counters.get("read_bytes", 0)) + int(counters.get("write_bytes", 0))


def tasks_of(uid: int) -> int:
    """Processes and threads the user runs now: what RLIMIT_NPROC is counted against."""
    total = 0
    for pid in pids():
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
        except OSError:
            continue
        stat = read_stat(pid)
        total += stat.threads if stat else 0
    return total


def end_session(sid: int, start_ticks: Optional[int], members: Optional[list] = None) -> None:
    """SIGKILL what is left in the session ``sid``, then wait a little for it to be gone.

    Only while ``sid`` still names our leader (alive or a zombie) or no process
    at all: a new session can only take that id if a new process got the pid.
    ``members``: :func:`session_members` if the caller has just looked.
    """
    leader = read_stat(sid)
    if leader is not None and leader.start != start_ticks:
        return
    living = [pid for pid in (session_members(sid) if members is None else members)
              if alive(pid)]
    for pid in living:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + SETTLE
    while living and time.monotonic() < deadline:
        time.sleep(0.02)
        living = [pid for pid in living if alive(pid)]


def alive(pid: int) -> bool:
    stat = read_stat(pid)
    return stat is not None and stat.state not in "ZX"
