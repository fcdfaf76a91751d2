"""The only code that knows Redis keys. Handlers and the spawner get plain dicts."""
from __future__ import annotations

from typing import Optional

from .actors import ActorStore, public as public_actor
from .admission import Admission
from .artifacts import ArtifactIndex
from .aliases import AliasStore
from .configs import ConfigStore
from .cron import CronIndex
from .events import EventStore
from .executions import ExecutionStore
from .hosts import HostStore
from .logs import LogStore
from .nonces import NonceStore
from .permissions import PermissionStore
from .retries import RetryStore
from .revocations import RevokedTokens
from .runs import RunStore
from .search import SearchStore
from .leases import WorkerLeases
from .timeline import Timeline
from .takeover import TakeoverStore
from .work import WorkQueue
from .workers import WorkerStore


class Store:
    """Every store over one Redis connection (bytes in, bytes out: RQ needs that)."""

    def __init__(self, redis, config):
        self.redis = redis
        self.config = config
        self.actors = ActorStore(redis)
        self.timeline = Timeline(redis, config.log_ex, config.version)
        self.executions = ExecutionStore(redis, self.timeline, config)
        self.logs = LogStore(redis, config.log_max_bytes)
        self.leases = WorkerLeases(redis, config.lease_seconds)
        self.workers = WorkerStore(redis)
        self.work = WorkQueue(redis)
        self.admission = Admission(redis, self.timeline, config)
        self.hosts = HostStore(redis)
        self.permissions = PermissionStore(redis)
        self.aliases = AliasStore(redis)
        self.nonces = NonceStore(redis)
        self.configs = ConfigStore(redis)
        self.revoked_tokens = RevokedTokens(redis)
        self.search = SearchStore(redis)
        self.events = EventStore(redis)
        self.cron = CronIndex(redis)
        self.artifacts = ArtifactIndex(redis)
        self.retries = RetryStore(redis)  # retries and re-runs (issue 12)
        self.takeover = TakeoverStore(redis)  # settling lost spawners (issue 12)
        self.runs = RunStore(redis, self.executions, self.actors, self.timeline)
        self.executions.on_end = self.runs.execution_ended  # a run advances as its executions end

    @classmethod
    def from_config(cls, config, patient: bool = False) -> "Store":
        """``patient``: wait out Redis outages (spawners) instead of failing fast (the API);
        see store/connection.py."""
        from .connection import brief, patient as patient_client

        client = (patient_client(config.redis_url, config.redis_backoff_max) if patient
                  else brief(config.redis_url))
        return cls(client, config)

    def find_actor(self, tenant: str, ident: str) -> Optional[dict]:
        """The tenant's actor with this id, else the one its alias ``ident`` points at
        (as the API shows it: without its tenant).

        An actor of another tenant is not found: ids are global, but a tenant
        only ever sees its own actors.
        """
        actor = self.actors.get_internal(ident)
        if actor is None or actor["tenant"] != tenant:
            alias = self.aliases.get(tenant, ident)
            actor = self.actors.get_internal(alias["actor_id"]) if alias else None
            if actor is None or actor["tenant"] != tenant:
                return None
        return public_actor(actor)

    def delete_actor(self, actor: dict, tenant: str = "default") -> None:
        """Remove the actor with its queued messages, executions, logs, permissions,
        nonces and aliases.

        Executions still running are force-quit: their spawner sees the kill
        request, stops the container and finds nothing left to record.
        """
        running = [e["id"] for e in self.executions.list_for_actor(actor["id"])
                   if e["status"] == "RUNNING"]
        self.executions.delete_for_actor(actor["id"])
        self.events.delete_for_actor(actor["id"])
        self.workers.delete_for_actor(actor["id"])
        self.actors.delete(actor["id"], actor["owner"], tenant)
        self.permissions.drop("actor", tenant, actor["id"])
        self.nonces.delete_all(tenant, actor_id=actor["id"])
        for name in self.aliases.for_actor(actor["id"]):
            self.delete_alias(tenant, name)
        for execution_id in running:
            self.executions.request_kill(execution_id)

    def delete_alias(self, tenant: str, name: str) -> None:
        self.aliases.delete(tenant, name)
        self.permissions.drop("alias", tenant, name)
        self.nonces.delete_all(tenant, alias=name)

    def delete_config(self, tenant: str, name: str) -> None:
        self.configs.delete(tenant, name)
        self.permissions.drop("config", tenant, name)
