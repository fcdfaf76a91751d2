"""The results channel: a Unix datagram socket per execution, one result per datagram.

Datagrams keep result boundaries without any framing protocol, which is why
Abaco chose them. A datagram over the limit is never stored cut short: it is
dropped and the execution's log says so.
"""
from __future__ import annotations

import os
import select
import socket
import threading

MAX_RESULT_BYTES = 128 * 1024


class ResultsSocket:
    def __init__(self, path: str, on_result, on_rejected):
        self.path = path
        self._on_result = on_result
        self._on_rejected = on_rejected
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(path)
        os.chmod(path, 0o777)  # any user in the container may send
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MAX_RESULT_BYTES)
        self._sock.setblocking(False)
        self._buffer = bytearray(MAX_RESULT_BYTES + 1)
        self._stop = threading.Event()
        self._wake_read, self._wake_write = os.pipe()  # lets stop() end the select at once
        self._thread = threading.Thread(target=self._serve, name=f"results:{path}", daemon=True)

    def start(self) -> "ResultsSocket":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after storing every datagram already sent."""
        self._stop.set()
        os.write(self._wake_write, b"x")
        self._thread.join(timeout)
        self._sock.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _serve(self) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([self._sock, self._wake_read], [], [])
            if self._sock in readable:
                self._drain()
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                size = self._sock.recv_into(self._buffer, 0, socket.MSG_TRUNC)
            except (BlockingIOError, OSError):
                return
            if size > MAX_RESULT_BYTES:
                self._on_rejected(size)
            else:
                self._on_result(bytes(self._buffer[:size]))
