"""An execution's outputs folder: made before it starts, collected when it ends.

The folder is ``<workdir>/outputs``, mounted at ``/_abaco_outputs`` in a
container (the process runtime passes its path as ``_abaco_outputs_path``).
It is mode 0777: the execution may run as any uid.

Collection (the runner calls :func:`collect` once the execution has exited,
before its final record is written, so the record lists what was kept):

* walks the folder in path order without following links; symbolic links,
  FIFOs, sockets and devices are skipped and named in ``outputs_message``,
  and every file is opened component by component with ``O_NOFOLLOW``
  (actors_core/artifacts/confined.py): nothing outside the folder is read;
* stores each regular file whole in the artifact store (hashing it on the
  way) and lists it as ``{path, size, sha256}``;
* stops before the file that would take the total past ``output_max_bytes``:
  that file and the rest are not kept, ``outputs_truncated`` is true and the
  message says where it stopped. A listed file is always complete;
* schedules the deletion of what it kept ``log_ex`` seconds later (the logs'
  lifetime), and records OUTPUTS_COLLECTED when there was anything to collect.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from actors_core import artifacts
from actors_core.artifacts.confined import NotConfined, open_beneath, walk
from actors_core.store import timeline
from actors_core.times import isoformat

from .environment import OUTPUTS_TARGET
from .runtimes import Mount

log = logging.getLogger(__name__)

FOLDER = "outputs"
CHUNK = 1 << 20


def prepare(workdir: Path) -> Mount:
    """Make the (empty) outputs folder; the mount that puts it at /_abaco_outputs."""
    folder = Path(workdir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o777)  # not left to the umask: the actor may run as another uid
    return Mount(str(folder), OUTPUTS_TARGET, read_only=False)


NOTHING = {"outputs": [], "outputs_bytes": 0, "outputs_truncated": False}


def present(run) -> bool:
    """Whether the execution left anything in its outputs folder (one directory read)."""
    try:
        with os.scandir(Path(run.workdir) / FOLDER) as entries:
            return any(True for _ in entries)
    except OSError:  # never made (it never started), or gone
        return False


def nothing_kept(run) -> dict:
    """The record's outputs fields for an empty folder (``{}`` without one): what
    :func:`collect` answers there, without collecting."""
    return dict(NOTHING) if (Path(run.workdir) / FOLDER).is_dir() else {}


def collect(run) -> dict:
    """Keep what the execution left in its outputs folder; the record's outputs fields.

    ``run`` is the ExecutionRun (store, config, actor, execution_id, workdir).
    ``{}`` when it never had a folder (it never started). Never raises: a
    failure is reported in the fields, with what was kept before it.
    """
    folder = Path(run.workdir) / FOLDER
    if not folder.is_dir():
        return {}
    actor_id, execution_id = run.actor["id"], run.execution_id
    store, config = run.store, run.config
    log_ex = int(run.actor.get("log_ex") or config.log_ex)
    kept, skipped, total, problem = [], [], 0, ""
    try:
        target = artifacts.from_config(config)
        entries = list(walk(folder))
        files = [e for e in entries if e.kind == "file"]
        skipped = [e for e in entries if e.kind != "file"]
        for number, entry in enumerate(files):
            if total + entry.size > config.output_max_bytes:
                problem = _stopped(config.output_max_bytes, entry, len(files) - number - 1)
                break
            item = _keep(target, folder, entry.path, actor_id, execution_id,
                         config.output_max_bytes - total)
            if item is _GONE:  # swapped for a link or removed since it was listed
                skipped.append(entry._replace(kind="changed while collected"))
                continue
            if item is _OVERFLOW:  # it grew past the cap while being read
                problem = _stopped(config.output_max_bytes, entry, len(files) - number - 1)
                break
            kept.append(item)
            total += item["size"]
    except Exception as error:  # storage down, folder unreadable: say so, keep the record
        log.exception("collecting the outputs of %s failed", execution_id)
        problem = f"Collection failed after {len(kept)} file(s): {error}"
    if not kept and not skipped and not problem:
        return dict(NOTHING)
    delete_at = time.time() + log_ex
    store.artifacts.schedule(artifacts.execution_prefix(actor_id, execution_id), delete_at)
    message = _message(kept, total, skipped, problem)
    store.timeline.record(execution_id, timeline.OUTPUTS_COLLECTED, message, actor_id,
                          detail={"files": len(kept), "bytes": total,
                                  "truncated": bool(problem)})
    return {"outputs": kept, "outputs_bytes": total, "outputs_truncated": bool(problem),
            "outputs_message": message,
            "outputs_expire_time": isoformat(datetime.fromtimestamp(delete_at, timezone.utc))}


_GONE, _OVERFLOW = object(), object()


def _keep(target, folder: Path, path: str, actor_id: str, execution_id: str, room: int):
    """Store one file whole: its manifest entry, or _GONE / _OVERFLOW (nothing stored)."""
    try:
        fd = open_beneath(folder, path)
    except (NotConfined, FileNotFoundError):
        return _GONE
    with os.fdopen(fd, "rb") as source:
        reader = _HashingReader(source, room)
        try:
            target.put(artifacts.output_key(actor_id, execution_id, path), reader)
        except _Overflow:
            return _OVERFLOW  # the store dropped its partial write (temporary file, aborted upload)
    return {"path": path, "size": reader.size, "sha256": reader.digest.hexdigest()}


def _stopped(cap: int, entry, after: int) -> str:
    return (f"Collection stopped at the cap of {cap} bytes (ACTORS_OUTPUT_MAX_BYTES): "
            f"{entry.path} ({entry.size} bytes) and {after} file(s) after it were not kept.")


class _HashingReader:
    """Reads through, hashing and counting; stops (and says so) past ``limit`` bytes."""

    def __init__(self, source: BinaryIO, limit: int):
        self.source = source
        self.limit = limit
        self.size = 0
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.source.read(CHUNK if size is None or size < 0 else size)
        if self.size + len(chunk) > self.limit:
            raise _Overflow()
        self.size += len(chunk)
        self.digest.update(chunk)
        return chunk


class _Overflow(Exception):
    pass


def _message(kept: list, total: int, skipped: list, problem: str) -> str:
    parts = [f"Collected {len(kept)} output file(s), {total} bytes."]
    if skipped:
        names = ", ".join(f"{e.path} ({e.kind})" for e in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        parts.append(f"Skipped what is not a regular file: {names}{more}.")
    if problem:
        parts.append(problem)
    return " ".join(parts)


def sweep_expired(store, config, limit: int = 100) -> int:
    """Delete kept outputs whose time is up (each spawner supervisor runs this)."""
    due = store.artifacts.claim_due(limit=limit)
    if not due:
        return 0
    target = artifacts.from_config(config)
    removed = 0
    for prefix in due:
        try:
            removed += target.delete_prefix(prefix)
        except Exception:
            log.exception("could not delete expired outputs %s; trying again later", prefix)
            store.artifacts.schedule(prefix, time.time() + 60)
    return removed
