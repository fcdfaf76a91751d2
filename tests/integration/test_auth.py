"""Bearer tokens at the HTTP boundary, against the real server."""
from __future__ import annotations

import time

import jwt

from actors_core.tokens import mint

from .conftest import ECHO
from .platform import ApiClient


def test_missing_bad_and_expired_tokens_are_401(api):
    anonymous = ApiClient(api.url)
    assert anonymous.get("/actors").status_code == 401
    garbage = ApiClient(api.url, "not-a-jwt")
    response = garbage.get("/actors")
    assert response.status_code == 401 and response.json()["status"] == "error"
    expired = jwt.encode({"sub": "eve", "exp": int(time.time()) - 10}, api.config.jwt_secret,
                         algorithm="HS256")
    response = ApiClient(api.url, expired).get("/actors")
    assert response.status_code == 401 and "expired" in response.json()["message"]
    unsigned = jwt.encode({"sub": "eve", "exp": int(time.time()) + 60}, None, algorithm="none")
    assert ApiClient(api.url, unsigned).get("/actors").status_code == 401
    wrong_key = jwt.encode({"sub": "eve", "exp": int(time.time()) + 60}, "another-secret-entirely-0123456789",
                           algorithm="HS256")
    assert ApiClient(api.url, wrong_key).get("/actors").status_code == 401


def test_other_users_get_403_and_admins_see_everything(client, api):
    actor = client.create_actor(ECHO)
    stranger = ApiClient(api.url, mint(api.config, "mallory"))
    response = stranger.get(f"/actors/{actor['id']}")
    assert response.status_code == 403
    assert stranger.post(f"/actors/{actor['id']}/messages", data={"message": "x"}).status_code == 403
    assert actor["id"] not in [a["id"] for a in stranger.result(stranger.get("/actors"))]

    admin = ApiClient(api.url, mint(api.config, "root", roles=("admin",)))
    assert actor["id"] in [a["id"] for a in admin.result(admin.get("/actors"))]
    assert admin.get(f"/actors/{actor['id']}").status_code == 200


def test_unknown_actor_is_404_and_wrong_method_is_405(client):
    response = client.get("/actors/doesnotexist")
    assert response.status_code == 404 and response.json()["result"] is None
    response = client.request("PATCH", "/actors")
    assert response.status_code == 405 and response.json()["status"] == "error"
    preflight = client.request("OPTIONS", "/actors/x/messages")
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
