"""The baseline of bench/accept.py: a minimal Flask app that accepts a message with one LPUSH.

Same Flask, same redis-py (with hiredis when installed), same gunicorn settings as the API;
no authentication, no record, no wake-up: the floor a front door is compared with.
"""
from __future__ import annotations

import os

import redis
from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)
    connection = redis.Redis.from_url(os.environ.get("ACTORS_REDIS_URL", "redis://localhost:6379/0"))

    @app.post("/actors/<actor_id>/messages")
    def send(actor_id):
        connection.lpush(f"bench:minimal:{actor_id}", request.get_data())
        return jsonify({"status": "success", "result": {"actor_id": actor_id}})

    return app
