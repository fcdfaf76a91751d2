"""What the spawner tells an execution's status log, and the provenance it records.

The runner and reconcile call these at the steps that are the spawner's own
(the store records claim, finish and cancel itself, see
actors_core/store/timeline.py). Events that describe what the runtime did
(the container or process started) carry ``service: "runtime"``; the node is
always the spawner's name, so a user sees where each step happened.
"""
from __future__ import annotations

import socket
from typing import Optional, Sequence

from actors_core.store import timeline


def identify(spawner) -> None:
    """Events this process records come from this spawner."""
    spawner.store.timeline.identify("spawner", spawner.name, spawner.config.version)


def gpus_assigned(store, execution_id: str, actor_id: str, gpus: Sequence) -> None:
    names = ", ".join(f"{g.index} ({g.uuid})" for g in gpus)
    store.timeline.record(execution_id, timeline.GPUS_ASSIGNED, f"GPUs assigned: {names}.",
                          actor_id, detail={"gpus": [g.uuid for g in gpus]})


def image_ready(run, pulled: Optional[bool]) -> None:
    """IMAGE_CHECKED or IMAGE_PULLED, written with the run's next transition (STARTED, or
    the ERROR of a start that failed): same order, same time stamp, no round trip of its own."""
    image = run.actor["image"]
    kind, verb = ((timeline.IMAGE_PULLED, "pulled") if pulled
                  else (timeline.IMAGE_CHECKED, "present"))
    run.pending_events.append(run.store.timeline.event(
        run.execution_id, kind, f"Image {image} {verb} on {run.spawner.name}.", run.actor["id"],
        detail={"image": image}))


def provenance(run, handle) -> dict:
    """Where and what ran: spawner, host, runtime, the image digest actually run, version."""
    runtime = run.spawner.runtime
    record = {"spawner": run.spawner.name, "host": socket.gethostname(),
              "runtime": runtime.name, "image": run.actor["image"], "image_id": None,
              "image_digest": None, "platform_version": run.config.version}
    try:
        # a warm execution's handle knows what its kept container runs (spawner/warm.py)
        record.update(getattr(handle, "identity", None)
                      or runtime.image_identity(run.actor["image"], handle))
    except Exception:  # provenance is a record of fact: unknown stays None, never a failure
        pass
    return record


def started(run, handle, **fields) -> None:
    """The execution started: its start time, provenance and ``fields`` on the record, the
    events waiting for it and STARTED (from the runtime), in one script."""
    facts = provenance(run, handle)
    what = "Container" if facts["runtime"] == "docker" else f"{facts['runtime'].capitalize()}"
    event = run.store.timeline.event(
        run.execution_id, timeline.STARTED,
        f"{what} {str(handle.id)[:12]} started on {facts['spawner']} (host {facts['host']}, "
        f"image {facts['image_digest'] or facts['image']}).", run.actor["id"],
        service="runtime", detail={"handle": handle.id, "image_digest": facts["image_digest"]})
    run.store.executions.mark_started(run.execution_id, events=[*run.take_events(), event],
                                      provenance=facts, **fields)


def reattached(run, running: bool) -> None:
    """A restarted spawner follows the execution again (REATTACHED may repeat, once per restart)."""
    state = "still running" if running else "already exited"
    run.store.timeline.record(run.execution_id, timeline.REATTACHED,
                              f"Spawner {run.spawner.name} restarted and re-attached to the "
                              f"execution ({state}).", run.actor["id"])


def job_pending(store, execution_id: str, actor_id: str, scheduler: str, job: dict,
                message: str) -> None:
    """A cluster scheduler holds the execution's job queued (or requeued): why, in its words.
    Recorded for each new reason (PENDING may repeat)."""
    store.timeline.record(execution_id, timeline.PENDING, message, actor_id, service="runtime",
                          detail={"scheduler": scheduler, "job_id": job["id"],
                                  "state": job["state"], "reason": job["reason"],
                                  "partition": job.get("partition", "")})


def job_started(store, spawner, execution_id: str, actor_id: str, image: str,
                job: dict) -> tuple:
    """A cluster job started: ``(provenance, STARTED event)`` for the start transition to
    write in its one script, as :func:`started` does for a container."""
    facts = {"spawner": spawner.name, "host": job.get("nodes") or "", "runtime":
             spawner.runtime.name, "image": image, "image_id": None, "image_digest": None,
             "platform_version": spawner.config.version}
    try:
        facts.update(spawner.runtime.image_identity(image, None))
    except Exception:  # provenance is a record of fact: unknown stays None, never a failure
        pass
    event = store.timeline.event(
        execution_id, timeline.STARTED,
        f"{spawner.runtime.name.capitalize()} job {job['id']} started on {job.get('nodes')} "
        f"(spawner {spawner.name}, partition {job.get('partition') or 'default'}, image "
        f"{facts['image_digest'] or image}).", actor_id, service="runtime",
        detail={"handle": job["id"], "image_digest": facts["image_digest"]})
    return facts, event
