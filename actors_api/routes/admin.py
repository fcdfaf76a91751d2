"""Operators' views: where the capacity is."""
from __future__ import annotations

from flask import Blueprint

from ..auth import current_identity
from ..context import get_store
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
