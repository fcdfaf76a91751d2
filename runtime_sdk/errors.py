"""Errors the Python client raises: what the server said, kept as it said it."""
from __future__ import annotations


class ApiError(Exception):
    """The server answered with an error; ``message`` is its envelope's message.

    ``status_code`` is the HTTP status (404 unknown actor, 403 no access, ...),
    ``result`` the envelope's result when it carried one.
    """

    def __init__(self, status_code: int, message: str, result=None):
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.result = result


class SynchronousTimeout(ApiError):
    """A synchronous message outlived the server's wait (HTTP 408); the execution goes on.

    Keep polling it through ``execution_id`` (or ``execution``, an
    :class:`~runtime_sdk.resources.Execution` when the client knows the actor).
    """

    def __init__(self, status_code: int, message: str, result=None, execution=None):
        super().__init__(status_code, message, result)
        self.execution_id = (result or {}).get("execution_id")
        self.execution = execution
