"""The HTTP side of the platform. It never talks to Docker: it writes to the
store and the queue, and spawners do the rest.

Production: ``gunicorn "actors_api:create_app()"``.
"""
from __future__ import annotations

import threading
from typing import Optional

from flask import Flask

from actors_core.config import Config

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Nonce",
    "Access-Control-Max-Age": "600",
}


def create_app(config: Optional[Config] = None, store=None) -> Flask:
    from actors_core.store import Store

    from . import metrics, openapi
    from .auth import authenticate
    from .context import JSONProvider
    from .errors import register_error_handlers
    from .fast_lane import FastLane
    from .front_door import GRANTS
    from .routes import BLUEPRINTS, ActorIdConverter
    from .token_cache import ExpiringCache, TokenCache
    from .ui import bp as ui_blueprint

    config = config or Config.from_env()
    app = Flask(__name__)
    app.config["ACTORS"] = config
    # Werkzeug refuses larger bodies with 413 before any handler reads them.
    app.config["MAX_CONTENT_LENGTH"] = config.max_message_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = config.max_message_bytes
    app.json = JSONProvider(app)  # request JSON is parsed with limits (context.parse_json)
    app.json.sort_keys = False
    app.url_map.strict_slashes = False
    app.url_map.converters["actor"] = ActorIdConverter
    app.extensions["actors_store"] = store or Store.from_config(config)
    app.extensions["actors_sync_waiters"] = threading.BoundedSemaphore(config.sync_max_waiters)
    app.extensions["actors_tokens"] = TokenCache(config)  # verified tokens (token_cache.py)
    app.extensions["actors_grants"] = ExpiringCache(GRANTS)  # access decisions (front_door.py)
    status_streams(app, config)

    register_error_handlers(app)
    if config.metrics:
        metrics.init_app(app)  # first: refused requests are timed too
    app.before_request(authenticate)
    for blueprint in (*BLUEPRINTS, ui_blueprint):
        app.register_blueprint(blueprint)
    app.register_blueprint(openapi.bp)

    @app.after_request
    def add_cors_headers(response):
        response.headers.update(CORS_HEADERS)
        return response

    app.wsgi_app = FastLane(app, CORS_HEADERS)  # warm message posts (fast_lane.py)
    return app


def status_streams(app: Flask, config: Config) -> None:
    """Status events recorded here come from the API; SSE streams share a cap and a listener."""
    from .sse import Listener, StreamSlots

    store = app.extensions["actors_store"]
    store.timeline.identify("api", version=config.version)
    app.extensions["actors_status_streams"] = StreamSlots(config.status_max_streams)
    app.extensions["actors_status_listener"] = Listener(store.timeline)
