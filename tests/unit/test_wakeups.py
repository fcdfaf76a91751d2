"""Wake-ups (store/work.py) and the one-script admission and release (store/admission.py):
a slot is woken only when there is work it can take, and no message is ever stranded."""
from __future__ import annotations

import json

import pytest

from actors_core import scheduling
from actors_core.enums import ActorStatus
from actors_core.store import keys
from spawner import sweep


def _actor(store, actor_id="A", **fields):
    actor = {"id": actor_id, "owner": "o", "stateless": True, "max_workers": 2,
             "queue": "default", "image": "img", "gpus": 0, "log_ex": None, **fields}
    store.actors.create(actor)
    store.actors.set_status(actor_id, ActorStatus.READY)
    return store.actors.get(actor_id)


def _send(store, actor, count=1):
    return [store.executions.submit(actor, {"id": f"{actor['id']}-E{n}", "executor": "o",
                                            "content_type": "str", "environment": {}},
                                    b"m")["id"] for n in range(count)]


def _pop(store, queue="default"):
    """A slot takes a wake-up off the list (as its BLPOP would)."""
    value = store.redis.lpop(keys.wake_list(queue))
    return value.decode() if value else None


@pytest.mark.parametrize("stateless, max_workers, expected", [
    (False, None, 1), (True, 1, 1), (True, 3, 3), (True, None, 6)])
def test_n_messages_make_no_more_wake_ups_than_free_workers(store, stateless, max_workers,
                                                            expected):
    actor = _actor(store, stateless=stateless, max_workers=max_workers)
    _send(store, actor, 20)
    assert store.work.listed_wakes("default") == ["A"] * expected
    assert store.work.pending_wakes("A") == expected


def test_a_message_behind_a_busy_worker_makes_no_wake_up(store):
    actor = _actor(store, stateless=False)
    _send(store, actor)
    assert _pop(store) == "A"
    admitted = store.admission.admit("A", "s1", "owner-1")
    assert admitted.outcome == "claimed" and store.work.pending_wakes("A") == 0
    _send(store, actor)  # the only worker is busy: its release will look
    assert store.work.listed_wakes("default") == []


def test_admission_claims_the_oldest_and_returns_what_the_run_needs(store):
    actor = _actor(store, stateless=False)
    store.actors.set_state("A", {"count": 3})
    store.aliases.create("default", "al", "A", "o")
    first, second = _send(store, actor, 2)
    _pop(store)
    admitted = store.admission.admit("A", "s1", "owner-1")
    assert admitted.outcome == "claimed" and admitted.number == 1
    assert admitted.execution["id"] == first and admitted.execution["status"] == "RUNNING"
    assert admitted.execution["worker_id"] == scheduling.worker_id("A", 1)
    assert admitted.body == b"m" and admitted.state == {"count": 3}
    assert admitted.aliases == {"al"}
    assert admitted.actor["tenant"] == "default"
    assert store.workers.get("A", "A-1")["status"] == "BUSY"
    assert store.leases.busy("A", 1) == 1
    assert store.executions.running_on("s1") == [first]
    events = store.timeline.since(first)["events"]
    claimed = events[-1]
    assert claimed["type"] == "CLAIMED" and claimed["execution_id"] == first
    assert claimed["detail"] == {"spawner": "s1", "worker_id": "A-1"}
    assert "worker A-1" in claimed["message"]
    assert store.executions.get(second)["status"] == "SUBMITTED"


def test_release_wakes_the_next_slot_only_while_mail_waits(store):
    actor = _actor(store, stateless=False)
    _send(store, actor, 2)
    _pop(store)
    admitted = store.admission.admit("A", "s1", "owner-1")
    assert store.admission.release("A", admitted.number, "owner-1", True, True, "default", 1)
    assert store.work.listed_wakes("default") == ["A"]
    assert store.workers.get("A", "A-1")["status"] == "READY"
    _pop(store)
    admitted = store.admission.admit("A", "s1", "owner-2")
    assert admitted.outcome == "claimed"
    assert not store.admission.release("A", admitted.number, "owner-2", True, True, "default", 1)
    assert store.work.listed_wakes("default") == []
    assert store.redis.sismember(keys.MAILBOXES, "A") == 0  # the empty mailbox is forgotten


def test_admission_with_nothing_waiting_holds_a_lease_for_release_to_let_go(store):
    actor = _actor(store)
    (eid,) = _send(store, actor)
    store.executions.cancel("A", eid)
    _pop(store)
    admitted = store.admission.admit("A", "s1", "owner-1")
    assert admitted.outcome == "empty" and store.leases.busy("A", 2) == 1
    store.admission.release("A", admitted.number, "owner-1", False, True, "default", 2)
    assert store.leases.busy("A", 2) == 0 and store.work.pending_wakes("A") == 0


def test_admission_leaves_gpu_actors_to_the_slower_path_and_deleted_ones_alone(store):
    actor = _actor(store, gpus=1)
    _send(store, actor)
    assert store.work.listed_wakes("default.gpu") == ["A"]
    _pop(store, "default.gpu")
    admitted = store.admission.admit("A", "s1", "owner-1")
    assert admitted.outcome == "gpus" and store.leases.busy("A", 2) == 0
    assert store.admission.admit("nobody", "s1", "owner-1").outcome == "gone"


def test_a_wake_up_lost_with_a_dead_slot_is_repaired_by_the_sweep(store, config):
    actor = _actor(store, stateless=False)
    _send(store, actor, 2)
    assert _pop(store) == "A"  # the slot that popped it died before admitting anything
    _send(store, actor)  # the lost wake-up still counts as pending: no new one
    assert store.work.listed_wakes("default") == [] and store.work.pending_wakes("A") == 1

    sweep.sweep(store, config, "s1", ["default"])
    assert store.work.listed_wakes("default") == ["A"] and store.work.pending_wakes("A") == 1
    sweep.sweep(store, config, "s1", ["default"])  # a second sweep adds nothing
    assert store.work.listed_wakes("default") == ["A"]


def test_the_capacity_rule_in_lua_is_the_python_one(store, config):
    script = store.redis.register_script(scheduling.WORKER_CAPACITY_LUA + """
return worker_capacity(ARGV[1], ARGV[2], ARGV[3])""")
    for stateless in (True, False):
        for max_workers in (None, 0, 1, 4):
            actor = {"stateless": stateless, "max_workers": max_workers}
            assert int(script(args=[json.dumps(stateless), json.dumps(max_workers),
                                    config.default_max_workers])) == \
                scheduling.worker_capacity(actor, config), actor


def test_a_release_hands_its_slot_the_next_entry_in_the_same_round_trip(store):
    actor = _actor(store, stateless=False)
    other = _actor(store, "B")
    _send(store, actor, 2)
    _send(store, other)
    lists = store.work.lists_for(["default"])
    assert _pop(store) == "A"
    admitted = store.admission.admit("A", "s1", "owner-1")
    released = store.admission.release("A", admitted.number, "owner-1", True, True, "default",
                                       1, take_from=lists)
    # B's wake-up was first in line; A's new one goes behind it, as a BLPOP would see them.
    assert released.woke and released.taken == (keys.wake_list("default"), "B")
    assert store.work.listed_wakes("default") == ["A"]
    nothing = store.admission.release("B", 1, "owner-x", False, False, "default", 2,
                                      take_from=lists)
    assert nothing.taken == (keys.wake_list("default"), "A")
    assert store.admission.release("B", 1, "owner-x", False, False, "default", 2,
                                   take_from=lists).taken is None


def test_a_stopping_slot_gives_back_an_entry_it_was_handed(spawner_context, store,
                                                           monkeypatch):
    from spawner import jobs

    monkeypatch.setattr(jobs, "_current", spawner_context)
    spawner_context.handed = (keys.wake_list("default"), "A")
    jobs.serve(["default"], stopping=lambda: True)
    assert store.work.listed_wakes("default") == ["A"] and spawner_context.handed is None
