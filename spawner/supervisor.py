"""``actors spawner``: a supervisor with a fixed number of slot processes.

Each slot process blocks on its queues' wake-up and task lists
(actors_core/store/work.py) and runs what it pops with the functions in
jobs.py, one at a time, in the same process (no fork per execution, so the
Docker and Redis connections stay warm). (An actor's *workers* are records,
see actors_core/scheduling.py.) The supervisor reconciles leftovers before
any slot starts, wakes slots for work that could be stranded (e.g. behind a
worker lease that expired with a dead spawner, or a wake-up lost with a slot
process that died), and restarts a slot process that dies.

Faults (docs/architecture.md): slots die with the supervisor whatever kills it
(lifeline.py); a spawner refuses to start while a live one holds its name
(identity.py); it settles the executions of spawners whose heartbeat expired
(takeover.py); and every Redis call waits out an outage (store/connection.py),
so no component exits because Redis went away.

With a batch runtime (Slurm, batch.py) the slot processes only submit jobs (two
of them, whatever ``--slots`` says: ``--slots`` then bounds the jobs held in the
cluster), reconcile is not used, and one follower thread in the supervisor
follows every job.

Stopping: the first SIGINT/SIGTERM lets running executions finish (each slot
stops taking work and ends after its current one), or with
``stop_mode="kill"`` force-quits them first so nothing is left running; a
second signal stops at once, leaving containers that the next start
reconciles.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from typing import Optional, Sequence

from actors_core.config import Config
from actors_core.store import Store
from actors_core.times import now_iso

from . import identity, takeover
from .runtimes import BATCH_RUNTIMES, detached

log = logging.getLogger("actors.spawner")

TICK_INTERVAL = 2.0  # seconds between cron ticks, webhook and execution retry sweeps
ERROR_PAUSE = 1.0  # seconds the supervisor waits after its loop met an unexpected error


def _slot_process_main(config: Config, queues: Sequence[str], spawner_name: str,
                       runtime_name: str, slot: int, gpus: Sequence = (),
                       parent_pid: Optional[int] = None, slots_lock: Optional[str] = None,
                       slots: int = 0) -> None:
    """A slot process: jobs.serve over the queues' lists, one execution or task at a time;
    it dies with its supervisor (lifeline.py) and holds the name's slots lock meanwhile.

    The first SIGTERM (from the supervisor) lets the current one finish and then
    stops; the supervisor's second is a SIGKILL."""
    from . import jobs, lifeline
    from .identity import hold_as_slot
    from .runner import SpawnerContext
    from .runtimes import make_runtime

    # issue 12: die with the supervisor, and say "a slot of this name lives" meanwhile.
    lifeline.bind_to_parent(parent_pid or os.getppid())
    held = hold_as_slot(slots_lock) if slots_lock else None  # noqa: F841 (held for life)
    os.setpgrp()  # a terminal's Ctrl-C reaches the supervisor only, which decides what stops
    logging.basicConfig(level=logging.INFO, format=f"spawner[{slot}] %(levelname)s %(message)s")
    store = Store.from_config(config, patient=True)  # waits out Redis outages
    jobs.configure(SpawnerContext(config, store, make_runtime(runtime_name, config=config),
                                  spawner_name, gpus=gpus, queues=queues, slots=slots))
    stop = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # never start work for a supervisor that is gone
    jobs.serve(queues, stopping=lambda: bool(stop), before_each=lifeline.exit_if_orphaned)


class Supervisor:
    def __init__(self, config: Config, queues: Sequence[str], slots: int,
                 name: Optional[str] = None, runtime_name: Optional[str] = None,
                 stop_mode: str = "finish", gpus: Sequence = (),
                 metrics_port: Optional[int] = None):
        self.config = config
        self.gpus = list(gpus)
        self.runtime_name = runtime_name or config.runtime
        # Spawners with GPUs also serve each queue's GPU twin, where GPU actors wait; so does
        # a cluster spawner, whose scheduler hands out the GPUs.
        twins = bool(self.gpus) or self.runtime_name in BATCH_RUNTIMES
        self.queues = list(queues) + ([f"{q}.gpu" for q in queues] if twins else [])
        self.slots = slots
        self.name = name or config.spawner_name or identity.default_name(self.queues)
        self.stop_mode = stop_mode
        self.metrics_port = metrics_port
        self.store = Store.from_config(config, patient=True)  # waits out Redis outages
        self.claim = identity.NameClaim(self.name, config.spawner_workdir)
        self._context = multiprocessing.get_context("spawn")
        self._children = {}
        self._stopping = 0

    def run(self) -> None:
        from . import reconcile
        from .metrics import MetricsServer
        from .runner import SpawnerContext
        from .runtimes import make_runtime

        # First: the slots and re-attached runs count into this spawner's metrics directory.
        metrics = MetricsServer(self, self.metrics_port) if self.metrics_port is not None else None

        context = SpawnerContext(self.config, self.store,
                                 make_runtime(self.runtime_name, config=self.config), self.name,
                                 gpus=self.gpus, queues=self.queues, slots=self.slots)
        self._started = now_iso()
        # issue 12: hold the name before touching anything labelled with it (NameTaken if
        # a live spawner holds it; the CLI says why and exits 1).
        self.claim.acquire(self.store.hosts, self._record(), self.config.host_lost_seconds)
        processes, follower = self.slots, None
        if detached(context.runtime):  # a cluster runs them: see batch.py
            from .batch import SUBMITTERS, Follower

            followers, follower = [], Follower(context).start()
            processes = min(self.slots, SUBMITTERS)
        else:
            followers = reconcile.reconcile(context)
        if followers:
            log.info("re-attached to %d execution(s)", len(followers))
        following = set(self.store.executions.running_on(self.name))  # re-attached ones
        self.store.hosts.reset_gpus(self.name, [g.index for g in self.gpus], keep={
            index: execution for index, execution in self.store.hosts.held(self.name).items()
            if execution in following})
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        for slot in range(1, processes + 1):
            self._start_slot(slot)
        log.info("spawner %s serving queues %s with %d slots (%s runtime)", self.name,
                 ",".join(self.queues), self.slots, self.runtime_name)
        next_sweep = next_tick = 0.0
        while not self._stopping or any(p.is_alive() for p in self._children.values()):
            if not self._stopping:
                try:  # issue 12: nothing here may end the supervisor (Redis calls wait)
                    self._restart_dead_slots()
                    if time.monotonic() >= next_sweep:
                        self.heartbeat()
                        self.sweep()
                        takeover.settle_lost_hosts(context, self.config)
                        next_sweep = time.monotonic() + self.config.heartbeat_seconds
                    if time.monotonic() >= next_tick:
                        self.tick()
                        next_tick = time.monotonic() + TICK_INTERVAL
                except Exception:
                    log.exception("the supervisor's loop failed; going on in %g s", ERROR_PAUSE)
                    time.sleep(ERROR_PAUSE)
            time.sleep(0.2)
        for thread in followers:
            thread.join(timeout=1)
        if follower is not None:  # jobs stay in the cluster unless force-quit (kill mode)
            follower.stop(wait_for_jobs=self.stop_mode == "kill" and self._stopping == 1)
        if not self.store.executions.running_on(self.name):
            from .warm_pool import pool_of

            removed = pool_of(context).remove_all()  # no one else can use them
            if removed:
                log.info("removed %d kept warm container(s)", removed)
        # Leftovers (a second signal stopped it at once) keep it in the spawners registry,
        # so they are settled if it does not come back.
        self.store.hosts.deregister(self.name,
                                    forget=not self.store.executions.running_on(self.name))
        self.claim.release()
        if metrics is not None:
            metrics.close()

    def tick(self) -> None:
        """Fire due cron actors, re-queue due webhook retries and create due execution
        retries (each exactly once, however many spawners tick: see spawner/cron.py,
        spawner/events.py and spawner/retries.py)."""
        from . import cron, events, retries

        try:
            cron.tick(self.store)
            events.release_due(self.store)
        except Exception:
            log.exception("the cron and webhook tick failed; trying again at the next one")
        try:  # issue 12: create the execution retries whose backoff has passed
            retries.release_due(self.store)
        except Exception:
            log.exception("the retry tick failed; trying again at the next one")

    def _record(self) -> dict:
        return {
            "name": self.name, "hostname": socket.gethostname(), "queues": self.queues,
            "slots": self.slots, "runtime": self.runtime_name, "started": self._started,
            "last_heartbeat": now_iso(), "gpus": [g.as_dict() for g in self.gpus],
            **self.claim.fields(),
        }

    def heartbeat(self) -> None:
        """Say who we are and what we have; the record expires if we stop saying it
        (``ACTORS_HOST_LOST_SECONDS``), and then other spawners settle our executions."""
        holder = self.store.hosts.heartbeat(self.name, self._record(),
                                            ttl=self.config.host_lost_seconds)
        if holder is not None:
            log.error("spawner %r was taken by another instance (host %s, pid %s) while this "
                      "one did not answer; this one no longer registers", self.name,
                      holder.get("hostname"), holder.get("pid"))

    def sweep(self) -> None:
        """Drains for waiting mail, worker health checks and retirements (sweep.py)."""
        from . import sweep

        sweep.sweep(self.store, self.config, self.name, self.queues)
        from . import outputs  # (imported here, like the runtimes: the supervisor starts light)

        outputs.sweep_expired(self.store, self.config)  # kept outputs past their log_ex

    def _start_slot(self, slot: int) -> None:
        process = self._context.Process(
            target=_slot_process_main, name=f"slot-{slot}", daemon=False,
            args=(self.config, self.queues, self.name, self.runtime_name, slot, self.gpus,
                  os.getpid(), str(self.claim.slots_lock_path), self.slots))
        process.start()
        self._children[slot] = process

    def _restart_dead_slots(self) -> None:
        for slot, process in list(self._children.items()):
            if not process.is_alive():
                log.warning("slot %d exited with %s; restarting it", slot, process.exitcode)
                self._start_slot(slot)

    def _on_signal(self, signum, frame) -> None:
        self._stopping += 1
        if self._stopping == 1:
            if self.stop_mode == "kill":
                running = self.store.executions.running_on(self.name)
                log.info("stopping: force-quitting %d running execution(s)", len(running))
                for execution_id in running:
                    self.store.executions.request_kill(execution_id)
            else:
                log.info("stopping: running executions finish first (signal again to stop now)")
            for process in self._children.values():
                if process.is_alive():
                    os.kill(process.pid, signal.SIGTERM)
        else:
            log.info("stopping now")
            for process in self._children.values():
                if process.is_alive():
                    process.kill()
