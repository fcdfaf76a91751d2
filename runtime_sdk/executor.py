"""Run Python functions as actor executions, in the spirit of Abaco's ``AbacoExecutor``.

``ActorExecutor`` feels like ``concurrent.futures.Executor``: ``submit`` sends
one cloudpickled call to a stateless actor running the py-func image, and the
returned :class:`ActorFuture` gives back the value (or raises the exception)
of the function. Executions run in parallel, as many as the actor's workers
and the spawners' slots allow.

Functions and their arguments must be picklable with cloudpickle, and the
image's Python must have the same minor version as the caller's.
"""
from __future__ import annotations

import time
from typing import Iterator, Optional, Union

from .errors import SynchronousTimeout
from .functions import (CALLER_PYTHON_VARIABLE, FunctionError, dumps_call, loads_outcome,
                        python_version)
from .resources import Actor, Execution

DEFAULT_IMAGE = "actors/py-func:latest"
_LOG_TAIL = 4000


class ActorFuture:
    """The outcome of one submitted call; the execution is ``execution``."""

    def __init__(self, execution: Execution):
        self.execution = execution
        self._outcome: Optional[bytes] = None  # the result, kept: reading it pops it

    def __repr__(self):
        return f"<ActorFuture: execution {self.execution_id}>"

    @property
    def execution_id(self) -> str:
        return self.execution.id

    def done(self) -> bool:
        return self._outcome is not None or self.execution.done()

    def result(self, timeout: Optional[float] = None):
        """The function's return value; its exception re-raised if it raised.

        ``TimeoutError`` if the execution is not finished within ``timeout``
        seconds; :class:`FunctionError` if it ended without sending a result
        (its exit code and logs say why).
        """
        if self._outcome is None:
            self.execution.wait(timeout)
            outcome = self.execution.result()
            if outcome is None:
                raise FunctionError(self._no_result_message())
            self._outcome = outcome
        return loads_outcome(self._outcome)

    def _no_result_message(self) -> str:
        execution = self.execution
        logs = execution.logs()
        if len(logs) > _LOG_TAIL:
            logs = "..." + logs[-_LOG_TAIL:]
        return (f"execution {execution.id} ended {execution.attrs.get('status')} with exit code "
                f"{execution.exit_code} and sent no result; its logs:\n{logs}")


class ActorExecutor:
    """Submit functions to a py-func actor: ``with ActorExecutor(client) as ex: ex.map(f, xs)``.

    Without ``actor`` a stateless actor running ``image`` is registered (and
    deleted by :meth:`shutdown`); with ``actor`` (an :class:`Actor` or an id)
    that actor is used and never deleted, e.g. a stateful one with
    ``token=true`` whose functions call ``update_state``.
    ``by_value`` names extra modules whose code must travel with the functions
    (the function's own module travels when it is project code).
    """

    def __init__(self, client, image: str = DEFAULT_IMAGE, actor: Union[Actor, str, None] = None,
                 by_value=(), **actor_fields):
        self.client = client
        self.by_value = tuple(by_value)
        if actor is None:
            fields = dict({"stateless": True,
                           "description": "ActorExecutor: runs cloudpickled Python functions"},
                          **actor_fields)
            self.actor = client.actors.create(image=image, **fields)
            self._owns_actor = True
        else:
            self.actor = client.actors.get(actor) if isinstance(actor, str) else actor
            self._owns_actor = False
        self._futures: list = []
        self._shut_down = False

    def __enter__(self) -> "ActorExecutor":
        return self

    def __exit__(self, *exc_info):
        self.shutdown(wait=exc_info[0] is None)

    def _message(self, fn, args, kwargs) -> dict:
        if self._shut_down:
            raise RuntimeError("cannot submit after shutdown()")
        return {"binary": dumps_call(fn, args, kwargs, self.by_value),
                "env": {CALLER_PYTHON_VARIABLE: python_version()}}

    def submit(self, fn, *args, **kwargs) -> ActorFuture:
        future = ActorFuture(self.actor.send(**self._message(fn, args, kwargs)))
        self._futures.append(future)
        return future

    def map(self, fn, *iterables, timeout: Optional[float] = None) -> Iterator:
        """Submit every call first, then yield the results in order (as ``Executor.map``).

        ``timeout`` bounds the whole map, counted from the call to ``map``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        futures = [self.submit(fn, *args) for args in zip(*iterables)]

        def results():
            for future in futures:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                yield future.result(remaining)
        return results()

    def blocking_call(self, fn, *args, **kwargs):
        """Call ``fn`` and wait for it with one synchronous message (no polling).

        When the server stops waiting first (408) the execution is polled
        until it finishes.
        """
        try:
            answer = self.actor.send_sync(**self._message(fn, args, kwargs))
        except SynchronousTimeout as error:
            if error.execution is None:
                raise
            return ActorFuture(error.execution).result()
        if isinstance(answer, bytes):
            return loads_outcome(answer)
        raise FunctionError(f"the function sent no result; the execution's logs:\n"
                            f"{answer[-_LOG_TAIL:]}")

    def shutdown(self, wait: bool = True, delete_actor: bool = True) -> None:
        """Stop taking work; with ``wait``, let submitted calls finish first.

        ``delete_actor`` deletes the actor this executor registered (an actor
        passed in is left alone); its unfinished executions go with it.
        """
        if self._shut_down:
            return
        self._shut_down = True
        if wait:
            for future in self._futures:
                if future._outcome is None:
                    future.execution.wait()
        self._futures.clear()
        if delete_actor and self._owns_actor:
            self.actor.delete()
