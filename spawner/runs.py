"""A spawner's part in runs (docs/runs.md): admit, give inputs, submit, sweep.

The run's state changes are the store's (actors_core/store/runs.py); here is
what only a spawner does:

* :func:`refusal`: before an execution of a run starts, ask the run whether it
  may (its stage becomes RUNNING); a superseded attempt, or a stage of a
  cancelled run, ends without starting anything;
* :func:`inputs`: the outputs of the stages it needs, copied from the artifact
  store into ``<workdir>/inputs/<stage>/`` and mounted read-only at
  ``/_abaco_inputs`` (the process runtime passes the folder as
  ``_abaco_inputs_path``); a finally stage also gets ``_run/summary.json`` and,
  for each stage it needs, ``<stage>/<item>/`` of every item where it succeeded;
* :func:`advance`: the task that submits a run's ready stages in batches
  (a new run's first stages, a re-run's);
* :func:`sweep`: every supervisor's periodic look at running runs (ends never
  told, executions never recorded, fresh cells no job took).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from actors_core import artifacts
from actors_core.runs import FINALLY_ITEM, SUMMARY_FILE, SUMMARY_FOLDER
from actors_core.times import parse_iso

from .environment import INPUTS_TARGET
from .runtimes import Mount, StartFailed

log = logging.getLogger(__name__)

FOLDER = "inputs"
CHUNK = 1 << 20


def refusal(run, execution: dict) -> str:
    """Why this execution must not start ("" when it may, or is no run's)."""
    if not execution.get("run_id"):
        return ""
    return run.store.runs.stage_starting(execution) or ""


def inputs(run, execution: dict) -> list:
    """The read-only inputs mount of a run's execution ([] for any other execution).
    Raises StartFailed, with the stage and execution to blame, when an input is gone."""
    if not execution.get("run_id"):
        return []
    folder = Path(run.workdir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    target = artifacts.from_config(run.config)
    for name, actor_id, execution_id in run.store.runs.inputs_for(execution):
        _copy_outputs(run.store, target, folder / name, name, actor_id, execution_id)
    if execution["run_item"] == FINALLY_ITEM:
        summary = run.store.runs.summary(execution["run_id"])
        (folder / SUMMARY_FOLDER).mkdir(exist_ok=True)
        (folder / SUMMARY_FOLDER / SUMMARY_FILE).write_text(json.dumps(summary, indent=1))
    _read_only(folder)
    return [Mount(str(folder), INPUTS_TARGET, read_only=True)]


def _copy_outputs(store, target, into: Path, name: str, actor_id: str, execution_id: str) -> None:
    record = store.executions.get_internal(execution_id) or {}
    expires = record.get("outputs_expire_time")
    if not record or (expires and parse_iso(expires) <= datetime.now(timezone.utc)):
        raise StartFailed(f"The outputs of {name} (execution {execution_id}) are no longer "
                          "kept (the actor's log_ex); re-run that stage with force=true.")
    into.mkdir(parents=True, exist_ok=True)
    for item in record.get("outputs") or []:
        path = artifacts.check_key(item["path"])  # a manifest path: relative and confined
        destination = into / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            with target.open(artifacts.output_key(actor_id, execution_id, path)) as source, \
                    open(destination, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
        except artifacts.ArtifactMissing:
            raise StartFailed(f"Output {path} of {name} (execution {execution_id}) is no "
                              "longer kept; re-run that stage with force=true.") from None


def _read_only(folder: Path) -> None:
    """Files read-only for everyone (folders stay writable by the spawner alone, so the
    clean-up can remove them); Docker mounts the whole folder read-only besides."""
    for root, dirs, files in os.walk(folder):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)


def advance(store, run_id: str) -> int:
    """Submit the run's ready stages (the task ``advance_run``, spawner/jobs.py)."""
    return store.runs.submit_fresh(run_id)


def sweep(store) -> None:
    """Every running run: what the sweep repairs (store/runs.py, ``check_due``)."""
    for run_id in store.runs.active_ids():
        try:
            repaired = store.runs.check_due(run_id)
        except Exception:  # one odd run must not stop the sweep
            log.exception("sweeping run %s failed", run_id)
            continue
        if any(repaired.values()):
            log.info("run %s: %s", run_id, repaired)
