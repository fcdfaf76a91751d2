"""Events: ACTOR_READY, ACTOR_ERROR and EXECUTION_COMPLETE sent to an actor's link and webhook.

Events are sent by the transitions themselves: :func:`set_actor_status` (the
image check) and ``ExecutionRun.finish`` in runner.py (an execution's end and
the actor's run outcome) call :func:`actor_status_changed` and
:func:`execution_finished`; nothing here ever raises into them, and nothing
here waits on the network: a link event is a message queued for the target
actor through the store's ordinary submit path, and a webhook event is a
record plus an RQ job on ``actors-events`` that a spawner slot picks up
(``spawner/jobs.py`` runs :func:`deliver`).

Webhooks are delivered at least once: each attempt (time, status code or
error, delay before the next) is recorded; a failure is tried again after
``webhook_backoff`` seconds, up to ``webhook_max_attempts`` tries. The retry
sweep (:func:`release_due`, run by every spawner supervisor) re-queues due
events, and also any whose attempt was lost with a crashed worker.
"""
from __future__ import annotations

import functools
import json
import logging
import time
from typing import Callable, Optional

import requests

from actors_core.enums import ContentType, PermissionLevel
from actors_core.ids import new_id
from actors_core.store.events import EventStatus
from actors_core.times import now_iso
from actors_core.webhook_targets import Allowlist, TargetRefused

from . import safe_http

from . import metrics

log = logging.getLogger(__name__)

ACTOR_READY = "ACTOR_READY"
ACTOR_ERROR = "ACTOR_ERROR"
EXECUTION_COMPLETE = "EXECUTION_COMPLETE"
LINK_DEPTH = "_abaco_link_depth"  # how many links a message has come through
MAX_LINK_DEPTH = 16  # a chain that comes back round (e.g. an alias repointed) stops here
DELIVERY_LEASE = 60.0  # seconds an attempt may take before the sweep sends the event again


# -- emitting --------------------------------------------------------------------
def set_actor_status(store, actor_id: str, status, message: str = "") -> None:
    """The actor's image check says READY or ERROR: record it and send the event."""
    store.actors.set_status(actor_id, status, message)
    actor_status_changed(store, actor_id, status, message)


def actor_status_changed(store, actor_id: str, status, message: str = "",
                         actor: Optional[dict] = None) -> None:
    """The actor became READY or ERROR. ``actor``: its internal record if the caller holds
    it (its link and webhook are read from it), else it is read."""
    event_type = ACTOR_READY if str(status) == "READY" else ACTOR_ERROR
    _emit(store, actor_id, dict(_base(event_type, actor_id), status=str(status),
                                status_message=message), context={}, actor=actor)


def execution_finished(store, actor_id: str, execution: dict, status, exit_code=None,
                       message: str = "", actor: Optional[dict] = None) -> None:
    """An execution ended COMPLETE or ERROR; the event carries its message's ``_abaco_*`` context.
    ``actor`` as for :func:`actor_status_changed`."""
    context = {name: value for name, value in (execution.get("environment") or {}).items()
               if name.startswith("_abaco_")}
    context.update(_abaco_execution_id=execution["id"],
                   _abaco_Content_Type=execution.get("content_type"),
                   _abaco_username=execution.get("executor"))
    event = dict(_base(EXECUTION_COMPLETE, actor_id), execution_id=execution["id"],
                 status=str(status), exit_code=exit_code, status_message=message, **context)
    _emit(store, actor_id, event, context, actor=actor)


def _base(event_type: str, actor_id: str) -> dict:
    return {"event_type": event_type, "event_time_utc": now_iso(), "actor_id": actor_id,
            "execution_id": None, "status": None, "exit_code": None}


def _emit(store, actor_id: str, event: dict, context: dict, actor: Optional[dict] = None) -> None:
    try:
        if actor is not None and not actor.get("link") and not actor.get("webhook"):
            return  # nothing to send to (as of the record the caller holds)
        actor = store.actors.get_internal(actor_id)
        if actor is None:
            return
        if actor.get("link"):
            send_link(store, actor, event, context)
        if actor.get("webhook"):
            store.events.create_webhook(actor_id, actor["webhook"], event,
                                        first_due=time.time() + DELIVERY_LEASE)
    except Exception:  # an event must never disturb the execution or status change behind it
        log.exception("could not send the %s event of actor %s", event["event_type"], actor_id)


def send_link(store, actor: dict, event: dict, context: dict) -> Optional[dict]:
    """Queue the event as a JSON message for the linked actor, sent as the actor's owner."""
    tenant, link = actor["tenant"], actor["link"]
    depth = int(context.get(LINK_DEPTH) or 0) + 1
    target = store.find_actor(tenant, link)
    problem = None
    if target is None:
        problem = f"No actor with id or alias {link!r} (any more)."
    elif depth > MAX_LINK_DEPTH:
        problem = f"Not sent: the event has already come through {MAX_LINK_DEPTH} links."
    elif (target["owner"] != actor["owner"] and store.permissions.level(
            "actor", tenant, target["id"], actor["owner"]) < PermissionLevel.EXECUTE):
        problem = f"The owner {actor['owner']!r} no longer holds EXECUTE on {link!r}."
    if problem:
        store.events.record_link(actor["id"], event, link, EventStatus.FAILED, message=problem)
        return None
    execution = store.executions.submit(target, {
        "id": new_id(), "executor": actor["owner"], "content_type": str(ContentType.JSON),
        "environment": {LINK_DEPTH: str(depth)},
    }, json.dumps(event).encode())
    store.events.record_link(actor["id"], event, target["id"], EventStatus.SUBMITTED,
                             execution_id=execution["id"])
    return execution


# -- webhook delivery ------------------------------------------------------------
def deliver(store, config, event_id: str, post: Optional[Callable] = None,
            clock: Callable[[], float] = time.time) -> Optional[str]:
    """One attempt at a webhook event; its new status (None if already settled or gone).

    ``post`` defaults to :func:`spawner.safe_http.post` with the operator's allowlist: a
    target it refuses (loopback, private, metadata... see actors_core/webhook_targets.py)
    gets no request, and the event is FAILED at once with the reason.
    """
    record = store.events.get(event_id)
    if record is None or record["status"] in (EventStatus.DELIVERED, EventStatus.FAILED):
        return None
    if post is None:
        post = functools.partial(safe_http.post, allow=Allowlist.parse(config.webhook_allow))
    number = len(record.get("attempts") or []) + 1
    attempt = {"attempt": number, "time": now_iso(), "status_code": None}
    refused = False
    try:
        response = post(record["target"], json=record["event"], timeout=config.webhook_timeout,
                        headers={"User-Agent": "actors-events"})
        attempt["status_code"] = response.status_code
        delivered = 200 <= response.status_code < 300
        if not delivered:
            attempt["error"] = f"HTTP {response.status_code}"
    except requests.RequestException as error:
        delivered, attempt["error"] = False, f"{type(error).__name__}: {error}"
    except TargetRefused as error:
        delivered, refused, attempt["error"] = False, True, f"Refused: {error}"
    if delivered:
        status, next_due = EventStatus.DELIVERED, None
    elif refused or number >= config.webhook_max_attempts:
        status, next_due = EventStatus.FAILED, None
    else:
        backoff = config.webhook_backoff or (1,)
        delay = float(backoff[min(number - 1, len(backoff) - 1)])
        attempt["next_delay"] = delay
        status, next_due = EventStatus.RETRYING, clock() + delay
    store.events.record_attempt(event_id, attempt, status, next_due)
    metrics.webhook_delivery(status)
    return status


def release_due(store, clock: Callable[[], float] = time.time) -> list:
    """Queue a delivery for every webhook event whose retry (or lost attempt) is due."""
    released = store.events.claim_due(clock(), DELIVERY_LEASE)
    for event_id in released:
        store.events.enqueue_delivery(event_id)
    return released

