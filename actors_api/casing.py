"""snake_case <-> camelCase for every key of requests and responses (``ACTORS_CASE=camel``).

Values that are user data (environment variables, actor state, Docker's own
``State``) keep their keys as they are.
"""
from __future__ import annotations

import re

OPAQUE_KEYS = {"default_environment", "state", "final_state", "environment", "env", "message"}

_UPPER = re.compile(r"_([a-z0-9])")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def to_camel(name: str) -> str:
    if name.startswith("_"):
        return name
    return _UPPER.sub(lambda m: m.group(1).upper(), name)


def to_snake(name: str) -> str:
    return _CAMEL.sub(lambda m: "_" + m.group(1).lower(), name)


def convert_keys(value, convert, opaque=OPAQUE_KEYS):
    """Rename dict keys recursively, leaving the values of ``opaque`` keys untouched."""
    if isinstance(value, list):
        return [convert_keys(item, convert, opaque) for item in value]
    if not isinstance(value, dict):
        return value
    renamed = {}
    for key, item in value.items():
        snake = to_snake(key)
        renamed[convert(key)] = item if snake in opaque else convert_keys(item, convert, opaque)
    return renamed
