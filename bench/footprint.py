"""What one message costs in Redis: MEMORY USAGE of each key it creates or grows.

Into a private redis-server, ``--messages`` messages (default 2,000) are submitted to one
actor through the store's own submit (what ``POST /actors/{id}/messages`` calls), as a
form message of ``--body`` bytes with one query parameter. Keys the messages created are
measured one by one (``MEMORY USAGE ... SAMPLES 0``) and averaged per message; keys shared
by all messages (indexes, the mailbox, the feed, the wake-up list) are measured whole and
divided by the messages. Then, unless ``--queued-only``, every message is run to its end
by the spawner's own scripts (admission, start, a log of ``--log`` bytes, finish, release)
with no process behind it, and the same is printed for a finished execution, with each
key's expiry. ``used_memory`` before and after is printed as a check on the sum.

    python bench/footprint.py [--messages 2000] [--body 64] [--log 200] [--queued-only]
                              [--listpack-value 1024]

Runs against any version of the store that has ``Store.executions.submit`` (the finished
part needs store/admission.py), so the same script measures a branch and its base.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import redis as redis_lib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors_core.config import Config  # noqa: E402
from actors_core.enums import ExecutionStatus  # noqa: E402
from actors_core.ids import new_id  # noqa: E402
from actors_core.store import Store  # noqa: E402
from tests.integration.platform import RedisServer  # noqa: E402

# What a Docker execution's record really holds (sizes as measured on this machine).
PROVENANCE = {"spawner": "spawner-1", "host": "worker-node-01", "runtime": "docker",
              "image": "actors/echo:latest", "image_id": "sha256:" + "a" * 64,
              "image_digest": "actors/echo@sha256:" + "b" * 64, "platform_version": "0.1.0"}
FINAL_STATE = {"Status": "exited", "Running": False, "Paused": False, "Restarting": False,
               "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
               "StartedAt": "2026-11-30T00:36:57.123456789Z",
               "FinishedAt": "2026-11-30T00:36:57.423456789Z"}
ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9A-Za-z]{12,}")


def shape(key: str, execution_ids: set) -> str:
    """The key with ids replaced by what they stand for: one row per kind of key."""
    def name(match):
        return "{execution}" if match.group(0) in execution_ids else "{id}"
    return ID.sub(name, key)


def measure(redis, execution_ids: set, before: set, count: int) -> list:
    """(key shape, bytes per message, keys per message, ttl) for every key that is new or
    grew, new keys averaged over their copies, shared keys divided by ``count``."""
    rows = defaultdict(lambda: [0, 0, None])
    for raw in redis.scan_iter(count=1000):
        key = raw.decode()
        usage = redis.memory_usage(raw, samples=0) or 0
        kind = shape(key, execution_ids)
        if key in before:
            usage -= before[key]
            if usage <= 0:
                continue
        row = rows[kind]
        row[0] += usage
        row[1] += 1
        ttl = redis.ttl(raw)
        row[2] = ttl if ttl >= 0 else None
    return sorted(((kind, total / count, number / count, ttl)
                   for kind, (total, number, ttl) in rows.items()), key=lambda r: -r[1])


def snapshot(redis) -> dict:
    return {raw.decode(): redis.memory_usage(raw, samples=0) or 0
            for raw in redis.scan_iter(count=1000)}


def report(title: str, rows: list, used: float) -> None:
    print(f"\n{title}")
    print(f"  {'key':58}{'bytes/msg':>10}{'keys/msg':>9}  expiry")
    for kind, size, keys_each, ttl in rows:
        expiry = "kept" if ttl is None else f"{ttl} s"
        print(f"  {kind[:58]:58}{size:>10.0f}{keys_each:>9.2f}  {expiry}")
    print(f"  {'sum of the keys':58}{sum(r[1] for r in rows):>10.0f}")
    print(f"  {'used_memory delta':58}{used:>10.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--body", type=int, default=64)
    parser.add_argument("--log", type=int, default=200)
    parser.add_argument("--queued-only", action="store_true")
    parser.add_argument("--listpack-value", type=int, default=None,
                        help="set redis-server's hash-max-listpack-value first (default 64)")
    args = parser.parse_args()

    server = RedisServer(Path(tempfile.mkdtemp(prefix="bench-footprint-")))
    try:
        config = Config(jwt_secret="footprint-secret-0123456789abcdef0123",
                        redis_url=server.url)
        redis = redis_lib.Redis.from_url(server.url)
        if args.listpack_value:
            redis.config_set("hash-max-listpack-value", args.listpack_value)
        store = Store(redis, config)
        store.actors.create({"id": new_id(), "owner": "alice", "image": "actors/echo",
                             "queue": "default", "stateless": True, "max_workers": None,
                             "gpus": 0, "log_ex": None, "token": False}, "default")
        actor = store.actors.list(store.actors.ids_in_tenant("default"))[0]
        before, used = snapshot(redis), redis.info("memory")["used_memory"]
        ids = set()
        for _ in range(args.messages):
            record = store.executions.submit(actor, {
                "id": new_id(), "executor": "alice", "content_type": "str",
                "environment": {"run": "nightly"}}, b"m" * args.body)
            ids.add(record["id"])
        used = redis.info("memory")["used_memory"] - used
        report(f"a queued message ({args.messages} to one actor, {args.body}-byte body)",
               measure(redis, ids, before, args.messages), used / args.messages)
        if args.queued_only or not hasattr(store, "admission"):
            return
        before, used = snapshot(redis), redis.info("memory")["used_memory"]
        for _ in range(args.messages):
            redis.lpop(f"actors:queue:{actor['queue']}:wake")
            admitted = store.admission.admit(actor["id"], "bench", "owner")
            if admitted.outcome != "claimed":
                store.admission.release(actor["id"], admitted.number or 1, "owner", False,
                                        False, None, 1)
                continue
            execution = admitted.execution
            store.executions.mark_started(execution["id"], provenance=PROVENANCE)
            store.logs.append(execution["id"], b"l" * args.log)
            store.executions.finish(execution, ExecutionStatus.COMPLETE, config.log_ex,
                                    outcome=(True, 3, ""), exit_code=0, runtime=0.05,
                                    cpu=1000, io=0, final_state=FINAL_STATE)
            store.admission.release(actor["id"], admitted.number, "owner", True, True,
                                    actor["queue"], 6)
        used = redis.info("memory")["used_memory"] - used
        report(f"...and once each has run to its end ({args.log}-byte log): what running "
               f"added", measure(redis, ids, before, args.messages), used / args.messages)
        sample = f"actors:execution:{next(iter(ids))}"
        print(f"\na finished record is a {redis.object('encoding', sample).decode()} hash of "
              f"{redis.hlen(sample)} fields, {redis.memory_usage(sample, samples=0)} bytes "
              f"(hash-max-listpack-value {redis.config_get('hash-max-listpack-value')})")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
