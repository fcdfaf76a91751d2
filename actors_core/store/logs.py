"""Execution logs: appended while the container runs, capped, expiring with ``log_ex``."""
from __future__ import annotations

from . import keys

TRUNCATION_MARKER = "\n[actors: log truncated at {cap} bytes]\n"

_APPEND_CAPPED = """
-- KEYS: logs; ARGV: chunk, cap, marker
local size = redis.call('STRLEN', KEYS[1])
local cap = tonumber(ARGV[2])
-- Only the marker ever takes a log past its cap, so size > cap means it is there.
if size > cap then return 0 end
local chunk = ARGV[1]
if size + #chunk > cap then
  chunk = string.sub(chunk, 1, cap - size) .. ARGV[3]
end
redis.call('APPEND', KEYS[1], chunk)
return 1
"""


class LogStore:
    def __init__(self, redis, max_bytes: int):
        self.redis = redis
        self.max_bytes = max_bytes
        self._append = redis.register_script(_APPEND_CAPPED)

    def append(self, execution_id: str, chunk: bytes) -> bool:
        """Add output; False once the cap is reached (the marker is then in the log)."""
        if not chunk:
            return True
        marker = TRUNCATION_MARKER.format(cap=self.max_bytes).encode()
        return bool(self._append(keys=[keys.logs(execution_id)],
                                 args=[chunk, self.max_bytes, marker]))

    def replace(self, execution_id: str, content: bytes) -> None:
        """Start the log over (a re-attached spawner re-reads it whole)."""
        self.redis.delete(keys.logs(execution_id))
        self.append(execution_id, content)

    def get(self, execution_id: str) -> str:
        return (self.redis.get(keys.logs(execution_id)) or b"").decode("utf-8", "replace")
