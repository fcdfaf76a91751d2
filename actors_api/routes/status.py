"""Status events: an execution's log and an actor's feed, as pages or as SSE streams.

``?since=N`` pages (the answer's ``cursor`` is the next ``since``); with
``Accept: text/event-stream`` the same URL streams (see actors_api/sse.py).
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from actors_core.store.timeline import MAX_PAGE, PAGE

from .. import sse
from ..auth import READ, load_actor
from ..casing import convert_keys, to_camel
from ..context import get_config, get_store
from ..errors import APIError, ok
from .executions import load_execution

bp = Blueprint("status", __name__)

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@bp.get("/actors/<actor:actor_id>/executions/<execution_id>/status")
def execution_status(actor_id, execution_id):
    store = get_store()
    actor_id = load_actor(store, actor_id, READ)["id"]
    execution = load_execution(store, actor_id, execution_id)
    since = _since()
    if _wants_stream():
        page = store.timeline.since(execution_id, since, limit=1)
        if page["final"] and not page["events"]:
            return Response(status=204)  # the final event was delivered: EventSource stops here
        def read(position: int) -> dict:
            return store.timeline.since(execution_id, position, MAX_PAGE, raw=True)

        return _stream(execution_id, read, since, "seq", on_end={"execution_id": execution_id})
    page = store.timeline.since(execution_id, since, _limit())
    result = {"actor_id": actor_id, "execution_id": execution_id, "status": execution["status"],
              **page}
    return ok(result, "Status events retrieved successfully.")


@bp.get("/actors/<actor:actor_id>/status")
def actor_status(actor_id):
    store = get_store()
    actor_id = load_actor(store, actor_id, READ)["id"]
    since = _since()
    if _wants_stream():
        def read(position: int) -> dict:
            return store.timeline.feed_since(actor_id, position, MAX_PAGE, raw=True)

        return _stream(actor_id, read, since, "cursor")
    page = store.timeline.feed_since(actor_id, since, _limit())
    return ok({"actor_id": actor_id, **page}, "Status events retrieved successfully.")


def _stream(name: str, read, since: int, id_field: str, on_end=None) -> Response:
    """Live while a slot is free (released when the response closes), else one short poll."""
    config = get_config()
    listener = _listener()
    release = _slots().take()
    signal = listener.watch(name) if release else None

    def close() -> None:  # the server calls it when the body ends or the client goes
        if signal is not None:
            listener.forget(name, signal)
        if release is not None:
            release()

    convert = (lambda event: convert_keys(event, to_camel)) if config.case == "camel" else None
    body = sse.stream(read, since, id_field, signal, config.status_stream_seconds, convert, on_end,
                      page_size=MAX_PAGE)
    response = Response(body, mimetype="text/event-stream", headers=STREAM_HEADERS)
    response.call_on_close(close)
    return response


def _wants_stream() -> bool:
    return request.accept_mimetypes.best_match(["application/json", "text/event-stream"]) \
        == "text/event-stream"


def _since() -> int:
    """``Last-Event-ID`` (an EventSource resuming) wins over ``?since=``."""
    raw = request.headers.get("Last-Event-ID") or request.args.get("since") or "0"
    try:
        value = int(raw)
    except ValueError:
        raise APIError(f"since (or Last-Event-ID) must be a whole number, not {raw!r}.")
    if not 0 <= value < 2 ** 53:
        raise APIError("since must be 0 or more (and below 2**53).")
    return value


def _limit() -> int:
    raw = request.args.get("limit") or PAGE
    try:
        value = int(raw)
    except ValueError:
        raise APIError(f"limit must be a whole number (at most {MAX_PAGE}), not {raw!r}.")
    return max(1, min(value, MAX_PAGE))


def _slots() -> sse.StreamSlots:
    return current_app.extensions["actors_status_streams"]


def _listener() -> sse.Listener:
    return current_app.extensions["actors_status_listener"]
