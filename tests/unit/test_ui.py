"""Serving the dashboard: static files without a token, nothing else opened up.

What the page does in a browser is tested in tests/integration/test_dashboard.py.
"""
from __future__ import annotations

import posixpath
import re

from actors_api.ui import STATIC

JS_TYPES = ("text/javascript", "application/javascript")
# Ways to turn a string into markup or code; the dashboard uses none of them (dom.js explains).
MARKUP_SINKS = re.compile(r"\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval|"
                          r"new Function|setHTMLUnsafe|parseHTMLUnsafe|createContextualFragment)\b")


def test_ui_redirects_to_its_folder_and_serves_the_page_without_a_token(http):
    response = http.get("/ui")
    assert response.status_code == 308 and response.headers["Location"].endswith("/ui/")
    response = http.get("/ui/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert b'<script type="module" src="js/app.js">' in response.data
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_every_file_the_page_loads_is_served_with_its_type(http):
    """index.html's scripts, styles and images, and every module's imports, recursively."""
    index = (STATIC / "index.html").read_text()
    wanted = set(re.findall(r'(?:src|href)="((?:js|css|img)/[^"]+)"', index))
    seen = set()
    while wanted - seen:
        name = sorted(wanted - seen)[0]
        seen.add(name)
        response = http.get(f"/ui/{name}")
        assert response.status_code == 200, name
        if name.endswith(".js"):
            assert response.mimetype in JS_TYPES, (name, response.mimetype)
            folder = posixpath.dirname(name)
            for imported in re.findall(r'^import .* from "(\.{1,2}/[^"]+)";$',
                                       response.data.decode(), re.MULTILINE):
                wanted.add(posixpath.normpath(posixpath.join(folder, imported)))
        elif name.endswith(".css"):
            assert response.mimetype == "text/css"
    modules = {str(p.relative_to(STATIC).as_posix()) for p in STATIC.rglob("*.js")}
    assert modules <= seen, f"modules nothing imports: {sorted(modules - seen)}"


def test_the_page_never_turns_data_into_markup():
    for module in STATIC.rglob("*.js"):
        found = MARKUP_SINKS.search(module.read_text())
        assert found is None, f"{module.relative_to(STATIC)} uses {found.group(0)}"


def test_nothing_outside_the_static_folder_is_served(http):
    for path in ("/ui/../__init__.py", "/ui/%2e%2e/__init__.py", "/ui/..%2f__init__.py",
                 "/ui/nothing.js"):
        response = http.get(path)
        assert response.status_code in (401, 404), path
        assert b"Blueprint" not in response.data


def test_the_api_still_needs_a_token(http):
    assert http.get("/actors").status_code == 401
    assert http.get("/actors/admin/hosts").status_code == 401
