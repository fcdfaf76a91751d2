"""The chaos suite: real kills under load, then nothing stuck, lost or run twice.

Each test prints one ``[chaos] ...`` line with its figures (accepted / final / stuck /
lost / duplicated, and what it checks besides) and asserts 0 stuck, 0 lost,
0 duplicated. docs/architecture.md ("Faults") quotes these figures.

Marked ``chaos``: part of the default run (``.ci/run``); ``-m 'not chaos'`` leaves them out.
"""
from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest

from tests.integration.platform import wait_until

from .conftest import ECHO, SLEEP
from .harness import Tally, docker_starts, survivors

pytestmark = pytest.mark.chaos

STEP = {"SLEEP_SECONDS": "0.25"}  # sleep-loop: MSG iterations of 0.25 s


def _finished(chaos, actor_id: str) -> int:
    summary = chaos.client.result("GET", f"/actors/{actor_id}/executions")
    return sum(e["status"] in ("COMPLETE", "ERROR") for e in summary["executions"])


def _epoch(moment: str) -> float:
    from actors_core.times import parse_iso

    return parse_iso(moment).timestamp()


def _exited_at(chaos, actor_id: str, execution_id: str) -> float:
    """When the container exited, by Docker's clock (not when the platform recorded it)."""
    from spawner.runtimes.base import parse_state_time

    execution = chaos.client.result("GET", f"/actors/{actor_id}/executions/{execution_id}")
    try:
        return parse_state_time(execution["final_state"]["FinishedAt"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return 0.0


def _running_containers(chaos, name: str) -> int:
    return sum(c.status == "running" for c in chaos.containers(name))


def test_kill9_of_a_spawner_under_50_executions_then_restarted(chaos):
    name = f"chaos-{chaos.tag}-a"
    first = chaos.spawner(name)
    first.wait_for_slots(4)
    actor = chaos.actor(SLEEP, default_environment=STEP, max_retries=2, retry_backoff=0)
    tally = Tally("kill -9 of a spawner under 50 executions, restarted")
    since = time.time()
    for _ in range(50):
        tally.send(chaos.client, actor, "2")
    wait_until(lambda: _finished(chaos, actor) >= 8 and _running_containers(chaos, name) >= 2,
               90, "executions running mid-load")
    slots = first.kill9()  # the whole process group, as `kill -9 -PGID`
    orphans = survivors(slots, timeout=5)
    running_at_kill = _running_containers(chaos, name)
    second = chaos.spawner(name)  # at once: the same host and work folder re-attach
    second.wait_for_slots(4)
    figures = tally.settle(chaos.client, timeout=180, marker="done\n")
    starts = docker_starts(chaos.docker, since, name)
    tally.report(orphaned_slots=len(orphans), running_at_kill=running_at_kill,
                 started_twice=sum(n > 1 for n in starts.values()),
                 containers_left=len(chaos.containers(name)))
    assert orphans == [], f"slot processes outlived their supervisor: {orphans}"
    assert "re-attached" in second.output()
    tally.assert_clean()
    assert figures["complete"] == figures["accepted"], figures
    assert not [e for e, n in starts.items() if n > 1]
    assert not chaos.containers(name)


def test_kill9_of_one_of_two_spawners_never_restarted(chaos):
    lost, live = f"chaos-{chaos.tag}-lost", f"chaos-{chaos.tag}-live"
    doomed = chaos.spawner(lost, slots=3)
    survivor = chaos.spawner(live, slots=3)
    doomed.wait_for_slots(3)
    survivor.wait_for_slots(3)
    actor = chaos.actor(SLEEP, default_environment=STEP, max_retries=2, retry_backoff=0)
    tally = Tally("kill -9 of one of two spawners, never restarted")
    since = time.time()
    for _ in range(50):
        tally.send(chaos.client, actor, "2")
    wait_until(lambda: _running_containers(chaos, lost) >= 2, 90, "executions on the doomed one")
    slots = doomed.kill9()
    killed_at = time.time()
    orphans = survivors(slots, timeout=5)
    running_at_kill = _running_containers(chaos, lost)
    figures = tally.settle(chaos.client, timeout=180, marker="done\n")
    settled_by_live = []
    for eid, actor_id in tally.accepted.items():
        first = chaos.client.result("GET", f"/actors/{actor_id}/executions/{eid}")
        tries = [first] + [chaos.client.result("GET", f"/actors/{actor_id}/executions/{r}")
                           for r in first.get("retries") or []]
        settled_by_live += [t for t in tries if t["status"] == "ERROR"]
    workers = chaos.client.result("GET", f"/actors/{actor}/workers")
    starts = docker_starts(chaos.docker, since, f"chaos-{chaos.tag}")
    tally.report(orphaned_slots=len(orphans), running_at_kill=running_at_kill,
                 settled_by_takeover=len(settled_by_live),
                 settled_after_s=max((round(_epoch(e["finish_time"]) - killed_at, 1)
                                      for e in settled_by_live), default=None),
                 started_twice=sum(n > 1 for n in starts.values()),
                 containers_left=len(chaos.containers(lost)),
                 busy_workers_of_lost=sum(w["host"] == lost and w["status"] != "READY"
                                          for w in workers))
    assert orphans == []
    tally.assert_clean()
    assert figures["complete"] == figures["accepted"], figures  # the retries completed
    assert settled_by_live, "the lost spawner's executions should have been settled"
    for execution in settled_by_live:
        assert lost in execution["status_message"], execution
        assert "last heartbeat" in execution["status_message"], execution
        assert live in execution["status_message"], execution
    assert not chaos.containers(lost), "the live spawner removes what it settled"
    assert not [w for w in workers if w["host"] == lost and w["status"] != "READY"]
    assert not [e for e, n in starts.items() if n > 1]
    assert survivor.process.poll() is None


def _stream(tally, client, actor, count: int, per_second: float, message: str,
            events: dict, retry_for: float = 0) -> threading.Thread:
    """Send ``count`` messages at ``per_second``; ``events[i]`` runs before message i.
    With ``retry_for``, a refused message is sent again (as a client would) for that long."""
    def send():
        for i in range(count):
            if i in events:
                events[i]()
            deadline = time.monotonic() + retry_for
            while tally.send(client, actor, message) is None and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1 / per_second)
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_redis_sigkill_and_restart_with_aof_under_a_stream(chaos):
    spawner = chaos.spawner(f"chaos-{chaos.tag}-r")
    slots = spawner.wait_for_slots(4)
    actor = chaos.actor(SLEEP, default_environment=STEP)
    tally = Tally("Redis SIGKILL and restart (AOF everysec) under a stream of messages")
    outage = {}

    def kill():
        outage["running"] = _running_containers(chaos, spawner.name)
        chaos.redis.kill9()
        outage["killed"] = time.time()

    def restart():
        chaos.redis.start()
        outage["back"] = time.time()
        outage["seconds"] = round(outage["back"] - outage["killed"], 1)

    sender = _stream(tally, chaos.client, actor, 50, 6, "2", {12: kill, 32: restart})
    sender.join(60)
    figures = tally.settle(chaos.client, timeout=180, marker="done\n")
    api_log = (chaos.root / "api.log").read_text(errors="replace")
    ended_in_outage = [eid for eid, actor_id in tally.accepted.items() if outage["killed"] <
                       _exited_at(chaos, actor_id, eid) < outage["back"]]
    tally.report(outage_s=outage.get("seconds"), running_at_kill=outage.get("running"),
                 exited_during_outage=len(ended_in_outage),
                 supervisor_alive=spawner.process.poll() is None,
                 slots_restarted=len(set(slots) - set(survivors(slots, timeout=0))),
                 api_tracebacks=api_log.count("Traceback"))
    assert spawner.process.poll() is None, spawner.output()[-3000:]
    assert survivors(slots, timeout=0) == slots, "slot processes must ride out the outage"
    assert set(figures["refused"]) <= {503}, figures["refused"]  # 503, never a 500
    assert figures["refused"].get(503), "the API should have answered 503 during the outage"
    assert "Traceback" not in api_log
    assert ended_in_outage, "some containers should have exited while Redis was down"
    tally.assert_clean()
    assert figures["complete"] == figures["accepted"], figures


def test_api_kill9_mid_stream(chaos):
    spawner = chaos.spawner(f"chaos-{chaos.tag}-p")
    spawner.wait_for_slots(4)
    actor = chaos.actor(ECHO)
    tally = Tally("API kill -9 mid-stream")
    sender = _stream(tally, chaos.client, actor, 40, 10, "hello", {}, retry_for=30)
    time.sleep(1.5)  # the stream goes on while the API dies and comes back
    chaos.api.kill9()
    time.sleep(0.5)
    chaos.api.start()
    sender.join(60)
    figures = tally.settle(chaos.client, timeout=120, marker="Contents of MSG")
    tally.report()
    assert figures["refused"], "some messages should have met the dead API"
    tally.assert_clean()
    assert figures["complete"] == figures["accepted"], figures


def test_a_spawner_with_a_live_spawners_name_is_refused(chaos):
    name = f"chaos-{chaos.tag}-same"
    first = chaos.spawner(name)
    first.wait_for_slots(4)
    actor = chaos.actor(SLEEP, default_environment=STEP)
    tally = Tally("a second spawner with a live spawner's name")
    for _ in range(20):
        tally.send(chaos.client, actor, "2")
    wait_until(lambda: _running_containers(chaos, name) >= 1, 60, "running executions")
    # The same name from another work folder (as on another host), then from this one.
    elsewhere = chaos.spawner(name, ACTORS_SPAWNER_WORKDIR=str(chaos.root / "elsewhere"))
    here = chaos.spawner(name)
    refusals = []
    for second in (elsewhere, here):
        try:
            second.process.wait(60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"a second spawner named {name} started:\n{second.output()[-3000:]}")
        refusals.append((second.process.returncode, second.output()))
    figures = tally.settle(chaos.client, timeout=120, marker="done\n")
    tally.report(second_spawner_exit_codes=[code for code, _ in refusals])
    for code, output in refusals:
        assert code != 0 and "not starting" in output, output
        assert "Traceback" not in output, output
    assert "is alive on host" in refusals[0][1]
    assert "already running on this host" in refusals[1][1]
    tally.assert_clean()
    assert figures["complete"] == figures["accepted"], figures  # none taken for a leftover
    assert first.process.poll() is None


def test_default_names_differ_per_queue_set(chaos):
    """One spawner per queue needs no --name; a second one with the same queues is refused."""
    other = f"{chaos.queue}-other"
    first = chaos.spawner(None, slots=1)
    second = chaos.spawner(None, slots=1, queues=other)
    first.wait_for_slots(1)
    second.wait_for_slots(1)
    hosts = {h["name"] for h in chaos.client.result("GET", "/actors/admin/hosts")}
    third = chaos.spawner(None, slots=1)
    third.process.wait(60)
    assert third.process.returncode != 0 and "already running" in third.output()
    host = socket.gethostname()
    assert {f"{host}-{chaos.queue}", f"{host}-{other}"} <= hosts, hosts
