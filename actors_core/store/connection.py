"""Redis connections that ride out an outage (docs/architecture.md, "Faults").

Two kinds of client, one per kind of caller:

* :func:`patient` (spawner supervisor, slot processes, the sweep): every command
  and every pipeline waits for Redis to come back, reconnecting with a capped
  exponential backoff, and never raises a connection error. A container that
  exits while Redis is down is recorded when Redis is back, because the code
  recording it simply waits. The wait is logged once when it starts, every
  :data:`REMIND_SECONDS` while it lasts, and once when Redis answers again.
* :func:`brief` (the API): two quick retries, then ``redis.ConnectionError``,
  which the API answers with 503 and ``Retry-After`` (actors_api/errors.py), so a
  request never hangs on a Redis that is gone.

Retrying a command that Redis ran but whose answer was lost can apply it twice;
every status change is a Lua script that checks the current status first, so a
repeated claim, finish or cancel is a no-op. A repeated log append can repeat one
chunk of log (the only effect of that window).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Optional

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

log = logging.getLogger("actors.redis")

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)
REMIND_SECONDS = 30.0
BACKOFF_BASE = 0.05  # seconds before the first reconnection attempt (doubling from there)


class Outage:
    """What this process knows about Redis being away: shared by every patient client."""

    def __init__(self):
        self._lock = threading.Lock()
        self.down_since: Optional[float] = None  # monotonic; None while Redis answers
        self.recovered_at: float = time.monotonic()  # when it last came back (or we started)
        self._reminded = 0.0
        self.outages = 0

    def failed(self, error: Exception, url: str = "") -> None:
        now = time.monotonic()
        with self._lock:
            if self.down_since is None:
                self.down_since = self._reminded = now
                self.outages += 1
                log.warning("Redis %sis unreachable (%s); waiting for it, retrying with backoff",
                            f"at {url} " if url else "", error)
            elif now - self._reminded >= REMIND_SECONDS:
                self._reminded = now
                log.warning("Redis still unreachable after %.0f s (%s); still waiting",
                            now - self.down_since, error)

    def answered(self) -> None:
        if self.down_since is None:  # the common case: no lock, no work
            return
        with self._lock:
            if self.down_since is not None:
                log.warning("Redis answers again after %.1f s", time.monotonic() - self.down_since)
                self.down_since = None
                self.recovered_at = time.monotonic()

    def connected_for(self) -> float:
        """Seconds Redis has answered without a break (0 while it is away)."""
        if self.down_since is not None:
            return 0.0
        return time.monotonic() - self.recovered_at


OUTAGE = Outage()


class PatientRetry(Retry):
    """Retry a connection error forever, with capped exponential backoff."""

    def __init__(self, cap: float = 2.0, url: str = ""):
        super().__init__(ExponentialBackoff(cap=cap, base=BACKOFF_BASE), -1)
        self.cap = cap
        self.url = url

    def call_with_retry(self, do, fail):
        self._backoff.reset()
        failures = 0
        while True:
            try:
                result = do()
            except self._supported_errors as error:
                failures += 1
                fail(error)
                OUTAGE.failed(error, self.url)
                time.sleep(self._backoff.compute(failures))
                continue
            if failures:
                OUTAGE.answered()
            return result


class PatientPool(redis.ConnectionPool):
    """A pool whose ``get_connection`` also waits: a connection's handshake (sent outside
    the command's retry) can fail while Redis is still loading its AOF."""

    def get_connection(self, *args, **kwargs):
        failures = 0
        retry = self.connection_kwargs["retry"]
        while True:
            try:
                connection = super().get_connection(*args, **kwargs)
            except UNAVAILABLE as error:
                failures += 1
                OUTAGE.failed(error, retry.url)
                time.sleep(min(retry.cap, BACKOFF_BASE * 2 ** failures))
                continue
            if failures:
                OUTAGE.answered()
            return connection


def patient(url: str, backoff_cap: float = 2.0) -> redis.Redis:
    """A client that waits out any Redis outage (see the module's docstring)."""
    pool = PatientPool.from_url(url, retry=PatientRetry(backoff_cap, _redact(url)),
                                retry_on_error=[RedisConnectionError, RedisTimeoutError],
                                socket_keepalive=True, socket_connect_timeout=5)
    return redis.Redis(connection_pool=pool)


def brief(url: str) -> redis.Redis:
    """A client that gives up quickly (about 0.3 s when Redis refuses connections)."""
    return redis.Redis.from_url(url, retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 2),
                                retry_on_error=[RedisConnectionError, RedisTimeoutError],
                                socket_keepalive=True, socket_connect_timeout=2)


def _redact(url: str) -> str:
    """The URL without a password, for log lines."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"

