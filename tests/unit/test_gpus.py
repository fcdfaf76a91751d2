"""GPU inventory parsing, whole-GPU leases and the gpus field."""
from __future__ import annotations

import json

import pytest

from spawner.gpus import discover, requested_count

INVENTORY = json.dumps([{"index": i, "uuid": f"GPU-{i}", "name": "sim", "memory_total": 1 << 30}
                        for i in range(3)])


def test_simulated_inventory_and_requested_counts():
    gpus = discover(INVENTORY)
    assert [g.uuid for g in gpus] == ["GPU-0", "GPU-1", "GPU-2"] and all(g.simulated for g in gpus)
    assert discover("none") == [] and discover("") == []
    assert requested_count(0, 3) == 0 and requested_count("all", 3) == 3 and requested_count(2, 3) == 2


def test_gpu_leases_are_all_or_nothing_and_exclusive(store):
    hosts = store.hosts
    hosts.reset_gpus("h", [0, 1, 2], keep={})
    assert hosts.take_gpus("h", [0, 1], "e1")
    assert not hosts.take_gpus("h", [1, 2], "e2")  # GPU 1 is held: nothing is taken
    assert hosts.free_gpus("h") == [2]
    assert hosts.take_gpus("h", [2], "holder")
    hosts.transfer_gpus("h", "holder", "e3")
    assert hosts.held("h") == {0: "e1", 1: "e1", 2: "e3"}
    assert hosts.give_back_gpus("h", "e1") == 2
    assert hosts.free_gpus("h") == [0, 1]
    hosts.reset_gpus("h", [0, 1, 2], keep={2: "e3"})  # a restart keeps a re-attached run's GPU
    assert hosts.free_gpus("h") == [0, 1] and hosts.held("h") == {2: "e3"}


def test_hosts_listing_shows_who_holds_what(store):
    store.hosts.heartbeat("h", {"name": "h", "gpus": [{"index": 0, "uuid": "GPU-0"},
                                                      {"index": 1, "uuid": "GPU-1"}]}, ttl=30)
    store.hosts.reset_gpus("h", [0, 1], keep={1: "e9"})
    (host,) = store.hosts.list()
    assert [(g["index"], g["busy"], g["execution_id"]) for g in host["gpus"]] == [
        (0, False, None), (1, True, "e9")]


@pytest.mark.parametrize("value,ok", [("2", True), ("all", True), ("0", True), ("-1", False),
                                      ("two", False), ("1.5", False)])
def test_gpus_field_validation(http, config, value, ok):
    from .conftest import bearer

    admin = bearer(config, "root", roles=("admin",))  # asking for GPUs is admin/privileged only
    response = http.post("/actors", data={"image": "x", "gpus": value}, headers=admin)
    assert (response.status_code == 200) is ok, response.json
    if not ok:
        assert "gpus" in response.json["message"]
