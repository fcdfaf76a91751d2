"""The handler form of a warm actor: ``serve(handler)`` runs ``handler(context)`` per message.

In a warm container (``warm: true, warm_form: "handler"``) the platform starts the image's
command once, with ``_abaco_warm_socket`` naming a Unix socket; ``serve`` listens there and
handles each message in a thread of this one long-lived process, so whatever the code loaded
(a model, a connection pool) stays in memory between messages. Without that variable (a cold
actor, or the exec form) it handles the one message of the process's environment and exits,
so the same image runs either way.

Per message, as for a cold execution: what the handler prints (``sys.stdout``,
``sys.stderr``) goes to that execution's logs; an exception makes exit code 1 with its
traceback in those logs (``SystemExit(n)``: exit code n); ``get_context()``, results, outputs
and the binary message are that message's. Not captured per message: output of threads the
handler starts, of child processes and of C code writing to file descriptors 1 and 2 (it goes
to the container's own log).

The channel (one stream connection per execution; ``spawner/warm_channel.py`` is the other
end): the platform sends the message's variables as one frame ``b"v"`` + length + JSON; it may
later send ``b"k"`` (force-quit: the handler's thread gets ``ForceQuit`` raised in it); this
side sends ``b"o"`` frames of output, a ``b"r"`` frame per result (``send_bytes_result`` and
``send_python_result`` in the handler's thread send them here, not to a results socket) and
one ``b"x"`` frame, JSON ``{"exit_code", "cpu_ns", "io_bytes"}``, at the end. Standard library only.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import socket
import struct
import sys
import threading
import time
import traceback

from .context import _message, get_context

SOCKET_VARIABLE = "_abaco_warm_socket"
HEADER = struct.Struct(">cI")  # kind, payload length
VARIABLES, KILL, OUTPUT, RESULT, EXIT = b"v", b"k", b"o", b"r", b"x"
FLUSH_BYTES = 16 * 1024  # output is sent in chunks of about this size ...
FLUSH_SECONDS = 0.2  # ... or when it is this old
FORCE_QUIT_EXIT_CODE = 137  # as for a container killed with SIGKILL


class ForceQuit(BaseException):
    """Raised in a handler's thread when its execution is force-quit (not an Exception, so
    ``except Exception`` in the handler does not swallow it)."""


def serve(handler) -> None:
    """Handle messages with ``handler(context)`` until the process is stopped."""
    path = os.environ.get(SOCKET_VARIABLE)
    if not path:
        sys.exit(_run_once(handler))
    _capture_output()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    listener.bind(path + ".new")  # appears under its name only once it accepts
    os.chmod(path + ".new", 0o777)  # the spawner may be another user
    listener.listen(128)
    os.replace(path + ".new", path)
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=_Execution(connection, handler).run, daemon=True,
                         name="warm-execution").start()


def _run_once(handler) -> int:
    try:
        handler(get_context())
    except SystemExit as exit_:
        return _exit_code(exit_)
    except BaseException:  # noqa: BLE001 - the traceback is the execution's log
        traceback.print_exc()
        return 1
    return 0


class _Execution:
    """One message on one connection: the handler runs in this thread while a watcher
    thread sends output as it ages and turns a force-quit (or the platform hanging up)
    into ``ForceQuit`` raised in the handler."""

    def __init__(self, connection: socket.socket, handler):
        self.connection = connection
        self.handler = handler
        self._lock = threading.Lock()
        self._output = bytearray()
        self._since = 0.0
        self._done = False
        self._wake_read, self._wake_write = os.pipe()
        self.result = {"exit_code": 0, "cpu_ns": 0, "io_bytes": 0}

    def run(self) -> None:
        try:
            kind, payload = _read_frame(self.connection)
            if kind != VARIABLES:
                return
            watcher = threading.Thread(target=self._watch, args=(threading.current_thread(),),
                                       daemon=True, name="warm-watcher")
            watcher.start()
            self._handle(json.loads(payload))
            self._done = True
            os.write(self._wake_write, b"x")  # the watcher ends at once
            watcher.join()
            self._flush()
            self._send(EXIT, json.dumps(self.result).encode())
        except OSError:
            pass  # the platform went away; nothing to tell
        finally:
            self.connection.close()
            os.close(self._wake_read)
            os.close(self._wake_write)

    def write(self, data: bytes) -> None:
        with self._lock:
            if not self._output:
                self._since = time.monotonic()
            self._output += data
            full = len(self._output) >= FLUSH_BYTES
        if full:
            self._flush()

    def _handle(self, variables: dict) -> None:
        _message.environment = variables
        _message.execution = self
        _message.results = self.send_result
        cpu, io = time.thread_time_ns(), _thread_io_bytes()
        try:
            try:
                self.handler(get_context())
            except ForceQuit:
                self.result["exit_code"] = FORCE_QUIT_EXIT_CODE
                self.write(b"[actors] force-quit on request: the handler was interrupted.\n")
            except SystemExit as exit_:
                self.result["exit_code"] = _exit_code(exit_)
            except BaseException:  # noqa: BLE001 - the traceback is the execution's log
                self.result["exit_code"] = 1
                self.write(traceback.format_exc().encode())
        except ForceQuit:  # arrived just as the handler ended: it had ended
            pass
        finally:
            self.result.update(cpu_ns=time.thread_time_ns() - cpu,
                               io_bytes=max(_thread_io_bytes() - io, 0))
            _message.environment = None
            _message.execution = None
            _message.results = None

    def _watch(self, handler_thread: threading.Thread) -> None:
        while True:
            readable, _, _ = select.select([self.connection, self._wake_read], [], [],
                                           FLUSH_SECONDS)
            if self._done:
                return
            if self.connection in readable:
                data = self.connection.recv(1)
                if self._done:
                    return
                if data == KILL or not data:
                    _raise_in(handler_thread, ForceQuit)
                    return
            with self._lock:
                due = self._output and time.monotonic() - self._since >= FLUSH_SECONDS
            if due:
                with contextlib.suppress(OSError):
                    self._flush()

    def send_result(self, result: bytes) -> None:
        """One result of this message (``send_bytes_result`` in the handler), in order."""
        with self._lock:
            self._send(RESULT, result)

    def _flush(self) -> None:
        with self._lock:
            data, self._output = bytes(self._output), bytearray()
            if data:
                self._send(OUTPUT, data)

    def _send(self, kind: bytes, payload: bytes) -> None:
        self.connection.sendall(HEADER.pack(kind, len(payload)) + payload)


class _Dispatch:
    """``sys.stdout``/``sys.stderr``: a handler thread's writes go to its execution, any
    other thread's to the process's own stream."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text) -> int:
        execution = getattr(_message, "execution", None)
        if execution is None:
            return self._stream.write(text)
        execution.write(text.encode("utf-8", "replace") if isinstance(text, str) else text)
        return len(text)

    def flush(self) -> None:
        if getattr(_message, "execution", None) is None:
            self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _capture_output() -> None:
    if not isinstance(sys.stdout, _Dispatch):
        sys.stdout, sys.stderr = _Dispatch(sys.stdout), _Dispatch(sys.stderr)


def _raise_in(thread: threading.Thread, exception: type) -> None:
    """Raise ``exception`` in ``thread`` at its next Python instruction (a thread blocked in
    C code notices only when it returns to Python)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                               ctypes.py_object(exception))


def _read_frame(connection: socket.socket) -> tuple:
    header = _read_exactly(connection, HEADER.size)
    kind, size = HEADER.unpack(header)
    return kind, _read_exactly(connection, size)


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise OSError("the connection closed mid-frame")
        data += chunk
    return bytes(data)


def _exit_code(exit_: SystemExit) -> int:
    if exit_.code is None:
        return 0
    return exit_.code if isinstance(exit_.code, int) else 1


def _thread_io_bytes() -> int:
    """Bytes this thread read from and wrote to storage (0 where /proc cannot tell)."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/io") as stream:
            fields = dict(line.split(":", 1) for line in stream if ":" in line)
        return int(fields.get("read_bytes", 0)) + int(fields.get("write_bytes", 0))
    except (OSError, ValueError):
        return 0
