"""Executions as plain child processes, for Linux hosts without Docker.

``ACTORS_RUNTIME=process``. An actor's image names a folder with a Dockerfile
(see images.py); its CMD runs as a child of the spawner with the image's ENV,
the execution's environment and a few rlimits, in a session of its own.

What this does NOT give, compared with a container:

- no filesystem isolation: the actor sees the host's files and can read and
  write whatever the user it runs as can (by default the spawner's own user;
  as root, ``ACTORS_CONTAINER_USER`` switches to another one, and without it
  the actor runs as root on the host). ``privileged`` means nothing here.
- no network, PID, user or IPC namespaces: it shares the host's network and
  sees every process on the host.
- limits are rlimits, which apply per process, not per execution:
  ``mem_limit`` caps each process's *address space* (RLIMIT_AS), which is more
  than its resident memory, so programs that reserve much address space (JVMs,
  Go, many threads) need a larger limit than under Docker; ``pids_limit`` is
  RLIMIT_NPROC, which counts every process and thread of the *user* (the actor
  may start ``pids_limit`` more than its user ran when it started) and is not
  enforced at all for root; ``max_cpus`` is not enforced (a fraction of CPUs
  cannot be expressed as an rlimit), and no CPU-time limit applies unless the
  runtime is built with ``cpu_seconds``.
- a process that leaves its session (``setsid``, daemonising) escapes both
  kill() and the clean-up below, and its CPU time is not counted.

What it does give: the actor's environment holds only PATH, HOME, LANG, the
image's ENV and the execution's variables (none of the spawner's settings or
secrets); stdout and stderr go to ``process.log`` in the execution's folder;
when the main process exits, or on kill(), whatever it left running in its
session is killed, as when a container's init exits. Mounts cannot be made:
the binary message FIFO and the results socket are passed by path instead
(``_abaco_binary_path``, ``_abaco_results_path``, read by runtime_sdk).

What survives a spawner restart: ``process.json`` in the execution's folder
(pid, the process's start time in clock ticks to tell a reused pid apart,
labels, log path, and the exit code once known). :meth:`ProcessRuntime.labelled`
reads those back; a process that is no longer our child can be followed and
killed, but its exit code is lost unless it was recorded before the restart.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
import weakref
from dataclasses import asdict
from pathlib import Path
from typing import Iterator, Optional, Sequence

from ..environment import BINARY_TARGET, INPUTS_TARGET, OUTPUTS_TARGET, RESULTS_TARGET
from . import procfs
from .base import LABEL_SPAWNER, Handle, ImageUnavailable, RunSpec, Runtime, StartFailed, Usage
from .images import BASE_PATH, StagedImage, find_image, read_dockerfile, stage

log = logging.getLogger(__name__)

DESCRIPTOR = "process.json"
LOG = "process.log"
HOME = "home"
IMAGE_CACHE = ".process-images"
NEVER = "0001-01-01T00:00:00Z"  # Docker's FinishedAt while a container runs
LOST = "exit code lost while the spawner was down"
POLL = 0.1  # seconds between looks at a log file or a process that is not our child
STAGE_SECONDS = 2.0  # an image's files are looked at again (and restaged if changed) after this
CHUNK = 64 * 1024
MOUNT_VARIABLES = {BINARY_TARGET: "_abaco_binary_path", RESULTS_TARGET: "_abaco_results_path",
                   OUTPUTS_TARGET: "_abaco_outputs_path", INPUTS_TARGET: "_abaco_inputs_path"}
SIZE = re.compile(r"(\d+(?:\.\d+)?)([bkmgt]?)b?")
UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class ProcessRuntime(Runtime):
    name = "process"

    def __init__(self, workdir: str, image_path: Sequence[str] = (),
                 cpu_seconds: Optional[int] = None):
        """``workdir`` is the spawner's (executions' folders are its children)."""
        if not os.path.exists("/proc/self/stat"):
            raise RuntimeError("the process runtime needs Linux's /proc")
        self.workdir = Path(workdir)
        self.image_path = tuple(image_path)
        self.cpu_seconds = cpu_seconds
        self._started = weakref.WeakValueDictionary()  # descriptor path -> our live handle
        self._staged: dict = {}  # image -> (when it was looked at, StagedImage)
        # No core dumps, for every execution: set once here and inherited, so a start with
        # no other limit needs no hook between fork and exec (and can use vfork).
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))

    def ensure_image(self, image: str) -> bool:
        self._stage(image)
        return False  # nothing is ever pulled

    def image_identity(self, image: str, handle: "ProcessHandle") -> dict:
        """A hash of the staged image folder: the files the process actually ran from."""
        try:
            root = self._stage(image).root
        except ImageUnavailable:
            return {}
        digest = "sha256:" + folder_digest(root)
        return {"image_id": digest, "image_digest": digest}

    def start(self, spec: RunSpec) -> "ProcessHandle":
        image = self._stage(spec.image)
        if spec.max_cpus:
            log.warning("max_cpus=%s is not enforced by the process runtime", spec.max_cpus)
        user = _user(spec.user)
        limits = _limits(spec, user, self.cpu_seconds)
        owned = spec.workdir is None  # then a folder of our own, removed with the execution
        self.workdir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(dir=self.workdir) if owned else spec.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        home = workdir / HOME
        try:
            environment = _environment(image, spec, str(home))
        except StartFailed:
            _remove_files(workdir, owned)
            raise
        home.mkdir(exist_ok=True)
        if user:
            os.chown(home, *user)
        log_path = workdir / LOG
        output = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        started_at = time.time_ns()
        try:
            child = subprocess.Popen(
                image.argv, cwd=image.cwd or str(home), env=environment,
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_limiter(limits) if limits else None,
                **({"user": user[0], "group": user[1], "extra_groups": []} if user else {}))
        except (OSError, subprocess.SubprocessError) as error:
            _remove_files(workdir, owned)
            raise StartFailed(f"The process runtime could not start {image.argv[0]!r} for image "
                              f"{spec.image!r}: {error}")
        finally:
            os.close(output)
        stat = procfs.read_stat(child.pid)
        record = dict(id=uuid.uuid4().hex, pid=child.pid, start_ticks=stat.start if stat else None,
                      labels=dict(spec.labels), image=spec.image, log=str(log_path),
                      workdir=str(workdir), owned_workdir=owned, started_at=started_at,
                      finished_at=None, exit_code=None, error="", usage=None)
        descriptor = workdir / DESCRIPTOR
        try:
            _write(descriptor, record)
        except OSError as error:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            _remove_files(workdir, owned)
            raise StartFailed(f"The process runtime could not record the execution: {error}")
        handle = ProcessHandle(descriptor, record, child)
        self._started[str(descriptor)] = handle
        return handle

    def labelled(self, spawner: str) -> list:
        """Executions whose ``process.json`` names this spawner, running or not yet removed."""
        handles = []
        for descriptor in sorted(self.workdir.glob(f"*/{DESCRIPTOR}")):
            record = _read(descriptor)
            if not record or record.get("labels", {}).get(LABEL_SPAWNER) != spawner:
                continue
            handle = self._started.get(str(descriptor))
            handles.append(handle or ProcessHandle(descriptor, record))
        return handles

    def _stage(self, image: str) -> StagedImage:
        """The image staged (images.py), looked at again at most every STAGE_SECONDS: the
        check, start and provenance of one execution, and executions close together, share
        one look at its files instead of walking them each time."""
        now = time.monotonic()
        cached = self._staged.get(image)
        if cached is not None and now - cached[0] < STAGE_SECONDS:
            return cached[1]
        folder = find_image(image, self.image_path)
        try:
            staged = stage(read_dockerfile(folder), self.workdir / IMAGE_CACHE, image)
        except (OSError, ValueError) as error:  # unreadable files, bad JSON or quoting
            raise ImageUnavailable(f"Image {image!r} ({folder}) could not be prepared: {error}")
        self._staged[image] = (now, staged)
        return staged


class ProcessHandle(Handle):
    """One execution's process: our child, or (after a restart) one found on disk.

    A thread per handle notices the exit: for our child it blocks in waitid()
    and records the exit code in ``process.json`` *before* reaping, so the pid
    cannot be reused while its session is cleaned up and anyone reading the
    descriptor after the process is gone finds the code; for a process that
    is not our child it polls /proc.
    """

    def __init__(self, descriptor: Path, record: dict, child: Optional[subprocess.Popen] = None):
        self.descriptor = descriptor
        self.record = record
        self.id = record["id"]
        self.labels = record["labels"]
        self.pid = record["pid"]
        self._child = child
        self._lock = threading.Lock()
        self._exited = threading.Event()
        self._removed = False
        self._usage = Usage(**record["usage"]) if record.get("usage") else None
        if record.get("exit_code") is not None:
            self._exited.set()
            return
        threading.Thread(target=self._watch, name=f"process:{self.pid}", daemon=True).start()

    # -- the Handle interface ----------------------------------------------
    def wait(self, timeout: float) -> Optional[int]:
        if self._exited.wait(timeout):
            return self.record["exit_code"]
        return None

    def is_running(self) -> bool:
        return not self._exited.is_set()

    def stream_logs(self) -> Iterator[bytes]:
        """The log file from its start, following it until the process has exited."""
        try:
            stream = open(self.record["log"], "rb", buffering=0)
        except FileNotFoundError:
            self._exited.wait()
            return
        with stream:
            while True:
                ended = self._exited.is_set()  # looked at before reading: no write can follow
                chunk = stream.read(CHUNK)
                if chunk:
                    yield chunk
                elif ended:
                    return
                else:
                    self._exited.wait(POLL)

    def usage(self) -> Optional[Usage]:
        """CPU and block I/O of the whole session, cumulative; after exit, the final total."""
        if self._exited.is_set():
            return self._usage
        return self._sample()

    def final_usage(self) -> Optional[Usage]:
        """After exit, the total including the reaped tree's rusage (None while running).

        Not part of Handle yet: a runner that asks for it after wait() records
        the last second's CPU too, which the once-a-second samples miss.
        """
        return self._usage if self._exited.is_set() else None

    def kill(self) -> None:
        if self._exited.is_set() or not self._ours():
            return
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        procfs.end_session(self.pid, self.record["start_ticks"])

    def final_state(self) -> dict:
        running = not self._exited.is_set()
        record = self.record
        return {
            "Status": "running" if running else "exited", "Running": running, "Paused": False,
            "Restarting": False, "OOMKilled": False, "Dead": False,
            "Pid": self.pid if running else 0,
            "ExitCode": 0 if running else record["exit_code"], "Error": record.get("error") or "",
            "StartedAt": _docker_time(record["started_at"]),
            "FinishedAt": NEVER if running else _docker_time(record["finished_at"]),
        }

    def remove(self) -> None:
        """Kill if still running, then delete process.json, the log and the home folder."""
        if not self._exited.is_set():
            self.kill()
            self._exited.wait(procfs.SETTLE + 1)
        with self._lock:
            if self._removed:
                return
            self._removed = True
        self.descriptor.unlink(missing_ok=True)  # first: once gone, labelled() forgets us
        _remove_files(Path(self.record["workdir"]), self.record.get("owned_workdir", False))

    # -- noticing the exit --------------------------------------------------
    def _watch(self) -> None:
        """Whatever happens here, wait() returns in the end: nothing may hang the runner."""
        try:
            self._reap() if self._child is not None else self._poll()
        except Exception:
            log.exception("lost track of process %d", self.pid)
            if self.record.get("exit_code") is None:
                self.record.update(exit_code=-1, finished_at=time.time_ns(),
                                   error="the process runtime lost track of the process")
        finally:
            self._exited.set()

    def _reap(self) -> None:
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:  # someone else reaped it (SIGCHLD ignored?)
            self._poll()
            return
        code = info.si_status if info.si_code == os.CLD_EXITED else 128 + info.si_status
        members = procfs.session_members(self.pid)  # one look at /proc serves both below
        self._sample(members)  # the last look at the living tree, before it is killed
        # Recorded before reaping (the pid cannot be reused until then), with the usage
        # so far; the reaped tree's own totals below are only kept in memory: a restart
        # in the moment between loses just those.
        self._save(exit_code=code, finished_at=time.time_ns(),
                   usage=asdict(self._usage) if self._usage else None)
        procfs.end_session(self.pid, self.record["start_ticks"], members)
        try:
            _, _, rusage = os.wait4(self.pid, 0)
        except ChildProcessError:
            rusage = None
        self._child.returncode = code  # reaped here: subprocess must never wait for it
        if rusage is not None:  # the leader and every descendant it reaped
            self._merge(Usage(cpu_ns=int((rusage.ru_utime + rusage.ru_stime) * 1e9),
                              io_bytes=(rusage.ru_inblock + rusage.ru_oublock) * 512))
            self.record["usage"] = asdict(self._usage)

    def _poll(self) -> None:
        zombie_since = None
        while True:
            stat = procfs.read_stat(self.pid)  # before the descriptor: see _reap's order
            recorded = _read(self.descriptor) or {}
            if recorded.get("exit_code") is not None:
                self._save(**{k: recorded[k] for k in ("exit_code", "error", "finished_at")})
                if recorded.get("usage"):
                    self._merge(Usage(**recorded["usage"]))
                break
            if stat is None or stat.start != self.record["start_ticks"]:
                self._save(exit_code=-1, error=LOST, finished_at=time.time_ns())
                break
            if stat.state in "ZX":  # its parent is gone and nobody reaps it; give a live one time
                zombie_since = zombie_since or time.monotonic()
                if time.monotonic() - zombie_since > 1.0:
                    self._save(exit_code=-1, error=LOST, finished_at=time.time_ns())
                    break
            time.sleep(POLL)
        procfs.end_session(self.pid, self.record["start_ticks"])

    # -- helpers --------------------------------------------------------------
    def _ours(self) -> bool:
        """Alive and still the process we started, not another one given the same pid."""
        stat = procfs.read_stat(self.pid)
        return (stat is not None and stat.start == self.record["start_ticks"]
                and stat.state not in "ZX")

    def _sample(self, others: Optional[list] = None) -> Optional[Usage]:
        stat = procfs.read_stat(self.pid)
        if stat is None or stat.start != self.record["start_ticks"]:
            return self._usage
        members = [self.pid] + (procfs.session_members(self.pid) if others is None else others)
        stats = [s for s in map(procfs.read_stat, members) if s is not None]
        cpu_ns = sum(s.cpu_ticks for s in stats) * 1_000_000_000 // procfs.CLOCK_TICKS
        return self._merge(Usage(cpu_ns=cpu_ns, io_bytes=sum(map(procfs.io_bytes, members))))

    def _merge(self, sample: Usage) -> Usage:
        """Counters only grow: a process reaped by init takes its time with it."""
        with self._lock:
            if self._usage is not None:
                sample = Usage(cpu_ns=max(sample.cpu_ns, self._usage.cpu_ns),
                               io_bytes=max(sample.io_bytes, self._usage.io_bytes))
            self._usage = sample
            return sample

    def _save(self, **changes) -> None:
        with self._lock:
            self.record.update(changes)
            if self._removed:
                return
            try:
                _write(self.descriptor, self.record)
            except OSError as error:  # the runner may already have removed the folder
                log.debug("could not update %s: %s", self.descriptor, error)


# -- starting --------------------------------------------------------------------
def _environment(image: StagedImage, spec: RunSpec, home: str) -> dict:
    environment = {"PATH": BASE_PATH, "HOME": home, "LANG": "C.UTF-8"}
    environment.update(image.env)
    environment.update(spec.environment)
    for mount in spec.mounts:
        variable = MOUNT_VARIABLES.get(mount.target)
        if variable is None:
            raise StartFailed(f"The process runtime cannot mount {mount.source} at {mount.target}.")
        environment[variable] = mount.source
    if spec.gpus:  # the assigned devices only; CUDA numbers them from 0 in this order
        environment["CUDA_VISIBLE_DEVICES"] = ",".join(g.uuid for g in spec.gpus)
    # python/python3 on PATH run the spawner's own interpreter (shell-form CMDs, shebangs).
    environment["PATH"] = f"{image.bin_dir}:{environment.get('PATH') or BASE_PATH}"
    return {str(k): str(v) for k, v in environment.items()}


def _user(text: Optional[str]) -> Optional[tuple]:
    """(uid, gid) to switch to, or None to run as ourselves (always, unless we are root)."""
    if not text:
        return None
    import grp
    import pwd

    name, _, group = text.partition(":")
    try:
        uid = int(name) if name.isdigit() else pwd.getpwnam(name).pw_uid
        if group:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        else:
            try:
                gid = pwd.getpwuid(uid).pw_gid
            except KeyError:
                gid = uid
    except KeyError:
        raise StartFailed(f"User {text!r} is not known on this host.")
    if os.geteuid() != 0:
        if uid != os.geteuid():
            log.warning("not root: running as uid %d, not as the requested user %s",
                        os.geteuid(), text)
        return None
    return uid, gid


def _limits(spec: RunSpec, user: Optional[tuple], cpu_seconds: Optional[int]) -> list:
    """(resource, value) pairs, each capped at our own hard limit so setting it cannot fail."""
    wanted = []  # RLIMIT_CORE is 0 already: inherited from the runtime's process
    if spec.mem_limit:
        wanted.append((resource.RLIMIT_AS, _size(spec.mem_limit)))
    if cpu_seconds:
        wanted.append((resource.RLIMIT_CPU, int(cpu_seconds)))
    uid = user[0] if user else os.getuid()
    if spec.pids_limit and uid != 0:  # the kernel does not apply RLIMIT_NPROC to root
        wanted.append((resource.RLIMIT_NPROC, int(spec.pids_limit) + procfs.tasks_of(uid)))
    limits = []
    for which, value in wanted:
        hard = resource.getrlimit(which)[1]
        limits.append((which, value if hard == resource.RLIM_INFINITY else min(value, hard)))
    return limits


def _limiter(limits: list):
    def apply() -> None:  # runs in the child between fork and exec: keep it trivial
        for which, value in limits:
            resource.setrlimit(which, (value, value))
    return apply


def _size(text) -> int:
    """Docker's memory sizes: 512m, 1g, 1.5G, 1048576 (bytes)."""
    match = SIZE.fullmatch(str(text).strip().lower())
    if not match:
        raise StartFailed(f"Memory limit {text!r} is not a size like 512m or 2g.")
    return int(float(match.group(1)) * UNITS[match.group(2)])


# -- files --------------------------------------------------------------------------
_DIGESTS: dict = {}  # staging folders never change once made: hash each once


def folder_digest(root: Path) -> str:
    """sha256 over every file's relative path and content (links: their target), in order."""
    key = str(root)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        for folder, names, files in os.walk(root):
            names.sort()
            for name in sorted(files):
                path = Path(folder) / name
                digest.update(str(path.relative_to(root)).encode() + b"\0")
                if path.is_symlink():
                    digest.update(b"-> " + os.readlink(path).encode())
                else:
                    with open(path, "rb") as stream:
                        digest.update(hashlib.file_digest(stream, "sha256").digest())
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def _write(path: Path, record: dict) -> None:
    """Replace atomically: a reader sees the old record or the new one, never half."""
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    scratch.write_text(json.dumps(record))
    os.replace(scratch, path)


def _read(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _remove_files(workdir: Path, owned: bool) -> None:
    """What start() created; the execution's folder itself only if start() made it."""
    if owned:
        shutil.rmtree(workdir, ignore_errors=True)
        return
    for name in (DESCRIPTOR, LOG):
        (workdir / name).unlink(missing_ok=True)
    shutil.rmtree(workdir / HOME, ignore_errors=True)


def _docker_time(ns: Optional[int]) -> str:
    """RFC 3339 in UTC with nanoseconds, as Docker writes StartedAt/FinishedAt."""
    if ns is None:
        return NEVER
    seconds, fraction = divmod(int(ns), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"
