"""Revoked bearer tokens, by their ``jti``, kept until the token would have expired anyway."""
from __future__ import annotations

import time

from . import keys


class RevokedTokens:
    def __init__(self, redis):
        self.redis = redis

    def revoke(self, token_id: str, expires_at: int, pipeline=None) -> None:
        """Refuse the token from now on; the entry lasts until its ``exp`` (plus a minute)."""
        ttl = max(int(expires_at - time.time()) + 60, 60)
        (pipeline or self.redis).set(keys.revoked_token(token_id), 1, ex=ttl)

    def is_revoked(self, token_id: str) -> bool:
        return bool(self.redis.exists(keys.revoked_token(token_id)))
