"""Following a status stream (Server-Sent Events) with the standard library only.

:func:`follow` yields each event once, in order: it reads the stream, and
when the server closes it (a stream's life is bounded, or the server was
busy and answered with a short poll) it waits the ``retry:`` the server
asked for and reconnects with ``Last-Event-ID``. It stops after the
execution's ``end`` event, or when the server answers 204 (nothing more will
come).
"""
from __future__ import annotations

import json
import socket
import time
from typing import Iterator, Optional

DEFAULT_RETRY = 1.0


def follow(client, path: str, since: int = 0, id_field: str = "seq",
           timeout: Optional[float] = None, read_timeout: float = 60.0) -> Iterator[dict]:
    """Events after ``since`` from ``path`` (an execution's or actor's status URL).

    ``timeout`` bounds the whole follow (TimeoutError after it); an actor's feed
    never ends by itself, so give it one or stop iterating.
    """
    from .client import snake_keys

    deadline = None if timeout is None else time.monotonic() + timeout
    position, retry = since, DEFAULT_RETRY
    while True:
        headers = {"Accept": "text/event-stream"}
        if position:
            headers["Last-Event-ID"] = str(position)
        response = client.open(path, headers=headers, timeout=read_timeout)
        if response is None:
            return  # 204: the final event was delivered before
        ended = False
        try:
            for kind, data, event_id, retry_ms in _frames(response):
                if retry_ms is not None:
                    retry = retry_ms / 1000
                if kind == "end":
                    ended = True
                    break
                if data is None:
                    continue
                event = snake_keys(json.loads(data))
                position = int(event_id) if event_id is not None else event.get(id_field, position)
                yield event
        except (socket.timeout, TimeoutError, ConnectionError, OSError):
            pass  # a stream that broke off: resume where it stopped
        finally:
            response.close()
        if ended:
            return
        if deadline is not None and time.monotonic() + retry > deadline:
            raise TimeoutError(f"{path}: no final event within {timeout} s")
        time.sleep(retry)


def _frames(response) -> Iterator[tuple]:
    """(event type, data, id, retry ms) per blank-line-terminated frame."""
    kind, data, event_id, retry = "message", [], None, None
    for raw in response:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data or retry is not None or kind != "message":
                yield kind, "\n".join(data) if data else None, event_id, retry
            kind, data, event_id, retry = "message", [], None, None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "id":
            event_id = value
        elif name == "event":
            kind = value
        elif name == "retry" and value.isdigit():
            retry = int(value)
