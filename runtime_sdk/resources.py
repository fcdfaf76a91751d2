"""Resource objects of the Python client: ``client.actors`` -> Actor -> Execution.

As in docker-py, an object's ``attrs`` is the server's description as of the
last fetch; ``reload()`` refreshes it. Methods that ask about something that
changes by itself (``Execution.status``, ``Actor.state``) always ask the server.
"""
from __future__ import annotations

import time
from typing import List, Optional, Union
from urllib.parse import quote

from .errors import SynchronousTimeout

FINISHED = ("COMPLETE", "ERROR")

# The fields a user sets when registering an actor: a PUT must send all of them
# again, since the server resets what it is not given to the defaults.
USER_FIELDS = ("image", "name", "description", "default_environment", "stateless", "privileged",
               "max_workers", "mem_limit", "max_cpus", "hints", "queue", "log_ex", "token",
               "use_container_uid", "gpus", "gpu_memory_min", "max_retries", "retry_backoff",
               "retry_on_exit_code")

SYNC_HTTP_TIMEOUT = 900.0  # above any server's sync wait: the server answers 408 first

_UNSET = object()


def _segment(value: str) -> str:
    return quote(str(value), safe="")


def message_request(message=None, *, json=_UNSET, binary=None, env=None) -> dict:
    """Keyword arguments for ``Client.request`` sending one message in one of the three forms."""
    given = [name for name, value in (("message", message), ("binary", binary))
             if value is not None] + (["json"] if json is not _UNSET else [])
    if len(given) != 1:
        raise TypeError("send exactly one of: a string message, json=..., binary=... "
                        f"(got {', '.join(given) or 'none'})")
    kwargs = {"params": dict(env) if env else None}
    if message is not None:
        kwargs["form"] = {"message": str(message)}
    elif binary is not None:
        kwargs["data"] = bytes(binary)
        kwargs["content_type"] = "application/octet-stream"
    else:
        kwargs["json"] = json
    return kwargs


class Model:
    def __init__(self, client, attrs: dict):
        self.client = client
        self.attrs = attrs

    @property
    def id(self) -> str:
        return self.attrs["id"]

    def __repr__(self):
        return f"<{type(self).__name__}: {self.id}>"

    def __eq__(self, other):
        return type(other) is type(self) and other.id == self.id

    def __hash__(self):
        return hash((type(self).__name__, self.id))


class ActorCollection:
    def __init__(self, client):
        self.client = client

    def create(self, image: str, **fields) -> "Actor":
        """Register an actor; ``fields`` are the actor's other fields (stateless, token, ...)."""
        attrs = self.client.call("POST", "/actors", json={"image": image, **fields})
        return Actor(self.client, attrs)

    def get(self, actor_id: str) -> "Actor":
        return Actor(self.client, self.client.call("GET", f"/actors/{_segment(actor_id)}"))

    def list(self) -> List["Actor"]:
        return [Actor(self.client, attrs) for attrs in self.client.call("GET", "/actors")]


class Actor(Model):
    @property
    def path(self) -> str:
        return f"/actors/{_segment(self.id)}"

    @property
    def name(self) -> Optional[str]:
        return self.attrs.get("name")

    @property
    def image(self) -> str:
        return self.attrs.get("image")

    def reload(self) -> "Actor":
        self.attrs = self.client.call("GET", self.path)
        return self

    def update(self, **fields) -> "Actor":
        """Change some fields; the rest are sent as they are now (a PUT replaces everything)."""
        if "image" not in self.attrs:  # built from an id alone: learn the current fields first
            self.reload()
        description = {name: value for name, value in self.attrs.items()
                       if name in USER_FIELDS and value is not None}
        description.update(fields)
        self.attrs = self.client.call("PUT", self.path, json=description)
        return self

    def delete(self) -> None:
        self.client.call("DELETE", self.path)

    def send(self, message: Optional[str] = None, *, json=_UNSET, binary: Optional[bytes] = None,
             env: Optional[dict] = None) -> "Execution":
        """Send one message: a string, ``json=`` any JSON value, or ``binary=`` bytes.

        ``env`` becomes query parameters, which the platform turns into
        environment variables of the execution.
        """
        kwargs = message_request(message, json=json, binary=binary, env=env)
        result = self.client.call("POST", f"{self.path}/messages", **kwargs)
        return Execution(self.client, {"id": result["execution_id"], "actor_id": self.id})

    def send_sync(self, message: Optional[str] = None, *, json=_UNSET,
                  binary: Optional[bytes] = None, env: Optional[dict] = None,
                  timeout: Optional[float] = None) -> Union[bytes, str]:
        """Send and wait: the execution's first result (bytes), or else its logs (str).

        If the server stops waiting first it answers 408, raised as
        :class:`SynchronousTimeout` whose ``execution`` can still be waited on.
        """
        kwargs = message_request(message, json=json, binary=binary, env=env)
        kwargs["params"] = dict(kwargs["params"] or {}, _abaco_synchronous="true")
        try:
            response = self.client.request("POST", f"{self.path}/messages",
                                           timeout=timeout or SYNC_HTTP_TIMEOUT, **kwargs)
        except SynchronousTimeout as error:
            if error.execution_id:
                error.execution = Execution(self.client, {"id": error.execution_id,
                                                          "actor_id": self.id})
            raise
        if response.content_type == "application/octet-stream":
            return response.body
        return response.body.decode("utf-8", "replace")

    def executions(self) -> List["Execution"]:
        """This actor's executions, oldest first; each ``attrs`` is the summary until reload()."""
        summary = self.client.call("GET", f"{self.path}/executions")
        return [Execution(self.client, dict(item, actor_id=self.id))
                for item in summary.get("executions") or []]

    def get_execution(self, execution_id: str) -> "Execution":
        return Execution(self.client, {"id": execution_id, "actor_id": self.id}).reload()

    @property
    def state(self):
        """The state (any JSON value) of a stateful actor; stateless ones raise ApiError (400)."""
        return self.client.call("GET", f"{self.path}/state").get("state")

    def set_state(self, value) -> None:
        self.client.call("POST", f"{self.path}/state", json=value)

    def messages_count(self) -> int:
        """Messages waiting in the mailbox (not yet started)."""
        return int(self.client.call("GET", f"{self.path}/messages").get("messages", 0))


class Execution(Model):
    @property
    def actor_id(self) -> str:
        return self.attrs["actor_id"]

    @property
    def path(self) -> str:
        return f"/actors/{_segment(self.actor_id)}/executions/{_segment(self.id)}"

    def reload(self) -> "Execution":
        self.attrs = dict(self.client.call("GET", self.path), actor_id=self.actor_id)
        return self

    @property
    def status(self) -> str:
        """The status now (SUBMITTED, RUNNING, COMPLETE or ERROR), fetched from the server."""
        return self.reload().attrs["status"]

    @property
    def exit_code(self) -> Optional[int]:
        return self.attrs.get("exit_code")

    def done(self) -> bool:
        return self.status in FINISHED

    def wait(self, timeout: Optional[float] = None, poll: float = 0.2) -> "Execution":
        """Block until COMPLETE or ERROR; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status
            if status in FINISHED:
                return self
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"execution {self.id} of actor {self.actor_id} is still "
                                   f"{status} after {timeout} s")
            if deadline is not None:
                poll = max(0.0, min(poll, deadline - time.monotonic()))
            time.sleep(poll)

    def logs(self) -> str:
        return self.client.call("GET", f"{self.path}/logs").get("logs") or ""

    def result(self) -> Optional[bytes]:
        """The next unread result, or ``None`` when none is waiting (reading removes it).

        The API cannot tell an empty result from no result: both read as ``None``.
        """
        body = self.client.request("GET", f"{self.path}/results").body
        return body or None

    def results(self) -> List[bytes]:
        """Every unread result, in the order the execution sent them."""
        drained = []
        while True:
            result = self.result()
            if result is None:
                return drained
            drained.append(result)

    def rerun(self) -> "Execution":
        """Run a finished execution again with the same message and query variables (needs
        EXECUTE); the new execution, whose ``rerun_of`` names this one."""
        result = self.client.call("POST", f"{self.path}/rerun")
        return Execution(self.client, {"id": result["execution_id"], "actor_id": self.actor_id,
                                       "rerun_of": self.id})

    def kill(self) -> "Execution":
        """Cancel a queued execution or force-quit a running one."""
        attrs = self.client.call("DELETE", self.path) or self.attrs
        self.attrs = dict(attrs, actor_id=self.actor_id)
        return self
