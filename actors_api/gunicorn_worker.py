"""gunicorn's threaded worker, answering gunicorn's own refusals in the API's JSON envelope.

gunicorn refuses some requests before the app sees them: a ``Transfer-Encoding`` it does
not support (501, as RFC 9112 section 6.1 asks), a malformed request line or header
(400), an over-long request line (414) or header block (431). Its stock answer is an
HTML page. Run the API with ``-k actors_api.gunicorn_worker.ThreadWorker`` (the
Dockerfile and docker-compose.yml do) and those answers are
``{"message", "result": null, "status": "error", "version"}`` like every other error;
the status codes stay gunicorn's.

gunicorn has no setting for this; every worker class writes these answers through
``gunicorn.util.write_error``, which this worker replaces in its own process only.
"""
from __future__ import annotations

import json
from http import HTTPStatus

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker as _GThreadWorker

from actors_core.config import VERSION


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error``, with a JSON body and the status's own phrase."""
    try:
        reason = HTTPStatus(int(status_int)).phrase  # gunicorn says "Bad Request" for its 501
    except ValueError:
        pass
    message = f"{reason}: {mesg}" if mesg else reason
    message = message if message.endswith(".") else message + "."
    if int(status_int) == 501 and "transfer coding" in mesg.lower():
        message += (" Send the body with a Content-Length, or with 'Transfer-Encoding: "
                    "chunked'.")
    body = json.dumps({"message": message, "result": None, "status": "error",
                       "version": VERSION}).encode()
    head = (f"HTTP/1.1 {int(status_int)} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


class ThreadWorker(_GThreadWorker):
    """``-k gthread`` with JSON error answers (see the module's docstring)."""

    def init_process(self):
        util.write_error = write_json_error  # this worker process only; it never returns
        super().init_process()
