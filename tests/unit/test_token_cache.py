"""The verified-token cache: one signature check per token per few seconds, never past the
token's ``exp``, never hiding a revocation."""
from __future__ import annotations

import time

import pytest

from actors_api import create_app
from actors_api.token_cache import ExpiringCache, TokenCache
from actors_core.tokens import TokenError, mint, verify


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _counting_verifier():
    calls = []

    def verifier(config, token):
        calls.append(token)
        return verify(config, token)

    return verifier, calls


def _actor(http, headers):
    response = http.post("/actors", json={"image": "actors/echo"}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json["result"]


def _post(http, actor_id, headers):
    return http.post(f"/actors/{actor_id}/messages", data={"message": "m"}, headers=headers)


def test_one_signature_check_per_token_per_few_seconds(config):
    verifier, calls = _counting_verifier()
    clock = Clock(time.time())
    cache = TokenCache(config.with_overrides(token_cache_seconds=5), clock=clock, verifier=verifier)
    token, other = mint(config, "alice"), mint(config, "bob")
    assert cache.identity(token).username == "alice"
    assert cache.identity(token).username == "alice"
    assert cache.identity(other).username == "bob"
    assert len(calls) == 2
    clock.now += 5
    cache.identity(token)
    assert len(calls) == 3  # checked again once the cache time is over


def test_the_token_cache_never_serves_a_token_past_its_exp(config):
    clock = Clock(time.time())
    calls = []

    def verifier(config, token):  # verify, on the test's clock
        calls.append(token)
        identity = verify(config, token)
        if clock.now >= identity.expires_at:
            raise TokenError("The bearer token has expired.")
        return identity

    cache = TokenCache(config.with_overrides(token_cache_seconds=60), clock=clock, verifier=verifier)
    token = mint(config, "alice", ttl=10)
    clock.now = verify(config, token).expires_at - 10
    cache.identity(token)
    clock.now += 9.9
    cache.identity(token)
    assert len(calls) == 1
    clock.now += 0.1  # still inside the 60 s of the cache, but at exp
    with pytest.raises(TokenError, match="expired"):
        cache.identity(token)
    assert len(calls) == 2


def test_a_refused_token_is_not_cached(config):
    verifier, calls = _counting_verifier()
    cache = TokenCache(config, verifier=verifier)
    forged = mint(config.with_overrides(jwt_secret="another-secret-0123456789abcdef012345"), "eve")
    for _ in range(2):
        with pytest.raises(TokenError):
            cache.identity(forged)
    assert len(calls) == 2 and len(cache.entries) == 0


def test_the_token_cache_keys_by_the_tokens_hash(config):
    cache = TokenCache(config)
    token = mint(config, "alice")
    cache.identity(token)
    assert all(isinstance(key, bytes) and len(key) == 32 and token.encode() not in key
               for key in cache.entries._entries)


def test_token_cache_off_checks_every_time(config):
    verifier, calls = _counting_verifier()
    cache = TokenCache(config.with_overrides(token_cache_seconds=0), verifier=verifier)
    token = mint(config, "alice")
    cache.identity(token)
    cache.identity(token)
    assert len(calls) == 2


def test_the_cache_stays_bounded():
    cache = ExpiringCache(3, clock=lambda: 0.0)
    for n in range(5):
        cache.put(n, n, 1.0)
    assert len(cache) == 3 and cache.get(0) is None and cache.get(4) == 4


def test_an_expired_token_is_refused_over_http_though_it_was_cached(config, store, monkeypatch):
    now = [time.time()]
    app = create_app(config.with_overrides(token_cache_seconds=3600), store)
    app.extensions["actors_tokens"].entries.clock = lambda: now[0]
    http = app.test_client()
    short = {"Authorization": f"Bearer {mint(config, 'alice', ttl=30)}"}
    actor = _actor(http, short)
    assert _post(http, actor["id"], short).status_code == 200
    now[0] += 31
    monkeypatch.setattr("jwt.api_jwt.datetime", _datetime_at(now[0]))  # PyJWT's clock agrees
    response = _post(http, actor["id"], short)
    assert response.status_code == 401 and "expired" in response.json["message"]


def _datetime_at(moment: float):
    """``datetime.datetime`` whose ``now()`` is ``moment`` (for PyJWT's ``exp`` check)."""
    from datetime import datetime, timezone

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(moment, tz or timezone.utc)

    return Frozen


def test_a_revoked_token_is_refused_though_its_identity_is_cached(http, alice, config, store):
    actor = _actor(http, alice)
    token = mint(config, "alice", actor=actor["id"], token_id="execution-token-1")
    scoped = {"Authorization": f"Bearer {token}"}
    eid = _post(http, actor["id"], scoped).json["result"]["execution_id"]
    execution_path = f"/actors/{actor['id']}/executions/{eid}"
    assert http.get(execution_path, headers=scoped).status_code == 200
    store.revoked_tokens.revoke("execution-token-1", 2_000_000_000)
    for response in (_post(http, actor["id"], scoped), http.get(execution_path, headers=scoped),
                     http.get(f"/actors/{actor['id']}", headers=scoped)):
        assert response.status_code == 401 and "revoked" in response.json["message"]
    assert store.executions.queued_count(actor["id"]) == 1  # nothing was written
