"""One rule for "which actors may the caller read" (auth.readable_actor_ids), used by the
actors listing, utilization and search alike."""
from __future__ import annotations

from actors_core.enums import PermissionLevel
from actors_core.tokens import mint

from .conftest import bearer

LISTINGS = ("/actors", "/actors/utilization", "/actors/search/actors")


def _ids(http, path, headers) -> set:
    response = http.get(path, headers=headers)
    assert response.status_code == 200, (path, response.json)
    result = response.json["result"]
    if path.endswith("utilization"):
        return {a["actor_id"] for a in result["actors"]}
    if "search" in path:
        return {a["id"] for a in result["search"]}
    return {a["id"] for a in result}


def _token(config, user, **claims):
    return {"Authorization": f"Bearer {mint(config, user, **claims)}"}


def test_owned_shared_and_world_actors_of_the_tenant_only(http, config, store, alice):
    bob = bearer(config, "bob")
    own = http.post("/actors", json={"image": "x"}, headers=bob).json["result"]["id"]
    shared = http.post("/actors", json={"image": "x"}, headers=alice).json["result"]["id"]
    world = http.post("/actors", json={"image": "x"}, headers=alice).json["result"]["id"]
    private = http.post("/actors", json={"image": "x"}, headers=alice).json["result"]["id"]
    http.post(f"/actors/{shared}/permissions", json={"user": "bob", "level": "READ"}, headers=alice)
    http.post(f"/actors/{world}/permissions", json={"user": "ABACO_WORLD", "level": "READ"},
              headers=alice)
    # A grant that names an actor of another tenant (left behind, or forged in Redis):
    elsewhere = http.post("/actors", json={"image": "x"},
                          headers=_token(config, "carol", tenant="lab")).json["result"]["id"]
    store.permissions.grant("actor", "default", elsewhere, "bob", PermissionLevel.READ)

    for path in LISTINGS:
        assert _ids(http, path, bob) == {own, shared, world}, path
    admin = bearer(config, "root", roles=("admin",))
    for path in LISTINGS:
        assert _ids(http, path, admin) == {own, shared, world, private}, path
    assert private not in _ids(http, "/actors", bob)


def test_an_execution_token_reads_only_its_own_actor(http, config, alice):
    mine = http.post("/actors", json={"image": "x"}, headers=alice).json["result"]["id"]
    http.post("/actors", json={"image": "x"}, headers=alice)
    scoped = _token(config, "alice", actor=mine)
    assert _ids(http, "/actors", scoped) == {mine}
    assert _ids(http, "/actors/search/actors", scoped) == {mine}
    assert http.get("/actors/utilization", headers=scoped).status_code == 403
