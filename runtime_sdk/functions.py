"""The wire format between :class:`~runtime_sdk.executor.ActorExecutor` and the py-func image.

A call travels as one binary message, ``cloudpickle.dumps((fn, args, kwargs))``.
The answer is one result: the pickled return value (so a synchronous message
to py-func answers with it, as in Abaco), or a pickled :class:`FunctionRaised`
when the function raised. Pickled functions only load under the same Python
minor version (bytecode differs between versions), hence the caller's version
travels along as an environment variable py-func can check.
"""
from __future__ import annotations

import os
import sys
import sysconfig
import threading

from .results import loads

CALLER_PYTHON_VARIABLE = "PY_FUNC_CALLER_PYTHON"

_registry_lock = threading.Lock()


def python_version() -> str:
    return "%d.%d" % sys.version_info[:2]


class RemoteTraceback(Exception):
    """The traceback of the function inside the container, chained as ``__cause__``."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self):
        return self.text


class FunctionError(Exception):
    """The function failed in a way its own exception cannot show: the exception could
    not be unpickled here, or the execution ended without sending a result."""


class FunctionRaised:
    """The marker py-func sends back when the function raised.

    ``exception`` is the cloudpickled exception, or ``None`` when it could not
    be pickled; the type name, message and traceback text always travel.
    """

    def __init__(self, exception: bytes, type_name: str, message: str, traceback: str):
        self.exception = exception
        self.type_name = type_name
        self.message = message
        self.traceback = traceback

    @classmethod
    def from_exception(cls, error: BaseException, traceback: str) -> "FunctionRaised":
        import cloudpickle

        try:
            pickled = cloudpickle.dumps(error)
            cloudpickle.loads(pickled)  # some exceptions pickle but do not load back
        except Exception:
            pickled = None
        return cls(pickled, type(error).__qualname__, str(error), traceback)

    def reraise(self):
        """Raise the function's own exception, its remote traceback chained as the cause."""
        error = None
        if self.exception is not None:
            try:
                error = loads(self.exception)
            except Exception:
                error = None
        if not isinstance(error, BaseException):
            error = FunctionError(f"the function raised {self.type_name}: {self.message}")
        raise error from RemoteTraceback(self.traceback)


def _installed(path: str) -> bool:
    """True for modules of the standard library or of installed packages."""
    path = os.path.realpath(path)
    paths = sysconfig.get_paths()
    names = ("stdlib", "platstdlib", "purelib", "platlib")
    roots = {os.path.realpath(paths[name]) for name in names if name in paths}
    return any(path.startswith(root + os.sep) for root in roots)


def by_value_modules(fn) -> list:
    """Modules whose code must travel with ``fn``: its own module when that is project code.

    cloudpickle pickles a module-level function *by reference* when its module
    is importable here, and the container cannot import a test file or a
    project module; installed packages are expected to be in the image.
    """
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    file = getattr(module, "__file__", None)
    if module is None or module.__name__ == "__main__" or not file or _installed(file):
        return []
    return [module]


def dumps_call(fn, args: tuple = (), kwargs: dict = None, by_value=()) -> bytes:
    import cloudpickle

    modules = list(by_value) + by_value_modules(fn)
    with _registry_lock:
        registered = set(cloudpickle.list_registry_pickle_by_value())
        added = [m for m in dict.fromkeys(modules) if m.__name__ not in registered]
        for module in added:
            cloudpickle.register_pickle_by_value(module)
        try:
            return cloudpickle.dumps((fn, tuple(args), dict(kwargs or {})))
        finally:
            for module in added:
                cloudpickle.unregister_pickle_by_value(module)


def loads_call(data: bytes) -> tuple:
    fn, args, kwargs = loads(data)
    if not callable(fn):
        raise TypeError(f"the message holds a {type(fn).__name__}, not a function")
    return fn, args, kwargs


def loads_outcome(data: bytes):
    """The function's return value, or its exception raised again here."""
    value = loads(data)
    if isinstance(value, FunctionRaised):
        value.reraise()
    return value
