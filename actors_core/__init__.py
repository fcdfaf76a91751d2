"""The neutral kernel both sides stand on: configuration, ids, times and status values,
tokens, secrets, cron parsing, scheduling policy and the store (the only code that knows
Redis keys). It imports neither ``actors_api`` (Flask) nor ``spawner`` (Docker)."""
