"""The variables the platform puts into an execution's environment, which users may not set.

An execution sees the actor's ``default_environment``, then its message's query
parameters, then the platform's own variables (spawner/environment.py). The platform's
own are ``MSG``, ``_actor_configs`` and every ``_abaco_*`` name: they tell actor code
who sent the message, what it is, which configs (secrets included) it gets and where
the API is, so nobody but the platform may choose them. The API refuses them in
``default_environment`` and in a message's query parameters (400 naming the variable);
the spawner drops any that reach it anyway (records written before the API refused
them, or any other way in). ``_abaco_synchronous`` and ``x-nonce`` are query
parameters the API consumes; they never reach an execution.

The platform itself puts a few ``_abaco_*`` names into a message's environment
(:data:`MESSAGE_CONTEXT`): cron messages carry ``_abaco_cron``, a run's stages ``_abaco_run_*``, link events
``_abaco_link_depth``. Only those pass from a message's environment, never from
``default_environment``.

Names that cannot be an environment variable (empty, or holding ``=`` or NUL, which
would let ``A=B`` smuggle a second variable into Docker's ``NAME=value`` list) are
refused as well.
"""
from __future__ import annotations

from typing import Optional

PLATFORM_PREFIX = "_abaco_"
PLATFORM_NAMES = frozenset({"MSG", "_actor_configs"})
# ``_abaco_*`` names the platform itself writes into a message's environment.
MESSAGE_CONTEXT = frozenset({"_abaco_cron", "_abaco_link_depth",
                             # a run's stage (actors_core/runs.py): which run, item, stage, try
                             "_abaco_run_id", "_abaco_run_item", "_abaco_run_stage",
                             "_abaco_run_attempt", "_abaco_run_cancelled"})


def is_platform_variable(name: str) -> bool:
    return name in PLATFORM_NAMES or name.startswith(PLATFORM_PREFIX)


def refusal(name) -> Optional[str]:
    """Why a user may not set the variable ``name``, or None if they may."""
    if not isinstance(name, str) or not name:
        return "An environment variable needs a name."
    if "=" in name or "\x00" in name:
        return f"{name!r} cannot be an environment variable name ('=' and NUL are not allowed)."
    if is_platform_variable(name):
        return (f"{name!r} is set by the platform: MSG, _actor_configs and _abaco_* "
                "variables cannot be set by users.")
    return None


def user_variables(variables: Optional[dict], allowed: frozenset = frozenset()) -> tuple:
    """``(kept, dropped)``: the entries a user may set (plus the ``allowed`` platform names)
    and the names dropped."""
    kept, dropped = {}, []
    for name, value in (variables or {}).items():
        if refusal(name) is None or (name in allowed and isinstance(value, str)):
            kept[name] = value
        else:
            dropped.append(name)
    return kept, dropped
