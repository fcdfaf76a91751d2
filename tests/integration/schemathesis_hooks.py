"""Hooks for the schemathesis run (tests/integration/test_schemathesis.py loads them through
SCHEMATHESIS_HOOKS)."""
import json

import schemathesis

from actors_api.routes import ROUTED_WORDS

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
    """Give a form's JSON-text fields JSON text. The document says so with OpenAPI 3.1's
    ``contentMediaType``/``contentSchema`` (a form carries ``default_environment`` as JSON
    text), which schemathesis does not generate from; a positive case gets the generated
    text wrapped into that shape, so the case stays valid by the document."""
    meta = case.meta
    if (case.media_type != FORM or not isinstance(case.body, dict) or meta is None
            or not meta.generation.mode.is_positive):
        return case
    for name, prop in _form_properties(case).items():
        if prop.get("contentMediaType") == "application/json" and name in case.body:
            shape = dict if prop.get("contentSchema", {}).get("type") == "object" else list
            if not _is_json(case.body[name], shape):
                text = str(case.body[name])
                case.body[name] = json.dumps({"V": text} if shape is dict else [text])
    return case


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
