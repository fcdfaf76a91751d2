"""Verified bearer tokens, so a busy client costs one signature check per few seconds.

An entry is keyed by the token's SHA-256 (the token itself is never kept as a key) and
is served only while both hold: it was verified less than ``ACTORS_TOKEN_CACHE_SECONDS``
ago, and the token has not expired (its ``exp``, checked on every use: an entry is never
served past it). Revocation is not cached at all: ``auth.authenticate`` asks Redis on every
request. A token that fails verification is not cached.
"""
from __future__ import annotations

import hashlib
import threading
import time
from typing import Callable, Hashable, Optional

from actors_core.tokens import Identity, verify


class ExpiringCache:
    """A small map whose entries each have a deadline; the oldest entry goes when it is full.

    Safe to share between a process's threads: readers take no lock, writers do.
    """

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.time):
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable):
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, deadline = entry
        if self.clock() >= deadline:
            self.drop(key)
            return None
        return value

    def put(self, key: Hashable, value, deadline: float) -> None:
        with self._lock:
            self._entries.pop(key, None)
            while len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (value, deadline)

    def drop(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class TokenCache:
    """:func:`actors_core.tokens.verify`, remembered for a few seconds per token."""

    def __init__(self, config, max_entries: int = 10_000, clock: Callable[[], float] = time.time,
                 verifier: Callable = verify):
        self.config = config
        self.seconds = float(config.token_cache_seconds)
        self.verifier = verifier
        self.entries = ExpiringCache(max_entries, clock)

    def cached(self, token: str) -> Optional[Identity]:
        """The identity of a token verified here recently (still before its ``exp``), else
        ``None``: nothing is verified (the fast lane leaves that to the Flask path)."""
        if self.seconds <= 0:
            return None
        return self.entries.get(hashlib.sha256(token.encode()).digest())

    def identity(self, token: str) -> Identity:
        """The token's identity; raises ``TokenError`` like ``verify`` for a bad token."""
        if self.seconds <= 0:
            return self.verifier(self.config, token)
        key = hashlib.sha256(token.encode()).digest()
        identity: Optional[Identity] = self.entries.get(key)
        if identity is not None:
            return identity
        identity = self.verifier(self.config, token)
        deadline = self.entries.clock() + self.seconds
        if identity.expires_at is not None:
            deadline = min(deadline, identity.expires_at)
        self.entries.put(key, identity, deadline)
        return identity
