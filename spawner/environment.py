"""The environment an execution sees: the contract actor code relies on.

Later entries win: the actor's ``default_environment``, then the message's
query parameters, then the platform's own variables. ``MSG``, ``_actor_configs``
and ``_abaco_*`` are the platform's alone (actors_core/platform_variables.py): the
API refuses them from users, and here any that come from the actor or the message
are dropped before anything else is added, so none can shadow or smuggle in a
platform variable.
"""
from __future__ import annotations

import json
import logging
from typing import Optional

from actors_core.enums import ContentType
from actors_core.platform_variables import MESSAGE_CONTEXT, user_variables

log = logging.getLogger(__name__)

BINARY_TARGET = "/_abaco_binary_data"
RESULTS_TARGET = "/_abaco_results.sock"
OUTPUTS_TARGET = "/_abaco_outputs"  # what the actor leaves here is kept (spawner/outputs.py)
INPUTS_TARGET = "/_abaco_inputs"  # a run's stage reads what it needs here (spawner/runs.py)


def actor_dbid(actor: dict, tenant: str = "default") -> str:
    return f"{tenant.upper()}_{actor['id']}"


def execution_environment(actor: dict, execution: dict, message: bytes, api_server: str,
                          worker_id: str, access_token: Optional[str], state=None,
                          gpus=(), tenant: str = "default", actor_configs: Optional[dict] = None
                          ) -> dict:
    """``actor_configs`` holds decrypted secrets: it goes to the container and nowhere else."""
    defaults, dropped = user_variables(actor.get("default_environment"))
    from_message, dropped_too = user_variables(execution.get("environment"), MESSAGE_CONTEXT)
    if dropped or dropped_too:
        log.warning("execution %s: dropped platform variables set by a user: %s",
                    execution["id"], ", ".join(sorted(map(repr, set(dropped + dropped_too)))))
    environment = {}
    environment.update(defaults)
    environment.update(from_message)
    content_type = execution["content_type"]
    system = {
        "_abaco_execution_id": execution["id"],
        "_abaco_actor_id": actor["id"],
        "_abaco_actor_dbid": actor_dbid(actor, tenant),
        "_abaco_actor_name": actor.get("name") or "",
        "_abaco_worker_id": worker_id,
        "_abaco_container_repo": actor["image"],
        "_abaco_Content_Type": content_type,
        "_abaco_username": execution["executor"],
        "_abaco_api_server": api_server,
        "_abaco_actor_state": json.dumps(state) if state is not None else "",
        "_abaco_actor_revision": str(actor.get("revision", 1)),
        "_abaco_access_token": access_token or "",
        "_actor_configs": json.dumps(actor_configs or {}),
        "_abaco_gpus": ",".join(g.uuid for g in gpus),
    }
    environment.update(system)
    if content_type != str(ContentType.BINARY):
        environment["MSG"] = message.decode("utf-8", "replace")
    else:
        environment.pop("MSG", None)
    return environment
