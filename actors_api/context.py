"""The app's shared objects, reached from handlers without import cycles."""
from __future__ import annotations

from flask import current_app, request

from .casing import convert_keys, to_snake
from .errors import APIError


def get_store():
    return current_app.extensions["actors_store"]


def get_config():
    return current_app.config["ACTORS"]


def request_fields() -> dict:
    """The request's fields from a JSON body or a form, keys in snake_case."""
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise APIError("The request body must be a JSON object.")
    else:
        data = request.form.to_dict()
    if get_config().case == "camel":
        data = convert_keys(data, to_snake)
    return data


def links(*pairs) -> dict:
    """Abaco-style ``_links`` with absolute URLs on this server."""
    base = request.host_url.rstrip("/")
    return {name: f"{base}{path}" for name, path in pairs}

