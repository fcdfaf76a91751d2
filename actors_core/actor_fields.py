"""The one table of an actor's fields: type, default, who may set it, response order.

Everything else that lists actor fields is derived from :data:`FIELDS` or
tested against it:

* ``actors_api/schemas/actor.py``: the defaults a registration (or a PUT,
  which replaces the description) starts from; a test checks that the
  schema accepts exactly the settable fields;
* ``actors_api/auth.py``: the fields only privileged users may set;
* ``actors_core/store/actors.py``: the response order and the fields the
  store keeps for itself and never returns;
* ``runtime_sdk/resources.py`` (standard library only, so it keeps its own
  list): the read-only fields a PUT must not send back; a test checks that
  they are the ``SERVER`` fields here, so a field added to this table is
  re-sent by ``Actor.update`` without anyone touching the SDK.

Adding a field to actors means one line here (plus its validation in the
schema); the tests say what else must follow.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Setter(str, Enum):
    """Who may set a field."""

    USER = "user"  # anyone who may register or update the actor
    PRIVILEGED = "privileged"  # only admin or privileged users may set it (auth.py)
    SERVER = "server"  # the platform sets it; returned, never accepted from a request
    INTERNAL = "internal"  # the platform's bookkeeping; never returned

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Field:
    name: str
    type: Any  # a type, or a tuple of the types a value may have (None: may be null)
    setter: Setter
    default: Any = None  # for settable fields: what a registration without it gets
    required: bool = False

    @property
    def settable(self) -> bool:
        return self.setter in (Setter.USER, Setter.PRIVILEGED)


USER, PRIVILEGED, SERVER, INTERNAL = Setter.USER, Setter.PRIVILEGED, Setter.SERVER, Setter.INTERNAL
OPTIONAL_STR, OPTIONAL_INT = (str, type(None)), (int, type(None))

# In response order: the API returns an actor's fields in this order.
FIELDS = (
    Field("id", str, SERVER),
    Field("name", OPTIONAL_STR, USER),
    Field("owner", str, SERVER),
    Field("image", str, USER, required=True),
    Field("description", str, USER, ""),
    Field("status", str, SERVER),  # actors_core.enums.ActorStatus
    Field("status_message", str, SERVER),
    Field("stateless", bool, USER, True),
    Field("default_environment", dict, USER, {}),
    Field("privileged", bool, PRIVILEGED, False),
    Field("max_workers", OPTIONAL_INT, PRIVILEGED),
    Field("mem_limit", OPTIONAL_STR, PRIVILEGED),
    Field("max_cpus", (float, int, type(None)), PRIVILEGED),
    Field("hints", list, USER, []),
    Field("queue", str, PRIVILEGED, "default"),
    Field("log_ex", OPTIONAL_INT, USER),  # seconds; None: the platform's ACTORS_LOG_EX
    Field("token", bool, USER, False),
    Field("use_container_uid", bool, PRIVILEGED, False),  # the image's user, maybe root
    Field("gpus", (int, str), PRIVILEGED, 0),  # a count, or "all"
    Field("gpu_memory_min", OPTIONAL_INT, USER),
    Field("max_retries", int, USER, 0),  # tries after a platform ERROR (spawner/retries.py)
    Field("retry_backoff", (float, int), USER, 10.0),  # seconds before the first, doubling
    Field("retry_on_exit_code", bool, USER, False),  # also retry a non-zero exit code
    # Warm actors (docs/warm.md): kept containers serve the executions, within the
    # operator's caps (ACTORS_WARM_MAX_*; beyond them only admin or privileged users).
    Field("warm", bool, USER, False),
    Field("warm_form", str, USER, "exec"),  # "exec": the image's command per message; "handler"
    Field("warm_idle_seconds", OPTIONAL_INT, USER),  # None: ACTORS_WARM_IDLE_SECONDS
    Field("concurrency", int, USER, 1),  # executions at once in one warm container
    Field("link", OPTIONAL_STR, USER),  # docs/events.md
    Field("webhook", OPTIONAL_STR, USER),
    Field("cron_schedule", OPTIONAL_STR, USER),
    Field("cron_on", bool, USER, True),
    Field("cron_next_ex", OPTIONAL_STR, SERVER),
    Field("revision", int, SERVER),
    Field("create_time", str, SERVER),
    Field("last_update_time", str, SERVER),
    Field("consecutive_failures", int, INTERNAL),
    Field("tenant", str, INTERNAL),
)

BY_NAME = {field.name: field for field in FIELDS}


def names(*setters: Setter) -> tuple:
    """The fields set by any of ``setters``, in response order."""
    return tuple(field.name for field in FIELDS if field.setter in setters)


RESPONSE_ORDER = tuple(field.name for field in FIELDS if field.setter is not INTERNAL)
INTERNAL_FIELDS = names(INTERNAL)
SETTABLE_FIELDS = names(USER, PRIVILEGED)
PRIVILEGED_FIELDS = names(PRIVILEGED)
READ_ONLY_FIELDS = names(SERVER)


def defaults() -> dict:
    """A fresh ``{name: default}`` of every settable field except the required ``image``."""
    return {field.name: copy.deepcopy(field.default) for field in FIELDS
            if field.settable and not field.required}
