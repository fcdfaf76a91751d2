"""Searching actors, executions, workers and logs: ``GET /actors/search/{kind}``.

Only what the caller may READ is ever searched: the actors of their tenant that
they own or that were shared with them or with ``ABACO_WORLD`` (admins: all of
the tenant's), and the executions, workers and logs of those actors. The query
language is in schemas/search.py; how executions are found fast, in store/search.py.
"""
from __future__ import annotations

from flask import Blueprint, request

from actors_core.actor_fields import RESPONSE_ORDER as ACTOR_FIELDS
from actors_core.store.search import EXECUTION_SEARCH_FIELDS, filter_records
from actors_core.store.workers import FIELD_ORDER as WORKER_FIELDS

from .. import views
from ..auth import current_identity, readable_actor_ids
from ..casing import to_snake
from ..context import get_config, get_store
from ..errors import NotFound, ok
from ..schemas.search import KINDS, parse_query

bp = Blueprint("search", __name__)

LOG_FIELDS = ("execution_id", "actor_id", "logs")


def searchable_fields(kind: str) -> tuple:
    if kind == "actors":
        return ACTOR_FIELDS
    return {"executions": EXECUTION_SEARCH_FIELDS,
            "workers": WORKER_FIELDS + ("slot", "image", "tenant", "host_id"),
            "logs": LOG_FIELDS}[kind]


@bp.get("/actors/search/<kind>")
def search(kind):
    if kind not in KINDS:
        raise NotFound(f"Cannot search {kind!r}: search one of {', '.join(KINDS)} "
                       f"(GET /actors/search/executions?status.eq=COMPLETE).")
    camel = get_config().case == "camel"
    query = parse_query(kind, request.args, searchable_fields(kind), to_snake if camel else None)
    store = get_store()
    actor_ids = readable_actor_ids(store, current_identity())
    if kind == "executions":
        total, page = store.search.executions(actor_ids, query, current_identity().tenant)
    elif kind == "logs":
        total, page = store.search.logs(actor_ids, query)
    elif kind == "actors":
        total, page = filter_records(store.actors.list(actor_ids), query)
    else:
        total, page = filter_records(_workers(store, actor_ids, query), query)
    page = _shown(store, kind, page)
    result = {
        "_metadata": {"total_count": total, "records_skipped": query.skip,
                      "record_limit": query.limit, "count_returned": len(page)},
        "search": page,
    }
    return ok(result, "Search completed successfully.")


def _workers(store, actor_ids: set, query) -> list:
    """The workers of the readable actors (only those an ``actor_id`` eq/in names, if any)."""
    for condition in query.conditions:
        if condition.path == ("actor_id",) and condition.op in ("eq", "in"):
            actor_ids = actor_ids & set(condition.values)
    workers, tenant = [], current_identity().tenant
    for actor in store.actors.list(sorted(actor_ids)):
        for worker in store.workers.list_for_actor(actor["id"]):
            shown = views.worker(worker, actor, tenant)  # Abaco's fields are searchable too
            del shown["_links"]
            workers.append(shown)
    return sorted(workers, key=lambda w: (w.get("create_time") or "", w.get("id") or ""))


def _shown(store, kind: str, page: list) -> list:
    """The page's records with their ``_links`` (added after matching: links are not data)."""
    if kind == "actors":
        return [views.actor(a) for a in page]
    if kind == "executions":
        return [views.execution(e) for e in page]
    actors = {a["id"]: a for a in store.actors.list({r["actor_id"] for r in page})}
    if kind == "logs":
        return [views.logs(r, r["actor_id"], r["execution_id"],
                           actors.get(r["actor_id"], {}).get("owner")) for r in page]
    tenant = current_identity().tenant
    return [views.worker(w, actors[w["actor_id"]], tenant) if w["actor_id"] in actors else w
            for w in page]
