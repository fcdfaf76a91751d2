"""Token verification never trusts the token's own choice of algorithm."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from actors_core.config import Config
from actors_core.tokens import TokenError, mint, verify

SECRET = "unit-tests-secret-0123456789abcdef0123"


def _claims(**extra):
    return {"sub": "alice", "exp": int(time.time()) + 60, **extra}


def test_minted_tokens_verify_with_roles_and_scope():
    config = Config(jwt_secret=SECRET)
    identity = verify(config, mint(config, "alice", roles=("admin", "bogus"), actor="A1"))
    assert identity.username == "alice" and identity.roles == ("admin",)
    assert identity.is_admin and identity.is_privileged and identity.actor_scope == "A1"


@pytest.mark.parametrize("token,reason", [
    (jwt.encode(_claims(), None, algorithm="none"), "not valid"),
    (jwt.encode({"sub": "a", "exp": int(time.time()) - 5}, SECRET, algorithm="HS256"), "expired"),
    (jwt.encode({"sub": "a"}, SECRET, algorithm="HS256"), "exp"),
    (jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256"), "sub"),
    (jwt.encode(_claims(), "some-other-secret-0123456789abcdef", algorithm="HS256"), "not valid"),
    ("garbage", "not valid"),
])
def test_rejected_tokens(token, reason):
    with pytest.raises(TokenError, match=reason):
        verify(Config(jwt_secret=SECRET), token)


def test_rs256_with_public_key_and_no_key_confusion(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    path = tmp_path / "public.pem"
    path.write_bytes(public_pem)
    config = Config(jwt_public_key=str(path), jwt_algorithms=("RS256", "ES256"))
    good = jwt.encode(_claims(), key, algorithm="RS256")
    assert verify(config, good).username == "alice"
    # An HS256 token whose secret is the public key: the classic confusion attack.
    with pytest.raises(TokenError):
        verify(config, _hs256_signed_with(public_pem, _claims()))
    with pytest.raises(TokenError):
        verify(config, jwt.encode(_claims(), SECRET, algorithm="HS256"))


def _hs256_signed_with(key: bytes, claims: dict) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def _signed(**claims) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256")


FUTURE = int(time.time()) + 10 * 365 * 86400  # far enough for a long test session


@pytest.mark.parametrize("claims", [
    {"sub": "alice", "exp": str(FUTURE)},  # a numeric string PyJWT itself would take
    {"sub": "alice", "exp": "tomorrow"},
    {"sub": "alice", "exp": True},
    {"sub": "alice", "exp": [FUTURE]},
    {"sub": "alice", "exp": {"at": FUTURE}},
    {"sub": "alice", "exp": FUTURE, "nbf": "0"},
    {"sub": "alice", "exp": FUTURE, "iat": "0"},
    {"sub": 42, "exp": FUTURE},
    {"sub": ["alice"], "exp": FUTURE},
    {"sub": {"name": "alice"}, "exp": FUTURE},
    {"sub": "", "exp": FUTURE},
    {"sub": "alice", "exp": FUTURE, "roles": {"admin": True}},
    {"sub": "alice", "exp": FUTURE, "roles": {}},
    {"sub": "alice", "exp": FUTURE, "roles": 1},
    {"sub": "alice", "exp": FUTURE, "roles": ["admin", {"x": 1}]},
    {"sub": "alice", "exp": FUTURE, "roles": [["admin"]]},
    {"sub": "alice", "exp": FUTURE, "tenant": 7},
    {"sub": "alice", "exp": FUTURE, "tenant": ["default"]},
    {"sub": "alice", "exp": FUTURE, "actor": {"id": "A1"}},
    {"sub": "alice", "exp": FUTURE, "actor": ["A1"]},
    {"sub": "alice", "exp": FUTURE, "jti": {"id": 1}},
], ids=lambda claims: ",".join(f"{k}={type(v).__name__}" for k, v in claims.items()))
def test_claims_of_the_wrong_type_are_refused(claims):
    with pytest.raises(TokenError):
        verify(Config(jwt_secret=SECRET), _signed(**claims))


def test_claims_of_the_right_types_still_pass():
    config = Config(jwt_secret=SECRET)
    identity = verify(config, _signed(sub="alice", exp=FUTURE + 0.5, iat=1, nbf=1, roles="admin",
                                      tenant="t1", actor="A1", jti="j1"))
    assert (identity.username, identity.roles, identity.tenant, identity.actor_scope,
            identity.token_id) == ("alice", ("admin",), "t1", "A1", "j1")
    assert verify(config, _signed(sub="bob", exp=FUTURE, roles=None)).roles == ()


@pytest.mark.parametrize("claims", [
    {"sub": "alice", "exp": str(FUTURE)},
    {"sub": "alice", "exp": FUTURE, "roles": {"admin": True}},
    {"sub": 42, "exp": FUTURE},
    {"sub": "alice", "exp": FUTURE, "actor": {"id": "A1"}},
    {"sub": "alice", "exp": FUTURE, "tenant": 7},
])
def test_the_api_answers_401_for_claims_of_the_wrong_type(claims):
    import fakeredis

    from actors_api import create_app
    from actors_core.store import Store

    config = Config(jwt_secret=SECRET)
    http = create_app(config, Store(fakeredis.FakeRedis(), config)).test_client()
    for method, path in (("GET", "/actors"), ("POST", "/actors")):
        response = http.open(path, method=method, json={"image": "x/y"},
                             headers={"Authorization": f"Bearer {_signed(**claims)}"})
        assert response.status_code == 401, (claims, response.status_code, response.json)
        assert response.json["status"] == "error" and response.json["message"]
