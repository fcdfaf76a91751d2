"""Search latency over 100k executions, against a naive full scan of the same data.

Loads ``--executions`` executions (default 100,000) spread over ``--actors`` actors
and 30 days into a private redis-server. The first ``--real`` of them go through
the store's real write paths (submit, claim, finish); the rest through a bulk
loader that writes the same records and the same index entries (store/indexes.py
keys, in pipelines) so loading takes seconds, not minutes. Then, for representative
searches, prints the median latency through the API (Flask test client: parsing,
permission filtering, Redis, JSON) and the latency of the naive way, measured in the
same run: read every record of every readable actor and filter in Python
(``SearchStore.executions_by_scan``). The two alternate call by call (ours, scan, scan,
ours, ...) so drift in the machine's load falls on both; each row gives the median of
each side with its range and the load average. Each answer is checked against the scan's.

    python bench/search.py [--executions 100000] [--actors 100] [--runs 5]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl

import redis as redis_lib
from werkzeug.datastructures import MultiDict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors_api import create_app  # noqa: E402
from actors_api.routes.search import searchable_fields  # noqa: E402
from actors_api.schemas.search import parse_query  # noqa: E402
from actors_core.config import Config  # noqa: E402
from actors_core.enums import ExecutionStatus, PermissionLevel
from actors_core.ids import new_id  # noqa: E402
from actors_core.store import Store, keys  # noqa: E402
from actors_core.store.indexes import index_submitted  # noqa: E402
from actors_core.store.records import encode  # noqa: E402
from actors_core.times import isoformat
from actors_core.tokens import mint  # noqa: E402
from bench.common import interleaved, load as machine_load, spread  # noqa: E402
from tests.integration.platform import RedisServer  # noqa: E402

TENANT = "bench"
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
DAYS = 30
WORDS = ("fetched", "parsed", "stored", "retried", "skipped", "converted")


def _outcome(rng):
    roll = rng.random()
    if roll < 0.80:
        return "COMPLETE", rng.choice((0, 0, 0, 0, 1, 2))
    if roll < 0.90:
        return "ERROR", None
    if roll < 0.95:
        return "RUNNING", None
    return "SUBMITTED", None


def load(store: Store, actors: list, count: int, real: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for number in range(real):  # the real write paths, status changes included
        actor = rng.choice(actors)
        status, exit_code = _outcome(rng)
        record = store.executions.submit(actor, {"id": new_id(), "executor": actor["owner"],
                                                 "content_type": "str", "environment": {}}, b"m")
        store.logs.append(record["id"], f"item {number} {rng.choice(WORDS)}\n".encode())
        if status == "SUBMITTED":
            continue
        while store.executions.claim_next(actor["id"], "bench", "w") != record["id"]:
            pass  # an older SUBMITTED one of this actor: leave it RUNNING
        if status in ("COMPLETE", "ERROR"):
            store.executions.finish(store.executions.get_internal(record["id"]),
                                    ExecutionStatus(status), 3600, exit_code=exit_code,
                                    cpu=rng.randrange(10**9), runtime=rng.random() * 60)
    pipe = store.redis.pipeline(transaction=False)
    step = DAYS * 86400 / max(count - real, 1)
    for number in range(count - real):  # bulk: the same records and index entries
        actor = rng.choice(actors)
        status, exit_code = _outcome(rng)
        received = START + timedelta(seconds=number * step)
        eid = new_id()
        record = {"id": eid, "actor_id": actor["id"], "executor": actor["owner"],
                  "content_type": "str", "status": status, "status_message": "",
                  "worker_id": None if status == "SUBMITTED" else "w",
                  "exit_code": exit_code, "final_state": None,
                  "cpu": rng.randrange(10**9), "io": rng.randrange(10**6),
                  "runtime": round(rng.random() * 60, 3),
                  "message_received_time": isoformat(received),
                  "start_time": None if status == "SUBMITTED" else isoformat(received),
                  "finish_time": isoformat(received + timedelta(seconds=30))
                  if status in ("COMPLETE", "ERROR") else None,
                  "sequence": number}
        pipe.hset(keys.execution(eid), mapping=encode(record))
        pipe.zadd(keys.actor_executions(actor["id"]), {eid: number})
        index_submitted(pipe, record, TENANT)  # by-time and SUBMITTED, as submit writes them
        if status != "SUBMITTED":
            pipe.srem(keys.executions_by_status("SUBMITTED"), eid)
            pipe.sadd(keys.executions_by_status(status), eid)
        if exit_code is not None:
            pipe.zadd(keys.EXECUTIONS_BY_EXIT_CODE, {eid: exit_code})
        word = "needle" if number % 5000 == 0 else rng.choice(WORDS)
        pipe.set(keys.logs(eid), f"item {number} {word}\n")
        if number % 2000 == 1999:
            pipe.execute()
    pipe.execute()


def timed(call, runs: int) -> tuple:
    samples, answer = [], None
    for _ in range(runs):
        started = time.perf_counter()
        answer = call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), answer


def compared(ours, scan, runs: int) -> tuple:
    """Both sides ``runs`` times, interleaved in swapped order: (our samples, scan samples,
    our last answer, the scan's last answer)."""
    calls, samples, answers = {"ours": ours, "scan": scan}, {"ours": [], "scan": []}, {}
    for _, side in interleaved(runs, ("ours", "scan")):
        started = time.perf_counter()
        answers[side] = calls[side]()
        samples[side].append(time.perf_counter() - started)
    return samples["ours"], samples["scan"], answers["ours"], answers["scan"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--actors", type=int, default=100)
    parser.add_argument("--real", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    server = RedisServer(Path(tempfile.mkdtemp(prefix="bench-search-")))
    try:
        config = Config(jwt_secret="bench-search-secret-0123456789abcdef0123",
                        redis_url=server.url)
        store = Store(redis_lib.Redis.from_url(server.url), config)
        http = create_app(config, store).test_client()
        actors = []
        for number in range(args.actors):
            owner = f"user-{number % 10}"
            actors.append(store.actors.create({"id": new_id(), "owner": owner, "image": "img",
                                               "queue": "default", "max_workers": None,
                                               "stateless": True}, TENANT))
            store.permissions.grant("actor", TENANT, actors[-1]["id"], owner,
                                    PermissionLevel.UPDATE)
        started = time.perf_counter()
        load(store, actors, args.executions, min(args.real, args.executions))
        print(f"loaded {args.executions} executions over {args.actors} actors "
              f"({min(args.real, args.executions)} through submit/claim/finish) "
              f"in {time.perf_counter() - started:.1f} s")

        admin = {"Authorization": "Bearer " + mint(config, "root", roles=("admin",),
                                                   tenant=TENANT)}
        user = {"Authorization": "Bearer " + mint(config, "user-3", tenant=TENANT)}
        user_actors = [a["id"] for a in actors if a["owner"] == "user-3"]
        one = actors[5]["id"]
        day = lambda n: isoformat(START + timedelta(days=n))  # noqa: E731
        searches = [
            ("admin", "status.eq=RUNNING"),
            ("admin", f"actor_id.eq={one}&status.eq=COMPLETE"),
            ("admin", f"exit_code.gt=0&message_received_time.between={day(10)},{day(12)}"),
            ("admin", f"message_received_time.gte={day(29)}&limit=50"),
            ("admin", "status.eq=COMPLETE&skip=50000&limit=100"),
            ("admin", "status.in=ERROR,RUNNING&limit=10"),
            ("user", "status.eq=ERROR"),
            ("admin", f"actor_id.eq={one}&cpu.gt=900000000"),
            ("admin", f"message_received_time.between={day(3)},{day(4)}&runtime.gte=59"),
            ("admin", "search=w&exit_code.eq=2&limit=10"),
            ("admin", "search=COMPLETE&limit=10"),
        ]
        print(f"\n{machine_load()}; {args.runs} calls of each side per search, interleaved; "
              "ms as median (min-max)")
        print(f"{'search':62}{'total':>7}  {'ours ms':>22}  {'scan ms':>22}{'ratio':>7}")
        for who, text in searches:
            headers = admin if who == "admin" else user
            readable = {a["id"] for a in actors} if who == "admin" else set(user_actors)
            query = parse_query("executions", MultiDict(parse_qsl(text)),
                                searchable_fields("executions"))
            ours, scan, result, (total, page) = compared(
                lambda: http.get(f"/actors/search/executions?{text}",
                                 headers=headers).json["result"],
                lambda: store.search.executions_by_scan(readable, query), args.runs)
            assert result["_metadata"]["total_count"] == total, (text, result["_metadata"], total)
            assert [r["id"] for r in result["search"]] == [r["id"] for r in page], text
            ms = [1000 * value for value in ours], [1000 * value for value in scan]
            print(f"{who + ': ' + text[:54]:62}{total:>7}  {spread(ms[0], '{:.1f}'):>22}  "
                  f"{spread(ms[1], '{:.1f}'):>22}"
                  f"{statistics.median(scan) / statistics.median(ours):>6.1f}x")

        ours, result = timed(lambda: http.get(f"/actors/search/logs?search=needle&actor_id.in="
                                              f"{','.join(a['id'] for a in actors[:20])}",
                                              headers=admin).json["result"], args.runs)
        print(f"\nlogs: search=needle over 20 actors' logs: {result['_metadata']['total_count']} "
              f"found in {ours * 1000:.1f} ms")
        ours, result = timed(lambda: http.get("/actors/search/actors?owner.eq=user-3",
                                              headers=admin).json["result"], args.runs)
        print(f"actors: owner.eq=user-3: {result['_metadata']['total_count']} found in "
              f"{ours * 1000:.1f} ms")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
