"""Executions held by a spawner while a cluster scheduler has their jobs (spawner/batch.py):
the store's held claims and start, and the follower on a stub scheduler over fakeredis. Every
end goes through ExecutionRun.finish() and release(), so retries, outputs, status events and
the worker's release hold for cluster jobs too. (Against a real Slurm:
tests/integration/test_slurm.py.)"""
from __future__ import annotations

import json
from typing import Optional

import pytest

from actors_core.enums import ActorStatus, ExecutionStatus
from actors_core.ids import new_id
from actors_core.store import keys
from spawner import batch, runner
from spawner.runtimes import (BatchRuntime, JobOutcome, JobPhase, JobStatus, RunSpec,
                              SchedulerUnavailable, StartFailed, Usage)
from spawner.runtimes.process import _docker_time


# -- the store: executions held SUBMITTED while the cluster has their jobs ------------------
def _plain_actor(store):
    return store.actors.create({"id": new_id(), "owner": "alice", "image": "img",
                                "stateless": True, "queue": "default", "max_workers": None})


def _submit(store, actor, execution_id=None):
    return store.executions.submit(actor, {"id": execution_id or new_id(), "executor": "alice",
                                           "content_type": "str", "environment": {}}, b"m")["id"]


def _in_status_set(store, status, execution_id) -> bool:
    return bool(store.redis.sismember(keys.executions_by_status(status), execution_id))


def _hold(store, actor, spawner="sp", limit=0):
    """Admission's held claim; the execution id, or the outcome when nothing was claimed."""
    admitted = store.admission.admit(actor["id"], spawner, f"{spawner}:test", hold=True,
                                     limit=limit)
    return admitted.execution["id"] if admitted.outcome == "claimed" else admitted.outcome


def test_a_held_execution_stays_submitted_until_its_job_starts(store):
    actor = _plain_actor(store)
    execution_id = _submit(store, actor)
    assert _hold(store, actor) == execution_id
    assert store.executions.get(execution_id)["status"] == "SUBMITTED"
    assert _in_status_set(store, "SUBMITTED", execution_id)
    assert store.executions.running_on("sp") == [execution_id]
    assert not store.executions.cancel(actor["id"], execution_id)  # out of the mailbox
    assert store.executions.start(execution_id, "sp", start_time="t")
    assert not store.executions.start(execution_id, "sp")  # once
    assert store.executions.get(execution_id)["status"] == "RUNNING"
    assert _in_status_set(store, "RUNNING", execution_id)
    assert not _in_status_set(store, "SUBMITTED", execution_id)


def test_a_held_execution_can_finish_without_ever_running(store):
    actor = _plain_actor(store)
    execution_id = _submit(store, actor)
    _hold(store, actor)
    record = store.executions.get_internal(execution_id)
    assert store.executions.may_finish(record)
    assert store.executions.finish(record, ExecutionStatus.COMPLETE, 60,
                                   status_message="Cancelled before it started.")
    assert store.executions.get(execution_id)["status"] == "COMPLETE"
    assert not _in_status_set(store, "SUBMITTED", execution_id)
    assert _in_status_set(store, "COMPLETE", execution_id)
    assert store.executions.running_on("sp") == []


def test_a_submitted_execution_nobody_holds_can_neither_start_nor_finish(store):
    actor = _plain_actor(store)
    execution_id = _submit(store, actor)
    assert not store.executions.start(execution_id, "sp")
    record = store.executions.get_internal(execution_id)
    assert not store.executions.may_finish(record)
    assert not store.executions.finish(record, ExecutionStatus.ERROR, 60)
    assert store.executions.get(execution_id)["status"] == "SUBMITTED"


def test_the_claim_limit_bounds_what_one_spawner_holds(store):
    actor = _plain_actor(store)
    ids = [_submit(store, actor) for _ in range(3)]
    assert _hold(store, actor, limit=2) == ids[0]
    assert _hold(store, actor, limit=2) == ids[1]
    assert _hold(store, actor, limit=2) == "full"
    assert store.executions.has_waiting(actor["id"])
    assert _hold(store, actor, "other", limit=2) == ids[2]


def test_a_held_claim_takes_a_gpu_actor_too_the_scheduler_hands_out_gpus(store):
    actor = store.actors.create({"id": new_id(), "owner": "alice", "image": "img", "gpus": 2,
                                 "stateless": True, "queue": "default", "max_workers": None})
    execution_id = _submit(store, actor)
    assert store.admission.admit(actor["id"], "sp", "sp:test").outcome == "gpus"
    assert _hold(store, actor) == execution_id


# -- the follower, on a stub scheduler ---------------------------------------------------------
class StubScheduler(BatchRuntime):
    """Jobs in memory: the test moves them between phases; each batched call is counted."""

    name = "slurm"
    poll_interval = 0.01

    def __init__(self):
        self.jobs: dict = {}  # execution id -> JobStatus
        self.outcome: dict = {}  # execution id -> JobOutcome
        self.specs: dict = {}
        self.calls = {"statuses": 0, "outcomes": 0, "cancel": []}
        self.refuse: Optional[str] = None
        self.down = False
        self._next = 100

    def ensure_image(self, image: str) -> None:
        return None

    def submit(self, spec: RunSpec) -> str:
        if self.refuse:
            raise StartFailed(self.refuse)
        self._next += 1
        name = spec.labels["actors.execution"]
        self.specs[name] = spec
        self.jobs[name] = JobStatus(name, str(self._next), "PENDING", JobPhase.PENDING,
                                    reason="Priority", partition="debug")
        return str(self._next)

    def move(self, name: str, state: str, phase: JobPhase, reason: str = "", nodes: str = "n1"):
        job = self.jobs[name]
        self.jobs[name] = JobStatus(name, job.job_id, state, phase, reason=reason, nodes=nodes,
                                    partition=job.partition, started_at=1_700_000_000.0)

    def statuses(self, jobs: dict) -> dict:
        if self.down:
            raise SchedulerUnavailable("slurmctld does not answer")
        self.calls["statuses"] += 1
        return {name: self.jobs[name] for name in jobs if name in self.jobs}

    def outcomes(self, ended, workdirs: dict) -> dict:
        self.calls["outcomes"] += 1
        return {s.name: self.outcome[s.name] for s in ended}

    def cancel(self, job_ids) -> None:
        self.calls["cancel"].append(list(job_ids))
        for name, job in self.jobs.items():
            if job.job_id in job_ids:
                ran = job.phase is JobPhase.RUNNING
                self.move(name, "CANCELLED", JobPhase.ENDED)
                self.outcome[name] = ended(137 if ran else None, "CANCELLED")

    def read_output(self, workdir: str, offset: int) -> bytes:
        return b"job output\n"[offset:]

    def take_results(self, workdir: str) -> list:
        return []

    def exited(self, workdir: str) -> bool:
        return workdir in self.exits

    exits: set = set()


def ended(exit_code: Optional[int], state: str = "COMPLETED", error: str = "",
          oom: bool = False) -> JobOutcome:
    final_state = {"Status": "exited", "ExitCode": exit_code or 0, "OOMKilled": oom,
                   "Dead": bool(error), "Error": error,
                   "StartedAt": _docker_time(1_700_000_000 * 10**9),
                   "FinishedAt": _docker_time(1_700_000_002 * 10**9)}
    return JobOutcome(final_state=final_state, exit_code=exit_code,
                      usage=Usage(cpu_ns=7, io_bytes=9) if exit_code is not None else None,
                      max_rss=4096 if exit_code is not None else None, error=error)


@pytest.fixture
def cluster(config, store, tmp_path):
    scheduler = StubScheduler()
    context = runner.SpawnerContext(config.with_overrides(spawner_workdir=str(tmp_path)), store,
                                    scheduler, name="s1", queues=["default"], slots=2)
    return context, scheduler, batch.Follower(context)


def _actor(store, actor_id="A", **fields):
    actor = {"id": actor_id, "owner": "o", "stateless": True, "max_workers": 2,
             "queue": "default", "image": "img", "gpus": 0, "log_ex": None, **fields}
    store.actors.create(actor)
    store.actors.set_status(actor_id, ActorStatus.READY)
    return store.actors.get(actor_id)


def _types(store, execution_id) -> list:
    return [e["type"] for e in store.timeline.since(execution_id, 0, 100)["events"]]


def test_a_job_waits_with_its_reason_then_runs_and_completes(cluster, store):
    context, scheduler, follower = cluster
    eid = _submit(store, _actor(store), "E1")
    assert context.drain("A") == eid
    assert store.executions.get(eid)["status"] == "SUBMITTED"  # held: the cluster has it
    assert store.leases.busy("A", 2) == 1  # its worker stays taken while the job lives

    follower.poll()
    record = store.executions.get(eid)
    assert record["status"] == "SUBMITTED" and record["job"]["reason"] == "Priority"
    assert record["status_message"] == "Waiting in the slurm queue as job 101 (partition debug): Priority."
    follower.poll()  # the same reason is said once
    pending = [e for e in store.timeline.since(eid, 0, 100)["events"] if e["type"] == "PENDING"]
    assert len(pending) == 1 and pending[0]["detail"]["reason"] == "Priority"
    assert pending[0]["source"]["service"] == "runtime"
    assert "[actors] Waiting in the slurm queue as job 101" in store.logs.get(eid)

    scheduler.move(eid, "RUNNING", JobPhase.RUNNING)
    follower.poll()
    record = store.executions.get(eid)
    assert record["status"] == "RUNNING" and record["provenance"]["runtime"] == "slurm"
    assert "job output" in store.logs.get(eid)

    scheduler.move(eid, "COMPLETED", JobPhase.ENDED)
    scheduler.outcome[eid] = ended(0)
    follower.poll()
    record = store.executions.get(eid)
    assert record["status"] == "COMPLETE" and record["exit_code"] == 0
    assert record["max_rss"] == 4096 and record["cpu"] == 7 and record["job"]["id"] == "101"
    assert _types(store, eid) == ["ACCEPTED", "QUEUED", "CLAIMED", "IMAGE_CHECKED", "PENDING",
                                  "STARTED", "FINISHED"]
    assert store.workers.get("A", "A-1")["status"] == "READY"
    assert store.leases.busy("A", 2) == 0 and store.executions.running_on("s1") == []
    assert follower.jobs == {}


def test_slots_bound_the_jobs_held_and_an_end_wakes_the_waiting_mail(cluster, store):
    context, scheduler, follower = cluster
    actor = _actor(store, max_workers=5)
    ids = [_submit(store, actor, f"E{n}") for n in range(3)]
    assert [context.drain("A") for _ in range(3)] == [ids[0], ids[1], None]
    assert store.executions.get(ids[2])["status"] == "SUBMITTED" and store.executions.has_waiting("A")
    assert store.leases.busy("A", 5) == 2  # the refused admission took no lease
    store.redis.delete(keys.wake_list("default"), keys.WAKES)

    follower.poll()
    scheduler.move(ids[0], "COMPLETED", JobPhase.ENDED)
    scheduler.outcome[ids[0]] = ended(0)
    follower.poll()
    assert store.executions.get(ids[0])["status"] == "COMPLETE"
    assert store.work.listed_wakes("default") == ["A"]  # room: the waiting one is woken
    assert context.drain("A") == ids[2]


def test_a_node_failure_is_an_error_and_the_actors_retry_is_scheduled(cluster, store):
    context, scheduler, follower = cluster
    eid = _submit(store, _actor(store, max_retries=1, retry_backoff=0), "E1")
    context.drain("A")
    scheduler.move(eid, "RUNNING", JobPhase.RUNNING)
    follower.poll()
    reason = "Slurm job 101 ended NODE_FAIL on n1: The job's node failed."
    scheduler.move(eid, "NODE_FAIL", JobPhase.ENDED)
    scheduler.outcome[eid] = ended(137, "NODE_FAIL", error=reason)
    follower.poll()
    record = store.executions.get(eid)
    assert record["status"] == "ERROR" and record["status_message"] == reason
    assert f"[actors] {reason}" in store.logs.get(eid)
    assert _types(store, eid)[-1] == "ERROR"
    assert store.redis.zscore(keys.RETRIES_DUE, eid) is not None  # the retry hook ran


def test_a_kill_request_cancels_a_queued_job_in_one_call_and_it_ends_unrun(cluster, store):
    context, scheduler, follower = cluster
    actor = _actor(store)
    first, second = _submit(store, actor, "E1"), _submit(store, actor, "E2")
    context.drain("A"), context.drain("A")
    follower.poll()
    store.executions.request_kill(first)
    store.executions.request_kill(second)
    follower.poll()
    assert [sorted(ids) for ids in scheduler.calls["cancel"]] == [["101", "102"]]  # one call
    follower.poll()
    for eid in (first, second):
        record = store.executions.get(eid)
        assert record["status"] == "COMPLETE" and record["exit_code"] is None
        assert record["status_message"] == "Cancelled before it started."


def test_a_refused_submission_ends_in_error_and_frees_the_worker(cluster, store):
    context, scheduler, follower = cluster
    scheduler.refuse = "Slurm refused the job: sbatch: error: invalid partition"
    eid = _submit(store, _actor(store), "E1")
    assert context.drain("A") == eid
    record = store.executions.get(eid)
    assert record["status"] == "ERROR" and record["status_message"] == scheduler.refuse
    assert store.leases.busy("A", 2) == 0 and store.executions.running_on("s1") == []
    follower.poll()
    assert follower.jobs == {}


def test_the_outputs_a_job_left_are_collected_into_the_final_record(cluster, store):
    context, scheduler, follower = cluster
    eid = _submit(store, _actor(store), "E1")
    context.drain("A")
    folder = scheduler.specs[eid].workdir + "/outputs"
    with open(folder + "/result.txt", "w") as stream:
        stream.write("kept")
    scheduler.move(eid, "COMPLETED", JobPhase.ENDED)
    scheduler.outcome[eid] = ended(0)
    follower.poll()
    record = store.executions.get(eid)
    assert [o["path"] for o in record["outputs"]] == ["result.txt"]


def test_a_restarted_follower_adopts_the_held_jobs_and_reads_their_output_again(cluster, store):
    context, scheduler, follower = cluster
    eid = _submit(store, _actor(store), "E1")
    context.drain("A")
    scheduler.move(eid, "RUNNING", JobPhase.RUNNING)
    follower.poll()
    assert store.logs.get(eid).count("job output") == 1

    again = batch.Follower(context)  # the spawner restarted
    again.poll()
    assert store.logs.get(eid).count("job output") == 1  # read again from the start, once
    scheduler.move(eid, "COMPLETED", JobPhase.ENDED)
    scheduler.outcome[eid] = ended(3)
    again.poll()
    assert store.executions.get(eid)["exit_code"] == 3


def test_the_scheduler_down_changes_nothing_but_the_leases_are_kept(cluster, store):
    context, scheduler, follower = cluster
    eid = _submit(store, _actor(store), "E1")
    context.drain("A")
    scheduler.down = True
    follower.poll()
    assert store.executions.get(eid)["status"] == "SUBMITTED"
    assert store.leases.busy("A", 2) == 1 and eid in follower.jobs


def test_an_exit_file_has_the_scheduler_asked_at_once_even_before_the_job_was_seen_running(
        cluster, store):
    context, scheduler, follower = cluster
    eid = _submit(store, _actor(store), "E1")
    context.drain("A")
    follower.poll()  # adopted, PENDING: a job may start and end between two polls
    assert not follower._ending()
    scheduler.exits = {scheduler.specs[eid].workdir}
    assert follower._ending()


def test_a_lost_cluster_spawners_held_executions_are_settled_and_their_jobs_cancelled(
        config, store, tmp_path):
    from spawner import takeover

    scheduler = StubScheduler()
    lost = runner.SpawnerContext(config.with_overrides(spawner_workdir=str(tmp_path)), store,
                                 scheduler, name="lost", queues=["default"], slots=4)
    eid = _submit(store, _actor(store), "E1")
    lost.drain("A")  # held by "lost"; its job is queued in the cluster
    settler = runner.SpawnerContext(config.with_overrides(spawner_workdir=str(tmp_path)), store,
                                    scheduler, name="alive", queues=["default"], slots=4)
    assert takeover.settle(settler, config, "lost", {"hostname": "h"}) == 1
    record = store.executions.get(eid)
    assert record["status"] == "ERROR" and "Spawner lost on host h was lost" in \
        record["status_message"]
    assert scheduler.calls["cancel"] == [["101"]]
    assert store.leases.busy("A", 2) == 0 and store.executions.running_on("lost") == []


def test_a_job_whose_actor_was_deleted_is_cancelled_and_nothing_is_recorded(cluster, store):
    context, scheduler, follower = cluster
    eid = _submit(store, _actor(store), "E1")
    context.drain("A")
    follower.poll()
    store.executions.delete_for_actor("A")
    store.actors.delete("A", "o")
    follower.poll()
    assert scheduler.calls["cancel"] == [["101"]]
    assert follower.jobs == {} and store.executions.running_on("s1") == []
    assert store.executions.get_internal(eid) is None
