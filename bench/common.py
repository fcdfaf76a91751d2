"""What every benchmark here shares: the machine's load, spreads, CPU from /proc, Redis counts.

A benchmark on a shared machine is only as good as its interleaving: every
script in bench/ takes turns between ours and the baseline (blocks in swapped
order, A B B A ...), measures the same end points on both sides, repeats, and
prints the spread of each figure and the load average beside each ratio.
"""
from __future__ import annotations

import os
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Sequence

import requests

REPO = Path(__file__).resolve().parents[1]
COUNTER_PATH = Path(__file__).resolve().parent / "redis_counter"
TICK = os.sysconf("SC_CLK_TCK")


# -- the machine ------------------------------------------------------------------------------
def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}/{fifteen:.1f} on {os.cpu_count()} CPUs"


def spread(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    """``median (min-max, n)``: the figure and how far it moved between repeats."""
    values = list(values)
    if not values:
        return "-"
    return (f"{fmt.format(statistics.median(values))} "
            f"({fmt.format(min(values))}-{fmt.format(max(values))}, n={len(values)})")


def interleaved(rounds: int, sides: Sequence) -> Iterable[tuple]:
    """``(round, side)`` in A B, B A, A B ... order: drift in load falls on both sides."""
    for number in range(rounds):
        for side in (sides if number % 2 == 0 else tuple(reversed(sides))):
            yield number, side


# -- CPU of processes, from /proc -------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """utime + stime of the process's own threads, living and exited (not its reaped
    children: an actor's own CPU is not the platform's)."""
    try:
        with open(f"/proc/{pid}/stat") as stream:
            fields = stream.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


class CpuMeter:
    """Platform CPU: the sum over named process groups (e.g. the API, the spawner, Redis)."""

    def __init__(self, groups: dict):
        self.groups = groups  # name -> callable returning pids

    def sample(self) -> dict:
        return {name: sum(cpu_seconds(pid) for pid in pids()) for name, pids in self.groups.items()}

    @staticmethod
    def delta(before: dict, after: dict) -> dict:
        return {name: after[name] - before[name] for name in before}


# -- Redis round trips (bench/redis_counter/sitecustomize.py) -------------------------------
def counting_environment(environment: dict, folder: Path) -> dict:
    """The environment that makes every Python process it starts count its round trips."""
    folder.mkdir(parents=True, exist_ok=True)
    return dict(environment, ACTORS_BENCH_REDIS_COUNTS=str(folder),
                PYTHONPATH=os.pathsep.join([str(COUNTER_PATH), str(REPO),
                                            environment.get("PYTHONPATH", "")]))


def round_trips(folder: Path, pids: Iterable[int] = None) -> int:
    """The round trips counted so far by the processes (all when ``pids`` is None)."""
    wanted = None if pids is None else {str(p) for p in pids}
    total = 0
    for path in Path(folder).glob("*.count"):
        if wanted is not None and path.stem not in wanted:
            continue
        try:
            total += struct.unpack("Q", path.read_bytes()[:8])[0]
        except (OSError, struct.error):
            pass
    return total


def redis_commands(client) -> int:
    """Commands the server ran, those inside scripts included (INFO commandstats)."""
    stats = client.info("commandstats")
    return sum(int(entry["calls"]) for name, entry in stats.items()
               if name not in ("cmdstat_info",))


# -- the API as in production ---------------------------------------------------------------
def start_gunicorn(environment: dict, workdir: Path, workers: int = 1, threads: int = 16):
    """``gunicorn -w N -k gthread --threads T "actors_api:create_app()"``; (process, url)."""
    from tests.integration.platform import free_port

    port = free_port()
    log = open(workdir / "gunicorn.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:actors_api.gunicorn_config",
         "-k", "gthread", "--threads", str(threads), "-w", str(workers),
         "-b", f"127.0.0.1:{port}", "actors_api:create_app()"],
        env=environment, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(url + "/actors", timeout=5)
            return process, url
        except requests.RequestException:  # not listening yet, or still importing the app
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"gunicorn did not start; see {workdir / 'gunicorn.log'}")
            time.sleep(0.2)
