"""Actor configs: ``/actors/configs[/{name}]`` and their permissions.

A config gives a value to the actors it lists (by id or alias): their
executions see ``_actor_configs``, a JSON object ``{name: value}``. Listing an
actor needs UPDATE on it. A secret's value is encrypted before it is stored
and never comes back through the API (``value`` is ``null``); only the
spawner decrypts it.
"""
from __future__ import annotations

from flask import Blueprint

from actors_core.crypto import SecretsUnavailable, encrypt
from actors_core.enums import PermissionLevel

from ..auth import READ, UPDATE, current_identity, load_actor, load_config, require_token
from ..context import get_config, get_store, links, request_fields
from ..errors import APIError, NotFound, ok
from ..schemas import load_or_400
from ..schemas.access import ConfigSchema, ConfigUpdateSchema
from .permissions import list_permissions, share

bp = Blueprint("configs", __name__)


def _shown(config: dict) -> dict:
    """Abaco's shape: ``actors`` as a comma-separated string."""
    return dict(config, actors=",".join(config["actors"]),
                _links=links(("self", f"/actors/configs/{config['name']}"),
                             ("owner", f"/profiles/{config['owner']}")))


def _stored_fields(store, loaded: dict) -> dict:
    """Check the caller may configure every listed actor; encrypt a secret's value."""
    actors = list(dict.fromkeys(loaded["actors"]))  # unique, in the order given
    for ident in actors:
        load_actor(store, ident, UPDATE)
    value = loaded["value"]
    if loaded["is_secret"]:
        try:
            value = encrypt(get_config(), value)
        except SecretsUnavailable as error:
            raise APIError(str(error), 503)
    return {"value": value, "is_secret": loaded["is_secret"], "actors": actors}


@bp.get("/actors/configs")
def list_configs():
    identity = require_token("list actor configs")
    store = get_store()
    if identity.is_admin:
        names = store.configs.names(identity.tenant)
    else:
        names = store.permissions.granted("config", identity.tenant, identity.username)
    return ok([_shown(c) for c in store.configs.list(identity.tenant, names)],
              "Actor Configs retrieved successfully.")


@bp.post("/actors/configs")
def create_config():
    identity = require_token("create actor configs")
    store = get_store()
    loaded = load_or_400(ConfigSchema(), request_fields(), "config description")
    fields = _stored_fields(store, loaded)
    config = store.configs.create(identity.tenant, dict(fields, name=loaded["name"],
                                                        owner=identity.username))
    if config is None:
        raise APIError(f"Actor config {loaded['name']!r} already exists.", 409)
    store.permissions.grant("config", identity.tenant, config["name"], identity.username,
                            PermissionLevel.UPDATE)
    return ok(_shown(config), "Actor config created successfully.")


@bp.get("/actors/configs/<name>")
def get_config_record(name):
    return ok(_shown(load_config(get_store(), name, READ)), "Config retrieved successfully.")


@bp.put("/actors/configs/<name>")
def replace_config(name):
    """Replace value, secrecy and actors (every listed actor needs UPDATE again)."""
    store = get_store()
    load_config(store, name, UPDATE)
    loaded = load_or_400(ConfigUpdateSchema(), request_fields(), "config description")
    if loaded.get("name", name) != name:
        raise APIError("A config cannot be renamed: create a new one and delete this one.")
    config = store.configs.replace(current_identity().tenant, name, _stored_fields(store, loaded))
    if config is None:
        raise NotFound(f"No actor config {name!r}.")
    return ok(_shown(config), "Actor config updated successfully.")


@bp.delete("/actors/configs/<name>")
def delete_config(name):
    store = get_store()
    load_config(store, name, UPDATE)
    store.delete_config(current_identity().tenant, name)
    return ok(None, f"Actor config {name} deleted successfully.")


@bp.get("/actors/configs/<name>/permissions")
def get_config_permissions(name):
    store = get_store()
    load_config(store, name, READ)
    return list_permissions(store, "config", name)


@bp.post("/actors/configs/<name>/permissions")
def share_config(name):
    store = get_store()
    config = load_config(store, name, UPDATE)
    return share(store, "config", name, config["owner"])
