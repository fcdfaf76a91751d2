"""What runs inside each Slurm job, on a compute node: the actor, its results, its exit.

Standard library only: the spawner copies this file into the execution's folder
and the job runs it with the Python named by ``ACTORS_SLURM_PYTHON``, so a node
needs nothing of the platform installed. It reads ``job.json`` from the folder
(written by the spawner, mode 0600: it holds the execution's token and secrets),
then:

- starts the actor in a session of its own: the image folder's command as a
  plain process (the process runtime's semantics), or the image under podman
  or apptainer (``mode``);
- gives the actor a results socket in a node-local folder (Unix sockets do not
  cross hosts) and relays each datagram to a file ``results/NNNNNNNN`` in the
  shared folder, where the spawner picks it up; the SDK is unchanged;
- writes ``started.json`` (when, where, which GPUs Slurm gave) and, when the
  actor exits, ``exit.json`` (exit code, CPU time, max RSS, I/O of the actor's
  tree from rusage): what the spawner records if Slurm's accounting cannot say;
- exits with the actor's exit code, so Slurm's ExitCode agrees with the record.

SIGTERM (scancel, the time limit) kills the actor's process group at once: a
force-quit, as with the other runtimes. The actor's stdout and stderr are the
job's output file (``sbatch --output``), which the spawner streams into the logs.
"""
from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

MAX_RESULT_BYTES = 128 * 1024  # as spawner/results.py: larger datagrams are dropped, never cut
RESULTS_TARGET = "/_abaco_results.sock"  # where a container sends results
PASSED_THROUGH = ("SLURM_JOB_ID", "SLURM_JOB_NAME", "SLURM_JOB_PARTITION", "SLURM_CPUS_PER_TASK",
                  "SLURM_MEM_PER_NODE", "SLURM_JOB_GPUS", "SLURMD_NODENAME",
                  "CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL", "ROCR_VISIBLE_DEVICES")
ENGINES = ("podman", "apptainer")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def main(argv) -> int:
    workdir = os.path.abspath(argv[1])
    with open(os.path.join(workdir, "job.json")) as stream:
        job = json.load(stream)
    for stale in ("exit.json", "started.json"):  # an earlier attempt of a requeued job
        _remove(os.path.join(workdir, stale))
    scratch = tempfile.mkdtemp(prefix="actors-", dir=os.environ.get("TMPDIR") or "/tmp")
    relay = ResultsRelay(os.path.join(scratch, "results.sock"), os.path.join(workdir, "results"))
    gpus = [g for g in os.environ.get("SLURM_JOB_GPUS", "").split(",") if g.strip()]
    try:
        argv, environment = command(job, relay.path, gpus)
        _write(os.path.join(workdir, "started.json"), {
            "started_at": time.time_ns(), "host": socket.gethostname(), "gpus": gpus,
            "job_id": os.environ.get("SLURM_JOB_ID")})
        try:
            code, usage = run(argv, environment, job.get("cwd") or job["home"])
        except OSError as error:  # nothing to run: the spawner records ERROR with this reason
            reason = f"could not start {argv[0]!r}: {error.strerror or error}"
            print(f"[actors] {reason}", file=sys.stderr, flush=True)
            code, usage = 127, {"error": reason}
        relay.stop()
        _write(os.path.join(workdir, "exit.json"), dict(usage, exit_code=code,
                                                        finished_at=time.time_ns()))
    finally:
        relay.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return code


def command(job: dict, results_socket: str, gpus: list) -> tuple:
    """(argv, environment) that start the actor; the environment is what exec receives.

    Process mode: the staged image's argv with the actor's environment plus the
    socket's path. Engine modes: the engine's command line, each variable
    passed by name only (its value in the engine's own environment), so no value
    ever becomes a word of the command, and the socket, the binary message, the
    outputs folder (and a run's inputs) bind-mounted where the SDK looks by default.
    """
    actor = {str(k): str(v) for k, v in job["environment"].items()}
    for name in PASSED_THROUGH:
        if name in os.environ:
            actor.setdefault(name, os.environ[name])
    if gpus and not actor.get("_abaco_gpus"):
        actor["_abaco_gpus"] = ",".join(gpus)
    mode = job.get("mode", "process")
    if mode == "process":
        actor["_abaco_results_path"] = results_socket
        return list(job["argv"]), actor
    return engine_command(mode, job["image"], actor, job.get("binds") or [], results_socket)


def engine_command(engine: str, image: str, actor: dict, binds: list,
                   results_socket: str) -> tuple:
    """The podman/apptainer command line for ``image`` and the environment to run it with."""
    if engine not in ENGINES:
        raise ValueError(f"unknown container engine {engine!r} (known: {', '.join(ENGINES)})")
    if not image or image.startswith("-") or any(c.isspace() for c in image):
        raise ValueError(f"{image!r} is not an image reference")
    bad = [name for name in actor if not VARIABLE_NAME.match(name)]
    if bad:
        raise ValueError(f"variables with these names cannot be passed to a container: {bad}")
    inside = ("_abaco_binary_path", "_abaco_results_path", "_abaco_outputs_path",
              "_abaco_inputs_path")  # the SDK's defaults (the mount targets) apply inside
    actor = {k: v for k, v in actor.items() if k not in inside}
    binds = [(results_socket, RESULTS_TARGET, False)] + [tuple(b) for b in binds]
    outer = dict(os.environ)  # the engine itself needs the job's PATH, HOME, XDG_RUNTIME_DIR
    if engine == "podman":
        argv = ["podman", "run", "--rm", "--network=host", "--pull=missing"]
        for source, target, read_only in binds:
            argv.append(f"--volume={source}:{target}" + (":ro" if read_only else ""))
        for name in sorted(actor):
            argv.append(f"--env={name}")  # no value: podman copies it from its environment
        outer.update(actor)
        argv.append(image)
        return argv, outer
    reference = image if "://" in image or image.endswith(".sif") else f"docker://{image}"
    argv = ["apptainer", "run", "--containall", "--cleanenv"]
    for source, target, read_only in binds:
        argv.append(f"--bind={source}:{target}" + (":ro" if read_only else ""))
    argv.append(reference)
    outer = {k: v for k, v in outer.items()
             if not k.startswith(("APPTAINERENV_", "SINGULARITYENV_"))}
    outer.update({f"APPTAINERENV_{name}": value for name, value in actor.items()})
    return argv, outer


def run(argv: list, environment: dict, cwd: str) -> tuple:
    """Run the actor to its end; (exit code, usage). SIGTERM here kills its whole group."""
    os.makedirs(cwd, exist_ok=True)
    child = subprocess.Popen(argv, cwd=cwd, env=environment, stdin=subprocess.DEVNULL,
                             start_new_session=True, preexec_fn=_no_core_dumps)

    def terminate(signum, frame):
        _kill_group(child.pid)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, terminate)
    while True:
        try:
            _, status, rusage = os.wait4(child.pid, 0)
            break
        except InterruptedError:
            continue
    child.returncode = status  # reaped here: subprocess must not wait for it again
    _kill_group(child.pid)  # whatever the actor left behind in its group
    code = os.waitstatus_to_exitcode(status)
    code = 128 - code if code < 0 else code  # killed by signal N: 128 + N, as a shell says
    usage = {"cpu_ns": int((rusage.ru_utime + rusage.ru_stime) * 1e9),
             "io_bytes": (rusage.ru_inblock + rusage.ru_oublock) * 512,
             "max_rss": rusage.ru_maxrss * 1024, "signal": code - 128 if code > 128 else 0}
    return code, usage


class ResultsRelay:
    """A datagram socket whose every datagram becomes one file, in order, named by number."""

    def __init__(self, path: str, folder: str):
        self.path = path
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        numbers = [int(n) for n in os.listdir(folder) if n.isdigit()]
        self.next = max(numbers, default=0) + 1  # a requeued job keeps earlier results
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(path)
        os.chmod(path, 0o777)  # the actor may run as another user inside a container
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MAX_RESULT_BYTES)
        self._sock.settimeout(0.2)
        self._buffer = bytearray(MAX_RESULT_BYTES + 1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Return once every datagram already sent is in a file."""
        self._stop.set()
        self._thread.join(10)
        self._sock.setblocking(False)
        self._receive_all()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                size = self._sock.recv_into(self._buffer, 0, socket.MSG_TRUNC)
            except socket.timeout:
                continue
            except OSError:
                return
            self._keep(size)

    def _receive_all(self) -> None:
        while True:
            try:
                size = self._sock.recv_into(self._buffer, 0, socket.MSG_TRUNC)
            except (BlockingIOError, OSError):
                return
            self._keep(size)

    def _keep(self, size: int) -> None:
        if size > MAX_RESULT_BYTES:
            print(f"[actors] a result of {size} bytes was rejected: results are limited to "
                  f"{MAX_RESULT_BYTES} bytes each", file=sys.stderr, flush=True)
            return
        name = f"{self.next:08d}"
        self.next += 1
        scratch = os.path.join(self.folder, f".{name}")
        with open(scratch, "wb") as stream:
            stream.write(self._buffer[:size])
        os.replace(scratch, os.path.join(self.folder, name))


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _no_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _write(path: str, record: dict) -> None:
    scratch = f"{path}.{os.getpid()}"
    with open(scratch, "w") as stream:
        json.dump(record, stream)
    os.replace(scratch, path)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv))
