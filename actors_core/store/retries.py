"""Retries and re-runs: the due set, and the links between an execution and its tries.

* An execution that ended in a way its actor retries (spawner/retries.py decides)
  goes into the ``retries:due`` sorted set, scored by when its retry is due, in the
  finish script that records its end (store/executions.py).
* Every spawner's tick leases the due entries (:meth:`lease_due` pushes each one's
  score a minute ahead, atomically, so one spawner at a time works on it), creates
  the retry through the ordinary submit path under an id derived from the first
  execution and the try's number (:func:`retry_id`), links it, and drops the entry.
  A spawner that dies in between leaves the entry to be leased again a minute
  later, and the derived id makes creating it a second time a no-op: each retry
  exists once.
* Links are lists of ids kept on the records: ``retries`` on the first execution
  (every retry, in order), ``retry_of`` and ``retry_number`` on each retry;
  ``reruns`` and ``rerun_of`` for re-runs asked for by hand.
"""
from __future__ import annotations

import hashlib
import json
import string
import time

from . import keys

LEASE_SECONDS = 60.0
BATCH = 100

_ALPHABET = string.ascii_letters + string.digits

_LEASE = """
-- KEYS: due set; ARGV: now, leased until, batch
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return due
"""

_APPEND = """
-- KEYS: execution; ARGV: field, id json
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local list = {}
if raw and raw ~= 'null' then list = cjson.decode(raw) end
local id = cjson.decode(ARGV[2])
for _, item in ipairs(list) do if item == id then return 0 end end
table.insert(list, id)
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(list))
return 1
"""


def retry_id(first_execution_id: str, number: int) -> str:
    """The id of try ``number`` (1, 2, ...) after ``first_execution_id``: the same wherever
    and however often it is worked out, so a retry is never created twice."""
    digest = int.from_bytes(hashlib.sha256(f"{first_execution_id}:retry:{number}".encode())
                            .digest(), "big")
    chars = []
    for _ in range(13):
        digest, index = divmod(digest, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


class RetryStore:
    def __init__(self, redis):
        self.redis = redis
        self._lease = redis.register_script(_LEASE)
        self._append = redis.register_script(_APPEND)

    def lease_due(self, now: float = None, lease: float = LEASE_SECONDS) -> list:
        """Ids whose retry is due, each leased to the caller for ``lease`` seconds."""
        now = time.time() if now is None else now
        return [m.decode() for m in self._lease(keys=[keys.RETRIES_DUE],
                                                args=[now, now + lease, BATCH])]

    def done(self, execution_id: str) -> None:
        self.redis.zrem(keys.RETRIES_DUE, execution_id)

    def pending(self, execution_id: str):
        """Epoch seconds its retry is due, or None."""
        return self.redis.zscore(keys.RETRIES_DUE, execution_id)

    def cancel(self, execution_id: str) -> bool:
        """Drop a retry that is not created yet; True if there was one."""
        return bool(self.redis.zrem(keys.RETRIES_DUE, execution_id))

    def exists(self, execution_id: str) -> bool:
        return bool(self.redis.exists(keys.execution(execution_id)))

    def message_kept(self, execution_id: str) -> bool:
        """Whether the execution's message is still stored (it expires with the logs)."""
        return bool(self.redis.exists(keys.message(execution_id)))

    def link(self, execution_id: str, field: str, other_id: str) -> bool:
        """Append ``other_id`` to the list ``field`` of an execution (once; no-op if gone)."""
        return bool(self._append(keys=[keys.execution(execution_id)],
                                 args=[field, json.dumps(other_id)]))
