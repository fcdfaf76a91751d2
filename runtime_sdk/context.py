"""What an actor's code knows about the message it was started for.

Standard library only: this module is copied into actor images. Paths default
to where the Docker runtime mounts things and can be moved with environment
variables, so the same code works when an actor runs as a plain process.
"""
from __future__ import annotations

import json
import os
import select
import threading

BINARY_CONTENT_TYPE = "application/octet-stream"
DEFAULT_BINARY_PATH = "/_abaco_binary_data"
DEFAULT_RESULTS_PATH = "/_abaco_results.sock"
BINARY_PATH_VARIABLE = "_abaco_binary_path"
DEFAULT_OUTPUTS_PATH = "/_abaco_outputs"
OUTPUTS_PATH_VARIABLE = "_abaco_outputs_path"
DEFAULT_INPUTS_PATH = "/_abaco_inputs"
INPUTS_PATH_VARIABLE = "_abaco_inputs_path"
RESULTS_PATH_VARIABLE = "_abaco_results_path"


_message = threading.local()  # in a warm handler (serve.py): this thread's message's variables


def environment():
    """The variables of the message being handled: the process's environment, or, inside a
    handler served by :func:`runtime_sdk.serve`, the handling thread's own message's."""
    return getattr(_message, "environment", None) or os.environ


class Context(dict):
    """A dict that also answers attribute access: ``ctx.raw_message`` or ``ctx['raw_message']``."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def get_context() -> Context:
    env = environment()
    # The platform sets ``_abaco_Content_Type`` (underscore). Abaco's own SDK
    # reads ``_abaco_Content-Type`` and so never sees it; we read what is set.
    content_type = env.get("_abaco_Content_Type", "")
    raw_message = env.get("MSG", "")
    message_dict = {}
    if content_type == "application/json":
        try:
            parsed = json.loads(raw_message)
            message_dict = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            pass
    state = env.get("_abaco_actor_state", "")
    try:
        state = json.loads(state) if state else None
    except ValueError:
        pass
    context = Context(env)
    context.update(
        raw_message=raw_message,
        content_type=content_type,
        message_dict=message_dict,
        actor_id=env.get("_abaco_actor_id"),
        actor_dbid=env.get("_abaco_actor_dbid"),
        actor_name=env.get("_abaco_actor_name"),
        actor_repo=env.get("_abaco_container_repo"),
        execution_id=env.get("_abaco_execution_id"),
        worker_id=env.get("_abaco_worker_id"),
        username=env.get("_abaco_username"),
        api_server=env.get("_abaco_api_server"),
        state=state,
    )
    return context


def outputs_dir() -> str:
    """The folder whose files are kept when the execution ends (``actors outputs``
    downloads them as a zip); write results there, not beside the code."""
    return environment().get(OUTPUTS_PATH_VARIABLE) or DEFAULT_OUTPUTS_PATH


def inputs_dir() -> str:
    """In a run's stage (docs/runs.md), the read-only folder holding the outputs of the
    stages it needs, one subfolder per stage (a finally stage: ``_run/summary.json``)."""
    return environment().get(INPUTS_PATH_VARIABLE) or DEFAULT_INPUTS_PATH


def binary_path() -> str:
    return environment().get(BINARY_PATH_VARIABLE) or DEFAULT_BINARY_PATH


def get_binary_message() -> bytes:
    """The whole binary message, or ``b""`` when this execution has none (never hangs).

    The platform keeps its end of the FIFO open until every byte is read and
    then closes it, so end-of-file means the message is complete.
    """
    if environment().get("_abaco_Content_Type") != BINARY_CONTENT_TYPE:
        return b""
    path = binary_path()
    if not os.path.exists(path):
        return b""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:  # the writer is there but has nothing more yet
                select.select([fd], [], [], 0.5)
                continue
            if not chunk:  # no writer left: the message is complete
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)
