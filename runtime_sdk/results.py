"""Sending results back to the platform: one datagram per result on a Unix socket.

Standard library only (cloudpickle is used when installed). Each result is
exactly one datagram, so results keep their boundaries and their order; the
platform stores them until a client reads them from
``GET /actors/{id}/executions/{eid}/results``.
"""
from __future__ import annotations

import pickle
import socket

from .context import DEFAULT_RESULTS_PATH, RESULTS_PATH_VARIABLE, _message, environment

# The platform drops (never truncates) a larger datagram, so refuse it here
# where the actor can still do something about it.
MAX_RESULT_BYTES = 128 * 1024


class ResultsUnavailable(RuntimeError):
    """No results socket: the code is not running as an execution of the platform."""


def results_path() -> str:
    return environment().get(RESULTS_PATH_VARIABLE) or DEFAULT_RESULTS_PATH


def send_bytes_result(result: bytes) -> None:
    """Send one result. Results over 128 KiB raise ``ValueError`` and nothing is sent."""
    if isinstance(result, (bytearray, memoryview)):
        result = bytes(result)
    if not isinstance(result, bytes):
        raise TypeError(f"send_bytes_result() takes bytes, not {type(result).__name__}; "
                        "encode text first, or use send_python_result() for objects")
    if len(result) > MAX_RESULT_BYTES:
        raise ValueError(f"a result is at most {MAX_RESULT_BYTES} bytes (128 KiB); this one is "
                         f"{len(result)} bytes: send several smaller results instead")
    channel = getattr(_message, "results", None)  # in a warm handler (serve.py): its channel
    if channel is not None:
        channel(result)
        return
    path = results_path()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(result, path)
        except (FileNotFoundError, ConnectionRefusedError) as error:
            raise ResultsUnavailable(
                f"no results socket at {path} ({error.strerror}): results can only be sent "
                f"from an execution of the platform (set {RESULTS_PATH_VARIABLE} to point "
                "elsewhere)") from None


def send_python_result(obj) -> None:
    """Pickle ``obj`` (with cloudpickle when installed, so functions work too) and send it.

    Without cloudpickle the standard pickle is used: plain data (dicts, lists,
    numbers, strings) still works and is read back by ``cloudpickle.loads``.
    """
    send_bytes_result(dumps(obj))


def dumps(obj) -> bytes:
    try:
        import cloudpickle
    except ImportError:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return cloudpickle.dumps(obj)


def loads(data: bytes):
    """Unpickle a result; cloudpickle is imported first so pickled functions can load."""
    try:
        import cloudpickle  # noqa: F401 - registers what cloudpickled objects refer to
    except ImportError:
        pass
    return pickle.loads(data)
