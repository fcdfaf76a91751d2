"""Sharing and access over fakeredis: levels x endpoints, the world share, nonces,
aliases, tenants, configs and their secrets, roles, execution tokens."""
from __future__ import annotations

import json
import logging

import pytest

from actors_api import create_app
from actors_core.config import Config
from actors_core.crypto import SecretsUnavailable, decrypt
from actors_core.enums import ExecutionStatus
from actors_core.tokens import mint
from spawner.runner import SpawnerContext
from spawner.runtimes.base import Handle, Runtime

from .conftest import SECRET, bearer

LEVELS = ("NONE", "READ", "EXECUTE", "UPDATE")
RANK = {name: rank for rank, name in enumerate(LEVELS)}
WORLD = "ABACO_WORLD"


def _no_tenant(value, path="result"):
    """No response of the API ever shows a tenant."""
    if isinstance(value, dict):
        assert "tenant" not in value, f"'tenant' exposed at {path}"
        for key, item in value.items():
            _no_tenant(item, f"{path}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _no_tenant(item, f"{path}[{n}]")


class Api:
    """The Flask test client, checking every JSON answer for a leaked tenant."""

    def __init__(self, http):
        self.http = http

    def __call__(self, method, path, headers=None, **kwargs):
        response = self.http.open(path, method=method, headers=headers, **kwargs)
        if response.is_json:
            _no_tenant(response.json)
        return response

    def ok(self, method, path, headers=None, **kwargs):
        response = self(method, path, headers, **kwargs)
        assert response.status_code == 200, (method, path, response.status_code, response.json)
        return response.json["result"]


@pytest.fixture
def api(http):
    return Api(http)


def _token(config, user, roles=(), tenant=None):
    return {"Authorization": f"Bearer {mint(config, user, roles=roles, tenant=tenant)}"}


def _actor(api, headers, **fields):
    return api.ok("POST", "/actors", headers, json={"image": "actors/echo", **fields})


def _share(api, headers, actor_id, user, level):
    return api.ok("POST", f"/actors/{actor_id}/permissions", headers, json={"user": user, "level": level})


# -- the matrix: who may do what ------------------------------------------------------------
def _fixture_ids(api, alice):
    """A stateful actor of alice's with one queued execution and one nonce."""
    actor = _actor(api, alice, stateless=False)
    execution = api.ok("POST", f"/actors/{actor['id']}/messages", alice, data={"message": "m"})
    nonce = api.ok("POST", f"/actors/{actor['id']}/nonces", alice, json={})
    return {"id": actor["id"], "eid": execution["execution_id"], "nid": nonce["id"]}


ENDPOINTS = [  # method, path, level needed, request body
    ("GET", "/actors/{id}", "READ", None),
    ("PUT", "/actors/{id}", "UPDATE", {"image": "actors/echo", "stateless": False}),
    ("DELETE", "/actors/{id}", "UPDATE", None),
    ("GET", "/actors/{id}/state", "READ", None),
    ("POST", "/actors/{id}/state", "UPDATE", {"n": 1}),
    ("GET", "/actors/{id}/messages", "READ", None),
    ("POST", "/actors/{id}/messages", "EXECUTE", {"x": 1}),
    ("DELETE", "/actors/{id}/messages", "UPDATE", None),
    ("GET", "/actors/{id}/executions", "READ", None),
    ("GET", "/actors/{id}/executions/{eid}", "READ", None),
    ("DELETE", "/actors/{id}/executions/{eid}", "UPDATE", None),
    ("GET", "/actors/{id}/executions/{eid}/logs", "READ", None),
    ("GET", "/actors/{id}/executions/{eid}/results", "READ", None),
    ("GET", "/actors/{id}/permissions", "READ", None),
    ("POST", "/actors/{id}/permissions", "UPDATE", {"user": "carol", "level": "READ"}),
    ("GET", "/actors/{id}/nonces", "READ", None),
    ("POST", "/actors/{id}/nonces", "UPDATE", {"level": "READ"}),
    ("DELETE", "/actors/{id}/nonces/{nid}", "UPDATE", None),
]


@pytest.mark.parametrize("grantee", ["bob", WORLD])
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("method,path,needed,body", ENDPOINTS,
                         ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
def test_levels_by_endpoint(api, alice, config, grantee, level, method, path, needed, body):
    ids = _fixture_ids(api, alice)
    if level != "NONE":
        _share(api, alice, ids["id"], grantee, level)
    bob = bearer(config, "bob")
    response = api(method, path.format(**ids), bob, json=body)
    if RANK[level] >= RANK[needed]:
        assert response.status_code == 200, response.json
    else:
        assert response.status_code == 403, response.json
        message = response.json["message"]
        assert f"needs {needed}" in message, message
        assert (f"you have {level}" if level != "NONE" else "no permission") in message, message


def test_owner_and_admin_hold_update_everywhere(api, alice, config):
    admin = bearer(config, "root", roles=("admin",))
    for headers in (alice, admin):
        for method, path, _, body in ENDPOINTS:
            ids = _fixture_ids(api, alice)
            assert api(method, path.format(**ids), headers, json=body).status_code == 200, (method, path)


def test_sharing_lists_the_actor_and_none_revokes(api, alice, config):
    actor = _actor(api, alice)
    bob, carol = bearer(config, "bob"), bearer(config, "carol")
    assert api.ok("GET", "/actors", bob) == []
    result = _share(api, alice, actor["id"], "bob", "execute")
    assert result == {"alice": "UPDATE", "bob": "EXECUTE"}
    assert [a["id"] for a in api.ok("GET", "/actors", bob)] == [actor["id"]]
    assert api.ok("GET", "/actors", carol) == []
    _share(api, alice, actor["id"], WORLD, "READ")
    assert [a["id"] for a in api.ok("GET", "/actors", carol)] == [actor["id"]]
    assert api("POST", f"/actors/{actor['id']}/messages", carol, data={"message": "x"}).status_code == 403
    assert api("POST", f"/actors/{actor['id']}/messages", bob, data={"message": "x"}).status_code == 200
    _share(api, alice, actor["id"], "bob", "NONE")
    _share(api, alice, actor["id"], WORLD, "NONE")
    assert api.ok("GET", f"/actors/{actor['id']}/permissions", alice) == {"alice": "UPDATE"}
    assert api.ok("GET", "/actors", bob) == [] and api.ok("GET", "/actors", carol) == []
    assert api("GET", f"/actors/{actor['id']}", bob).status_code == 403


def test_permission_requests_are_checked(api, alice, config):
    actor = _actor(api, alice)
    path = f"/actors/{actor['id']}/permissions"
    response = api("POST", path, alice, json={"user": "bob", "level": "ADMIN"})
    assert response.status_code == 400 and "level" in response.json["message"]
    assert api("POST", path, alice, json={"level": "READ"}).status_code == 400
    response = api("POST", path, alice, json={"user": "alice", "level": "READ"})
    assert response.status_code == 400 and "owns" in response.json["message"]
    # An UPDATE holder may share further, but not take the owner's UPDATE away.
    _share(api, alice, actor["id"], "bob", "UPDATE")
    bob = bearer(config, "bob")
    assert api.ok("POST", path, bob, data={"user": "carol", "level": "READ"})["carol"] == "READ"
    assert api("POST", path, bob, json={"user": "alice", "level": "NONE"}).status_code == 400


def test_permission_map_keeps_usernames_in_camel_mode(config, store, alice):
    api = Api(create_app(config.with_overrides(case="camel"), store).test_client())
    actor = _actor(api, alice)
    result = _share(api, alice, actor["id"], "john_doe", "READ")
    assert result == {"alice": "UPDATE", "john_doe": "READ"}


# -- nonces -----------------------------------------------------------------------------------
def test_nonce_fields_and_validation(api, alice):
    actor = _actor(api, alice)
    path = f"/actors/{actor['id']}/nonces"
    nonce = api.ok("POST", path, alice, json={"description": "for the webhook"})
    assert {k: nonce[k] for k in ("level", "max_uses", "remaining_uses", "current_uses", "owner",
                                  "description", "last_use_time", "actor_id")} == {
        "level": "EXECUTE", "max_uses": -1, "remaining_uses": -1, "current_uses": 0,
        "owner": "alice", "description": "for the webhook", "last_use_time": None,
        "actor_id": actor["id"]}
    assert nonce["create_time"].endswith("Z") and len(nonce["id"]) >= 20 and nonce["roles"] == []
    for bad in ({"max_uses": 0}, {"max_uses": -2}, {"max_uses": "many"}, {"level": "NONE"},
                {"level": "ROOT"}):
        response = api("POST", path, alice, json=bad)
        assert response.status_code == 400, bad
        assert next(iter(bad)) in response.json["message"]
    assert [n["id"] for n in api.ok("GET", path, alice)] == [nonce["id"]]
    assert api.ok("GET", f"{path}/{nonce['id']}", alice)["id"] == nonce["id"]
    assert api("GET", f"{path}/nope", alice).status_code == 404


def test_a_nonce_acts_as_its_owner_on_its_actor_until_used_up(api, alice, store):
    actor, other = _actor(api, alice), _actor(api, alice)
    nonce = api.ok("POST", f"/actors/{actor['id']}/nonces", alice, json={"max_uses": 2})
    use = f"?x-nonce={nonce['id']}"
    sent = api.ok("POST", f"/actors/{actor['id']}/messages{use}", data={"message": "hi"})
    execution = api.ok("GET", f"/actors/{actor['id']}/executions/{sent['execution_id']}", alice)
    assert execution["executor"] == "alice"
    assert store.executions.get_internal(sent["execution_id"])["environment"] == {}  # no x-nonce
    assert api.ok("GET", f"/actors/{actor['id']}{use}")["id"] == actor["id"]
    record = api.ok("GET", f"/actors/{actor['id']}/nonces/{nonce['id']}", alice)
    assert record["current_uses"] == 2 and record["remaining_uses"] == 0 and record["last_use_time"]
    response = api("GET", f"/actors/{actor['id']}{use}")
    assert response.status_code == 403 and "no uses left" in response.json["message"]
    # Another actor of the same owner is out of reach.
    unlimited = api.ok("POST", f"/actors/{actor['id']}/nonces", alice, json={})
    response = api("GET", f"/actors/{other['id']}?x-nonce={unlimited['id']}")
    assert response.status_code == 403 and "another actor" in response.json["message"]


def test_a_nonce_is_capped_at_its_level_and_kept_off_other_endpoints(api, alice):
    actor = _actor(api, alice)
    reader = api.ok("POST", f"/actors/{actor['id']}/nonces", alice, json={"level": "READ"})
    use = f"?x-nonce={reader['id']}"
    response = api("POST", f"/actors/{actor['id']}/messages{use}", data={"message": "x"})
    assert response.status_code == 403 and "needs EXECUTE" in response.json["message"]
    assert "grants only READ" in response.json["message"]
    assert api("GET", f"/actors/{actor['id']}/messages{use}").status_code == 200
    updater = api.ok("POST", f"/actors/{actor['id']}/nonces", alice, json={"level": "UPDATE"})
    use = f"?x-nonce={updater['id']}"
    assert api("PUT", f"/actors/{actor['id']}{use}", json={"image": "actors/echo"}).status_code == 200
    for method, path, body in (("GET", "/actors", None), ("POST", "/actors", {"image": "x"}),
                               ("GET", f"/actors/{actor['id']}/nonces", None),
                               ("POST", f"/actors/{actor['id']}/nonces", {}),
                               ("POST", f"/actors/{actor['id']}/permissions",
                                {"user": "eve", "level": "UPDATE"}),
                               ("GET", "/actors/aliases", None), ("GET", "/actors/configs", None)):
        response = api(method, f"{path}{use}", json=body)
        assert response.status_code == 403, (method, path)
    assert api.ok("GET", f"/actors/{actor['id']}/nonces/{updater['id']}", alice)["current_uses"] == 1


def test_deleted_and_unknown_nonces_are_403_and_a_token_wins(api, alice, config):
    actor = _actor(api, alice)
    nonce = api.ok("POST", f"/actors/{actor['id']}/nonces", alice, json={"max_uses": 1})
    bob = bearer(config, "bob")
    # With a token the nonce is ignored (not spent, no access granted to bob).
    assert api("GET", f"/actors/{actor['id']}?x-nonce={nonce['id']}", bob).status_code == 403
    assert api.ok("GET", f"/actors/{actor['id']}/nonces/{nonce['id']}", alice)["current_uses"] == 0
    api.ok("DELETE", f"/actors/{actor['id']}/nonces/{nonce['id']}", alice)
    response = api("GET", f"/actors/{actor['id']}?x-nonce={nonce['id']}")
    assert response.status_code == 403 and "does not exist" in response.json["message"]
    assert api("GET", f"/actors/{actor['id']}", headers={"X-Nonce": "made-up"}).status_code == 403
    assert api("GET", f"/actors/{actor['id']}").status_code == 401


def test_nonces_of_others_are_hidden_below_update(api, alice, config):
    actor = _actor(api, alice)
    nonce = api.ok("POST", f"/actors/{actor['id']}/nonces", alice, json={"level": "UPDATE"})
    bob = bearer(config, "bob")
    _share(api, alice, actor["id"], "bob", "EXECUTE")
    assert api.ok("GET", f"/actors/{actor['id']}/nonces", bob) == []
    assert api("GET", f"/actors/{actor['id']}/nonces/{nonce['id']}", bob).status_code == 404
    _share(api, alice, actor["id"], "bob", "UPDATE")
    assert [n["id"] for n in api.ok("GET", f"/actors/{actor['id']}/nonces", bob)] == [nonce["id"]]


def test_a_nonce_works_only_while_its_owner_keeps_the_level(api, alice, config):
    actor = _actor(api, alice)
    _share(api, alice, actor["id"], "bob", "UPDATE")
    bob = bearer(config, "bob")
    nonce = api.ok("POST", f"/actors/{actor['id']}/nonces", bob, json={"level": "EXECUTE"})
    use = f"?x-nonce={nonce['id']}"
    assert api("POST", f"/actors/{actor['id']}/messages{use}", data={"message": "x"}).status_code == 200
    _share(api, alice, actor["id"], "bob", "READ")
    response = api("POST", f"/actors/{actor['id']}/messages{use}", data={"message": "x"})
    assert response.status_code == 403 and "you have READ" in response.json["message"]


def test_deleting_an_actor_deletes_its_nonces(api, alice, store):
    actor = _actor(api, alice)
    nonce = api.ok("POST", f"/actors/{actor['id']}/nonces", alice, json={})
    api.ok("DELETE", f"/actors/{actor['id']}", alice)
    assert store.nonces.get(nonce["id"]) is None


# -- aliases ----------------------------------------------------------------------------------
def test_an_alias_works_wherever_an_actor_id_does(api, alice):
    actor = _actor(api, alice, stateless=False)
    alias = api.ok("POST", "/actors/aliases", alice, json={"alias": "my.echo-1", "actor_id": actor["id"]})
    assert {k: alias[k] for k in ("alias", "actor_id", "owner")} == {
        "alias": "my.echo-1", "actor_id": actor["id"], "owner": "alice"}
    assert api.ok("GET", "/actors/my.echo-1", alice)["id"] == actor["id"]
    sent = api.ok("POST", "/actors/my.echo-1/messages", alice, data={"message": "via alias"})
    assert sent["_links"]["self"].endswith(f"/actors/{actor['id']}/executions/{sent['execution_id']}")
    assert api.ok("GET", "/actors/my.echo-1/executions", alice)["ids"] == [sent["execution_id"]]
    execution = api.ok("GET", f"/actors/my.echo-1/executions/{sent['execution_id']}", alice)
    assert execution["actor_id"] == actor["id"]
    assert api.ok("GET", "/actors/my.echo-1/messages", alice)["messages"] == 1
    assert api.ok("POST", "/actors/my.echo-1/state", alice, json={"s": 1}) == {"state": {"s": 1}}
    assert api.ok("GET", f"/actors/{actor['id']}/state", alice) == {"state": {"s": 1}}
    assert api.ok("GET", "/actors/my.echo-1/permissions", alice) == {"alice": "UPDATE"}
    assert [a["alias"] for a in api.ok("GET", "/actors/aliases", alice)] == ["my.echo-1"]
    assert api.ok("GET", "/actors/aliases/my.echo-1", alice)["actor_id"] == actor["id"]


def test_alias_names_are_checked(api, alice):
    actor = _actor(api, alice)
    for word in ("executions", "nonces", "logs", "messages", "admin", "aliases", "search", "configs"):
        response = api("POST", "/actors/aliases", alice, json={"alias": word, "actor_id": actor["id"]})
        assert response.status_code == 400 and "reserved" in response.json["message"], word
    for bad in ("a/b", "a b", "a?b", "a#b", "a:b", "a%2Fb", "naïve", "", ".", "..", "x" * 129):
        response = api("POST", "/actors/aliases", alice, json={"alias": bad, "actor_id": actor["id"]})
        assert response.status_code == 400 and "alias" in response.json["message"], bad
    api.ok("POST", "/actors/aliases", alice, json={"alias": "v1.2", "actor_id": actor["id"]})
    response = api("POST", "/actors/aliases", alice, json={"alias": "v1.2", "actor_id": actor["id"]})
    assert response.status_code == 409 and "already exists" in response.json["message"]
    response = api("POST", "/actors/aliases", alice, json={"alias": actor["id"], "actor_id": actor["id"]})
    assert response.status_code == 400
    response = api("POST", "/actors/aliases", alice, json={"alias": "ghost", "actor_id": "nope"})
    assert response.status_code == 404


def test_alias_permissions_do_not_reach_the_actor(api, alice, config):
    mine, other = _actor(api, alice), _actor(api, alice)
    bob = bearer(config, "bob")
    bobs = _actor(api, bob)
    # Pointing an alias at an actor needs UPDATE on that actor.
    _share(api, alice, mine["id"], "bob", "EXECUTE")
    response = api("POST", "/actors/aliases", bob, json={"alias": "bobs-name", "actor_id": mine["id"]})
    assert response.status_code == 403 and "needs UPDATE" in response.json["message"]
    api.ok("POST", "/actors/aliases", alice, json={"alias": "shared", "actor_id": other["id"]})
    assert api("GET", "/actors/aliases/shared", bob).status_code == 403
    result = api.ok("POST", "/actors/aliases/shared/permissions", alice,
                    json={"user": "bob", "level": "UPDATE"})
    assert result == {"alice": "UPDATE", "bob": "UPDATE"}
    assert api.ok("GET", "/actors/aliases/shared", bob)["actor_id"] == other["id"]
    assert [a["alias"] for a in api.ok("GET", "/actors/aliases", bob)] == ["shared"]
    response = api("GET", "/actors/shared", bob)  # the actor itself is still alice's alone
    assert response.status_code == 403 and "needs READ" in response.json["message"]
    response = api("PUT", "/actors/aliases/shared", bob, json={"actor_id": mine["id"]})
    assert response.status_code == 403 and "needs UPDATE" in response.json["message"]
    pointed = api.ok("PUT", "/actors/aliases/shared", bob, json={"actor_id": bobs["id"]})
    assert pointed["actor_id"] == bobs["id"]
    assert api.ok("GET", "/actors/shared", bob)["id"] == bobs["id"]
    renamed = api("PUT", "/actors/aliases/shared", bob, json={"alias": "renamed", "actor_id": bobs["id"]})
    assert renamed.status_code == 400
    api.ok("DELETE", "/actors/aliases/shared", bob)
    assert api("GET", "/actors/shared", bob).status_code == 404


def test_alias_nonces_follow_the_alias(api, alice):
    first, second = _actor(api, alice), _actor(api, alice)
    api.ok("POST", "/actors/aliases", alice, json={"alias": "hook", "actor_id": first["id"]})
    nonce = api.ok("POST", "/actors/aliases/hook/nonces", alice, json={"max_uses": 5})
    assert nonce["alias"] == "hook" and nonce["actor_id"] is None
    assert [n["id"] for n in api.ok("GET", "/actors/aliases/hook/nonces", alice)] == [nonce["id"]]
    use = f"?x-nonce={nonce['id']}"
    assert api.ok("GET", f"/actors/hook{use}")["id"] == first["id"]
    response = api("GET", f"/actors/{first['id']}{use}")  # only through the alias
    assert response.status_code == 403 and "alias" in response.json["message"]
    api.ok("PUT", "/actors/aliases/hook", alice, json={"actor_id": second["id"]})
    assert api.ok("GET", f"/actors/hook{use}")["id"] == second["id"]
    assert api.ok("GET", f"/actors/aliases/hook/nonces/{nonce['id']}", alice)["current_uses"] == 2
    api.ok("DELETE", f"/actors/aliases/hook/nonces/{nonce['id']}", alice)
    assert api("GET", f"/actors/hook{use}").status_code == 403


def test_deleting_an_actor_deletes_its_aliases(api, alice, store):
    actor = _actor(api, alice)
    api.ok("POST", "/actors/aliases", alice, json={"alias": "gone-soon", "actor_id": actor["id"]})
    api.ok("DELETE", "/actors/gone-soon", alice)
    assert api("GET", "/actors/aliases/gone-soon", alice).status_code == 404
    assert api.ok("GET", "/actors/aliases", alice) == []


def test_static_routes_are_not_taken_for_actor_ids(api, alice):
    assert api.ok("GET", "/actors/aliases", alice) == []
    assert api.ok("GET", "/actors/configs", alice) == []
    response = api("GET", "/actors/aliases/unknown", alice)
    assert response.status_code == 404 and "alias" in response.json["message"]
    response = api("GET", "/actors/configs/unknown", alice)
    assert response.status_code == 404 and "config" in response.json["message"]
    assert api("PATCH", "/actors/aliases", alice).status_code == 405
    actor = _actor(api, alice)
    api.ok("POST", "/actors/aliases", alice, json={"alias": "named", "actor_id": actor["id"]})
    assert api.ok("GET", "/actors/aliases/named/permissions", alice) == {"alice": "UPDATE"}
    assert api.ok("GET", "/actors/aliases/named/nonces", alice) == []


# -- tenants ------------------------------------------------------------------------------------
def test_tenants_never_see_each_other(api, config):
    a_alice = _token(config, "alice", tenant="tacc")
    b_alice = _token(config, "alice", tenant="other")  # same name, other tenant
    b_admin = _token(config, "root", roles=("admin",), tenant="other")
    actor = _actor(api, a_alice)
    execution = api.ok("POST", f"/actors/{actor['id']}/messages", a_alice, data={"message": "m"})
    _share(api, a_alice, actor["id"], WORLD, "UPDATE")
    api.ok("POST", "/actors/aliases", a_alice, json={"alias": "echo", "actor_id": actor["id"]})
    nonce = api.ok("POST", f"/actors/{actor['id']}/nonces", a_alice, json={})
    api.ok("POST", "/actors/configs", a_alice, json={"name": "db", "value": "v", "actors": "echo"})
    for headers in (b_alice, b_admin):
        for path in (f"/actors/{actor['id']}", f"/actors/{actor['id']}/executions",
                     f"/actors/{actor['id']}/executions/{execution['execution_id']}",
                     f"/actors/{actor['id']}/messages", f"/actors/{actor['id']}/permissions",
                     f"/actors/{actor['id']}/nonces", f"/actors/{actor['id']}/nonces/{nonce['id']}",
                     "/actors/echo", "/actors/aliases/echo", "/actors/configs/db"):
            assert api("GET", path, headers).status_code == 404, path
        response = api("POST", f"/actors/{actor['id']}/messages", headers, data={"message": "x"})
        assert response.status_code == 404
        assert api("DELETE", f"/actors/{actor['id']}", headers).status_code == 404
        for path in ("/actors", "/actors/aliases", "/actors/configs"):
            assert api.ok("GET", path, headers) == [], path
    # The other tenant has its own namespace of aliases and configs.
    theirs = _actor(api, b_alice)
    api.ok("POST", "/actors/aliases", b_alice, json={"alias": "echo", "actor_id": theirs["id"]})
    api.ok("POST", "/actors/configs", b_alice, json={"name": "db", "value": "w", "actors": "echo"})
    assert api.ok("GET", "/actors/echo", b_alice)["id"] == theirs["id"]
    assert api.ok("GET", "/actors/echo", a_alice)["id"] == actor["id"]
    assert api.ok("GET", "/actors/configs/db", a_alice)["value"] == "v"
    # An alias of one tenant cannot point at another tenant's actor.
    response = api("POST", "/actors/aliases", b_alice, json={"alias": "stolen", "actor_id": actor["id"]})
    assert response.status_code == 404
    # The default tenant is a tenant like the others.
    plain = bearer(config, "alice")
    assert api.ok("GET", "/actors", plain) == []
    assert api("GET", f"/actors/{actor['id']}", plain).status_code == 404


def test_bad_tenant_claims_are_401(api, config):
    import time

    import jwt
    for tenant in ("has space", "a:b", "x" * 65):
        token = jwt.encode({"sub": "a", "exp": int(time.time()) + 60, "tenant": tenant}, SECRET, "HS256")
        response = api("GET", "/actors", {"Authorization": f"Bearer {token}"})
        assert response.status_code == 401 and "tenant" in response.json["message"]


# -- actor configs ------------------------------------------------------------------------------
SECRET_VALUE = "s3cr3t-Pa55word-never-shown"


def _raw_redis_text(store) -> str:
    """Every key and value in Redis, as text, to prove what is (not) stored in the clear."""
    chunks = []
    for key in store.redis.scan_iter():
        kind = store.redis.type(key).decode()
        if kind == "string":
            chunks.append(store.redis.get(key))
        elif kind == "hash":
            chunks.extend(b"%s=%s" % kv for kv in store.redis.hgetall(key).items())
        elif kind == "set":
            chunks.extend(store.redis.smembers(key))
        elif kind == "list":
            chunks.extend(store.redis.lrange(key, 0, -1))
        elif kind == "zset":
            chunks.extend(m for m in store.redis.zrange(key, 0, -1))
        chunks.append(key)
    return b"\n".join(chunks).decode("utf-8", "replace")


def test_secret_configs_never_come_back(api, alice, config, store, caplog):
    caplog.set_level(logging.DEBUG)
    actor = _actor(api, alice)
    created = api.ok("POST", "/actors/configs", alice,
                     data={"name": "db.password", "value": SECRET_VALUE, "is_secret": "true",
                           "actors": actor["id"]})
    assert created["value"] is None and created["is_secret"] is True
    assert created["actors"] == actor["id"] and created["owner"] == "alice"
    api.ok("POST", "/actors/configs", alice, json={"name": "db.host", "value": "db.example",
                                                   "actors": [actor["id"]]})
    seen = [api("GET", "/actors/configs", alice), api("GET", "/actors/configs/db.password", alice)]
    replaced = api("PUT", "/actors/configs/db.password", alice,
                   json={"value": SECRET_VALUE + "-2", "is_secret": True, "actors": actor["id"]})
    seen.append(replaced)
    listed = seen[0].json["result"]
    assert {c["name"]: c["value"] for c in listed} == {"db.host": "db.example", "db.password": None}
    for response in seen:
        assert response.status_code == 200 and SECRET_VALUE not in response.get_data(as_text=True)
    text = _raw_redis_text(store)
    assert SECRET_VALUE not in text and "db.example" in text  # encrypted at rest, only secrets
    assert SECRET_VALUE not in caplog.text
    # Only the spawner's side decrypts it.
    (record,) = [c for c in store.configs.for_actor("default", {actor["id"]}) if c["is_secret"]]
    assert decrypt(config, record["value"]) == SECRET_VALUE + "-2"


def test_config_key_from_settings_or_derived(config, monkeypatch):
    from cryptography.fernet import Fernet

    from actors_core.crypto import encrypt

    token = encrypt(config, "x")
    assert decrypt(config, token) == "x"  # derived from the JWT secret
    keyed = config.with_overrides(config_key=Fernet.generate_key().decode())
    with pytest.raises(SecretsUnavailable):
        decrypt(keyed, token)
    assert decrypt(keyed, encrypt(keyed, "y")) == "y"
    monkeypatch.setenv("ACTORS_JWT_SECRET", SECRET)
    monkeypatch.setenv("ACTORS_CONFIG_KEY", keyed.config_key)
    assert Config.from_env().config_key == keyed.config_key
    with pytest.raises(SecretsUnavailable):
        encrypt(config.with_overrides(config_key="not-a-key"), "z")


def test_configs_need_update_on_their_actors_and_have_permissions(api, alice, config):
    actor = _actor(api, alice)
    api.ok("POST", "/actors/aliases", alice, json={"alias": "named", "actor_id": actor["id"]})
    bob = bearer(config, "bob")
    _share(api, alice, actor["id"], "bob", "EXECUTE")
    response = api("POST", "/actors/configs", bob, json={"name": "c", "value": "v", "actors": "named"})
    assert response.status_code == 403 and "needs UPDATE" in response.json["message"]
    response = api("POST", "/actors/configs", alice, json={"name": "c", "value": "v", "actors": "nope"})
    assert response.status_code == 404
    for bad in ("a/b", "with space", ""):
        response = api("POST", "/actors/configs", alice, json={"name": bad, "value": "v", "actors": "named"})
        assert response.status_code == 400 and "name" in response.json["message"]
    api.ok("POST", "/actors/configs", alice, json={"name": "c", "value": "v", "actors": "named"})
    response = api("POST", "/actors/configs", alice, json={"name": "c", "value": "v", "actors": "named"})
    assert response.status_code == 409 and "already exists" in response.json["message"]
    assert api("GET", "/actors/configs/c", bob).status_code == 403
    assert api.ok("GET", "/actors/configs", bob) == []
    result = api.ok("POST", "/actors/configs/c/permissions", alice, json={"user": "bob", "level": "READ"})
    assert result == {"alice": "UPDATE", "bob": "READ"}
    assert api.ok("GET", "/actors/configs/c", bob)["value"] == "v"
    response = api("PUT", "/actors/configs/c", bob, json={"value": "w", "actors": "named"})
    assert response.status_code == 403 and "needs UPDATE" in response.json["message"]
    assert api("DELETE", "/actors/configs/c", bob).status_code == 403
    api.ok("DELETE", "/actors/configs/c", alice)
    assert api("GET", "/actors/configs/c", alice).status_code == 404


# -- roles ------------------------------------------------------------------------------------
def test_limited_users_are_held_to_limits(config, store):
    api = Api(create_app(config.with_overrides(limited_max_actors=2), store).test_client())
    limited = bearer(config, "lim", roles=("limited",))
    both = bearer(config, "lim2", roles=("limited", "privileged"))
    _actor(api, limited), _actor(api, limited)
    response = api("POST", "/actors", limited, json={"image": "x"})
    assert response.status_code == 403 and "at most 2" in response.json["message"]
    for field, value in (("privileged", True), ("max_workers", 3), ("mem_limit", "1g"),
                         ("max_cpus", 2), ("queue", "big")):
        response = api("POST", "/actors", both, json={"image": "x", field: value})
        assert response.status_code == 403 and field in response.json["message"], field
    # Deleting one makes room again.
    first = api.ok("GET", "/actors", limited)[0]
    api.ok("DELETE", f"/actors/{first['id']}", limited)
    _actor(api, limited)
    admin_too = bearer(config, "boss", roles=("admin", "limited"))
    for _ in range(3):
        _actor(api, admin_too, mem_limit="1g")


def test_admins_see_and_change_everything_of_their_tenant(api, alice, config):
    actor = _actor(api, alice)
    api.ok("POST", "/actors/aliases", alice, json={"alias": "hers", "actor_id": actor["id"]})
    api.ok("POST", "/actors/configs", alice, json={"name": "cfg", "value": "v", "actors": actor["id"]})
    admin = bearer(config, "root", roles=("admin",))
    assert [a["id"] for a in api.ok("GET", "/actors", admin)] == [actor["id"]]
    assert [a["alias"] for a in api.ok("GET", "/actors/aliases", admin)] == ["hers"]
    assert [c["name"] for c in api.ok("GET", "/actors/configs", admin)] == ["cfg"]
    api.ok("PUT", "/actors/configs/cfg", admin, json={"value": "w", "actors": actor["id"]})
    api.ok("POST", f"/actors/{actor['id']}/permissions", admin, json={"user": "bob", "level": "READ"})
    api.ok("DELETE", "/actors/aliases/hers", admin)
    api.ok("DELETE", f"/actors/{actor['id']}", admin)


# -- what the spawner gives an execution ----------------------------------------------------------
class _Handle(Handle):
    def __init__(self, spec):
        self.id, self.labels = "fake", spec.labels

    def wait(self, timeout):
        return 0

    def is_running(self):
        return False

    def stream_logs(self):
        yield b"ran\n"

    def usage(self):
        return None

    def kill(self):
        pass

    def final_state(self):
        return {"Status": "exited", "ExitCode": 0, "StartedAt": "2024-01-01T00:00:00Z",
                "FinishedAt": "2024-01-01T00:00:01Z"}

    def remove(self):
        pass


class _Runtime(Runtime):
    """Records each RunSpec and, while 'running', calls ``during(spec)``."""
    name = "fake"

    def __init__(self, during=None):
        self.specs, self.during = [], during

    def ensure_image(self, image):
        pass

    def start(self, spec):
        self.specs.append(spec)
        if self.during:
            self.during(spec)
        return _Handle(spec)

    def labelled(self, spawner):
        return []


def test_execution_sees_configs_tenant_and_a_token_revoked_at_its_end(api, config, store, tmp_path):
    tenant_user = _token(config, "alice", tenant="lab")
    actor = _actor(api, tenant_user, token=True)
    api.ok("POST", "/actors/aliases", tenant_user, json={"alias": "by-alias", "actor_id": actor["id"]})
    api.ok("POST", "/actors/configs", tenant_user,
           json={"name": "pw", "value": SECRET_VALUE, "is_secret": True, "actors": "by-alias"})
    api.ok("POST", "/actors/configs", tenant_user,
           json={"name": "plain", "value": "1", "actors": actor["id"]})
    api.ok("POST", "/actors/configs", tenant_user, json={"name": "unrelated", "value": "2",
                                                         "actors": _actor(api, tenant_user)["id"]})
    seen = {}

    def during(spec):
        token = {"Authorization": f"Bearer {spec.environment['_abaco_access_token']}"}
        seen["own"] = api("GET", f"/actors/{actor['id']}", token).status_code
        seen["list"] = api.ok("GET", "/actors", token)

    execution = api.ok("POST", f"/actors/{actor['id']}/messages", tenant_user, data={"message": "m"})
    runtime = _Runtime(during)
    spawner = SpawnerContext(config.with_overrides(spawner_workdir=str(tmp_path)), store, runtime, "unit")
    assert spawner.drain(actor["id"]) == execution["execution_id"]

    environment = runtime.specs[0].environment
    assert json.loads(environment["_actor_configs"]) == {"pw": SECRET_VALUE, "plain": "1"}
    assert environment["_abaco_actor_dbid"] == f"LAB_{actor['id']}"
    assert seen["own"] == 200 and [a["id"] for a in seen["list"]] == [actor["id"]]
    finished = api.ok("GET", f"/actors/{actor['id']}/executions/{execution['execution_id']}", tenant_user)
    assert finished["status"] == str(ExecutionStatus.COMPLETE)
    assert "token_id" not in finished and "environment" not in finished
    token = {"Authorization": f"Bearer {environment['_abaco_access_token']}"}
    response = api("GET", f"/actors/{actor['id']}", token)
    assert response.status_code == 401 and "revoked" in response.json["message"]
    assert SECRET_VALUE not in api("GET", f"/actors/{actor['id']}/executions/"
                                   f"{execution['execution_id']}/logs", tenant_user).get_data(as_text=True)


def test_an_execution_token_stays_inside_its_actor(api, config, store, alice):
    mine, other = _actor(api, alice), _actor(api, alice)
    scoped = {"Authorization": f"Bearer {mint(config, 'alice', actor=mine['id'])}"}
    assert api("GET", f"/actors/{mine['id']}", scoped).status_code == 200
    for method, path, body in (("GET", f"/actors/{other['id']}", None),
                               ("POST", f"/actors/{mine['id']}/nonces", {}),
                               ("POST", f"/actors/{mine['id']}/permissions", {"user": "x", "level": "READ"}),
                               ("POST", "/actors/aliases", {"alias": "a", "actor_id": mine["id"]}),
                               ("GET", "/actors/configs", None)):
        assert api(method, path, scoped, json=body).status_code == 403, (method, path)
