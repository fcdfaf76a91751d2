"""warm-echo: one handler for both warm forms (and cold): runtime_sdk.serve(handle).

The message says what to do: "sleep:N" (N seconds, in short Python steps), "block:N" (N
seconds in one C call, where a force-quit cannot interrupt it), "fail" (raise),
"exit:N", "die" (the whole process ends at once: a warm container dying), "result:TEXT"
(sends TEXT as a result), "output:NAME" (writes NAME in the outputs folder); anything else
is echoed; a binary message's size and sha256 are. Each execution prints
"handled <message> (#n in this process)".
"""
import hashlib
import os
import sys
import time

from runtime_sdk import get_binary_message, outputs_dir, send_bytes_result, serve

handled = 0  # kept between messages in the handler form: the process is kept


def handle(context):
    global handled
    handled += 1
    message = context.raw_message
    if context.content_type == "application/octet-stream":
        data = get_binary_message()
        message = f"binary {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}"
    print(f"handled {message} (#{handled} in this process)")
    print(f"stderr of {message}", file=sys.stderr)
    verb, _, argument = message.partition(":")
    if verb == "sleep":
        deadline = time.monotonic() + float(argument)
        while time.monotonic() < deadline:
            time.sleep(0.05)
        print(f"slept {argument}")
    elif verb == "block":
        time.sleep(float(argument))
        print(f"blocked {argument}")
    elif verb == "fail":
        raise ValueError(f"failing on request ({context.execution_id})")
    elif verb == "exit":
        sys.exit(int(argument))
    elif verb == "die":
        sys.stdout.flush()
        os._exit(3)
    elif verb == "result":
        send_bytes_result(argument.encode())
    elif verb == "output":
        with open(os.path.join(outputs_dir(), argument), "w") as stream:
            stream.write(f"written by {context.execution_id}\n")


if __name__ == "__main__":
    serve(handle)
