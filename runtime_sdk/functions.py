"""The wire format between :class:`~runtime_sdk.executor.ActorExecutor` and the py-func image.

A call travels as one binary message, ``cloudpickle.dumps((fn, args, kwargs, sources))``.
``sources`` maps the call's code objects back to the caller's files and lines:
cloudpickle (3.1.3 on) pickles functions with the file name ``<dynamic-code>``, so
without it a remote traceback would show neither the user's file nor the line.
The answer is one result: the pickled return value (so a synchronous message
to py-func answers with it, as in Abaco), or a pickled :class:`FunctionRaised`
when the function raised. Pickled functions only load under the same Python
minor version (bytecode differs between versions), hence the caller's version
travels along as an environment variable py-func can check.
"""
from __future__ import annotations

import linecache
import os
import sys
import sysconfig
import threading
import traceback
import types

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


MAX_SOURCE_FILE_BYTES = 1024 * 1024  # a larger file travels without its text


def _nested_codes(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _nested_codes(const)


def _codes_of(obj, seen: set):
    """Every code object that running ``obj`` may execute, as far as pickling can see."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    obj = getattr(obj, "__func__", obj)  # bound and class methods
    if isinstance(obj, types.FunctionType):
        yield from _nested_codes(obj.__code__)
    elif isinstance(obj, type):
        for value in vars(obj).values():
            yield from _codes_of(value, seen)
    elif hasattr(obj, "func"):  # functools.partial
        yield from _codes_of(obj.func, seen)
    elif callable(obj) and not isinstance(obj, types.BuiltinFunctionType):
        yield from _codes_of(type(obj), seen)


def source_map(fn, modules=()) -> dict:
    """Where the code that travels with a call came from: ``{"code": {(name, first line):
    file}, "files": {file: lines}}``, so the actor can name the user's file and line."""
    seen: set = set()
    codes = list(_codes_of(fn, seen))
    for module in modules:
        for value in list(vars(module).values()):
            if getattr(value, "__module__", None) == module.__name__:
                codes.extend(_codes_of(value, seen))
    where, files = {}, {}
    for code in codes:
        filename = code.co_filename
        if not filename or filename.startswith("<"):
            continue
        where[(code.co_name, code.co_firstlineno)] = filename
        if filename not in files:
            lines = linecache.getlines(filename)
            files[filename] = lines if sum(map(len, lines)) <= MAX_SOURCE_FILE_BYTES else []
    return {"code": where, "files": files}


def format_exception(error: BaseException, sources: dict = None) -> str:
    """``traceback.format_exception`` for a call that came with :func:`source_map`:
    frames of pickled code name the caller's file and show its line."""
    sources = sources or {}
    where, files = sources.get("code", {}), sources.get("files", {})

    def frames(tb) -> list:
        summary = []
        for frame, lineno in traceback.walk_tb(tb):
            code = frame.f_code
            filename = where.get((code.co_name, code.co_firstlineno)) or code.co_filename
            text = linecache.getline(filename, lineno)
            if not text:
                lines = files.get(filename) or ()
                text = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
            summary.append(traceback.FrameSummary(filename, lineno, code.co_name,
                                                  lookup_line=False, line=text.strip()))
        return traceback.StackSummary.from_list(summary).format()

    chain, seen = [], set()
    while error is not None and id(error) not in seen:  # oldest cause first, as Python prints
        seen.add(id(error))
        chain.append(error)
        cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        error = cause
    parts = []
    for index, item in enumerate(reversed(chain)):
        if index:
            parts.append("\nThe above exception was the direct cause of the following exception:\n\n"
                         if item.__cause__ is not None else
                         "\nDuring handling of the above exception, another exception occurred:\n\n")
        if item.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(frames(item.__traceback__))
        parts.extend(traceback.format_exception_only(type(item), item))
    return "".join(parts)


def dumps_call(fn, args: tuple = (), kwargs: dict = None, by_value=()) -> bytes:
    import cloudpickle

    modules = list(by_value) + by_value_modules(fn)
    with _registry_lock:
        registered = set(cloudpickle.list_registry_pickle_by_value())
        added = [m for m in dict.fromkeys(modules) if m.__name__ not in registered]
        for module in added:
            cloudpickle.register_pickle_by_value(module)
        try:
            return cloudpickle.dumps((fn, tuple(args), dict(kwargs or {}),
                                      source_map(fn, modules)))
        finally:
            for module in added:
                cloudpickle.unregister_pickle_by_value(module)


def loads_call(data: bytes) -> tuple:
    """``(fn, args, kwargs, sources)``; a call pickled without sources gets ``{}``."""
    call = loads(data)
    if not isinstance(call, tuple) or len(call) not in (3, 4):
        raise TypeError(f"the message holds a {type(call).__name__}, not a call")
    fn, args, kwargs, sources = call if len(call) == 4 else (*call, {})
    if not callable(fn):
        raise TypeError(f"the message holds a {type(fn).__name__}, not a function")
    return fn, args, kwargs, sources


def loads_outcome(data: bytes):
    """The function's return value, or its exception raised again here."""
    value = loads(data)
    if isinstance(value, FunctionRaised):
        value.reraise()
    return value
