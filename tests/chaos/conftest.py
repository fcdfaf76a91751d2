"""Fixtures for the chaos suite (``-m chaos``): real redis-server with AOF, real Docker.

Without them these tests skip, unless ACTORS_REQUIRE_INTEGRATION=1 (CI), where a missing
piece is an error, as in tests/integration.
"""
from __future__ import annotations

import os
import shutil
import uuid

import pytest

from actors_core.config import Config
from actors_core.tokens import mint
from tests.integration.platform import SECRET, docker_available

from .harness import REPORTED, AofRedis, Api, Client, environment

REQUIRED = os.environ.get("ACTORS_REQUIRE_INTEGRATION") == "1"
ECHO = "actors/echo:latest"
SLEEP = "actors/sleep-loop:latest"


def pytest_terminal_summary(terminalreporter):
    """The figures of every chaos test, also when they pass (CI logs keep them)."""
    if REPORTED:
        terminalreporter.section("chaos figures")
        for line in REPORTED:
            terminalreporter.write_line(line)


def _need(available: bool, what: str) -> None:
    if available:
        return
    if REQUIRED:
        pytest.fail(f"{what} is required (ACTORS_REQUIRE_INTEGRATION=1) but not available")
    pytest.skip(f"{what} is not available")


@pytest.fixture(scope="session")
def docker_client():
    _need(shutil.which("redis-server") is not None, "redis-server")
    _need(docker_available(), "the Docker engine")
    import docker

    client = docker.from_env()
    for image in (ECHO, SLEEP):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            pytest.fail(f"test image {image} is missing: run scripts/build-images.sh")
    return client


@pytest.fixture
def chaos(tmp_path, docker_client):
    """A fresh platform per test: its own AOF Redis, API process and spawner work folder."""
    platform = ChaosPlatform(tmp_path, docker_client)
    yield platform
    platform.close()


class ChaosPlatform:
    def __init__(self, root, docker):
        self.root = root
        self.docker = docker
        self.tag = uuid.uuid4().hex[:6]
        self.queue = f"chaos-{self.tag}"
        self.redis = AofRedis(root / "redis")
        self.env = environment(self.redis.url, root / "spawner")
        self.api = Api(self.env, root / "api.log")
        self.client = Client(self.api.url, mint(Config(jwt_secret=SECRET), "chaos",
                                                roles=("admin",)))
        self.spawners = []

    def spawner(self, name, slots=4, queues=None, **more):
        from .harness import Spawner

        log = self.root / f"spawner-{name or 'default'}-{len(self.spawners)}.log"
        spawner = Spawner(dict(self.env, **more), name, queues or self.queue, slots, log)
        self.spawners.append(spawner)
        return spawner

    def actor(self, image, **fields):
        import time

        actor = self.client.result("POST", "/actors",
                                   json={"image": image, "queue": self.queue, **fields})
        deadline = time.monotonic() + 60
        while actor["status"] != "READY":
            assert time.monotonic() < deadline, actor
            time.sleep(0.2)
            actor = self.client.result("GET", f"/actors/{actor['id']}")
        return actor["id"]

    def containers(self, spawner_name):
        # sparse: a full listing inspects each container and fails on one removed meanwhile
        return self.docker.containers.list(all=True, sparse=True,
                                           filters={"label": f"actors.spawner={spawner_name}"})

    def close(self):
        for spawner in self.spawners:
            spawner.stop(timeout=20)
        self.api.stop()
        for container in self.docker.containers.list(all=True, sparse=True,
                                                     filters={"label": "actors.spawner"}):
            if (container.attrs.get("Labels") or {}).get("actors.spawner", "").startswith(
                    f"chaos-{self.tag}"):
                try:
                    container.remove(force=True)
                except Exception:
                    pass
        self.redis.stop()
