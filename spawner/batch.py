"""Executions handed to a cluster scheduler: the spawner side of a BatchRuntime (Slurm).

A slot of such a spawner never waits for an execution. The wake-up it pops is
admitted as any other (store/admission.py: the lease on one of the actor's
workers, the claim, the worker BUSY, CLAIMED, in one script), except that the
execution is claimed *held*: it stays SUBMITTED, out of the mailbox, in the
spawner's running set. The slot writes the execution's folder on the shared
storage, submits the job and returns. ``--slots`` bounds how many executions
the spawner holds (the admission script refuses beyond it: ``full``), i.e. how
many jobs it has in the cluster, queued or running.

One :class:`Follower` thread in the supervisor follows every held execution,
with a few calls per poll whatever their number: one ``statuses`` (squeue),
one ``outcomes`` for the jobs that ended (sacct), one ``cancel`` for all
force-quits, one Redis pipeline for kill requests (and records gone with their
actor) and one for worker leases.
Then, through the store's single transitions:

- job pending: the execution stays SUBMITTED; the scheduler's job id and reason
  are in its ``status_message`` and ``job`` (``{"scheduler", "id", "state",
  "reason", ...}``), and each new reason is a PENDING status event and a line
  of its logs;
- job running: SUBMITTED -> RUNNING (``start``) with the STARTED event; output
  and results are copied from the folder into the store as they appear;
- job ended: the last output and results, then the end through
  ``ExecutionRun.finish`` and ``ExecutionRun.release`` (runner.py), as for any
  other runtime: COMPLETE or ERROR with the exit code, Docker-shaped
  ``final_state``, CPU, I/O and max RSS, the outputs collected, the retry the
  actor asks for, metrics and events; the worker and its lease let go and a
  wake-up for mail that waited (room under ``--slots`` wakes every actor on the
  spawner's queues with mail: a wake-up refused as ``full`` was taken for good).

What survives a restart: Redis knows which executions the spawner holds and
each one's job id; the scheduler knows the jobs by name. A restarted spawner's
follower adopts them, reads their output again from the start, and finishes
those that ended while it was down. An execution held with no job anywhere
(the spawner died between claim and submission) goes to ERROR.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from actors_core import scheduling
from actors_core.enums import ContentType, ExecutionStatus
from actors_core.scheduling import dispatch_queue
from actors_core.store import public_actor
from actors_core.times import isoformat

from . import metrics, outputs, runs, status_events
from .environment import BINARY_TARGET, execution_environment
from .gpus import requested_count
from .runner import ExecutionRun, _runtime_seconds
from .runtimes import (LABEL_ACTOR, LABEL_EXECUTION, LABEL_SPAWNER, ImageUnavailable, JobPhase,
                       Mount, RunSpec, SchedulerUnavailable, StartFailed)
from .runtimes.base import parse_state_time

log = logging.getLogger(__name__)

SUBMITTERS = 2  # slot processes of a batch spawner: they only submit, which takes milliseconds
QUICK = 0.25  # seconds between looks for held jobs' ends (a file check each)
FAST = 0.1  # seconds between scheduler calls once an actor's end was seen, until it is recorded
QUICK_JOBS = 50  # at most this many held jobs are looked at between polls (file checks)
QUICK_FOR = 10.0  # seconds after an actor's end in which the scheduler is asked every QUICK
SUBMIT_GRACE = 90.0  # seconds a held execution may wait for its job to appear (sbatch may be slow)
SETTLE = 15.0  # seconds an ended job may wait for complete accounting before it is recorded anyway
STOP_WAIT = 30.0  # seconds a stopping spawner in kill mode waits for its cancelled jobs to end


def lease_owner(spawner_name: str, execution_id: str) -> str:
    """Who holds the actor's worker lease while the cluster has the job: any process of the
    spawner can renew or release it, the submitter first and the follower after."""
    return f"{spawner_name}:job:{execution_id}"


# -- submitting (in a slot process) ---------------------------------------------------------
def drain(context, actor_id: str) -> Optional[str]:
    """Submit the actor's oldest waiting execution if a worker and room in the spawner's
    ``--slots`` are free; the id of the execution submitted (or refused), else None."""
    store = context.store
    asking = f"{context.name}:{os.getpid()}:{threading.get_ident()}"
    admitted = store.admission.admit(actor_id, context.name, asking, hold=True,
                                     limit=context.slots)
    if admitted.outcome in ("gone", "busy", "full"):
        # full: the spawner holds --slots jobs; when one of them ends, the follower wakes
        # every actor with waiting mail (Follower._wake).
        return None
    run = Submission(context, public_actor(admitted.actor), None, admitted.number, asking)
    submitted = False
    try:
        if admitted.outcome == "claimed":
            run.admitted(admitted)
            run.lease_owner = lease_owner(context.name, run.execution_id)
            store.leases.renew(actor_id, run.worker_number, run.lease_owner)  # the job's now
            submitted = run.submit()
    finally:
        if not submitted:  # nothing claimed, or it ended already: let go of what it held
            run.release()
    return run.execution_id


class Submission(ExecutionRun):
    """A held execution, from its folder to a job id (the runner's helpers for the rest)."""

    def submit(self) -> bool:
        """True once the cluster has the job; otherwise the execution has ended already."""
        execution = self.execution
        refusal = runs.refusal(self, execution)
        if refusal:  # a superseded attempt, or a cancelled run's: ends without a job
            self.finish(ExecutionStatus.COMPLETE, refusal)
            shutil.rmtree(self.workdir, ignore_errors=True)
            return False
        try:
            job_id = self.spawner.runtime.submit(self._spec(execution))
        except (ImageUnavailable, StartFailed) as error:
            self.refuse(str(error))
            return False
        except Exception as error:  # never leave a held execution without a job or a verdict
            log.exception("could not submit execution %s", self.execution_id)
            self.refuse(f"The spawner could not submit the execution: {error}")
            return False
        # Only the events (the image check): the follower may already have seen the job (it
        # finds jobs by name) and writes its ``job`` field first, whatever happens next.
        self.store.executions.record_events(self.execution_id, self.take_events())
        log.info("execution %s submitted as %s job %s", self.execution_id,
                 self.spawner.runtime.name, job_id)
        return True

    def _spec(self, execution: dict) -> RunSpec:
        actor = self.actor
        gpus = actor.get("gpus")
        if str(gpus).lower() == "all":
            raise StartFailed("gpus='all' cannot be asked of a cluster scheduler: give a number.")
        status_events.image_ready(self, self.spawner.runtime.ensure_image(actor["image"]))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o700)
        admitted = self._admitted
        body = admitted.body
        mounts = [outputs.prepare(self.workdir), *runs.inputs(self, execution)]
        if execution["content_type"] == str(ContentType.BINARY):
            # A plain file, not a FIFO: the job reads it on another host.
            path = self.workdir / "binary_data"
            path.touch(mode=0o600)
            path.write_bytes(body)
            mounts.append(Mount(str(path), BINARY_TARGET))
        tenant = admitted.actor["tenant"]
        token = self._access_token(tenant) if actor.get("token") else None
        state = None if actor["stateless"] else admitted.state
        environment = execution_environment(
            actor, execution, body, self.config.api_url, execution["worker_id"], token, state,
            (), tenant=tenant, actor_configs=self._actor_configs(tenant))
        return RunSpec(
            image=actor["image"], environment=environment, mounts=mounts,
            labels={LABEL_SPAWNER: self.spawner.name, LABEL_EXECUTION: self.execution_id,
                    LABEL_ACTOR: actor["id"]},
            mem_limit=actor.get("mem_limit"), max_cpus=actor.get("max_cpus"),
            pids_limit=self.config.pids_limit, privileged=bool(actor.get("privileged")),
            workdir=str(self.workdir), gpu_count=requested_count(gpus, 0),
            queue=actor.get("queue"), hints=tuple(actor.get("hints") or ()))


# -- following (one thread in the supervisor) -----------------------------------------------
@dataclass
class Job:
    """What the follower remembers of one held execution between polls."""

    execution_id: str
    actor_id: str
    slot: int
    workdir: Path
    adopted_at: float = field(default_factory=time.monotonic)
    job_id: Optional[str] = None
    offset: int = 0  # bytes of output already in the store
    log_full: bool = False  # the store's log cap is reached: the rest is not read
    shown: tuple = ()  # (state, reason) last written to the record
    running: bool = False  # the execution is RUNNING in the store
    cancelled: bool = False  # scancel sent on a kill request
    exit_seen: Optional[float] = None  # when the job's own files said its actor ended
    ended_since: Optional[float] = None  # when it was first seen ended (waiting for accounting)


class Follower:
    """Follows every job of one spawner, in one thread, in batches."""

    def __init__(self, context, interval: Optional[float] = None):
        self.context = context
        self.store = context.store
        self.runtime = context.runtime
        self.config = context.config
        self.interval = interval or getattr(self.runtime, "poll_interval", 1.0)
        self.jobs: dict = {}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._leases_renewed = 0.0
        self._polls = 0

    def start(self) -> "Follower":
        self._thread = threading.Thread(target=self._loop, name="batch-follower", daemon=True)
        self._thread.start()
        return self

    def stop(self, wait_for_jobs: bool = False) -> None:
        """Stop polling; with ``wait_for_jobs`` (kill mode) first see cancelled jobs end."""
        if wait_for_jobs:
            deadline = time.monotonic() + STOP_WAIT
            while self.jobs and time.monotonic() < deadline:
                time.sleep(self.interval)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 60)

    def _loop(self) -> None:
        """A poll every ``interval``; sooner when a job's actor has visibly ended (a file
        check, no scheduler call) or an ended job waits for its accounting, so an execution
        is recorded soon after its end."""
        next_poll = 0.0
        while not self._stop.is_set():
            ending = self._ending()
            if time.monotonic() >= next_poll or ending:
                try:
                    self.poll()
                except Exception:  # one bad poll must not end the following; try again
                    log.exception("following the %s jobs failed; trying again",
                                  self.runtime.name)
                settling = any(job.ended_since is not None for job in self.jobs.values())
                next_poll = time.monotonic() + (QUICK if settling else self.interval)
            self._stop.wait(FAST if ending else min(QUICK, self.interval))

    def _ending(self) -> bool:
        """Some job's actor has ended (its exit file is there) and the scheduler has not had
        QUICK_FOR seconds to say so. A job may start and end between two polls, so queued
        ones are looked at too; only while few jobs are held: with many, the regular poll
        is cheaper."""
        if not self.jobs or len(self.jobs) > QUICK_JOBS:
            return False
        now, ending = time.monotonic(), False
        for job in self.jobs.values():
            if job.exit_seen is None and self.runtime.exited(str(job.workdir)):
                job.exit_seen = now
            ending = ending or (job.exit_seen is not None and now - job.exit_seen < QUICK_FOR)
        return ending

    # -- one poll ---------------------------------------------------------------------------
    def poll(self) -> None:
        """Look at every held job once and move each execution on as far as it can go."""
        self._adopt()
        if not self.jobs:
            return
        self._renew_leases()  # first: even while the scheduler does not answer
        try:
            statuses = self.runtime.statuses({eid: job.job_id for eid, job in self.jobs.items()})
        except SchedulerUnavailable as error:
            log.warning("cannot ask %s about jobs: %s", self.runtime.name, error)
            return
        kills, gone = self.store.executions.watch(self.jobs)
        to_cancel, ended = [], []
        for execution_id, job in list(self.jobs.items()):
            status = statuses.get(execution_id)
            if execution_id in gone:  # its actor was deleted: stop the job, record nothing
                if status is not None and status.phase is not JobPhase.ENDED:
                    to_cancel.append(status.job_id)
                self._forget(execution_id)
                continue
            if status is None:
                self._missing(job)
                continue
            job.job_id = status.job_id
            if execution_id in kills and not job.cancelled and status.phase is not JobPhase.ENDED:
                to_cancel.append(status.job_id)
                job.cancelled = True
            if status.phase is JobPhase.PENDING:
                self._pending(job, status)
            elif status.phase is JobPhase.RUNNING:
                self._running(job, status)
            else:
                ended.append(status)
        if to_cancel:
            self.runtime.cancel(to_cancel)
        if ended:
            self._ended(ended, kills)

    def _adopt(self) -> None:
        """Executions this spawner holds that the follower does not know yet (new or, after a
        restart, left over); their output is read again from the start."""
        for execution_id in self.store.executions.running_on(self.context.name):
            if execution_id in self.jobs:
                continue
            record = self.store.executions.get_internal(execution_id)
            if record is None:  # its actor was deleted: stop the job if there is one
                self._abandon(execution_id)
                continue
            job = Job(execution_id=execution_id, actor_id=record["actor_id"],
                      slot=scheduling.slot_of(record.get("worker_id")),
                      workdir=self._workdir(execution_id),
                      job_id=(record.get("job") or {}).get("id"),
                      running=record["status"] == str(ExecutionStatus.RUNNING))
            if self._polls == 0 and job.job_id is not None:  # left over from before a restart
                self.store.logs.replace(execution_id, b"")
                log.info("following job %s of execution %s again", job.job_id, execution_id)
            self.jobs[execution_id] = job
        self._polls += 1

    def _abandon(self, execution_id: str) -> None:
        try:
            status = self.runtime.statuses({execution_id: None}).get(execution_id)
        except SchedulerUnavailable:
            return  # next poll
        if status is not None and status.phase is not JobPhase.ENDED:
            self.runtime.cancel([status.job_id])
        self._forget(execution_id)

    def _forget(self, execution_id: str) -> None:
        """An execution whose record is gone: out of the spawner's set, its folder removed."""
        self.store.executions.forget_running(self.context.name, execution_id)
        shutil.rmtree(self._workdir(execution_id), ignore_errors=True)
        self.jobs.pop(execution_id, None)

    def _missing(self, job: Job) -> None:
        """No job by that name: still being submitted, or lost."""
        record = self.store.executions.get_internal(job.execution_id)
        if record is None or ExecutionStatus(record["status"]).finished:
            # Its actor was deleted, or its submission failed (the submitter released it).
            self.jobs.pop(job.execution_id, None)
            return
        if time.monotonic() - job.adopted_at < SUBMIT_GRACE:
            return  # a submitter may be between claim and sbatch
        job_id = (record.get("job") or {}).get("id")
        if job_id is None:
            reason = "The spawner stopped before the job was submitted."
        else:
            reason = f"{self.runtime.name} no longer knows job {job_id}; its outcome is lost."
        self._end(job, ExecutionStatus.ERROR, reason)

    def _pending(self, job: Job, status) -> None:
        shown = (status.state, status.reason)
        if shown == job.shown:
            return
        job.shown = shown
        if job.running:  # requeued (e.g. after a node failure, where the actor asked for it)
            message = (f"Requeued by {self.runtime.name.capitalize()} as job {status.job_id}: "
                       f"{status.reason or status.state}.")
        else:
            where = f" (partition {status.partition})" if status.partition else ""
            message = (f"Waiting in the {self.runtime.name} queue as job {status.job_id}{where}: "
                       f"{status.reason or status.state}.")
        fields = self._job_field(status)
        self.store.executions.update(job.execution_id, job=fields, status_message=message)
        self.store.logs.append(job.execution_id, f"[actors] {message}\n".encode())
        status_events.job_pending(self.store, job.execution_id, job.actor_id, self.runtime.name,
                                  fields, message)

    def _running(self, job: Job, status) -> None:
        if not job.running:
            started = (self.runtime.started(str(job.workdir)) or status.started_at
                       or time.time())
            fields = self._job_field(status)
            actor = self.store.actors.get(job.actor_id) or {"id": job.actor_id}
            provenance, event = status_events.job_started(
                self.store, self.context, job.execution_id, job.actor_id,
                actor.get("image", ""), fields)
            if self.store.executions.start(
                    job.execution_id, self.context.name, events=[event], job=fields,
                    provenance=provenance,
                    start_time=isoformat(datetime.fromtimestamp(started, timezone.utc)),
                    status_message=f"Running as {self.runtime.name} job {status.job_id} on "
                                   f"{status.nodes}."):
                job.running = True
                job.shown = (status.state, status.reason)
                metrics.execution_started(actor, self.store.executions.get_internal(
                    job.execution_id) or {})
                log.info("execution %s running as job %s on %s", job.execution_id,
                         status.job_id, status.nodes)
            else:
                record = self.store.executions.get_internal(job.execution_id)
                job.running = bool(record) and record["status"] == str(ExecutionStatus.RUNNING)
        elif (status.state, status.reason) != job.shown:
            job.shown = (status.state, status.reason)
            self.store.executions.update(job.execution_id, job=self._job_field(status))
        self._copy_output(job)

    def _ended(self, ended: list, kills: set) -> None:
        workdirs = {s.name: str(self.jobs[s.name].workdir) for s in ended}
        outcomes = self.runtime.outcomes(ended, workdirs)
        finished_any = False
        for status in ended:
            job = self.jobs[status.name]
            outcome = outcomes[status.name]
            if not outcome.settled:
                job.ended_since = job.ended_since or time.monotonic()
                if time.monotonic() - job.ended_since < SETTLE:
                    continue  # accounting lags the end by a moment: ask again next poll
                log.warning("no complete accounting for job %s after %.0fs; recording it as is",
                            status.job_id, SETTLE)
            self._recorded(job, status, outcome, killed=status.name in kills or job.cancelled)
            finished_any = True
        if finished_any:
            self._wake()

    # -- ending ----------------------------------------------------------------------------
    def _recorded(self, job: Job, status, outcome, killed: bool) -> None:
        """The fields of an ended job's final record, from the scheduler's outcome."""
        self._copy_output(job)
        final_state = outcome.final_state
        fields = dict(job=self._job_field(status), final_state=final_state,
                      runtime=_runtime_seconds(final_state))
        started = final_state.get("StartedAt", "")
        if outcome.exit_code is not None and started and not started.startswith("0001"):
            # The actor's own start (the scheduler's is to the second, and a job that ran
            # from start to end between two polls was never seen RUNNING).
            fields["start_time"] = isoformat(parse_state_time(started))
        if outcome.usage is not None:
            fields.update(cpu=outcome.usage.cpu_ns, io=outcome.usage.io_bytes)
        if outcome.max_rss is not None:
            fields["max_rss"] = outcome.max_rss
        if outcome.gpus:
            fields["gpus"] = outcome.gpus
        if outcome.error:
            self._end(job, ExecutionStatus.ERROR, outcome.error, outcome.exit_code, killed,
                      **fields)
            return
        if outcome.exit_code is None:  # cancelled while queued: it never ran
            reason = ("Cancelled before it started." if killed else
                      f"Job {status.job_id} was cancelled in {self.runtime.name} before it "
                      "started.")
        elif killed:
            final_state["ForceQuit"] = True
            reason = (f"Force-quit on request; {self.runtime.name} job {status.job_id} was "
                      "cancelled.")
        else:
            reason = final_state.get("Error") or ""
        self._end(job, ExecutionStatus.COMPLETE, reason, outcome.exit_code, killed, **fields)

    def _end(self, held: Job, status: ExecutionStatus, reason: str,
             exit_code: Optional[int] = None, killed: bool = False, **fields) -> None:
        """The end of a held execution, through the runner's one finish and one release (the
        run outcome, retries, outputs, metrics, events; the worker, its lease, the next
        drain); then its folder goes and the follower forgets it."""
        actor = self.store.actors.get(held.actor_id)
        if actor is not None:
            run = ExecutionRun(self.context, actor, held.execution_id, held.slot,
                               lease_owner(self.context.name, held.execution_id))
            run.holds_worker = True
            run.killed = killed
            run.exited()  # the folder holds all the job wrote: its outputs may be collected
            run.finish(status, reason, exit_code, **fields)
            run.release()
        else:  # the actor was deleted meanwhile: nothing to record
            self.store.executions.forget_running(self.context.name, held.execution_id)
        log.info("execution %s (job %s) ended", held.execution_id, held.job_id)
        shutil.rmtree(held.workdir, ignore_errors=True)
        self.jobs.pop(held.execution_id, None)

    def _wake(self) -> None:
        """Room came free under ``--slots``: a wake-up for each actor on our queues with mail
        waiting and a free worker (a submitter that found no room left it to us)."""
        queues = set(self.context.queues)
        for actor_id in self.store.executions.actors_with_mail():
            actor = self.store.actors.get(actor_id)
            if actor is None or dispatch_queue(actor) not in queues:
                continue
            self.store.work.wake(actor_id, dispatch_queue(actor), self.context.capacity(actor))

    # -- helpers ---------------------------------------------------------------------------
    def _copy_output(self, job: Job) -> None:
        while not job.log_full:
            chunk = self.runtime.read_output(str(job.workdir), job.offset)
            if not chunk:
                break
            job.log_full = not self.store.logs.append(job.execution_id, chunk)  # at the cap
            job.offset += len(chunk)
        for result in self.runtime.take_results(str(job.workdir)):
            self.store.executions.add_result(job.execution_id, result)

    def _renew_leases(self) -> None:
        """Keep the actors' workers held while their jobs are in the cluster."""
        if time.monotonic() - self._leases_renewed < self.config.lease_seconds / 3:
            return
        self.store.leases.renew_many([(job.actor_id, job.slot,
                                       lease_owner(self.context.name, job.execution_id))
                                      for job in self.jobs.values()])
        self._leases_renewed = time.monotonic()

    def _job_field(self, status) -> dict:
        return {"scheduler": self.runtime.name, "id": status.job_id, "state": status.state,
                "reason": status.reason, "partition": status.partition, "nodes": status.nodes}

    def _workdir(self, execution_id: str) -> Path:
        return Path(self.config.spawner_workdir) / execution_id
