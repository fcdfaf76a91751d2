"""Fixtures for tests against a real redis-server and the real Docker engine.

Without them these tests skip, unless ACTORS_REQUIRE_INTEGRATION=1 (set by
scripts/test.sh and so by CI), where a missing piece is an error.
"""
from __future__ import annotations

import os
import uuid

import pytest

from actors_core.tokens import mint

from .platform import (ApiClient, ApiServer, RedisServer, SpawnerProcess, docker_available,
                       platform_environment, redis_available)

REQUIRED = os.environ.get("ACTORS_REQUIRE_INTEGRATION") == "1"
ECHO = "actors/echo:latest"
SLEEP = "actors/sleep-loop:latest"


def _need(available: bool, what: str) -> None:
    if available:
        return
    if REQUIRED:
        pytest.fail(f"{what} is required (ACTORS_REQUIRE_INTEGRATION=1) but not available")
    pytest.skip(f"{what} is not available")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    _need(redis_available(), "redis-server")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def docker_engine():
    _need(docker_available(), "the Docker engine")
    import docker

    client = docker.from_env()
    for image in (ECHO, SLEEP):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            pytest.fail(f"test image {image} is missing: run scripts/build-images.sh")
    return client


@pytest.fixture(scope="session")
def platform_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("platform")


@pytest.fixture(scope="session")
def environment(redis_server, platform_dir):
    return platform_environment(redis_server.url, platform_dir, ACTORS_LOG_MAX_BYTES=65536,
                                ACTORS_MAX_MESSAGE_BYTES=8 * 1024 * 1024,
                                ACTORS_SYNC_TIMEOUT=8,
                                ACTORS_ARTIFACT_URL=platform_dir / "artifacts",
                                # test_events' webhook endpoints listen on loopback, which
                                # webhooks may not reach unless allowed (test_security
                                # shows the refusal on a platform without this)
                                ACTORS_WEBHOOK_ALLOW="127.0.0.1")


@pytest.fixture(scope="session")
def api(environment):
    server = ApiServer(environment)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spawner(environment, docker_engine, platform_dir):
    process = SpawnerProcess(environment, name=f"tests-{uuid.uuid4().hex[:6]}", slots=3,
                             log_path=platform_dir / "spawner.log")
    yield process
    process.stop()


@pytest.fixture
def user_token(api):
    return mint(api.config, f"user-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def client(api, spawner, user_token):
    return ApiClient(api.url, user_token)


@pytest.fixture
def admin(api, spawner):
    return ApiClient(api.url, mint(api.config, "operator", roles=("admin",)))
