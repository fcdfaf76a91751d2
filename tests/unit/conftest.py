"""Fast tests: the API and the store over fakeredis (real Redis runs in tests/integration)."""
from __future__ import annotations

import fakeredis
import pytest

from actors_api import create_app
from actors_core.config import Config
from actors_core.store import Store
from actors_core.tokens import mint

SECRET = "unit-tests-secret-0123456789abcdef0123"


@pytest.fixture
def config():
    return Config(jwt_secret=SECRET)


@pytest.fixture
def store(config):
    return Store(fakeredis.FakeRedis(), config)


@pytest.fixture
def app(config, store):
    return create_app(config, store)


@pytest.fixture
def http(app):
    return app.test_client()


def bearer(config, user="alice", roles=()):
    return {"Authorization": f"Bearer {mint(config, user, roles=roles)}"}


@pytest.fixture
def alice(config):
    return bearer(config)


@pytest.fixture
def stub_runtime():
    from .stub_runtime import StubRuntime

    return StubRuntime()


@pytest.fixture
def spawner_context(config, store, stub_runtime, tmp_path, monkeypatch):
    """A spawner process's context over fakeredis and the stub runtime, polling fast."""
    from spawner import runner

    monkeypatch.setattr(runner, "WAIT_STEP", 0.02)
    return runner.SpawnerContext(config.with_overrides(spawner_workdir=str(tmp_path)), store,
                                 stub_runtime, name="s1", queues=["default"])
