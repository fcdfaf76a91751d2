"""A Python client for the actors API, shaped like docker-py.

``Client`` is the thin layer: one HTTP request, the envelope unwrapped, an
error turned into :class:`ApiError` with the server's message. The resource
objects (``client.actors`` -> :class:`Actor` -> :class:`Execution`, and
``client.runs`` -> :class:`Run`) live in
``resources.py`` and are built on :meth:`Client.call`.

Standard library only (``urllib``), so the same client runs inside actor
images, where ``get_client()`` builds one from the execution's token.

Servers may answer in camelCase (``ACTORS_CASE=camel``); every key of a
result is turned back to snake_case here, so code written against one server
works against both. Requests are always sent in snake_case, which both accept.
"""
from __future__ import annotations

import json as jsonlib
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import NamedTuple, Optional

from .errors import ApiError, SynchronousTimeout
from .resources import Actor, ActorCollection, Execution, Run, RunCollection

__all__ = ["ApiError", "SynchronousTimeout", "Client", "Actor", "Execution", "Response", "Run"]

UNSET = object()  # "no JSON body": ``None`` is a JSON value (null) a caller may send

# Values that are the user's own data keep their keys as they are (as on the server).
OPAQUE_KEYS = {"default_environment", "state", "final_state", "environment", "env", "message"}
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def to_snake(name: str) -> str:
    return _CAMEL.sub(lambda m: "_" + m.group(1).lower(), name)


def snake_keys(value):
    """Rename keys to snake_case recursively, leaving the values of OPAQUE_KEYS untouched."""
    if isinstance(value, list):
        return [snake_keys(item) for item in value]
    if not isinstance(value, dict):
        return value
    renamed = {}
    for key, item in value.items():
        snake = to_snake(key) if isinstance(key, str) else key
        renamed[snake] = item if snake in OPAQUE_KEYS else snake_keys(item)
    return renamed


class Response(NamedTuple):
    status: int
    content_type: str
    body: bytes

    def json(self):
        return jsonlib.loads(self.body.decode("utf-8"))


class Client:
    """``Client("http://localhost:8000", token)``; ``client.actors`` is the way in."""

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 60.0):
        if not url:
            raise ValueError("Client needs the API's URL, e.g. http://localhost:8000")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.actors = ActorCollection(self)
        self.runs = RunCollection(self)

    def __repr__(self):
        return f"<Client: {self.url}>"

    def request(self, method: str, path: str, *, params: Optional[dict] = None, json=UNSET,
                form: Optional[dict] = None, data: Optional[bytes] = None,
                content_type: Optional[str] = None, timeout: Optional[float] = None) -> Response:
        """One HTTP request; any status of 400 or more raises :class:`ApiError`."""
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = None
        if json is not UNSET:
            body, headers["Content-Type"] = jsonlib.dumps(json).encode(), "application/json"
        elif form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif data is not None:
            body, headers["Content-Type"] = bytes(data), content_type or "application/octet-stream"
        request = urllib.request.Request(url, data=body, headers=headers, method=method)
        timeout = timeout or self.timeout
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return Response(answer.status, answer.headers.get_content_type(), answer.read())
        except urllib.error.HTTPError as error:
            raise _api_error(error) from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, (socket.timeout, TimeoutError)):
                raise TimeoutError(f"{method} {url}: no answer within {timeout} s") from None
            raise ConnectionError(f"cannot reach the actors API at {self.url}: "
                                  f"{error.reason}") from None
        except (socket.timeout, TimeoutError):
            raise TimeoutError(f"{method} {url}: no answer within {timeout} s") from None

    def open(self, path: str, *, params: Optional[dict] = None, headers: Optional[dict] = None,
             timeout: Optional[float] = None):
        """GET as a stream: the open response (read it in pieces, then close it), or None
        for 204 No Content. Errors raise as :meth:`request` raises them."""
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        sent = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        sent.update(headers or {})
        request = urllib.request.Request(url, headers=sent, method="GET")
        timeout = timeout or self.timeout
        try:
            answer = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            raise _api_error(error) from None
        except urllib.error.URLError as error:
            raise ConnectionError(f"cannot reach the actors API at {self.url}: "
                                  f"{error.reason}") from None
        if answer.status == 204:
            answer.close()
            return None
        return answer

    def call(self, method: str, path: str, **kwargs):
        """The envelope's ``result`` of a JSON endpoint, keys in snake_case."""
        response = self.request(method, path, **kwargs)
        try:
            envelope = response.json()
        except ValueError:
            raise ApiError(response.status, f"expected a JSON answer from {method} {path}, got "
                           f"{response.content_type}: {response.body[:200]!r}") from None
        return snake_keys(envelope.get("result")) if isinstance(envelope, dict) else envelope


def _api_error(error: urllib.error.HTTPError) -> ApiError:
    """The server's own message when the body is the envelope, else what HTTP said."""
    try:
        raw = error.read()
    except OSError:
        raw = b""
    message, result = None, None
    try:
        envelope = jsonlib.loads(raw.decode("utf-8"))
        if isinstance(envelope, dict):
            message = envelope.get("message")
            result = snake_keys(envelope.get("result"))
    except ValueError:
        pass
    if not message:
        text = raw.decode("utf-8", "replace").strip()
        message = text[:500] if text else (error.reason or f"HTTP {error.code}")
    error_class = SynchronousTimeout if error.code == 408 else ApiError
    return error_class(error.code, str(message), result)
