"""The leftover check judges only its own platform's containers, on a shared Docker engine.

A fake Docker client stands for an engine that also runs another platform, whose
container is removed between a listing and its inspection (what docker-py's
``containers.list`` does for each container unless ``sparse=True``).
"""
from __future__ import annotations

import docker
import pytest

from . import conftest
from .conftest import DevPlatform


class FakeContainer:
    def __init__(self, short_id: str, labels: dict, vanished: bool = False):
        self.short_id, self.labels, self.vanished = short_id, labels, vanished
        self.removed = False

    def reload(self):
        if self.vanished:
            raise docker.errors.NotFound(f"No such container: {self.short_id}")

    def remove(self, force=False):
        self.reload()
        self.removed = True


class FakeContainers:
    def __init__(self, containers):
        self.containers = containers
        self.filters = []

    def list(self, all=False, filters=None, sparse=False):
        self.filters.append(filters)
        wanted = (filters or {}).get("label", "")
        name, _, value = wanted.partition("=")
        chosen = [c for c in self.containers
                  if name in c.labels and (not value or c.labels[name] == value)]
        if not sparse:  # docker-py inspects each one: a vanished container raises
            for container in chosen:
                container.reload()
        return chosen


class FakeClient:
    def __init__(self, containers):
        self.containers = FakeContainers(containers)


@pytest.fixture
def platform(tmp_path):
    return DevPlatform(tmp_path)


def test_only_this_platforms_containers_are_listed_and_judged(platform, monkeypatch):
    mine = FakeContainer("mine", {"actors.spawner": platform.spawner_name, "actors.actor": "A"})
    gone = FakeContainer("gone", {"actors.spawner": platform.spawner_name}, vanished=True)
    other = FakeContainer("other", {"actors.spawner": "dev-elsewhere-12345678",
                                    "actors.actor": "A"}, vanished=True)
    stranger = FakeContainer("stranger", {"actors.spawner": "ci-runner", "actors.actor": "A"})
    client = FakeClient([mine, gone, other, stranger])
    monkeypatch.setattr(conftest, "docker_client", lambda: client)
    platform.actor_ids.add("A")

    leftovers = platform.leftover_containers()

    assert [line.split()[0] for line in leftovers] == ["mine"]
    assert client.containers.filters == [{"label": f"actors.spawner={platform.spawner_name}"}]
    platform._kill_leftovers()
    assert mine.removed and not stranger.removed


def test_the_spawner_name_is_the_one_actors_dev_gives_its_data_folder(platform):
    from actors_cli.dev import spawner_name

    assert platform.spawner_name == spawner_name(platform.data_dir)
    assert platform.spawner_name != spawner_name(platform.root / "another")
