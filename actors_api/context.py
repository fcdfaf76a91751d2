"""The app's shared objects, reached from handlers without import cycles."""
from __future__ import annotations

import json
import math

from flask import current_app, request
from flask.json.provider import DefaultJSONProvider

from .casing import convert_keys, to_snake
from .errors import APIError

# How deep a request body's JSON (fields, state) may nest. Python's own parser gives
# up near 1,000 levels and its encoder sooner, so anything deeper than this would
# either be refused by the parser or fail later when stored or answered.
MAX_JSON_DEPTH = 100


class BadJSON(ValueError):
    """A JSON text this server will not take; the message says why."""


def parse_json(raw, max_depth=MAX_JSON_DEPTH, strict_numbers=True):
    """``raw`` (bytes or str) parsed, or :class:`BadJSON`.

    The one place request JSON is parsed: the app's JSON provider (``request.get_json``),
    :func:`request_fields`, the messages route and the JSON-in-a-form-field schema
    fields all come here. Refused: invalid JSON, nesting deeper than ``max_depth``
    (``None``: only what the parser itself cannot handle), and the non-finite numbers
    (``NaN``, ``Infinity``, ``1e309``) that Python accepts but JSON does not have, unless
    ``strict_numbers`` is false (a message's text goes to the actor as sent, as in Abaco).
    """
    numbers = dict(parse_constant=_no_constant, parse_float=_finite_float) if strict_numbers else {}
    try:
        value = json.loads(raw, **numbers)
    except RecursionError:
        raise BadJSON("The JSON is nested too deeply for this server to parse"
                      + (f" (at most {max_depth} levels)." if max_depth else "."))
    except BadJSON:
        raise
    except (ValueError, UnicodeDecodeError) as error:
        raise BadJSON(f"The JSON could not be parsed: {error}.")
    if max_depth is not None and _depth_exceeds(value, max_depth):
        raise BadJSON(f"The JSON is nested too deeply: at most {max_depth} levels are accepted.")
    return value


def _no_constant(name: str):
    raise BadJSON(f"The JSON holds {name}, which is not a JSON number.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJSON(f"The JSON holds the number {text[:40]}, which is out of range.")
    return value


def _depth_exceeds(value, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))
    return False


class JSONProvider(DefaultJSONProvider):
    """``request.get_json()`` anywhere in the app parses through :func:`parse_json`."""

    def loads(self, s, **kwargs):
        return parse_json(s)


def get_store():
    return current_app.extensions["actors_store"]


def get_config():
    return current_app.config["ACTORS"]


def json_body():
    """The request body as a JSON value, or a 400 that says what is wrong with it."""
    try:
        return parse_json(request.get_data())
    except BadJSON as error:
        raise APIError(f"The request body is not acceptable JSON: {error}")


def request_fields() -> dict:
    """The request's fields from a JSON body or a form, keys in snake_case."""
    if request.is_json:
        data = json_body()
        if not isinstance(data, dict):
            raise APIError("The request body must be a JSON object.")
    else:
        data = request.form.to_dict()
    if get_config().case == "camel":
        data = convert_keys(data, to_snake)
    return data


def links(*pairs, base: str = None) -> dict:
    """Abaco-style ``_links`` with absolute URLs on this server (``base``: its URL, when
    there is no Flask request to ask)."""
    base = request.host_url.rstrip("/") if base is None else base
    return {name: f"{base}{path}" for name, path in pairs}

