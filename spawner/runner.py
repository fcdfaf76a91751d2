"""Admission and one execution's life: claim, prepare, start, watch, finish, release.

:class:`SpawnerContext` is what every execution in one spawner process shares
(settings, store, runtime, the spawner's name and GPUs); its :meth:`drain`
admits at most one execution (the lease on one of the actor's workers, GPUs,
the claim).
:class:`ExecutionRun` is that execution until its end, which happens in two
steps, each written once and used by every path (a normal exit, a failure to
start, a refusal, and reconcile.py after a restart):

* :meth:`ExecutionRun.finish`: the final record (RUNNING -> COMPLETE | ERROR,
  once), the actor's run outcome, and the events that follow from them;
* :meth:`ExecutionRun.release`: the GPUs, the worker record, the worker's
  lease, and what may have been waiting on them (another drain, GPU
  waiters), or forgetting the actor's mailbox when it is empty.

Whatever goes wrong, an execution this module claimed ends COMPLETE or ERROR
and its container is removed; if the process itself dies, the spawner's
reconciliation on restart finishes the job (see reconcile.py). The RQ entry
points that call into this module are in jobs.py.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional, Sequence

from actors_core import scheduling
from actors_core.config import Config
from actors_core.crypto import decrypt
from actors_core.enums import ActorStatus, ContentType, ExecutionStatus
from actors_core.ids import new_id
from actors_core.scheduling import dispatch_queue
from actors_core.store import Store, public_actor
from actors_core.tokens import mint

from . import events, metrics, outputs, retries, runs, status_events
from .binary_pipe import BinaryPipe
from .environment import BINARY_TARGET, RESULTS_TARGET, execution_environment
from .gpus import Gpu, GpuSampler, free_memory, requested_count
from .results import MAX_RESULT_BYTES, ResultsSocket
from .runtimes import (LABEL_ACTOR, LABEL_EXECUTION, LABEL_SPAWNER, Handle, ImageUnavailable, Mount,
                       RunSpec, Runtime, StartFailed, detached)
from .runtimes.base import parse_state_time

UNIX_PATH_MAX = 107  # bytes of a Unix socket address on Linux, less its NUL

log = logging.getLogger(__name__)

WAIT_STEP = 1.0  # seconds between kill checks and lease renewals while a container runs
STATS_INTERVAL = 1.0
FLUSH_STEP = 0.25  # seconds between the log flusher's looks at buffers with unwritten logs
LOG_BATCH_BYTES = 64 * 1024  # buffered logs are written once this many wait...
LOG_BATCH_SECONDS = 0.5  # ...or once the oldest unwritten byte is this old


class LogBuffer:
    """An execution's logs on their way to the store, written in batches.

    The log pump adds what the runtime streams; a batch goes to the store (one
    round trip) when it reaches LOG_BATCH_BYTES, when its oldest byte is
    LOG_BATCH_SECONDS old (the process's :class:`LogFlusher` looks every
    FLUSH_STEP, so logs are readable within LOG_BATCH_SECONDS + FLUSH_STEP of being
    written), and at the end, before the final record: nothing is lost or
    reordered, and an echo that prints twenty lines costs one write, not twenty.
    """

    def __init__(self, store_logs, execution_id: Optional[str]):
        self.store_logs = store_logs
        self.execution_id = execution_id
        self._lock = threading.Lock()
        self._chunks: list = []
        self._size = 0
        self._since = 0.0

    def add(self, chunk: bytes) -> None:
        if not chunk:
            return
        with self._lock:
            first = not self._chunks
            if first:
                self._since = time.monotonic()
            self._chunks.append(chunk)
            self._size += len(chunk)
            full = self._size >= LOG_BATCH_BYTES
        if full:
            self.flush()
        elif first:
            FLUSHER.watch(self)

    def flush_if_due(self) -> bool:
        """Write the batch if it is due; True once nothing is left unwritten."""
        with self._lock:
            if not self._chunks:
                return True
            due = time.monotonic() - self._since >= LOG_BATCH_SECONDS
        if due:
            self.flush()
        return due

    def empty(self) -> bool:
        with self._lock:
            return not self._chunks

    def flush(self) -> None:
        with self._lock:  # held while writing: batches reach the store in order
            if not self._chunks:
                return
            batch, self._chunks, self._size = b"".join(self._chunks), [], 0
            self.store_logs.append(self.execution_id, batch)


class LogFlusher:
    """One thread per process that writes log batches when they are due, for every run in
    it. It exists once the first log line arrives and sleeps on a condition whenever no
    buffer holds unwritten logs; nothing about it depends on the runtime's own waits (a
    Docker wait is an HTTP request, not something to repeat four times a second)."""

    def __init__(self):
        self._waiting: set = set()
        self._condition = threading.Condition()
        self._thread: Optional[threading.Thread] = None

    def watch(self, buffer: "LogBuffer") -> None:
        with self._condition:
            self._waiting.add(buffer)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="log-flusher")
                self._thread.start()
            self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._waiting:
                    self._condition.wait()
            time.sleep(FLUSH_STEP)
            with self._condition:
                buffers = list(self._waiting)
            for buffer in buffers:
                try:
                    done = buffer.flush_if_due()
                except Exception:  # the store is away: keep the logs, try again later
                    log.exception("could not write logs of %s", buffer.execution_id)
                    done = False
                if done:
                    with self._condition:  # unless a line came since: its add() re-watches
                        if buffer.empty():
                            self._waiting.discard(buffer)


FLUSHER = LogFlusher()


class SpawnerContext:
    """What every execution in one spawner process shares: settings, store, runtime, the
    spawner's name, its GPUs and the queues it serves. (The ``actors spawner`` process
    itself is the supervisor: supervisor.py.)"""

    def __init__(self, config: Config, store: Store, runtime: Runtime, name: Optional[str] = None,
                 gpus: Sequence[Gpu] = (), queues: Sequence[str] = (), slots: int = 0):
        self.config = config
        self.store = store
        self.runtime = runtime
        self.name = name or config.spawner_name or socket.gethostname()
        self.gpus = list(gpus)
        self.queues = list(queues)  # the actor queues it serves (GPU twins included)
        self.slots = slots  # a batch runtime's bound on the executions it holds (0: none)
        # A slot process's lists (jobs.serve sets them): a run's release pops the slot's
        # next entry from them in its own round trip, kept in ``handed`` for the slot loop.
        self.lists: Optional[list] = None
        self.handed: Optional[tuple] = None
        status_events.identify(self)

    def capacity(self, actor: dict) -> int:
        return scheduling.worker_capacity(actor, self.config)

    def drain(self, actor_id: str) -> Optional[str]:
        """Run the actor's oldest waiting execution if one of its workers is free (its
        lease taken here); the id of the execution it ran, else None.

        One round trip admits it (store/admission.py: the wake-up taken, the lease,
        the claim, the worker BUSY, CLAIMED, and everything the run reads). When no
        worker is free this returns at once: the run holding the lease looks at the
        mailbox again when it lets go (:meth:`ExecutionRun.release`), so no message
        is stranded. A batch runtime (Slurm) only submits here and returns: batch.py.
        """
        if detached(self.runtime):
            from . import batch  # (it builds on this module)

            return batch.drain(self, actor_id)
        lease_owner = f"{self.name}:{os.getpid()}:{threading.get_ident()}"
        admitted = self.store.admission.admit(actor_id, self.name, lease_owner)
        if admitted.outcome in ("gone", "busy"):
            return None
        actor = public_actor(admitted.actor)
        if admitted.outcome == "gpus":
            return self._drain_with_gpus(actor, lease_owner)
        run = run_class(actor)(self, actor, None, admitted.number, lease_owner)
        try:
            if admitted.outcome == "claimed":
                run.admitted(admitted)
                run.run()
        finally:
            run.release()
        return run.execution_id

    def _drain_with_gpus(self, actor: dict, lease_owner: str) -> Optional[str]:
        """:meth:`drain` for an actor that asks for GPUs: the lease, then the GPUs, then the
        claim, so an execution is claimed only once its GPUs are held."""
        actor_id = actor["id"]
        number = self.store.leases.acquire(actor_id, self.capacity(actor), lease_owner)
        if number is None:
            return None
        run = run_class(actor)(self, actor, None, number, lease_owner)
        try:
            needed = requested_count(actor.get("gpus"), len(self.gpus))
            if 0 < needed <= len(self.gpus):
                run.gpus = self._take_gpus(actor, needed, lease_owner)
                if not run.gpus:
                    # Stays SUBMITTED; whoever frees a GPU wakes the waiting actors.
                    run.waiting_for_gpus = True
                    return None
            worker_id = scheduling.worker_id(actor_id, number)
            run.execution_id = self.store.executions.claim_next(actor_id, self.name, worker_id)
            if run.execution_id is None:
                return None
            run.claimed()
            if needed > len(self.gpus):
                run.refuse(f"The actor asks for {needed} GPUs; spawner {self.name} has "
                           f"{len(self.gpus)}.")
            else:
                run.run()
        finally:
            run.release()
        return run.execution_id

    def _take_gpus(self, actor: dict, count: int, holder: str) -> list:
        """Whole free GPUs with enough free memory, held for ``holder``; [] if not enough now."""
        free = set(self.store.hosts.free_gpus(self.name))
        minimum = int(actor.get("gpu_memory_min") or 0)
        candidates = [g for g in self.gpus if g.index in free and free_memory(g) >= minimum]
        chosen = candidates[:count]
        if len(chosen) < count:
            return []
        if not self.store.hosts.take_gpus(self.name, [g.index for g in chosen], holder):
            return []  # another process took one first; its release will wake us
        return chosen

    def wake_gpu_waiters(self) -> None:
        """A GPU came free: wake a slot for every GPU actor with waiting mail on our queues."""
        for actor_id in self.store.executions.actors_with_mail():
            actor = self.store.actors.get(actor_id)
            if actor is None or requested_count(actor.get("gpus"), len(self.gpus)) == 0:
                continue
            queue = dispatch_queue(actor)
            if queue in self.queues:
                self.store.work.wake(actor_id, queue, self.capacity(actor))

    def check_image(self, actor_id: str) -> None:
        """READY once the image is usable here, ERROR with the reason if not."""
        actor = self.store.actors.get(actor_id)
        if actor is None:
            return
        try:
            self.runtime.ensure_image(actor["image"])
        except ImageUnavailable as error:
            events.set_actor_status(self.store, actor_id, ActorStatus.ERROR, str(error))
        else:
            self.store.workers.keep_one(actor_id)  # a READY actor shows a worker, as in Abaco
            events.set_actor_status(self.store, actor_id, ActorStatus.READY)


class ExecutionRun:
    """One admitted execution, from its claim to its final record and the release of what
    it held. ``execution_id`` is None while a drain holds a worker's lease without having
    claimed anything (nothing waited, or GPUs were busy): :meth:`release` still runs."""

    def __init__(self, spawner: SpawnerContext, actor: dict, execution_id: Optional[str],
                 worker_number: int, lease_owner: str, gpus: Sequence[Gpu] = ()):
        self.spawner = spawner
        self.gpus = list(gpus)
        self._gpu_sampler: Optional[GpuSampler] = None
        self.store = spawner.store
        self.config = spawner.config
        self.actor = actor
        self.logs = LogBuffer(self.store.logs, execution_id)
        self.execution_id = execution_id
        self.worker_number = worker_number  # which of the actor's workers: its lease and record
        self.lease_owner = lease_owner
        self.waiting_for_gpus = False  # the mail stays; a freed GPU wakes the actor instead
        self.holds_worker = False  # its worker record is BUSY with this execution
        self.handle: Optional[Handle] = None
        self._handle_removed = False
        self.killed = False
        self.usage = None
        self._pipe: Optional[BinaryPipe] = None
        self._results: Optional[ResultsSocket] = None
        self.execution: Optional[dict] = None  # the record as claimed, when admission gave it
        self._admitted = None  # what admission read beside it (message, state, aliases)
        self.pending_events: list = []  # status events that go with the next transition
        self._workdir: Optional[Path] = None
        self._log_thread: Optional[threading.Thread] = None
        self._stats_thread: Optional[threading.Thread] = None
        self._exited = threading.Event()

    @property
    def execution_id(self) -> Optional[str]:
        return self._execution_id

    @execution_id.setter
    def execution_id(self, value: Optional[str]) -> None:
        self._execution_id = value
        self.logs.execution_id = value  # the buffer writes to whichever execution this is

    @property
    def workdir(self) -> Path:
        if self._workdir is None or self._workdir.name != self.execution_id:
            self._workdir = Path(self.config.spawner_workdir) / self.execution_id
        return self._workdir

    # -- the whole life ----------------------------------------------------
    def admitted(self, admitted) -> None:
        """Admission claimed the execution (RUNNING) and made its worker BUSY; the run
        holds the record and what was read with it, and reads none of it again."""
        self.execution_id = admitted.execution["id"]
        self.execution = admitted.execution
        self._admitted = admitted
        self.holds_worker = True

    def claimed(self) -> None:
        """The execution is ours (RUNNING): its worker is BUSY, the GPUs are its own."""
        self.store.workers.start(self.actor["id"], scheduling.worker_id(self.actor["id"], self.worker_number),
                                 self.worker_number, self.spawner.name, self.execution_id)
        self.holds_worker = True
        if self.gpus:
            self.store.hosts.transfer_gpus(self.spawner.name, self.lease_owner, self.execution_id)
            status_events.gpus_assigned(self.store, self.execution_id, self.actor["id"], self.gpus)

    def run(self) -> None:
        execution = self.execution or self._record()
        refusal = runs.refusal(self, execution)
        if refusal:  # a superseded attempt, or a cancelled run's: ends without starting
            self.finish(ExecutionStatus.COMPLETE, refusal)
            self._cleanup()
            return
        try:
            self.handle = self._start(execution)
        except (ImageUnavailable, StartFailed) as error:
            self.refuse(str(error))
            return
        except Exception as error:  # never leave a claimed execution RUNNING
            log.exception("could not start execution %s", self.execution_id)
            self.refuse(f"The spawner could not start the execution: {error}")
            return
        self.follow()

    def refuse(self, reason: str) -> None:
        """End a claimed execution that cannot run (here), with nothing left running."""
        self.finish(ExecutionStatus.ERROR, reason)
        self._cleanup()

    def follow(self) -> None:
        """Watch a started container to the end and record it (also used on re-attach)."""
        try:
            self._start_watchers()
            exit_code = self._wait()
            self._collect(exit_code)
        except Exception as error:
            log.exception("lost track of execution %s", self.execution_id)
            self.finish(ExecutionStatus.ERROR, f"The spawner lost track of the execution: {error}")
        # Not in a ``finally``: if the process is being torn down mid-run, the
        # container stays for reconciliation to record instead of vanishing.
        self._cleanup()

    def exited(self) -> None:
        """The execution has exited (a batch job that ended): nothing writes to its folder."""
        self._exited.set()

    # -- the end, in two steps ------------------------------------------------
    def finish(self, status: ExecutionStatus, reason: str = "", exit_code: Optional[int] = None,
               **fields) -> bool:
        """The execution's final record, the actor's run outcome and their events.

        RUNNING -> ``status`` happens at most once (the store's guarded script),
        so a second finish (say, a re-attached run whose first spawner also
        recorded it) changes nothing and sends no event. ERROR's ``reason`` is
        also written to the logs. The actor's ``log_ex`` (else the platform's)
        sets how long the record is kept. False when nothing was recorded now.
        """
        failed = status is ExecutionStatus.ERROR
        keeping = self._exited.is_set() and outputs.present(self)
        record = self.execution  # held since admission
        if record is None:
            record = self._record()
            ended = not self.store.executions.may_finish(record)
        else:  # the script refuses a second end; look first only before writing anything
            ended = ((failed or keeping) and not self.store.executions.may_finish(
                record, self.store.executions.status(self.execution_id)))
        if ended:
            return False  # deleted, or ended elsewhere (a lost host's takeover): nothing twice
        if failed:  # after whatever output is still buffered
            self.logs.add(f"[actors] {reason}\n".encode())
            self.logs.flush()
        if reason:
            fields["status_message"] = reason
        if exit_code is not None:
            fields["exit_code"] = exit_code
        if self._exited.is_set():  # never mid-write: it exited; the final record lists them
            fields.update(outputs.collect(self) if keeping else outputs.nothing_kept(self))
        retry = retries.decide(self.actor, dict(record, status=str(status), **fields))
        if retry is not None:
            fields.update(retry.fields)
        finished, changed = self.store.executions.finish(
            record, status, self._log_ex(),
            outcome=(not failed, self.config.actor_error_threshold, reason),
            events=self.take_events(), retry_at=retry and retry.due, **fields)
        if finished:
            metrics.execution_finished(self.actor, record, status, exit_code,
                                       fields.get("final_state"), fields.get("runtime"),
                                       self.killed)
            events.execution_finished(self.store, self.actor["id"], record, status, exit_code,
                                      reason, actor=self._actor_record())
        if changed:
            events.actor_status_changed(self.store, self.actor["id"], changed,
                                        reason if failed else "", actor=self._actor_record())
        return finished

    def take_events(self) -> list:
        """The status events waiting for the next transition's script (and none after)."""
        pending, self.pending_events = self.pending_events, []
        return pending

    def release(self) -> None:
        """Let go of everything the run held, then wake what may be waiting on it.

        In this order: the GPUs (whoever waits for one is woken after), then in
        one script (store/admission.py) the worker record (READY, or gone if a
        DELETE asked), the worker's lease and, unless the mail waits for GPUs, a
        wake-up for the next slot if mail is waiting and a worker is free, else
        the actor leaves the set of mailboxes to sweep. "Release, then look" is
        what keeps a message from being stranded: a drain that found no free
        worker returned because this run held one.
        """
        actor_id = self.actor["id"]
        gpus_freed = 0
        if self.gpus:  # held for the execution once claimed, for the lease until then
            gpus_freed = self.store.hosts.give_back_gpus(self.spawner.name,
                                                         self.execution_id or self.lease_owner)
        look = not self.waiting_for_gpus and not gpus_freed
        queue = dispatch_queue(self.actor) if "queue" in self.actor else None
        take_from = self.spawner.lists if self.spawner.handed is None else None
        released = self.store.admission.release(actor_id, self.worker_number, self.lease_owner,
                                                self.holds_worker, look, queue,
                                                self.store.executions.capacity(self.actor),
                                                take_from=take_from or ())
        if released.taken is not None:
            self.spawner.handed = released.taken
        if gpus_freed:  # every GPU actor waiting here may start now, this one included
            self.spawner.wake_gpu_waiters()

    # -- steps -------------------------------------------------------------
    def _start(self, execution: dict) -> Handle:
        status_events.image_ready(self, self._ensure_image())
        self.workdir.mkdir(parents=True, exist_ok=True)
        admitted = self._admitted
        body = (admitted.body if admitted is not None
                else self.store.executions.message_body(self.execution_id))
        mounts = [*self._results_mounts(), outputs.prepare(self.workdir),
                  *runs.inputs(self, execution)]
        if execution["content_type"] == str(ContentType.BINARY):
            fifo = self.workdir / "binary_data"
            self._pipe = BinaryPipe(str(fifo), body)
            mounts.append(Mount(str(fifo), BINARY_TARGET, read_only=True))
        tenant = (admitted.actor["tenant"] if admitted is not None
                  else self.store.actors.tenant_of(self.actor["id"]))
        token = self._access_token(tenant) if self.actor.get("token") else None
        if self.actor["stateless"]:
            state = None
        else:
            state = (admitted.state if admitted is not None
                     else self.store.actors.get_state(self.actor["id"]))
        environment = execution_environment(
            self.actor, execution, body, self.config.api_url, execution["worker_id"], token, state,
            self.gpus, tenant=tenant, actor_configs=self._actor_configs(tenant))
        spec = RunSpec(
            image=self.actor["image"], environment=environment, mounts=mounts,
            labels={LABEL_SPAWNER: self.spawner.name, LABEL_EXECUTION: self.execution_id,
                    LABEL_ACTOR: self.actor["id"]},
            mem_limit=self.actor.get("mem_limit"), max_cpus=self.actor.get("max_cpus"),
            pids_limit=self.config.pids_limit, privileged=bool(self.actor.get("privileged")),
            user=None if self.actor.get("use_container_uid") else self.config.container_user,
            run_as_image_user=bool(self.actor.get("use_container_uid")),
            workdir=str(self.workdir), gpus=self.gpus,
        )
        handle = self._launch(spec)
        fields = {}
        if self.gpus:
            fields["gpus"] = [{"index": g.index, "uuid": g.uuid, "name": g.name}
                              for g in self.gpus]
            self._gpu_sampler = GpuSampler(self.gpus, self.config.gpu_sample_interval).start()
        status_events.started(self, handle, **fields)  # start_time, provenance, STARTED
        metrics.execution_started(self.actor, execution)
        if self._pipe is not None:
            self._pipe.start()
        return handle

    def _ensure_image(self) -> Optional[bool]:
        """The image usable here (True: pulled just now); warm.py's runs know it already."""
        return self.spawner.runtime.ensure_image(self.actor["image"])

    def _launch(self, spec: RunSpec) -> Handle:
        """A new container (or process) for the execution; warm.py's runs use a kept one."""
        return self.spawner.runtime.start(spec)

    def _access_token(self, tenant: str) -> str:
        """The owner's token, for this actor only. Its ``jti`` is recorded on the execution,
        so finishing the execution revokes it; the TTL only bounds an execution that a
        dead spawner never finishes."""
        token_id, ttl = new_id(22), self.config.execution_token_ttl
        self.store.executions.update(self.execution_id, token_id=token_id,
                                     token_expires=int(time.time()) + ttl)
        return mint(self.config, self.actor["owner"], ttl=ttl, actor=self.actor["id"],
                    tenant=tenant, token_id=token_id)

    def _actor_configs(self, tenant: str) -> dict:
        """``{name: value}`` of the configs listing this actor by id or by one of its
        aliases; secrets are decrypted here and go only into the container's environment."""
        aliases = (self._admitted.aliases if self._admitted is not None
                   else self.store.aliases.for_actor(self.actor["id"]))
        idents = {self.actor["id"]} | set(aliases)
        return {config["name"]: decrypt(self.config, config["value"]) if config["is_secret"]
                else config["value"] for config in self.store.configs.for_actor(tenant, idents)}

    def _start_watchers(self) -> None:
        self._log_thread = threading.Thread(target=self._pump_logs, daemon=True,
                                            name=f"logs:{self.execution_id}")
        self._log_thread.start()

    def _wait(self) -> int:
        """Until it exits: every WAIT_STEP the lease renewed, a kill request looked for and
        (from the first step on) usage sampled. An execution shorter than a step costs
        none of these."""
        while True:
            exit_code = self.handle.wait(timeout=WAIT_STEP)
            if exit_code is not None:
                self._exited.set()
                return exit_code
            if self._stats_thread is None:  # still running after a step: sample its usage
                self._stats_thread = threading.Thread(target=self._sample_usage, daemon=True,
                                                      name=f"stats:{self.execution_id}")
                self._stats_thread.start()
            self.store.leases.renew(self.actor["id"], self.worker_number, self.lease_owner)
            if not self.killed and self.store.executions.kill_requested(self.execution_id):
                self.killed = True
                self.handle.kill()

    def _collect(self, exit_code: int) -> None:
        if not self.killed and self.store.executions.kill_requested(self.execution_id):
            self.killed = True  # asked for while the container was already exiting
        self._log_thread.join(timeout=10)
        self.logs.flush()
        self.usage = self.handle.final_usage() or self.usage
        # The stats thread is not joined: a request that meets a stopping container
        # can block for most of a second only to learn that it stopped.
        self._stop_results()  # every result is stored before anyone is told it finished
        final_state = self.handle.final_state()
        fields = dict(final_state=final_state, runtime=_runtime_seconds(final_state))
        if self.usage is not None:
            fields.update(cpu=self.usage.cpu_ns, io=self.usage.io_bytes)
        if self._gpu_sampler is not None:
            fields["gpu_stats"] = self._gpu_sampler.stop()
        reason = ""
        if self.killed:
            final_state["ForceQuit"] = True
            how = getattr(self.handle, "killed_how", "the container was killed")
            reason = f"Force-quit on request; {how}."
        # Everything is read from it: it goes before the record says COMPLETE, so a client
        # that sees COMPLETE finds nothing of it left (a crash in the moment between is
        # recorded by reconcile.py as an end it could not record).
        self._remove_handle()
        self.finish(ExecutionStatus.COMPLETE, reason, exit_code, **fields)

    def _remove_handle(self) -> None:
        if self.handle is not None and not self._handle_removed:
            self.handle.remove()
            self._handle_removed = True

    def _cleanup(self) -> None:
        self._exited.set()
        self.logs.flush()  # what a log pump that outlived its join still added
        if self._gpu_sampler is not None:
            self._gpu_sampler.stop()
        self._stop_results()
        if self._pipe is not None:
            self._pipe.stop()
        self._remove_handle()
        self._remove_workdir()

    def _remove_workdir(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- results -----------------------------------------------------------
    def _store_result(self, result: bytes) -> None:
        self.store.executions.add_result(self.execution_id, result)

    def _reject_result(self, size: int) -> None:
        self.logs.add((
            f"[actors] a result of {size} bytes was rejected: results are limited to "
            f"{MAX_RESULT_BYTES} bytes each\n").encode())

    def _results_mounts(self) -> list:
        """The results socket, where the SDK sends results (warm.py's handler form carries
        them over its own channel instead)."""
        self._results = ResultsSocket(self._results_path(), self._store_result,
                                      self._reject_result).start()
        return [Mount(self._results.path, RESULTS_TARGET, read_only=False)]

    def _results_path(self) -> str:
        """The results socket's path: in the execution's folder, unless that path is longer
        than a Unix socket address may be (a deep data folder); then a short one of its own
        (the container only ever sees the mount target)."""
        path = str(self.workdir / "results.sock")
        if len(os.fsencode(path)) <= UNIX_PATH_MAX:
            return path
        short = Path(tempfile.gettempdir()) / "actors-results"
        short.mkdir(mode=0o711, exist_ok=True)
        return str(short / f"{self.execution_id}.sock")

    def _stop_results(self) -> None:
        results, self._results = self._results, None
        if results is not None:
            results.stop()
            if not results.path.startswith(str(self.workdir)):
                with contextlib.suppress(OSError):
                    os.unlink(results.path)

    # -- watchers ----------------------------------------------------------
    def _pump_logs(self) -> None:
        """Logs go to the store as they are written, in batches (:class:`LogBuffer`), so
        they can be read while RUNNING, within a second of being written."""
        try:
            for chunk in self.handle.stream_logs():
                self.logs.add(chunk)
        except Exception:
            log.exception("log stream of %s broke off", self.execution_id)

    def _sample_usage(self) -> None:
        """Cumulative counters: the latest sample is the total so far, never a sum. Started
        only for an execution still running after a WAIT_STEP; a shorter one's final
        record has its totals anyway."""
        while True:
            sample = self.handle.usage()
            if self._exited.is_set():
                return  # the final record is being written from the samples taken while it ran
            if sample is not None:
                self.usage = sample
                self.store.executions.update(self.execution_id, cpu=sample.cpu_ns,
                                             io=sample.io_bytes)
            if self._exited.wait(STATS_INTERVAL):
                return

    # -- helpers -----------------------------------------------------------
    def _record(self) -> Optional[dict]:
        return self.store.executions.get_internal(self.execution_id)

    def _log_ex(self) -> int:
        return int(self.actor.get("log_ex") or self.config.log_ex)

    def _actor_record(self) -> Optional[dict]:
        """The actor as admission read it (with its tenant), for the events; None when this
        run was not admitted here (the events then read it)."""
        return self._admitted.actor if self._admitted is not None else None



def run_class(actor: dict) -> type:
    """A warm actor's executions use kept containers (warm.py); the rest, new ones."""
    if actor.get("warm"):
        from .warm import WarmRun  # it builds on this module

        if WarmRun.serves(actor):
            return WarmRun
    return ExecutionRun


def _runtime_seconds(state: dict) -> float:
    """Wall-clock seconds between the runtime's own start and finish stamps."""
    try:
        started, finished = parse_state_time(state["StartedAt"]), parse_state_time(state["FinishedAt"])
    except (KeyError, TypeError, ValueError):
        return 0.0
    return round(max((finished - started).total_seconds(), 0.0), 3)
