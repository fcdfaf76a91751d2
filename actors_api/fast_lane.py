"""The fast lane: a warm message post answered without Flask's request machinery.

For every request Flask builds a request context, matches the URL map, runs the before and
after hooks and makes a Response object; on a message post that is more of the API's CPU
than the post's own work (docs/performance.md). The lane, a WSGI wrapper around the Flask
app, answers the commonest post itself: ``POST /actors/{id}/messages`` with no query string,
a JSON, plain-text or binary body, and a bearer token and an access grant this process
already holds (token_cache.py, front_door.py). It does what the route does, through the same
functions: the message rules (``routes/messages.py``), the guarded one-script submit, the
answer and its envelope, the metrics and the CORS headers.

Everything else goes to Flask unchanged (the body it read put back): a first request from a
caller, a nonce, a form, query parameters, camelCase answers, and any refusal at all (a bad
message, a stale grant, a revoked token), so every rule and every error is still written in
one place, and the lane never answers anything Flask would answer differently. Redis being
away is answered by the app's own error handler. ``ACTORS_FAST_LANE=0`` turns it off.
"""
from __future__ import annotations

import io
import re
import time
from typing import Optional

from werkzeug.sansio.utils import get_current_url
from werkzeug.wsgi import get_host

from actors_core.store.scripts import StaleAccess, TokenRevoked

from . import front_door, metrics
from .auth import EXECUTE
from .errors import envelope_body
from .routes import ROUTED_WORDS
from .routes.messages import (ACCEPTED_MESSAGE, accepted, check_deliverable, new_execution,
                              parse_body)

PATH = re.compile(r"/actors/([A-Za-z0-9_.-]+)/messages")  # the route's own spelling only
RULE = "/actors/<actor:actor_id>/messages"  # the route's rule, as the metrics name it
BODIES = ("application/json", "text/plain", "application/octet-stream")


class FastLane:
    """WSGI: the lane for warm message posts, Flask's ``wsgi_app`` for the rest."""

    def __init__(self, app, cors_headers: dict):
        self.app = app
        self.flask = app.wsgi_app
        config = app.config["ACTORS"]
        self.on = config.fast_lane and config.case == "snake"
        self.limit = config.max_message_bytes
        self.version = config.version
        self.store = app.extensions["actors_store"]
        self.tokens = app.extensions["actors_tokens"]
        self.grants = app.extensions["actors_grants"]
        self.headers = [("Content-Type", "application/json"), *cors_headers.items()]
        self._bases = {}

    def __call__(self, environ, start_response):
        if not self.on or environ["REQUEST_METHOD"] != "POST" or environ.get("QUERY_STRING"):
            return self.flask(environ, start_response)
        match = PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or match.group(1) in ROUTED_WORDS:
            return self.flask(environ, start_response)
        started = time.perf_counter()
        body = self._body(environ)
        if body is None:
            return self.flask(environ, start_response)
        try:
            answer = self._serve(environ, match.group(1), body)
        except Exception as error:  # Redis away, or a bug: the app's own handlers answer
            return self._flask_error(environ, start_response, error)
        if answer is None:
            environ["wsgi.input"] = io.BytesIO(body)
            return self.flask(environ, start_response)
        start_response("200 OK", self.headers + [("Content-Length", str(len(answer)))])
        if self.app.extensions.get(metrics.EXTENSION):
            metrics.observe("POST", RULE, 200, started)
        return [answer]

    def _body(self, environ) -> Optional[bytes]:
        """The request body, if the lane may take this request; ``None`` (nothing read) if
        not: a body of another kind, no length, or over the limit."""
        mimetype = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        if mimetype not in BODIES or not environ.get("HTTP_AUTHORIZATION"):
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if not 0 <= length <= self.limit or environ.get("HTTP_TRANSFER_ENCODING"):
            return None
        body = environ["wsgi.input"].read(length)
        if len(body) != length:  # cut short: Flask answers what it makes of it
            environ["wsgi.input"] = io.BytesIO(body)
            return None
        return body

    def _serve(self, environ, ident: str, data: bytes) -> Optional[bytes]:
        """The answer's bytes, or ``None`` to leave the request to Flask."""
        scheme, _, token = environ["HTTP_AUTHORIZATION"].partition(" ")
        if scheme.lower() != "bearer":
            return None
        identity = self.tokens.cached(token.strip())
        if identity is None:
            return None
        grant = front_door.cached_grant(self.grants, identity, ident, EXECUTE)
        if grant is None:
            return None
        mimetype = environ["CONTENT_TYPE"].split(";", 1)[0].strip().lower()
        try:
            content_type, body, msg = parse_body(mimetype, mimetype == "application/json",
                                                 lambda: data)
            check_deliverable(content_type, body, {}, self.limit)
            base = self._base(environ)
        except Exception:  # a bad message or Host header: Flask says what is wrong
            return None
        try:
            execution = front_door.submit_once(self.store, grant, identity.token_id,
                                               new_execution(identity.username, content_type, {}),
                                               body)
        except (StaleAccess, TokenRevoked):
            return None
        actor = grant.actor
        metrics.message_accepted(actor, content_type, app=self.app)
        result = accepted(execution["id"], msg, actor["id"], actor["owner"], base)
        return (self.app.json.dumps(envelope_body(result, ACCEPTED_MESSAGE, "success",
                                                  self.version), separators=(",", ":"))
                + "\n").encode()

    def _base(self, environ) -> str:
        """``request.host_url`` without its slash, as ``context.links`` takes it (remembered
        per scheme and Host header: werkzeug's parsing is a fair part of a post's CPU)."""
        key = (environ.get("wsgi.url_scheme", "http"), environ.get("HTTP_HOST"),
               environ.get("SERVER_NAME"), environ.get("SERVER_PORT"))
        base = self._bases.get(key)
        if base is None:
            base = get_current_url(key[0], get_host(environ, self.app.config.get("TRUSTED_HOSTS")))
            base = base.rstrip("/")
            if len(self._bases) < 64:  # a handful of names a server is reached by
                self._bases[key] = base
        return base

    def _flask_error(self, environ, start_response, error: Exception):
        with self.app.request_context(environ):
            response = self.app.make_response(self.app.handle_user_exception(error))
            response = self.app.process_response(response)
        return response(environ, start_response)
