"""marshmallow schemas, one module per resource; load() errors become 400s naming the field."""
from __future__ import annotations

from marshmallow import ValidationError

from ..errors import APIError


def load_or_400(schema, data: dict, what: str) -> dict:
    try:
        return schema.load(data)
    except ValidationError as error:
        problems = "; ".join(_flatten(error.messages))
        raise APIError(f"Invalid {what}: {problems}")


def _flatten(messages, prefix: str = ""):
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = "request" if key == "_schema" else f"{prefix}{key}"
            yield from _flatten(value, f"{name}." if key != "_schema" else prefix)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        field = prefix.rstrip(".") or "request"
        yield f"{field}: {' '.join(messages)}"
    else:
        for item in messages:
            yield from _flatten(item, prefix)
