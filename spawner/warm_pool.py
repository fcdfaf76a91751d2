"""The kept containers of one spawner process: started, checked, used, replaced and, once
idle for their actor's ``warm_idle_seconds``, removed by a reaper thread (scale to zero).

Every slot process of a spawner has a pool; they share the containers through their places
(warm_place.py): the locks there, not this process's memory, say who uses what.
"""
from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
import weakref
from pathlib import Path
from typing import Optional

from actors_core import scheduling

from .runtimes import LABEL_ACTOR, LABEL_SPAWNER, Handle, Mount, RunSpec, StartFailed
from .runtimes.process import MOUNT_VARIABLES
from .warm_channel import HandlerCall, connect
from .warm_place import MOUNT_POINT, Place, fingerprint, warm_root

log = logging.getLogger(__name__)

LABEL_WARM = "actors.warm"  # "<actor id>.<container number>" on a kept container
SOCKET_VARIABLE = "_abaco_warm_socket"  # runtime_sdk/serve.py's copy: SOCKET_VARIABLE
SOCKET = "handler.sock"
KEEP_ALIVE = (["sleep"], ["infinity"])  # what keeps an exec-form container running
HANDLER_START_SECONDS = 60.0  # a handler that is not serving by then is a failed start
REAP_STEP = 1.0  # seconds between the idle reaper's looks


class KeptGone(Exception):
    """The kept container (or handler process) is not there any more."""


class WarmPool:
    """The places of one spawner process's warm containers, and their idle reaper."""

    def __init__(self, spawner):
        self.spawner = spawner
        self.runtime = spawner.runtime
        self.root = warm_root(spawner.config, spawner.name)
        self._reaper: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._containers: dict = {}  # kept container id -> (Container, argv, working folder)
        self._identities: dict = {}  # kept container id -> its image's identity (provenance)

    def place(self, actor: dict, worker_number: int) -> Place:
        return Place(self.root, actor["id"], scheduling.warm_container_of(actor, worker_number))

    # -- an execution's call ----------------------------------------------------
    def launch(self, run: "WarmRun", spec: RunSpec) -> Handle:
        """The execution started in its place's kept container: started first if there is
        none, replaced if it died (or serves an older version of the actor)."""
        self._start_reaper()
        place, form = run.place, run.actor.get("warm_form") or "exec"
        if self.runtime.name == "process" and form == "exec":
            return self._process_exec(place, spec)
        record = self._kept(run, spec, replace_id=None)
        try:
            return self._call(run, record, spec)
        except KeptGone:
            record = self._kept(run, spec, replace_id=record["id"])
            return self._call(run, record, spec)

    def _kept(self, run: "WarmRun", spec: RunSpec, replace_id: Optional[str]) -> dict:
        place = run.place
        with place.starting():
            record = place.record()
            wanted = fingerprint(run.actor)
            if record is not None and (record["fingerprint"] != wanted or
                                       record["id"] == replace_id):
                self._remove(record)
                place.forget()
                record = None
            if record is None:
                record = self._start(run, spec, wanted)
                place.keep(record)
            return record

    def _start(self, run: "WarmRun", spec: RunSpec, wanted: str) -> dict:
        place, form = run.place, run.actor.get("warm_form") or "exec"
        environment = {k: v for k, v in spec.environment.items()
                       if k in ("_abaco_actor_id", "_abaco_actor_dbid", "_abaco_actor_name",
                                "_abaco_container_repo", "_abaco_api_server")}
        environment["_abaco_warm"] = "1"
        docker = self.runtime.name == "docker"
        socket_path = str(place.dir / SOCKET)
        if form == "handler":
            environment[SOCKET_VARIABLE] = f"{MOUNT_POINT}/{SOCKET}" if docker else socket_path
            Path(socket_path).unlink(missing_ok=True)
        kept = RunSpec(
            image=spec.image, environment=environment,
            labels={LABEL_SPAWNER: self.spawner.name, LABEL_ACTOR: run.actor["id"],
                    LABEL_WARM: place.key},
            mounts=[Mount(str(place.dir), MOUNT_POINT, read_only=False)] if docker else [],
            mem_limit=spec.mem_limit, max_cpus=spec.max_cpus, pids_limit=spec.pids_limit,
            privileged=spec.privileged, user=spec.user, run_as_image_user=spec.run_as_image_user,
            workdir=None if docker else str(place.dir))
        if docker and form == "exec":
            kept.entrypoint, kept.command = KEEP_ALIVE
        handle = self.runtime.start(kept)
        record = {"id": handle.id, "fingerprint": wanted, "form": form,
                  "idle_seconds": run.idle_seconds(), "started": time.time()}
        if not docker:
            record["descriptor"] = str(handle.descriptor)
        if form == "handler":
            self._await_handler(handle, socket_path)
        elif not handle.is_running():
            logs = _tail(handle)
            handle.remove()
            raise StartFailed(f"The warm container of image {spec.image!r} stopped at once: the "
                              f"exec form keeps it running with `sleep infinity`, which the "
                              f"image must have (or use warm_form 'handler'). {logs}")
        return record

    def _await_handler(self, handle: Handle, socket_path: str) -> None:
        deadline = time.monotonic() + HANDLER_START_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                connect(socket_path).close()
                return
            if handle.wait(0.02) is not None:
                break
        logs = _tail(handle)
        handle.remove()
        raise StartFailed("The warm container's handler did not start serving (its code must "
                          f"call runtime_sdk.serve(handler)). {logs}")

    def _call(self, run: "WarmRun", record: dict, spec: RunSpec) -> Handle:
        place, docker = run.place, self.runtime.name == "docker"
        environment = message_environment(spec, place, inside=docker)
        labels = dict(spec.labels)
        if record["form"] == "handler":
            try:
                connection = connect(str(place.dir / SOCKET))
            except OSError as error:
                raise KeptGone(str(error))
            call = HandlerCall(connection, environment, labels,
                               server_gone=lambda: self._gone(record),
                               kill_server=lambda: self._kill_for(run, record),
                               on_result=run._store_result, on_rejected=run._reject_result)
            call.identity = self._identity(record, spec.image)
            return call.begin()
        from docker.errors import APIError, NotFound

        from .runtimes.docker_exec import DockerExec, create_exec

        client = self.runtime.client
        try:
            container, argv, workdir = self._container(record["id"], spec.image)
            exec_id = create_exec(client, record["id"], argv, environment, workdir)
        except (NotFound, APIError) as error:
            self._containers.pop(record["id"], None)
            raise KeptGone(str(error))
        alone = scheduling.warm_concurrency(run.actor) == 1
        usage = self._container_usage(container) if alone else None
        call = DockerExec(client, container, exec_id, labels,
                          kill_container=lambda: self._kill_for(run, record),
                          container_usage=usage, alone=alone)
        call.identity = self._identity(record, spec.image)
        return call.begin()

    def _identity(self, record: dict, image: str) -> dict:
        """What the kept container runs (provenance), asked once per container."""
        identity = self._identities.get(record["id"])
        if identity is None:
            handle = self._handle(record)
            identity = self.runtime.image_identity(image, handle) if handle else {}
            with self._lock:
                if len(self._identities) > 256:
                    self._identities.clear()
                self._identities[record["id"]] = identity
        return identity

    def _container(self, container_id: str, image: str) -> tuple:
        """The kept container and the command it runs per message, looked up once."""
        known = self._containers.get(container_id)
        if known is None:
            container = self.runtime.client.containers.get(container_id)
            known = (container, *self.runtime.image_command(image))
            with self._lock:
                if len(self._containers) > 256:
                    self._containers.clear()
                self._containers[container_id] = known
        return known

    def _process_exec(self, place: Place, spec: RunSpec) -> Handle:
        """The process runtime's exec form: a process per message, as a cold one, but with
        the place's home folder kept between messages."""
        place.make()
        home = place.dir / "home"
        home.mkdir(exist_ok=True)
        spec.environment = dict(spec.environment, HOME=str(home))
        handle = self.runtime.start(spec)
        state = handle.final_state
        handle.final_state = lambda: dict(state(), Warm=True)  # as the other forms say
        handle.killed_how = "the execution's processes were killed; its warm place goes on"
        return handle

    # -- the kept things --------------------------------------------------------
    def _handle(self, record: dict) -> Optional[Handle]:
        if self.runtime.name == "docker":
            from docker.errors import NotFound

            from .runtimes.docker import DockerHandle

            try:
                container = self.runtime.client.containers.get(record["id"])
            except NotFound:
                return None
            return DockerHandle(self.runtime.client, container, self.runtime.accounting)
        from .runtimes.process import ProcessHandle, _read

        descriptor = record.get("descriptor", "")
        live = self.runtime._started.get(descriptor)
        if live is not None:
            return live
        found = _read(Path(descriptor))
        return ProcessHandle(Path(descriptor), found) if found else None

    def _gone(self, record: dict) -> Optional[str]:
        if self.runtime.name == "process":
            return _process_gone(record)
        handle = self._handle(record)
        for look in range(100):  # Docker may show a dying container running for a moment
            if handle is None:
                return "the warm container was removed"
            if not handle.is_running():
                break
            time.sleep(0.05)
        else:
            return None
        state = handle.final_state()
        oom = " (out of memory)" if state.get("OOMKilled") else ""
        return f"the warm container exited with code {state.get('ExitCode')}{oom}"

    def _kill_for(self, run: "WarmRun", record: dict) -> None:
        """Kill the whole container to force-quit one execution: noted first, so every
        other execution in it says why it ended."""
        run.place.note_kill(run.execution_id)
        handle = self._handle(record)
        if handle is not None:
            handle.kill()

    def _container_usage(self, container):
        accounting = self.runtime.accounting
        parent = (container.attrs.get("HostConfig") or {}).get("CgroupParent")
        if accounting is None or not accounting.is_ours(parent):
            return None

        def usage():
            from .runtimes.base import Usage

            cpu = accounting.cpu_ns(parent)
            if cpu is None:
                return None
            return Usage(cpu_ns=cpu, io_bytes=accounting.block_io_bytes(parent) or 0)
        return usage

    def _remove(self, record: dict) -> None:
        handle = self._handle(record)
        if handle is not None:
            handle.remove()

    # -- scale to zero -----------------------------------------------------------
    def _start_reaper(self) -> None:
        with self._lock:
            if self._reaper is None or not self._reaper.is_alive():
                self._reaper = threading.Thread(target=self._reap_forever, daemon=True,
                                                name="warm-reaper")
                self._reaper.start()

    def _reap_forever(self) -> None:
        while True:
            time.sleep(REAP_STEP)
            try:
                self.reap()
            except Exception:  # noqa: BLE001 - the next look tries again
                log.exception("warm reaper")

    def remove_all(self) -> int:
        """Remove every kept container of this spawner, and their places (it is stopping,
        nothing runs); the number of containers removed."""
        removed = 0
        for folder in sorted(self.root.glob("*.*")):
            actor_id, _, number = folder.name.rpartition(".")
            place = Place(self.root, actor_id, int(number) if number.isdigit() else 0)
            record = place.record()
            if record is not None:
                with contextlib.suppress(Exception):
                    self._remove(record)
                removed += 1
            shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.root.rmdir()
        return removed

    def reap(self) -> list:
        """Remove each kept container idle for its actor's ``warm_idle_seconds`` (the keys
        of those removed) and the folders of ended executions."""
        removed = []
        for done in self.root.glob("*/.done-*"):
            shutil.rmtree(done, ignore_errors=True)
        for folder in sorted(self.root.glob("*.*")):
            actor_id, _, number = folder.name.rpartition(".")
            place = Place(self.root, actor_id, int(number) if number.isdigit() else 0)
            record = place.record()
            if record is None or place.idle_for() < float(record.get("idle_seconds") or 0):
                continue
            with place.idle() as idle:
                if not idle:
                    continue
                with place.starting():
                    record = place.record()
                    if record is None or place.idle_for() < float(record.get("idle_seconds") or 0):
                        continue
                    self._remove(record)
                    place.forget()
                    removed.append(place.key)
                    log.info("warm container %s removed after %.0f s idle", place.key,
                             place.idle_for())
        return removed


_POOLS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_POOLS_LOCK = threading.Lock()


def pool_of(spawner) -> WarmPool:
    """The one pool of a SpawnerContext."""
    with _POOLS_LOCK:
        pool = _POOLS.get(spawner)
        if pool is None:
            pool = _POOLS[spawner] = WarmPool(spawner)
        return pool


def message_environment(spec: RunSpec, place: Place, inside: bool) -> dict:
    """The execution's variables, with its own folders given by path: inside the container
    (under /_abaco_warm) or on the host (the process runtime)."""
    environment = dict(spec.environment)
    for mount in spec.mounts:
        variable = MOUNT_VARIABLES.get(mount.target)
        try:
            path = place.path_inside(mount.source) if inside else mount.source
        except ValueError:
            path = None
        if variable is None or path is None:
            raise StartFailed(f"A warm container cannot be given {mount.target} "
                              f"({mount.source}); run this actor cold (warm: false).")
        environment[variable] = path
    return environment


def _process_gone(record: dict) -> Optional[str]:
    """Why a handler process is gone (its exit code, once its parent recorded it), or None
    while it runs. Read from /proc, not from a handle: another slot process may be its
    parent, and a zombie has ended."""
    from .runtimes import procfs
    from .runtimes.process import _read

    for _ in range(100):  # only ever asked after a call ended abnormally: wait up to 5 s
        found = _read(Path(record.get("descriptor", ""))) or {}
        if found.get("exit_code") is not None:
            return f"the warm container exited with code {found['exit_code']}"
        stat = procfs.read_stat(found.get("pid", 0)) if found else None
        if stat is not None and stat.start == found.get("start_ticks") and stat.state not in "ZX":
            return None
        time.sleep(0.05)  # its parent is about to record the exit code
    return "the warm container's process is gone"


def _tail(handle: Handle, size: int = 2000) -> str:
    chunks = []
    with contextlib.suppress(Exception):
        if handle.wait(0.5) is not None:
            for chunk in handle.stream_logs():
                chunks.append(chunk)
    text = b"".join(chunks)[-size:].decode("utf-8", "replace").strip()
    return f"Its output: {text}" if text else ""
