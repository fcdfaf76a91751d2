"""``GET /actors/{id}/events``: what was sent to the actor's link and webhook (our extension).

Each webhook event lists its delivery attempts (time, status code or error,
the delay before the next try), so a failing endpoint can be diagnosed.
"""
from __future__ import annotations

from flask import Blueprint

from actors_core.enums import PermissionLevel
from actors_core.webhook_targets import Allowlist, literal_refusal

from ..auth import READ, current_identity, load_actor
from ..context import get_config, get_store
from ..errors import APIError, Forbidden, NotFound, ok

bp = Blueprint("events", __name__)
INVALID_LINK = ("Invalid link parameter. The link must be a valid actor id or alias for which "
                "you have EXECUTE permission.")  # Abaco's words
MAX_LINK_HOPS = 32  # a chain of links longer than this is refused as if it were a cycle


@bp.get("/actors/<actor:actor_id>/events")
def list_events(actor_id):
    store = get_store()
    actor = load_actor(store, actor_id, READ)
    return ok(store.events.list_for_actor(actor["id"]), "Actor events retrieved successfully.")


def check_link(store, actor_id: str, link) -> None:
    """A link must name an actor of the caller's tenant on which the caller holds
    EXECUTE, and following links from it must never lead back to ``actor_id``."""
    from ..auth import actor_level

    if not link:
        return
    identity = current_identity()
    target = store.find_actor(identity.tenant, link)
    if target is None:
        raise NotFound(f"{INVALID_LINK} There is no actor with id or alias {link!r}.")
    have = actor_level(store, identity, target)
    if have < PermissionLevel.EXECUTE:
        raise Forbidden(f"{INVALID_LINK} Linking to {link!r} needs EXECUTE on it; you have "
                        f"{have.name if have > PermissionLevel.NONE else 'no permission on it'}.")
    if target["id"] == actor_id:
        raise APIError("Invalid link parameter. An actor cannot link to itself. That would be a cycle of one.")
    chain, current = [actor_id, target["id"]], target
    while current is not None and current["id"] != actor_id:
        if len(chain) > MAX_LINK_HOPS:
            raise APIError(f"Invalid actor description: link: the chain of links from {link!r} "
                           f"is longer than {MAX_LINK_HOPS} actors.")
        following = current.get("link")
        current = store.find_actor(identity.tenant, following) if following else None
        if current is not None:
            chain.append(current["id"])
    if current is not None:
        raise APIError("Error: this update would result in a cycle of linked actors. The links "
                       f"would run {' -> '.join(chain)}.")


def check_webhook(webhook) -> None:
    """A convenience 400 for a webhook that delivery would refuse anyway (a literal
    loopback, private... address, see actors_core/webhook_targets.py); names are only
    resolved, and checked, when an event is delivered."""
    if not webhook:
        return
    problem = literal_refusal(webhook, Allowlist.parse(get_config().webhook_allow))
    if problem:
        raise APIError(f"Invalid actor description: webhook: {problem}")
