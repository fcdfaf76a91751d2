"""An execution's outputs: all of them as a streamed zip, or one file.

Only what the record lists is ever served: a path is looked up in the
execution's ``outputs`` (which collection built from regular files inside the
outputs folder), never joined onto a folder, so ``..``, absolute paths and
names the record does not hold are 404s whatever the store holds.
"""
from __future__ import annotations

import mimetypes
from datetime import datetime, timezone
from urllib.parse import quote

from flask import Blueprint, Response

from actors_core import artifacts
from actors_core.enums import ExecutionStatus
from actors_core.times import parse_iso

from ..auth import READ, load_actor
from ..context import get_config, get_store
from ..errors import APIError, NotFound
from ..zipstream import CHUNK, Member, stream_zip
from .executions import load_execution

bp = Blueprint("outputs", __name__)


def _kept_outputs(actor_id: str, execution_id: str) -> dict:
    store = get_store()
    actor_id = load_actor(store, actor_id, READ)["id"]
    execution = load_execution(store, actor_id, execution_id)
    if not ExecutionStatus(execution["status"]).finished:
        raise APIError("Outputs are collected when the execution ends; it is still "
                       f"{execution['status']}.", 409)
    expires = execution.get("outputs_expire_time")
    if expires and parse_iso(expires) <= datetime.now(timezone.utc):
        raise APIError(f"The outputs were kept until {expires} (the actor's log_ex) and are "
                       "gone.", 410)
    return dict(execution, actor_id=actor_id)


@bp.get("/actors/<actor:actor_id>/executions/<execution_id>/outputs")
def download_outputs(actor_id, execution_id):
    execution = _kept_outputs(actor_id, execution_id)
    store = artifacts.from_config(get_config())
    actor_id = execution["actor_id"]

    def opener(path: str):
        return lambda: store.open(artifacts.output_key(actor_id, execution_id, path))

    members = [Member(item["path"], item["size"], opener(item["path"]))
               for item in execution.get("outputs") or []]
    comment = ""
    if execution.get("outputs_truncated"):
        comment = f"INCOMPLETE: {execution.get('outputs_message') or ''}"
    return Response(stream_zip(members, comment), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{execution_id}-outputs.zip"',
        "X-Outputs-Truncated": "true" if execution.get("outputs_truncated") else "false"})


@bp.get("/actors/<actor:actor_id>/executions/<execution_id>/outputs/<path:path>")
def download_output(actor_id, execution_id, path):
    execution = _kept_outputs(actor_id, execution_id)
    listed = {item["path"]: item for item in execution.get("outputs") or []}
    item = listed.get(path)
    if item is None:
        raise NotFound(f"Execution {execution_id} kept no output {path!r}.")
    store = artifacts.from_config(get_config())
    try:
        source = store.open(artifacts.output_key(execution["actor_id"], execution_id, path))
    except artifacts.ArtifactMissing:
        raise APIError(f"Output {path!r} is listed but no longer kept (expired or removed).", 410)

    def body():
        with source:
            while True:
                chunk = source.read(CHUNK)
                if not chunk:
                    return
                yield chunk

    mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return Response(body(), mimetype=mimetype, headers={
        "Content-Length": str(item["size"]), "X-Content-SHA256": item["sha256"],
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(path.rsplit('/', 1)[-1])}"})
