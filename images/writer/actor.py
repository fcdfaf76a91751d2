"""writer: put files in the outputs folder, as its JSON message asks.

    {"files": {"report.txt": 120, "data/big.bin": 52428800},  # path -> size in bytes
     "text": {"hello.txt": "hi"},                               # path -> exact content
     "links": {"escape": "/etc/passwd"},                        # path -> symlink target
     "sleep": 0, "exit_code": 0}

Sized files hold random bytes. Each file written is printed as
``wrote <path> <size> <sha256>`` so a test can check what it downloads.
"""
import hashlib
import os
import sys
import time

from runtime_sdk import get_context, outputs_dir

CHUNK = 1 << 20

message = get_context().message_dict
root = outputs_dir()


def report(path: str, size: int, digest: str) -> None:
    print(f"wrote {path} {size} {digest}", flush=True)


for path, size in (message.get("files") or {}).items():
    target = os.path.join(root, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    digest, left = hashlib.sha256(), int(size)
    with open(target, "wb") as out:
        while left:
            chunk = os.urandom(min(CHUNK, left))
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    report(path, int(size), digest.hexdigest())
for path, text in (message.get("text") or {}).items():
    target = os.path.join(root, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    data = str(text).encode()
    with open(target, "wb") as out:
        out.write(data)
    report(path, len(data), hashlib.sha256(data).hexdigest())
for path, pointee in (message.get("links") or {}).items():
    os.symlink(pointee, os.path.join(root, path))
    print(f"linked {path} -> {pointee}", flush=True)
if message.get("sleep"):
    print("sleeping", flush=True)
    time.sleep(float(message["sleep"]))
sys.exit(int(message.get("exit_code") or 0))
