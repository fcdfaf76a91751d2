"""marshmallow schemas, one module per resource; load() errors become 400s naming the field.

Which request fields are accepted, ignored or refused (:func:`load_or_400`):

* a field of the resource being written is loaded and checked;
* a field of *another* resource of the API (``image`` sent when creating a config, as
  Abaco clients do), or one the server sets (``id``, ``owner``, ``_links`` of a record
  sent back as it was read), is ignored, and the response's ``message`` says so, as
  Abaco's parser ignores what it does not know;
* a field no resource has is a typo: 400, naming it and the nearest known field.
"""
from __future__ import annotations

import difflib
from functools import lru_cache

from flask import g, has_request_context
from marshmallow import ValidationError

from ..errors import APIError


def load_or_400(schema, data: dict, what: str) -> dict:
    settable = {f.data_key or name for name, f in schema.fields.items() if not f.dump_only}
    ignored, unknown = [], []
    for key in data:
        if key in settable:
            continue
        (ignored if key in _owners() else unknown).append(key)
    if unknown:
        raise APIError(f"Invalid {what}: {_unknown_message(unknown, settable)}")
    if ignored:
        add_note(_ignored_message(ignored))
    try:
        return schema.load({key: value for key, value in data.items() if key in settable})
    except ValidationError as error:
        problems = "; ".join(_flatten(error.messages))
        raise APIError(f"Invalid {what}: {problems}")


def add_note(text: str) -> None:
    """A sentence the success message of this request ends with (see errors.envelope)."""
    if has_request_context():
        g.setdefault("notes", []).append(text)


def _unknown_message(unknown: list, settable: set) -> str:
    parts = []
    for name in unknown:
        near = difflib.get_close_matches(name, sorted(settable), n=1, cutoff=0.6) or \
            difflib.get_close_matches(name, sorted(_owners()), n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        parts.append(f"{name!r}{hint}")
    noun = "unknown field" if len(unknown) == 1 else "unknown fields"
    return (f"{noun} {', '.join(parts)}; this request takes "
            f"{', '.join(sorted(n for n in settable if not n.startswith('_')))}.")


def _ignored_message(ignored: list) -> str:
    described = ", ".join(f"{name!r} ({_owners()[name]})" for name in ignored)
    return f"Ignored {described}: not a field of this request."


@lru_cache(maxsize=1)
def _owners() -> dict:
    """Every field name the API knows -> what it is, for the note on an ignored field."""
    from actors_core.store.actors import FIELD_ORDER as ACTOR_FIELDS
    from actors_core.store.aliases import FIELD_ORDER as ALIAS_FIELDS
    from actors_core.store.configs import FIELD_ORDER as CONFIG_FIELDS
    from actors_core.store.executions import FIELD_ORDER as EXECUTION_FIELDS
    from actors_core.store.nonces import FIELD_ORDER as NONCE_FIELDS
    from actors_core.store.workers import FIELD_ORDER as WORKER_FIELDS

    from .access import AliasSchema, ConfigSchema, NonceSchema, PermissionSchema
    from .actor import ActorUpdateSchema

    settable = {  # what a user writes, per resource
        "actors": tuple(ActorUpdateSchema().fields),
        "messages": ("message",),
        "workers": ("num",),
        "nonces": tuple(NonceSchema().fields),
        "aliases": tuple(AliasSchema().fields),
        "actor configs": tuple(ConfigSchema().fields),
        "permissions": tuple(PermissionSchema().fields),
    }
    owners: dict = {}
    for resource, names in settable.items():
        for name in names:
            owners.setdefault(name, []).append(resource)
    described = {name: "a field of " + " and of ".join(resources)
                 for name, resources in owners.items()}
    server_set = (*ACTOR_FIELDS, *EXECUTION_FIELDS, *WORKER_FIELDS, *NONCE_FIELDS,
                  *ALIAS_FIELDS, *CONFIG_FIELDS, "_links", "state", "gpus", "gpu_stats", "logs",
                  "roles", "tenant", "image", "api_server", "db_id")
    for name in server_set:
        described.setdefault(name, "set by the server")
    for name in ("type", "mounts", "uid", "gid", "tasdir", "run_as_executor"):
        described.setdefault(name, "an Abaco actor field this server does not use")
    return described


def _flatten(messages, prefix: str = ""):
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":  # the whole request: the message says it all
                yield from (" ".join(value) if isinstance(value, list) else str(value),)
                continue
            yield from _flatten(value, f"{prefix}{key}.")
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        field = prefix.rstrip(".") or "request"
        yield f"{field}: {' '.join(messages)}"
    else:
        for item in messages:
            yield from _flatten(item, prefix)
