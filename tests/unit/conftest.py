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
