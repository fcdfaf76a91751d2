"""Resource objects of the Python client: ``client.actors`` -> Actor -> Execution.

As in docker-py, an object's ``attrs`` is the server's description as of the
last fetch; ``reload()`` refreshes it. Methods that ask about something that
changes by itself (``Execution.status``, ``Actor.state``) always ask the server.
"""
from __future__ import annotations

import os
import shutil
import time
from typing import BinaryIO, Iterator, List, Optional, Union
from urllib.parse import quote

from .errors import SynchronousTimeout

FINISHED = ("COMPLETE", "ERROR")

# The fields of an actor that only the server sets. A PUT replaces the whole description
# (what it is not given goes back to its default), so Actor.update sends back every other
# field as it is now: a field the server gains later is kept without a change here. This
# package imports nothing of the platform; a test checks this list against the one table
# (actors_core/actor_fields.py).
READ_ONLY_FIELDS = ("id", "owner", "status", "status_message", "cron_next_ex", "revision",
                    "create_time", "last_update_time")

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
                       if name not in READ_ONLY_FIELDS and not name.startswith("_")
                       and value is not None}
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
        """All this actor's executions, oldest first, read page by page (the server's listing
        is paged); each ``attrs`` is the summary until reload()."""
        found, params = [], {"offset": 0, "limit": 1000}
        while True:
            page = self.client.call("GET", f"{self.path}/executions", params=params)
            found += [Execution(self.client, dict(item, actor_id=self.id))
                      for item in page.get("executions") or []]
            cursor = (page.get("_metadata") or {}).get("next_cursor")
            if not cursor:
                return found
            params = {"cursor": cursor, "limit": 1000}

    def get_execution(self, execution_id: str) -> "Execution":
        return Execution(self.client, {"id": execution_id, "actor_id": self.id}).reload()

    @property
    def state(self):
        """The state (any JSON value) of a stateful actor; stateless ones raise ApiError (400)."""
        return self.client.call("GET", f"{self.path}/state").get("state")

    def set_state(self, value) -> None:
        self.client.call("POST", f"{self.path}/state", json=value)

    def status_events(self, since: int = 0) -> List[dict]:
        """Status events of all the actor's executions after feed cursor ``since``."""
        return _all_pages(self.client, f"{self.path}/status", since)

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

    def status_events(self, since: int = 0) -> List[dict]:
        """The status events so far with ``seq > since``: ``{seq, time, type, message, source}``."""
        return _all_pages(self.client, f"{self.path}/status", since)

    def follow(self, since: int = 0, timeout: Optional[float] = None) -> Iterator[dict]:
        """Each status event as it happens (a Server-Sent Events stream), until the final one."""
        from .status import follow

        return follow(self.client, f"{self.path}/status", since, timeout=timeout)

    def outputs(self, to: Union[None, str, os.PathLike, BinaryIO] = None):
        """The files the execution left in its outputs folder, as a zip.

        Without ``to`` the zip's bytes; with a path or a binary file, the zip is
        streamed there (never whole in memory) and ``to`` is returned. The
        execution record's ``outputs`` lists ``{path, size, sha256}``.
        """
        return _download(self.client, f"{self.path}/outputs", to)

    def output(self, path: str) -> bytes:
        """One output file's bytes."""
        quoted = "/".join(_segment(part) for part in path.split("/"))
        with self.client.open(f"{self.path}/outputs/{quoted}",
                              timeout=SYNC_HTTP_TIMEOUT) as response:
            return response.read()

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


def _all_pages(client, path: str, since: int) -> List[dict]:
    events = []
    while True:
        page = client.call("GET", path, params={"since": since, "limit": 1000})
        events.extend(page.get("events") or [])
        if not page.get("events") or page.get("cursor", since) == since:
            return events
        since = page["cursor"]


# -- runs (docs/runs.md) ------------------------------------------------------------------
RUN_ENDED = ("COMPLETE", "FAILED", "CANCELLED")


class RunCollection:
    """``client.runs``: the same stages over many items, then a finally stage."""

    def __init__(self, client):
        self.client = client

    def create(self, stages: list, items: list, *, env: Optional[dict] = None,
               final: Optional[dict] = None) -> "Run":
        """Start a run. ``stages``: ``[{"name", "actor", "needs": [...], "env": {...},
        "message": ...}]``; ``items``: one dict per item (its keys become environment
        variables); ``final``: the stage sent as ``finally``, run once after every item."""
        body = {"stages": list(stages), "items": list(items)}
        if env:
            body["env"] = dict(env)
        if final:
            body["finally"] = dict(final)
        return Run(self.client, self.client.call("POST", "/runs", json=body))

    def get(self, run_id: str) -> "Run":
        return Run(self.client, {"id": run_id}).reload()

    def list(self, limit: int = 100) -> List["Run"]:
        """The caller's runs (an admin's: the tenant's), newest first, without their items."""
        return [Run(self.client, attrs)
                for attrs in self.client.call("GET", "/runs", params={"limit": limit})]


class Run(Model):
    """A run as of the last fetch (``attrs``): status, counts per stage, a page of items."""

    @property
    def path(self) -> str:
        return f"/runs/{_segment(self.id)}"

    def reload(self, offset: int = 0, limit: int = 100) -> "Run":
        """Fetch it again, with ``limit`` items from ``offset`` (0: only the counts)."""
        self.attrs = self.client.call("GET", self.path, params={"offset": offset,
                                                                "limit": limit})
        return self

    @property
    def status(self) -> str:
        """RUNNING, COMPLETE, FAILED or CANCELLED, fetched from the server."""
        return self.reload(limit=0).attrs["status"]

    def done(self) -> bool:
        return self.status in RUN_ENDED

    def wait(self, timeout: Optional[float] = None, poll: float = 0.5) -> "Run":
        """Block until the run has ended; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status
            if status in RUN_ENDED:
                return self.reload()
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {self.id} is still {status} after {timeout} s")
            time.sleep(poll if deadline is None else max(0.0, min(poll,
                                                                  deadline - time.monotonic())))

    def items(self) -> List[dict]:
        """Every item with each stage's state (fetched in pages)."""
        found, offset = [], 0
        while True:
            page = self.client.call("GET", self.path, params={"offset": offset, "limit": 1000})
            found.extend(page.get("items") or [])
            offset += 1000
            if offset >= page.get("items_total", 0):
                return found

    def execution(self, item, stage: Optional[str] = None) -> "Execution":
        """The execution of ``stage`` for item ``item`` (an index), or of the finally stage
        (``item="finally"``), in its current attempt."""
        final = item == "finally"
        run = self.client.call("GET", self.path, params={"offset": 0 if final else item,
                                                         "limit": 0 if final else 1})
        if final:
            state, actor_id = run["finally"], run["finally"]["actor_id"]
        else:
            state = next(s for s in run["items"][0]["stages"] if s["name"] == stage)
            actor_id = next(s["actor_id"] for s in run["stages"] if s["name"] == stage)
        return Execution(self.client, {"id": state["execution_id"], "actor_id": actor_id})

    def cancel(self) -> "Run":
        """Nothing new starts, queued executions never run, running ones are force-quit;
        the finally stage still runs."""
        self.attrs = self.client.call("DELETE", self.path)
        return self

    def rerun(self, items: Optional[list] = None, stages: Optional[list] = None,
              force: bool = False) -> "Run":
        """Run again what failed, was skipped or cancelled (``force``: all that is chosen),
        reusing what succeeded."""
        body = {"force": bool(force)}
        if items is not None:
            body["items"] = list(items)
        if stages is not None:
            body["stages"] = list(stages)
        self.attrs = self.client.call("POST", f"{self.path}/rerun", json=body)
        return self

    def status_events(self, since: int = 0) -> List[dict]:
        """The run's events after ``seq`` ``since``."""
        return _all_pages(self.client, f"{self.path}/status", since)

    def follow(self, since: int = 0, timeout: Optional[float] = None) -> Iterator[dict]:
        """Each event of the run as it happens (Server-Sent Events), until the run ends."""
        from .status import follow

        return follow(self.client, f"{self.path}/status", since, timeout=timeout)

    def outputs(self, to: Union[None, str, os.PathLike, BinaryIO] = None):
        """Every item's and stage's outputs and logs as one zip (``items/<i>/<stage>/...``,
        ``finally/<stage>/...``, ``run.json``): its bytes, or streamed into ``to``."""
        return _download(self.client, f"{self.path}/outputs", to)


def _download(client, path: str, to: Union[None, str, os.PathLike, BinaryIO] = None):
    """GET ``path``'s body: its bytes, or streamed (never whole in memory) into the file
    or path ``to``, which is returned."""
    with client.open(path, timeout=SYNC_HTTP_TIMEOUT) as response:
        if to is None:
            return response.read()
        if isinstance(to, (str, os.PathLike)):
            with open(to, "wb") as target:
                shutil.copyfileobj(response, target, 1 << 20)
        else:
            shutil.copyfileobj(response, to, 1 << 20)
    return to
