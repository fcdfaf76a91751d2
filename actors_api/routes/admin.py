"""Operators' views: where the capacity is."""
from __future__ import annotations

from flask import Blueprint

from actors_core.enums import ExecutionStatus, WorkerStatus
from actors_core.scheduling import worker_capacity

from .. import views
from ..auth import current_identity, readable_actor_ids, require_token
from ..context import get_config, get_store
from ..errors import Forbidden, ok

bp = Blueprint("admin", __name__)


def require_admin() -> None:
    if not current_identity().is_admin:
        raise Forbidden("This endpoint needs the admin role.")


@bp.get("/actors/admin/hosts")
def list_hosts():
    """Live spawners (current heartbeat) with their queues and GPUs, busy or free.

    Hosts are shared by every tenant; which execution holds a GPU is shown only
    when that execution is the caller's tenant's.
    """
    require_admin()
    store, tenant = get_store(), current_identity().tenant
    hosts = store.hosts.list()
    for gpu in (gpu for host in hosts for gpu in host.get("gpus", [])):
        execution = store.executions.get(gpu["execution_id"]) if gpu["execution_id"] else None
        if execution is None or store.actors.tenant_of(execution["actor_id"]) != tenant:
            gpu["execution_id"] = None
    return ok(hosts, "Hosts retrieved successfully.")


@bp.get("/actors/admin/workers")
def workers_summary():
    """Every worker of the caller's tenant, counted by status and per actor."""
    require_admin()
    store, tenant, config = get_store(), current_identity().tenant, get_config()
    actors = store.actors.list(store.actors.ids_in_tenant(tenant))
    per_actor, workers = [], []
    for actor in actors:
        records = store.workers.list_for_actor(actor["id"])
        minimum = store.workers.minimum(actor["id"])
        if not records and not minimum:
            continue
        workers.extend(views.worker(w, actor, tenant) for w in records)
        per_actor.append({"actor_id": actor["id"], "workers": len(records),
                          **_count_by_status(records, WorkerStatus),
                          "minimum": minimum, "max_workers": worker_capacity(actor, config)})
    result = {"total_workers": len(workers), **_count_by_status(workers, WorkerStatus),
              "actors": per_actor, "workers": workers}
    return ok(result, "Workers retrieved successfully.")


@bp.get("/actors/admin/executions")
def executions_summary():
    """The caller's tenant's executions counted by status, with totals, overall and per actor."""
    require_admin()
    store, tenant = get_store(), current_identity().tenant
    per_actor = []
    overall = {"total_executions": 0, "total_cpu": 0, "total_io": 0, "total_runtime": 0.0}
    for actor in store.actors.list(store.actors.ids_in_tenant(tenant)):
        executions = store.executions.list_for_actor(actor["id"])
        totals = store.executions.totals(actor["id"])
        entry = {"actor_id": actor["id"], "executions": len(executions),
                 **_count_by_status(executions, ExecutionStatus), **totals}
        per_actor.append(entry)
        for name in overall:
            overall[name] += totals.get(name, 0)
    overall["total_runtime"] = round(overall["total_runtime"], 3)
    counts = {str(s): sum(a[str(s)] for a in per_actor) for s in ExecutionStatus}
    result = {"executions": sum(a["executions"] for a in per_actor), **counts, **overall,
              "actors": per_actor}
    return ok(result, "Executions retrieved successfully.")


@bp.get("/actors/utilization")
def utilization():
    """Slots in use per live spawner, and workers and queued messages per actor.

    Hosts are shared, so they show counts only; the actors are those the caller
    can read (all of the tenant's for an admin).
    """
    identity = require_token("read utilization")
    store, config = get_store(), get_config()
    hosts = [{"name": h["name"], "queues": h.get("queues", []), "slots": h.get("slots", 0),
              "slots_in_use": len(store.executions.running_on(h["name"]))}
             for h in store.hosts.list()]
    actors = []
    for actor in store.actors.list(readable_actor_ids(store, identity)):
        workers = store.workers.list_for_actor(actor["id"])
        actors.append({"actor_id": actor["id"], "queue": actor["queue"], "workers": len(workers),
                       "busy_workers": sum(w["status"] != str(WorkerStatus.READY) for w in workers),
                       "max_workers": worker_capacity(actor, config),
                       "queued_messages": store.executions.queued_count(actor["id"])})
    result = {
        "total_slots": sum(h["slots"] for h in hosts),
        "slots_in_use": sum(h["slots_in_use"] for h in hosts),
        "workers": sum(a["workers"] for a in actors),
        "busy_workers": sum(a["busy_workers"] for a in actors),
        "queued_messages": sum(a["queued_messages"] for a in actors),
        "hosts": hosts, "actors": actors,
    }
    return ok(result, "Abaco utilization returned successfully.")


def _count_by_status(records: list, statuses) -> dict:
    return {str(s): sum(r["status"] == str(s) for r in records) for s in statuses}
