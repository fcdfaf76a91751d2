"""Calling the platform's API from inside an execution, with the execution's own token.

The platform sets ``_abaco_api_server`` always and ``_abaco_access_token``
only for actors registered with ``token=true``; that token acts for the
actor's owner and reaches only this actor.
"""
from __future__ import annotations

from .client import Actor, Client
from .context import environment

API_SERVER_VARIABLE = "_abaco_api_server"
TOKEN_VARIABLE = "_abaco_access_token"
ACTOR_ID_VARIABLE = "_abaco_actor_id"


class NoAccessToken(RuntimeError):
    """The execution has no token: the actor was registered without ``token=true``."""


def get_client() -> Client:
    """A :class:`Client` for the API server this execution came from, with its token."""
    server = environment().get(API_SERVER_VARIABLE)
    if not server:
        raise RuntimeError(f"{API_SERVER_VARIABLE} is not set: get_client() works inside an "
                           "execution of the platform")
    token = environment().get(TOKEN_VARIABLE)
    if not token:
        raise NoAccessToken(f"this execution has no access token ({TOKEN_VARIABLE} is empty): "
                            "register the actor with token=true to call the API from inside it")
    return Client(server, token)


def update_state(value) -> None:
    """Replace this actor's state with ``value`` (any JSON value); the actor must be stateful.

    Later executions see it as ``get_context().state``. Errors from the server
    (a stateless actor: 400) raise :class:`~runtime_sdk.errors.ApiError`.
    """
    actor_id = environment().get(ACTOR_ID_VARIABLE)
    if not actor_id:
        raise RuntimeError(f"{ACTOR_ID_VARIABLE} is not set: update_state() works inside an "
                           "execution of the platform")
    Actor(get_client(), {"id": actor_id}).set_state(value)
