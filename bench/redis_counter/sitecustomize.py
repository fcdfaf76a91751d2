"""Counts Redis round trips in every platform process a benchmark starts (bench/common.py).

Put on ``PYTHONPATH`` with ``ACTORS_BENCH_REDIS_COUNTS=<folder>`` set, Python imports it at
start-up. It wraps redis-py's ``send_packed_command``, which runs once per round trip: once
for a command, once for a whole pipeline or MULTI/EXEC (its commands go in one write), once
for a script call (plus a SCRIPT EXISTS round trip for pipelines that hold scripts, which
redis-py sends first and which is counted too). Each process keeps its count in an 8-byte
file, ``<folder>/<pid>.count``, written through a memory map: no system call per count, and
the benchmark reads every process's count whenever it likes. Nothing happens without the
variable, and the platform's own code never imports this.
"""
import os

_FOLDER = os.environ.get("ACTORS_BENCH_REDIS_COUNTS")

if _FOLDER:
    import mmap
    import struct
    import threading

    def _install() -> None:
        from redis import connection

        original = connection.AbstractConnection.send_packed_command
        lock = threading.Lock()
        state = {"pid": None, "map": None}

        def counter():
            pid = os.getpid()
            if state["pid"] != pid:  # first count here (or in a forked child)
                path = os.path.join(_FOLDER, f"{pid}.count")
                with open(path, "wb") as stream:
                    stream.write(b"\0" * 8)
                descriptor = os.open(path, os.O_RDWR)
                state["map"] = mmap.mmap(descriptor, 8)
                os.close(descriptor)
                state["pid"] = pid
            return state["map"]

        def counted(self, command, check_health=True):
            with lock:
                counts = counter()
                struct.pack_into("Q", counts, 0, struct.unpack_from("Q", counts)[0] + 1)
            return original(self, command, check_health)

        connection.AbstractConnection.send_packed_command = counted

    try:
        _install()
    except ImportError:  # a process without redis-py: nothing to count
        pass
