"""How each resource is shown: Abaco's ``_links`` and the fields Abaco clients expect.

Every response that returns an actor, execution, log, worker, nonce, alias or config
returns it through one of these functions, whether it was reached by id or by alias
(links always name the actor's id). Links are absolute URLs on this server; ``owner``
points at ``/profiles/{user}``, as Abaco's do.
"""
from __future__ import annotations

from .context import links


def actor(record: dict) -> dict:
    aid = record["id"]
    return dict(record, _links=links(("self", f"/actors/{aid}"),
                                     ("owner", f"/profiles/{record.get('owner')}"),
                                     ("executions", f"/actors/{aid}/executions")))


def execution(record: dict, actor_id: str = None) -> dict:
    aid, eid = actor_id or record["actor_id"], record["id"]
    return dict(record, _links=links(("self", f"/actors/{aid}/executions/{eid}"),
                                     ("owner", f"/profiles/{record.get('executor')}"),
                                     ("logs", f"/actors/{aid}/executions/{eid}/logs"),
                                     ("status", f"/actors/{aid}/executions/{eid}/status"),
                                     ("outputs", f"/actors/{aid}/executions/{eid}/outputs")))


def executions_summary(summary: dict, actor_record: dict) -> dict:
    aid = actor_record["id"]
    return dict(summary, _links=links(("self", f"/actors/{aid}/executions"),
                                      ("owner", f"/profiles/{actor_record['owner']}")))


def logs(result: dict, actor_id: str, execution_id: str, owner: str) -> dict:
    return dict(result, _links=links(
        ("self", f"/actors/{actor_id}/executions/{execution_id}/logs"),
        ("execution", f"/actors/{actor_id}/executions/{execution_id}"),
        ("owner", f"/profiles/{owner}")))


def messages(result: dict, actor_record: dict) -> dict:
    aid = actor_record["id"]
    return dict(result, _links=links(("self", f"/actors/{aid}/messages"),
                                     ("owner", f"/profiles/{actor_record['owner']}")))


# Abaco's worker fields that have no counterpart here (a worker is a slot, not a
# container of its own): shown as null so clients that read them find the keys.
ABACO_WORKER_FIELDS = ("ch_name", "cid", "host_ip", "location")


def worker(record: dict, actor_record: dict, tenant: str) -> dict:
    """A worker as Abaco shows one: its actor's ``image`` and ``tenant``, ``host_id``."""
    aid = actor_record["id"]
    shown = dict(record, image=actor_record.get("image"), tenant=tenant,
                 host_id=record.get("host"))
    for name in ABACO_WORKER_FIELDS:
        shown.setdefault(name, None)
    shown["_links"] = links(("self", f"/actors/{aid}/workers/{record['id']}"),
                            ("actor", f"/actors/{aid}"),
                            ("owner", f"/profiles/{actor_record.get('owner')}"))
    return shown
