"""The response envelope and the error handlers that keep every answer in it.

``{"message": str, "result": ..., "status": "success"|"error", "version": str}``
"""
from __future__ import annotations

import logging

from flask import current_app, g, has_request_context, jsonify
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException

from .casing import convert_keys, to_camel

log = logging.getLogger(__name__)


class APIError(Exception):
    """An error a user can act on: its message goes back in the envelope."""

    status_code = 400

    def __init__(self, message: str, status_code: int = None):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class NotFound(APIError):
    status_code = 404


class Forbidden(APIError):
    status_code = 403


class Unauthorized(APIError):
    status_code = 401


def envelope(result, message: str, status: str = "success", code: int = 200,
             convert_case: bool = True):
    """``convert_case=False`` keeps the result's keys as they are (user data such as a
    ``{username: level}`` permission map)."""
    config = current_app.config["ACTORS"]
    if status == "success" and has_request_context() and g.get("notes"):
        message = " ".join([message, *g.notes])  # e.g. fields that were ignored (schemas/)
    if config.case == "camel" and convert_case:
        result = convert_keys(result, to_camel)
    response = jsonify(envelope_body(result, message, status, config.version))
    response.status_code = code
    return response


def envelope_body(result, message: str, status: str, version: str) -> dict:
    """What every answer's JSON holds (also the fast lane's, which has no Flask request)."""
    return {"message": message, "result": result, "status": status, "version": version}


def ok(result, message: str, code: int = 200, convert_case: bool = True):
    return envelope(result, message, "success", code, convert_case)


def _error(message: str, code: int):
    return envelope(None, message, "error", code)


RETRY_AFTER = 2  # seconds a client is asked to wait when Redis is unavailable

_HTTP_MESSAGES = {
    404: "Not found: no such endpoint.",
    405: "Method not allowed on this endpoint.",
    413: "The message is larger than this server accepts ({limit} bytes).",
}


def register_error_handlers(app) -> None:
    @app.errorhandler(APIError)
    def handle_api_error(error: APIError):
        return _error(error.message, error.status_code)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        template = _HTTP_MESSAGES.get(error.code)
        if template:
            message = template.format(limit=app.config["ACTORS"].max_message_bytes)
        else:
            message = error.description or error.name
        response = _error(message, error.code)
        if error.code == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    def handle_store_unavailable(error: Exception):
        """Redis is away (restarting, loading its AOF, unreachable). Answered with one log
        line, not a traceback: it is an expected condition, and the client should retry."""
        log.warning("Redis unavailable; answered 503: %s", error)
        response = _error("The platform's database is unavailable for a moment, so the request "
                          f"may not have been completed; try again in {RETRY_AFTER} s.", 503)
        response.headers["Retry-After"] = str(RETRY_AFTER)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        log.exception("unhandled error")
        return _error("Internal server error; the request was not completed.", 500)
