"""Delivering a binary message through a FIFO without ever blocking the spawner.

The host end is opened read-write and non-blocking, so opening never waits for
a reader and a container that never reads hangs nothing. The writer thread
closes its end only once the reader has drained the pipe (or the execution
ended), which is what lets the reader see end-of-file after the last byte
instead of losing data to an early close.
"""
from __future__ import annotations

import array
import fcntl
import os
import select
import termios
import threading

CHUNK = 64 * 1024


class BinaryPipe:
    def __init__(self, path: str, data: bytes):
        self.path = path
        self.data = data
        os.mkfifo(path, 0o644)
        os.chmod(path, 0o644)  # readable whatever user the container runs as
        self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, name=f"fifo:{path}", daemon=True)
        self.delivered = 0

    def start(self) -> "BinaryPipe":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self._close()

    def _feed(self) -> None:
        view = memoryview(self.data)
        try:
            while self.delivered < len(view) and not self._stop.is_set():
                _, writable, _ = select.select([], [self._fd], [], 0.2)
                if not writable:
                    continue
                try:
                    self.delivered += os.write(self._fd, view[self.delivered:self.delivered + CHUNK])
                except BlockingIOError:
                    continue
            while self._unread() > 0 and not self._stop.wait(0.02):
                pass
        finally:
            self._close()

    def _unread(self) -> int:
        count = array.array("i", [0])
        try:
            fcntl.ioctl(self._fd, termios.FIONREAD, count, True)
        except (OSError, TypeError):
            return 0
        return count[0]

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass
