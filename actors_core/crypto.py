"""Encryption at rest for secret actor configs (Fernet: AES-128-CBC with HMAC-SHA256).

The key is ``ACTORS_CONFIG_KEY`` (a Fernet key: 32 url-safe base64 bytes,
``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``).
Without it, one is derived from ``ACTORS_JWT_SECRET`` with HKDF-SHA256, so
``actors dev`` needs no extra setting; changing that secret then makes stored
secrets unreadable. The API only encrypts; only the spawner decrypts, when it
builds an execution's ``_actor_configs``.
"""
from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HKDF_INFO = b"actors: actor config encryption key"


class SecretsUnavailable(Exception):
    """No key is configured, or a stored secret cannot be decrypted with this one."""


@lru_cache(maxsize=8)
def _fernet(config_key, jwt_secret) -> Fernet:
    if config_key:
        try:
            return Fernet(config_key)
        except (ValueError, TypeError):
            raise SecretsUnavailable("ACTORS_CONFIG_KEY is not a Fernet key "
                                     "(32 url-safe base64-encoded bytes).")
    if jwt_secret:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=HKDF_INFO).derive(jwt_secret.encode())
        return Fernet(base64.urlsafe_b64encode(derived))
    raise SecretsUnavailable("Secret configs need ACTORS_CONFIG_KEY (or ACTORS_JWT_SECRET to "
                             "derive a key from).")


def encrypt(config, value: str) -> str:
    return _fernet(config.config_key, config.jwt_secret).encrypt(value.encode()).decode()


def decrypt(config, token: str) -> str:
    try:
        return _fernet(config.config_key, config.jwt_secret).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretsUnavailable("A secret config cannot be decrypted with this key: was "
                                 "ACTORS_CONFIG_KEY (or ACTORS_JWT_SECRET) changed?")
