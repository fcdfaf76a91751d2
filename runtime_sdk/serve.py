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
import selectors
import socket
import struct
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from .context import _message, get_context

SOCKET_VARIABLE = "_abaco_warm_socket"
HEADER = struct.Struct(">cI")  # kind, payload length
VARIABLES, KILL, OUTPUT, RESULT, EXIT = b"v", b"k", b"o", b"r", b"x"
FLUSH_BYTES = 16 * 1024  # output is sent in chunks of about this size ...
FLUSH_SECONDS = 0.2  # ... or when it is this old
FORCE_QUIT_EXIT_CODE = 137  # as for a container killed with SIGKILL
POOL_THREADS = 256  # handlers running at once in one process, at most


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
    watcher = _Watcher()
    # Threads are reused: a message starts none (a new thread costs more than the channel).
    with ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="warm") as pool:
        while True:
            connection, _ = listener.accept()
            pool.submit(_Execution(connection, handler, watcher).run)


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
    """One message on one connection, its handler run in a thread of the pool; the
    process's one :class:`_Watcher` sends its output as it ages and turns a force-quit (or
    the platform hanging up) into ``ForceQuit`` raised in the handler."""

    def __init__(self, connection: socket.socket, handler, watcher: "_Watcher"):
        self.connection = connection
        self.handler = handler
        self.watcher = watcher
        self._lock = threading.Lock()  # output, frames, and the handler's state
        self._output = bytearray()
        self._since = 0.0
        self._thread_id = None  # while the handler runs
        self._quit_raised = False
        self.result = {"exit_code": 0, "cpu_ns": 0, "io_bytes": 0}

    def run(self) -> None:
        try:
            kind, payload = _read_frame(self.connection)
            if kind != VARIABLES:
                return
            self._handle(json.loads(payload))
            self._flush()
            self._send(EXIT, json.dumps(self.result).encode())
        except OSError:
            pass  # the platform went away; nothing to tell
        finally:
            self.connection.close()

    def write(self, data: bytes) -> None:
        with self._lock:
            if not self._output:
                self._since = time.monotonic()
            self._output += data
            full = len(self._output) >= FLUSH_BYTES
        if full:
            self._flush()

    def send_result(self, result: bytes) -> None:
        """One result of this message (``send_bytes_result`` in the handler), in order."""
        with self._lock:
            self._send(RESULT, result)

    def _handle(self, variables: dict) -> None:
        _message.environment = variables
        _message.execution = self
        _message.results = self.send_result
        cpu, io = time.thread_time_ns(), _thread_io_bytes()
        with self._lock:
            self._thread_id = threading.get_ident()
        self.watcher.add(self)
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
            self._ended()
            self.result.update(cpu_ns=time.thread_time_ns() - cpu,
                               io_bytes=max(_thread_io_bytes() - io, 0))
            _message.environment = None
            _message.execution = None
            _message.results = None

    def _ended(self) -> None:
        """No ForceQuit may reach this pool thread once the handler is done: one raised but
        not yet delivered is taken back."""
        self.watcher.remove(self)
        with self._lock:
            thread_id, self._thread_id = self._thread_id, None
            if self._quit_raised:
                _raise_in(thread_id, None)

    def interrupt(self) -> None:
        """The platform asked for a force-quit (or hung up): the handler, if it still runs."""
        with self._lock:
            if self._thread_id is not None and not self._quit_raised:
                self._quit_raised = True
                _raise_in(self._thread_id, ForceQuit)

    def flush_if_due(self) -> None:
        with self._lock:
            due = self._output and time.monotonic() - self._since >= FLUSH_SECONDS
        if due:
            with contextlib.suppress(OSError):
                self._flush()

    def _flush(self) -> None:
        with self._lock:
            data, self._output = bytes(self._output), bytearray()
            if data:
                self._send(OUTPUT, data)

    def _send(self, kind: bytes, payload: bytes) -> None:
        self.connection.sendall(HEADER.pack(kind, len(payload)) + payload)


class _Watcher:
    """One thread for every running handler of the process: it reads a force-quit request
    (or a hang-up) from each connection and sends output older than FLUSH_SECONDS."""

    def __init__(self):
        self._selector = selectors.DefaultSelector()
        self._running: set = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True, name="warm-watcher").start()

    def add(self, execution: _Execution) -> None:
        with self._lock:
            self._running.add(execution)
            self._selector.register(execution.connection, selectors.EVENT_READ, execution)

    def remove(self, execution: _Execution) -> None:
        with self._lock:
            if execution in self._running:
                self._running.discard(execution)
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self._selector.unregister(execution.connection)

    def _run(self) -> None:
        while True:
            with self._lock:
                empty = not self._running
            if empty:  # an epoll with nothing registered would wait out its timeout anyway
                time.sleep(FLUSH_SECONDS / 2)
                continue
            for key, _ in self._selector.select(FLUSH_SECONDS / 2):
                execution = key.data
                try:
                    request = execution.connection.recv(1)
                except OSError:
                    request = b""
                if request in (KILL, b""):
                    self.remove(execution)  # read once: a hang-up stays readable
                    execution.interrupt()
            with self._lock:
                running = list(self._running)
            for execution in running:
                execution.flush_if_due()


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


def _raise_in(thread_id: int, exception) -> None:
    """Raise ``exception`` in the thread ``thread_id`` at its next Python instruction (a
    thread blocked in C code notices only when it returns to Python); None takes back one
    not yet raised."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None)


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
