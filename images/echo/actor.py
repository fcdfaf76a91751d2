"""echo: "Contents of MSG: <MSG>", then the environment; binary messages are hashed.

Set ECHO_EXIT_CODE (e.g. as a message query parameter) to exit with that code,
and ECHO_STDERR to write a line to stderr.
"""
import hashlib
import os
import sys

from runtime_sdk import get_binary_message, get_context

context = get_context()
if context.content_type == "application/octet-stream":
    data = get_binary_message()
    print(f"Binary message: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
else:
    print(f"Contents of MSG: {context.raw_message}")
for name in sorted(os.environ):
    value = os.environ[name]
    if name == "_abaco_access_token" and value:
        value = "<set>"  # a credential: say it is there, never print it
    print(f"{name}={value}")
if os.environ.get("ECHO_STDERR"):
    print(os.environ["ECHO_STDERR"], file=sys.stderr)
sys.exit(int(os.environ.get("ECHO_EXIT_CODE", "0")))
