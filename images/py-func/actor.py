"""py-func: call one cloudpickled function and send back what it returned.

The binary message is ``cloudpickle.dumps((fn, args, kwargs, sources))`` (see
``runtime_sdk.functions``). The return value goes back as one pickled result;
if the call fails (or its message cannot be loaded, or the value cannot be
sent) a pickled ``FunctionRaised`` goes back instead, the traceback is written
to the logs and the exit code is 1 (2 for a message that is not a call).
"""
import os
import sys
import traceback

from runtime_sdk import get_binary_message, send_python_result
from runtime_sdk.functions import (CALLER_PYTHON_VARIABLE, FunctionRaised, format_exception,
                                   loads_call, python_version)
from runtime_sdk.results import MAX_RESULT_BYTES, dumps, send_bytes_result

TRACEBACK_LIMIT = 32 * 1024  # keeps the failure marker well inside one result


def fail(error: BaseException, text: str, exit_code: int = 1):
    print(text, file=sys.stderr, flush=True)
    marker = FunctionRaised.from_exception(error, text[-TRACEBACK_LIMIT:])
    data = dumps(marker)
    if len(data) > MAX_RESULT_BYTES:  # the exception itself is too big to travel
        marker.exception = None
        marker.message = marker.message[:TRACEBACK_LIMIT]
        data = dumps(marker)
    send_bytes_result(data)
    sys.exit(exit_code)


def main():
    caller = os.environ.get(CALLER_PYTHON_VARIABLE)
    mismatch = ""
    if caller and caller != python_version():
        mismatch = (f"py-func runs Python {python_version()} but the function was pickled by "
                    f"Python {caller}: pickled functions only load under the same minor version")
        print(f"warning: {mismatch}", file=sys.stderr, flush=True)
    data = get_binary_message()
    if not data:
        fail(ValueError("py-func needs a binary message: cloudpickle.dumps((fn, args, kwargs))"),
             "py-func received no binary message", exit_code=2)
    try:
        fn, args, kwargs, sources = loads_call(data)
    except Exception as error:
        fail(error, "py-func could not load the call: " + traceback.format_exc()
             + (f"\n{mismatch}" if mismatch else ""), exit_code=2)
    try:
        value = fn(*args, **kwargs)
    except (Exception, SystemExit) as error:
        fail(error, format_exception(error, sources))
    try:
        send_python_result(value)
    except Exception as error:  # too large for one result, or not picklable
        fail(error, "py-func could not send the return value: " + traceback.format_exc())
    print(f"py-func: {getattr(fn, '__qualname__', fn)!s} returned a {type(value).__name__}")


if __name__ == "__main__":
    main()
