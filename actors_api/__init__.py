"""The HTTP side of the platform. It never talks to Docker: it writes to the
store and the queue, and spawners do the rest.

Production: ``gunicorn "actors_api:create_app()"``.
"""
from __future__ import annotations

import threading
from typing import Optional

from flask import Flask

from .config import Config

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Nonce",
    "Access-Control-Max-Age": "600",
}


def create_app(config: Optional[Config] = None, store=None) -> Flask:
    from .auth import authenticate
    from .errors import register_error_handlers
    from .routes import BLUEPRINTS
    from .store import Store
    from .ui import bp as ui_blueprint

    config = config or Config.from_env()
    app = Flask(__name__)
    app.config["ACTORS"] = config
    # Werkzeug refuses larger bodies with 413 before any handler reads them.
    app.config["MAX_CONTENT_LENGTH"] = config.max_message_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = config.max_message_bytes
    app.json.sort_keys = False
    app.url_map.strict_slashes = False
    app.extensions["actors_store"] = store or Store.from_config(config)
    app.extensions["actors_sync_waiters"] = threading.BoundedSemaphore(config.sync_max_waiters)

    register_error_handlers(app)
    app.before_request(authenticate)
    for blueprint in (*BLUEPRINTS, ui_blueprint):
        app.register_blueprint(blueprint)

    @app.after_request
    def add_cors_headers(response):
        response.headers.update(CORS_HEADERS)
        return response

    return app
