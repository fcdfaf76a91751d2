"""Hooks for the schemathesis run (tests/integration/test_schemathesis.py loads them through
SCHEMATHESIS_HOOKS)."""
import json

import schemathesis

from actors_api.routes import ROUTED_WORDS
from actors_api.schemas.paging import encode_cursor

NOT_AN_ID = set(ROUTED_WORDS) | {".", ".."}


@schemathesis.hook
def filter_case(context, case):
    """The document says an actor id is never a routed word; a case that breaks that on
    purpose asks for another operation's URL (GET /actors/utilization is the utilization,
    not actor "utilization"), so its answer says nothing about this operation."""
    return not any(str(value) in NOT_AN_ID for value in (case.path_parameters or {}).values())


FORM = "application/x-www-form-urlencoded"


@schemathesis.hook
def map_case(context, case):
    """Keep a positive case valid by what the document says in words or in keywords
    schemathesis does not generate from: a listing's cursor is one the server gave, and a
    form's JSON-text fields hold JSON text (OpenAPI 3.1's ``contentMediaType`` and
    ``contentSchema``: a form carries ``default_environment`` as JSON text), so the generated
    text is wrapped into that shape."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    _with_a_real_cursor(case)
    if case.media_type != FORM or not isinstance(case.body, dict):
        return case
    for name, prop in _form_properties(case).items():
        if prop.get("contentMediaType") == "application/json" and name in case.body:
            shape = dict if prop.get("contentSchema", {}).get("type") == "object" else list
            if not _is_json(case.body[name], shape):
                text = str(case.body[name])
                case.body[name] = json.dumps({"V": text} if shape is dict else [text])
    return case


def _with_a_real_cursor(case) -> None:
    """A listing's ``cursor`` is opaque: the document says to pass a page's
    ``_metadata.next_cursor``, and never with ``offset``. A positive case gets a cursor the
    server could have given (from the generated text), and no offset beside it."""
    query = case.query
    if isinstance(query, dict) and "cursor" in query:
        query["cursor"] = encode_cursor(sum(str(query["cursor"]).encode()) % 1000)
        query.pop("offset", None)


def _form_properties(case) -> dict:
    raw = case.operation.definition.raw
    schema = raw.get("requestBody", {}).get("content", {}).get(FORM, {}).get("schema", {})
    if "$ref" in schema:
        name = schema["$ref"].rpartition("/")[2]
        schema = case.operation.schema.raw_schema["components"]["schemas"][name]
    return schema.get("properties", {})


def _is_json(value, shape) -> bool:
    try:
        return isinstance(json.loads(value), shape)
    except (TypeError, ValueError):
        return False
