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


def read_stat(pid: int) -> Optional[Stat]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            text = stream.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces
    return Stat(state=fields[0], session=int(fields[3]), threads=int(fields[17]),
                 cpu_ticks=sum(int(f) for f in fields[11:15]), start=int(fields[19]))


def pids() -> list:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def session_members(sid: int) -> list:
    """Processes in session ``sid`` other than its leader (zombies included)."""
    members = []
    for pid in pids():
        stat = read_stat(pid) if pid != sid else None
        if stat is not None and stat.session == sid:
            members.append(pid)
    return members


def descendants(root: int) -> list:
    """``root`` and every process below it (by parent pid), ``root`` first."""
    children: dict = {}
    for pid in pids():
        try:
            with open(f"/proc/{pid}/stat", "rb") as stream:
                text = stream.read().decode("ascii", "replace")
        except OSError:
            continue
        parent = int(text[text.rindex(")") + 2:].split()[1])
        children.setdefault(parent, []).append(pid)
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, ()))
    return found


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


def end_session(sid: int, start_ticks: Optional[int]) -> None:
    """SIGKILL what is left in the session ``sid``, then wait a little for it to be gone.

    Only while ``sid`` still names our leader (alive or a zombie) or no process
    at all: a new session can only take that id if a new process got the pid.
    """
    leader = read_stat(sid)
    if leader is not None and leader.start != start_ticks:
        return
    living = [pid for pid in session_members(sid) if alive(pid)]
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
