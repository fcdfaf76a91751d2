"""The handler form's execution channel, the spawner's end (``runtime_sdk/serve.py`` is the
other): one Unix stream connection per execution to the handler's socket in the kept
container.

Frames are one kind byte, a 4-byte big-endian length and the payload: we send ``v`` (the
message's variables, JSON) and maybe later ``k`` alone (force-quit); the handler sends
``o`` (output), ``r`` (one result, as ``send_bytes_result`` gave it) and one ``x`` (JSON
``{"exit_code", "cpu_ns", "io_bytes"}``). The SDK keeps
its own copy of these constants (it imports nothing of the platform);
tests/unit/test_warm.py checks that the two ends agree by running them together.
"""
from __future__ import annotations

import json
import socket
import struct
import threading
from typing import Callable, Iterator, Optional

from .results import MAX_RESULT_BYTES
from .runtimes.base import Usage
from .runtimes.streamed import StreamedExecution

HEADER = struct.Struct(">cI")
VARIABLES, KILL, OUTPUT, RESULT, EXIT = b"v", b"k", b"o", b"r", b"x"
CONNECT_TIMEOUT = 10.0  # seconds; a handler that does not even accept is not serving
KILL_GRACE = 10.0  # seconds a handler gets to stop after a force-quit before its container goes


def connect(socket_path: str) -> socket.socket:
    """A connection to the handler; OSError if nothing serves there (it died while idle)."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.settimeout(CONNECT_TIMEOUT)
        connection.connect(socket_path)
        connection.settimeout(None)
    except OSError:
        connection.close()
        raise
    return connection


class HandlerCall(StreamedExecution):
    killed_how = "the handler was interrupted; its container goes on"

    def __init__(self, connection: socket.socket, environment: dict, labels: dict,
                 server_gone: Callable[[], Optional[str]],
                 kill_server: Callable[[], None],
                 on_result: Callable[[bytes], None] = lambda result: None,
                 on_rejected: Callable[[int], None] = lambda size: None):
        super().__init__(labels)
        self.environment = environment
        self._server_gone = server_gone
        self._kill_server = kill_server
        self._on_result = on_result
        self._on_rejected = on_rejected
        self._connection = connection
        self._usage: Optional[Usage] = None
        self._send_lock = threading.Lock()
        self.killed_container = False

    def _call(self) -> Iterator[bytes]:
        connection = self._connection
        try:
            payload = json.dumps(self.environment).encode()
            with self._send_lock:
                connection.sendall(HEADER.pack(VARIABLES, len(payload)) + payload)
            reader = connection.makefile("rb")
            while True:
                header = reader.read(HEADER.size)
                if len(header) < HEADER.size:
                    return None  # hung up without an end: the server died (see _lost)
                kind, size = HEADER.unpack(header)
                body = reader.read(size)
                if kind == OUTPUT:
                    yield body
                elif kind == RESULT and len(body) > MAX_RESULT_BYTES:
                    self._on_rejected(len(body))  # as the results socket drops one
                elif kind == RESULT:
                    self._on_result(body)  # stored before the end frame is read
                elif kind == EXIT:
                    end = json.loads(body)
                    self._usage = Usage(cpu_ns=int(end.get("cpu_ns") or 0),
                                        io_bytes=int(end.get("io_bytes") or 0))
                    return int(end.get("exit_code", -1))
        finally:
            connection.close()

    def _abandon(self) -> None:
        self._connection.close()

    def _lost(self) -> Optional[str]:
        """Why the handler ended without an end frame (or with a non-zero exit code): its
        container is gone, or else (if it ended without an end) it hung up mid-execution."""
        if self.killed_container:
            return "the warm container was killed to force-quit this execution"
        gone = self._server_gone()
        if gone is None and self.exit_code == -1:
            return "the handler hung up without finishing the execution"
        return gone

    def usage(self) -> Optional[Usage]:
        return self._usage

    def final_usage(self) -> Optional[Usage]:
        return self._usage

    def kill(self) -> None:
        """Ask the handler to stop; if it has not within KILL_GRACE (blocked in C code),
        kill its container: the only way left, said in every affected execution."""
        if self._exited.is_set():
            return
        try:
            with self._send_lock:
                if self._connection is not None:
                    self._connection.sendall(KILL)
        except OSError:
            pass
        if self._exited.wait(KILL_GRACE):
            return
        self.killed_container = True
        self.killed_how = "the handler did not stop, so its warm container was killed"
        self._kill_server()
