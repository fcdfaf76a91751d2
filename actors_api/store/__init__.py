"""The only code that knows Redis keys. Handlers and the spawner get plain dicts."""
from __future__ import annotations

import redis as redis_lib

from .actors import ActorStore
from .executions import ExecutionStore
from .hosts import HostStore
from .logs import LogStore
from .slots import SlotLeases
from .work import WorkQueue


class Store:
    """Every store over one Redis connection (bytes in, bytes out: RQ needs that)."""

    def __init__(self, redis, config):
        self.redis = redis
        self.config = config
        self.actors = ActorStore(redis)
        self.executions = ExecutionStore(redis)
        self.logs = LogStore(redis, config.log_max_bytes)
        self.slots = SlotLeases(redis, config.lease_seconds)
        self.work = WorkQueue(redis)
        self.hosts = HostStore(redis)

    @classmethod
    def from_config(cls, config) -> "Store":
        return cls(redis_lib.Redis.from_url(config.redis_url), config)

    def delete_actor(self, actor: dict) -> None:
        """Remove the actor with its queued messages, executions and logs.

        Executions still running are force-quit: their spawner sees the kill
        request, stops the container and finds nothing left to record.
        """
        running = [e["id"] for e in self.executions.list_for_actor(actor["id"])
                   if e["status"] == "RUNNING"]
        self.executions.delete_for_actor(actor["id"])
        self.actors.delete(actor["id"], actor["owner"])
        for execution_id in running:
            self.executions.request_kill(execution_id)
