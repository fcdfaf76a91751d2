"""The web dashboard at ``/ui``: static files only, shipped with the package.

The page is plain ES modules and CSS (``static/``), nothing to build and
nothing fetched from elsewhere. It holds no privilege of its own: the browser
calls the same API with the user's bearer token, so it shows exactly what that
token may see. Serving the files needs no token (they contain no data), which
is why these views are marked :func:`~actors_api.auth.public`.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, redirect, request, send_from_directory

from ..auth import public

bp = Blueprint("ui", __name__)

STATIC = Path(__file__).resolve().parent / "static"
# Only our own files may run or be fetched by the page: a name or log line that
# slipped past escaping still could not load a script or send data elsewhere.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
                           "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@bp.get("/ui")
@public
def index():
    # The page's modules are addressed relative to it, so it must end in a slash.
    if not request.path.endswith("/"):
        return redirect(request.script_root + "/ui/", code=308)
    return _send("index.html")


@bp.get("/ui/<path:filename>")
@public
def static_file(filename):
    return _send(filename)


def _send(filename: str):
    # send_from_directory refuses paths that leave STATIC (404), and answers
    # conditional requests from the file's ETag.
    response = send_from_directory(STATIC, filename, max_age=0)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
