"""Sending messages: each accepted message becomes a SUBMITTED execution."""
from __future__ import annotations

from typing import Optional

from flask import Blueprint, Response, current_app, request

from actors_core.enums import ContentType
from actors_core.ids import new_id
from actors_core.platform_variables import refusal

from .. import front_door, metrics
from ..auth import EXECUTE, READ, UPDATE, current_identity, load_actor
from .. import views
from ..context import BadJSON, get_config, get_store, links, parse_json
from ..errors import APIError, envelope, ok

bp = Blueprint("messages", __name__)

# Query parameters that steer the platform rather than reach the container.
RESERVED_PARAMETERS = {"_abaco_synchronous", "x-nonce"}

# Linux refuses to start a process with an environment string ("NAME=value" and its NUL)
# longer than MAX_ARG_STRLEN: 32 pages of 4 KiB. A text or JSON message is the MSG variable.
MAX_ARG_STRLEN = 131072
MAX_TEXT_MESSAGE_BYTES = MAX_ARG_STRLEN - len("MSG=") - 1


def read_message() -> tuple:
    """(content type, body bytes, ``msg`` for the response) from the three Abaco forms."""
    parsed = parse_body(request.mimetype, request.is_json, request.get_data)
    if parsed is not None:
        return parsed
    message = request.form.get("message")
    if message is None:
        raise APIError("No message found: send a form field 'message', a JSON body "
                       "(Content-Type: application/json), or binary data "
                       "(Content-Type: application/octet-stream).")
    return ContentType.STR, message.encode(), message


def parse_body(mimetype: str, is_json: bool, data) -> Optional[tuple]:
    """(content type, body bytes, ``msg``) of a binary, JSON or plain-text body (``data()``
    reads it); ``None`` for a form, which only Flask's request parses. Also the fast lane's."""
    if mimetype == "application/octet-stream":
        return ContentType.BINARY, data(), "binary - omitted"
    if is_json:
        raw = data()
        try:
            parse_json(raw, max_depth=None, strict_numbers=False)  # the actor gets the text as sent
        except BadJSON as error:
            raise APIError(f"The JSON message was refused: {error}")
        return ContentType.JSON, raw, raw.decode("utf-8", "replace")
    if mimetype == "text/plain":
        text = data().decode("utf-8", "replace")
        return ContentType.STR, text.encode(), text
    return None


def check_deliverable(content_type, body: bytes, environment: dict, limit: int) -> None:
    """Refuse at the door what could never reach the container: a message larger than the
    server takes; a text or JSON message travels in the MSG environment variable, which Linux
    caps (MAX_ARG_STRLEN), so a longer one would only fail later with "argument list too
    long". Binary messages go through a FIFO and have no such limit; neither may a query
    parameter's variable exceed it. ``limit``: ACTORS_MAX_MESSAGE_BYTES."""
    if len(body) > limit:
        raise APIError(f"The message is larger than this server accepts ({limit} bytes).", 413)
    if content_type is not ContentType.BINARY:
        size = len(body.decode("utf-8", "replace").encode())  # what MSG will hold
        if size > MAX_TEXT_MESSAGE_BYTES:
            raise APIError(
                f"The message is too large to deliver as text or JSON: it reaches the actor in "
                f"the MSG environment variable, which Linux limits to {MAX_ARG_STRLEN} bytes "
                f"(\"MSG=\", the message and a NUL: at most {MAX_TEXT_MESSAGE_BYTES} bytes of "
                f"UTF-8), and this one is {size} bytes. Send it as binary instead "
                "(Content-Type: application/octet-stream; the actor reads it with "
                "get_binary_message()), up to the server's limit of "
                f"{limit} bytes.", 413)
    for name, value in environment.items():
        if len(f"{name}={value}".encode()) + 1 > MAX_ARG_STRLEN:
            raise APIError(f"Query parameter {name!r} is too long to become an environment "
                           f"variable (Linux limits one to {MAX_ARG_STRLEN} bytes); send the "
                           "data in the message instead.", 413)


def new_execution(executor: str, content_type, environment: dict) -> dict:
    """What a message post asks the store to submit (the route's and the fast lane's)."""
    return {"id": new_id(), "executor": executor, "content_type": str(content_type),
            "environment": environment}


def accepted(execution_id: str, msg: str, actor_id: str, owner: str, base: str) -> dict:
    """The answer's ``result`` for an accepted message; ``base``: this server's URL."""
    return {"execution_id": execution_id, "msg": msg,
            "_links": links(("self", f"/actors/{actor_id}/executions/{execution_id}"),
                            ("messages", f"/actors/{actor_id}/messages"),
                            ("owner", f"/profiles/{owner}"), base=base)}


ACCEPTED_MESSAGE = "The request was successful"


def message_environment() -> dict:
    """Every query parameter becomes a variable in the container; the platform's own
    (``MSG``, ``_actor_configs``, ``_abaco_*``) are a 400 naming them."""
    environment = {name: value for name, value in request.args.items()
                   if name not in RESERVED_PARAMETERS}
    for name in environment:
        problem = refusal(name)
        if problem:
            raise APIError(f"Query parameter refused: {problem}")
    return environment


@bp.post("/actors/<actor:actor_id>/messages")
def send_message(actor_id):
    store = get_store()
    grant = front_door.actor_grant(store, actor_id, EXECUTE)  # one round trip in all (front_door.py)
    content_type, body, msg = read_message()
    environment = message_environment()
    check_deliverable(content_type, body, environment, get_config().max_message_bytes)
    execution, actor = front_door.submit(store, grant, new_execution(
        current_identity().username, content_type, environment), body)
    actor_id = actor["id"]  # the URL may have named it by an alias
    metrics.message_accepted(actor, content_type)
    eid = execution["id"]
    if request.args.get("_abaco_synchronous", "").lower() == "true":
        return synchronous_answer(store, actor_id, eid)
    return ok(accepted(eid, msg, actor_id, actor["owner"], request.host_url.rstrip("/")),
              ACCEPTED_MESSAGE)


@bp.get("/actors/<actor:actor_id>/messages")
def count_messages(actor_id):
    store = get_store()
    actor = load_actor(store, actor_id, READ)
    return ok(views.messages({"messages": store.executions.queued_count(actor["id"])}, actor),
              "The request was successful")


@bp.delete("/actors/<actor:actor_id>/messages")
def purge_messages(actor_id):
    store = get_store()
    actor = load_actor(store, actor_id, UPDATE)
    cancelled = store.executions.purge(actor["id"])
    return ok(views.messages({"msg": "Actor mailbox purged.", "messages": 0,
                              "cancelled": cancelled}, actor),
              f"Actor mailbox purged. {cancelled} queued messages were cancelled.")


def synchronous_answer(store, actor_id: str, execution_id: str):
    """Wait for the execution, then answer with its first result, else its logs.

    The wait is a Redis BLPOP on the execution's done signal: the thread sleeps
    in a socket read, using no CPU, and at most ``sync_max_waiters`` threads of
    a process wait at once, so ordinary requests always find a thread.
    """
    config = get_config()
    waiters = current_app.extensions["actors_sync_waiters"]
    if not waiters.acquire(blocking=False):
        return _still_running(actor_id, execution_id, "This server is already holding its "
                              f"limit of {config.sync_max_waiters} synchronous waits")
    try:
        finished = store.executions.wait_finished(execution_id, config.sync_timeout)
    finally:
        waiters.release()
    if not finished:
        return _still_running(actor_id, execution_id,
                              f"The execution did not finish within {config.sync_timeout} s")
    result = store.executions.pop_result(execution_id)
    if result:
        return Response(result, mimetype="application/octet-stream")
    return Response(store.logs.get(execution_id), mimetype="text/plain")


def _still_running(actor_id: str, execution_id: str, reason: str):
    return envelope({"execution_id": execution_id},
                    f"{reason}; it continues: poll /actors/{actor_id}/executions/{execution_id}.",
                    status="error", code=408)
