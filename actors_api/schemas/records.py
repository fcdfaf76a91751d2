"""What the API answers: the records inside the envelope's ``result``, as marshmallow schemas.

The handlers build their answers from the store, not through these schemas; the schemas
exist so the OpenAPI document (actors_api/openapi.py) is generated from one description of
each record, and so tests can check real answers against it. A record field added to a
store module belongs here too: the document says ``additionalProperties: false``, and the
schemathesis run in CI fails on any field it does not list.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from actors_core.enums import ActorStatus, ContentType, ExecutionStatus, PermissionLevel
from actors_core.runs import RunStatus, StageStatus

from .actor import GpuCount

TIME = {"format": "date-time", "description": "ISO 8601 UTC, ending in Z."}


def _time(description: str = "", **kwargs):
    return fields.String(metadata=dict(TIME, description=f"{description} ISO 8601 UTC.".strip()),
                         **kwargs)


def _enum(enum_type, **kwargs):
    return fields.String(validate=validate.OneOf([str(member) for member in enum_type]), **kwargs)


def _links(owner: str, *names):
    """A schema for Abaco's ``_links``: absolute URLs on this server."""
    return type(f"{owner}Links", (Schema,), {
        name: fields.Url(require_tld=False, metadata={"description": f"The {name} URL."})
        for name in names})


def _abaco_links():
    """``_links`` whose names vary with the answer: absolute URLs of related resources."""
    return fields.Dict(keys=fields.String(), values=fields.Url(require_tld=False), metadata={
        "description": "Abaco's links: absolute URLs of related resources (self, owner, ...)."})


class Envelope(Schema):
    """Every JSON answer, success or error."""

    message = fields.String(required=True, metadata={"description": "What happened, for a person."})
    result = fields.Raw(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(["success", "error"]))
    version = fields.String(required=True, metadata={"description": "The server's version."})


class ActorRecord(Schema):
    id = fields.String(required=True, metadata={"description": "13-character opaque id."})
    name = fields.String(allow_none=True)
    owner = fields.String()
    image = fields.String()
    description = fields.String()
    status = _enum(ActorStatus, metadata={
        "description": "SUBMITTED until a spawner checked the image, then READY or ERROR."})
    status_message = fields.String()
    stateless = fields.Boolean()
    default_environment = fields.Dict(keys=fields.String(), values=fields.String())
    privileged = fields.Boolean()
    max_workers = fields.Integer(allow_none=True)
    mem_limit = fields.String(allow_none=True)
    max_cpus = fields.Float(allow_none=True)
    hints = fields.List(fields.String())
    queue = fields.String()
    log_ex = fields.Integer(allow_none=True)
    token = fields.Boolean()
    use_container_uid = fields.Boolean()
    gpus = GpuCount()
    gpu_memory_min = fields.Integer(allow_none=True)
    link = fields.String(allow_none=True)
    webhook = fields.String(allow_none=True)
    cron_schedule = fields.String(allow_none=True)
    cron_on = fields.Boolean()
    max_retries = fields.Integer(metadata={"description": "Tries after a platform ERROR."})
    retry_backoff = fields.Float(metadata={"description": "Seconds before the first retry; "
                                                          "doubles for each next one."})
    retry_on_exit_code = fields.Boolean(metadata={"description": "Also retry a non-zero exit."})
    warm = fields.Boolean(metadata={"description": "Kept containers serve the executions."})
    warm_form = fields.String(metadata={"description": "exec: the image's command per message "
                                                       "in a kept container; handler: "
                                                       "runtime_sdk.serve(handler)."})
    warm_idle_seconds = fields.Integer(allow_none=True, metadata={
        "description": "A warm container idle this long is removed; null: the platform's."})
    concurrency = fields.Integer(metadata={"description": "Executions at once in one warm "
                                                          "container."})
    cron_next_ex = fields.String(allow_none=True, metadata={
        "description": "The next cron firing, ISO 8601 UTC, or null."})
    revision = fields.Integer(metadata={"description": "Bumped by each new image."})
    create_time = _time()
    last_update_time = _time()
    _links = _abaco_links()


class GpuAssignment(Schema):
    index = fields.Integer()
    uuid = fields.String()
    name = fields.String()


class GpuStats(Schema):
    peak_memory_used = fields.Integer(allow_none=True, metadata={"description": "Bytes."})
    mean_utilization = fields.Float(metadata={"description": "Percent."})
    peak_utilization = fields.Float(metadata={"description": "Percent."})
    samples = fields.Integer()
    interval = fields.Float(metadata={"description": "Seconds between samples."})


class Provenance(Schema):
    spawner = fields.String(metadata={"description": "The spawner that ran it."})
    host = fields.String()
    runtime = fields.String(metadata={"description": "docker, process or slurm."})
    image = fields.String()
    image_id = fields.String(allow_none=True)
    image_digest = fields.String(allow_none=True, metadata={
        "description": "The image actually run (Docker: a repo digest or the image id; "
                       "process runtime: a sha256 over the image folder)."})
    platform_version = fields.String()


class SchedulerJob(Schema):
    """The cluster job of an execution run by a scheduler runtime (Slurm)."""

    scheduler = fields.String(metadata={"description": "slurm"})
    id = fields.String(metadata={"description": "The scheduler's job id."})
    state = fields.String(metadata={"description": "The scheduler's own word: PENDING, "
                                                   "RUNNING, COMPLETED, OUT_OF_MEMORY, ..."})
    reason = fields.String(metadata={"description": "Why it waits (Resources, Priority, ...) "
                                                    "or why it ended."})
    partition = fields.String()
    nodes = fields.String()


class OutputItem(Schema):
    path = fields.String(metadata={"description": "Relative to the outputs folder."})
    size = fields.Integer(metadata={"description": "Bytes."})
    sha256 = fields.String()


class RunItemRef(fields.Field):
    """Which item of a run an execution is for: its index, or "finally"."""


class ExecutionRecord(Schema):
    id = fields.String(required=True)
    actor_id = fields.String()
    worker_id = fields.String(allow_none=True)
    executor = fields.String(metadata={"description": "Who sent the message."})
    status = _enum(ExecutionStatus)
    status_message = fields.String()
    exit_code = fields.Integer(allow_none=True)
    content_type = _enum(ContentType)
    cpu = fields.Integer(metadata={"description": "CPU nanoseconds."})
    io = fields.Integer(metadata={"description": "Block and network bytes."})
    runtime = fields.Float(metadata={"description": "Wall-clock seconds it ran."})
    message_received_time = _time()
    start_time = _time(allow_none=True)
    finish_time = _time(allow_none=True)
    final_state = fields.Dict(allow_none=True, metadata={
        "description": "The runtime's own State (Docker's keys), plus ForceQuit after a force-quit."})
    gpus = fields.List(fields.Nested(GpuAssignment))
    gpu_stats = fields.Nested(GpuStats, allow_none=True)
    provenance = fields.Nested(Provenance)
    job = fields.Nested(SchedulerJob, metadata={
        "description": "The Slurm runtime's job (while it waits, ``status`` stays SUBMITTED)."})
    max_rss = fields.Integer(metadata={"description": "Peak resident memory in bytes "
                                                     "(Slurm runtime: from sacct)."})
    outputs = fields.List(fields.Nested(OutputItem))
    outputs_bytes = fields.Integer()
    outputs_truncated = fields.Boolean(metadata={
        "description": "Collection stopped at ACTORS_OUTPUT_MAX_BYTES; the list is what was kept."})
    outputs_message = fields.String()
    outputs_expire_time = _time("When the outputs are deleted (the actor's log_ex).")
    run_id = fields.String(metadata={"description": "The run this execution is a stage of."})
    run_item = RunItemRef()
    run_stage = fields.String(metadata={"description": "The run's stage it is."})
    run_attempt = fields.Integer(metadata={"description": "1 for the first, then per re-run."})
    retry_of = fields.String(metadata={"description": "The first execution this retries."})
    retry_number = fields.Integer()
    retries = fields.List(fields.String(), metadata={"description": "Its retries, in order."})
    retry_due = _time("When its retry is created.")
    retried_by = fields.String(metadata={"description": "The id its retry has (or will have)."})
    retries_exhausted = fields.Boolean(metadata={"description": "Failed, and no retry is left."})
    rerun_of = fields.String(metadata={"description": "The execution this re-runs by hand."})
    reruns = fields.List(fields.String())
    _links = _abaco_links()


class ExecutionView(ExecutionRecord):
    """An execution read by id (its ``_links``: self, owner, logs, status, outputs)."""


class EventSource(Schema):
    service = fields.String(validate=validate.OneOf(["api", "spawner", "runtime"]))
    node = fields.String(metadata={"description": "The host or spawner name."})
    version = fields.String(metadata={"description": "The platform version."})


class StatusEvent(Schema):
    seq = fields.Integer(metadata={"description": "1, 2, ... per execution."})
    cursor = fields.Integer(metadata={"description": "The actor feed's cursor (actor feed only)."})
    time = _time("When it happened, with milliseconds.")
    type = fields.String(metadata={"description": "ACCEPTED, QUEUED, CLAIMED, ..., FINISHED, "
                                                  "ERROR, CANCELLED."})
    message = fields.String(metadata={"description": "A sentence for people."})
    source = fields.Nested(EventSource)
    execution_id = fields.String()
    detail = fields.Dict()


class ExecutionStatusPage(Schema):
    actor_id = fields.String()
    execution_id = fields.String()
    status = _enum(ExecutionStatus)
    events = fields.List(fields.Nested(StatusEvent))
    cursor = fields.Integer(metadata={"description": "Pass it as since= next."})
    final = fields.Boolean(metadata={"description": "The final event is in; nothing more comes."})


class ActorStatusPage(Schema):
    actor_id = fields.String()
    events = fields.List(fields.Nested(StatusEvent))
    cursor = fields.Integer(metadata={"description": "Pass it as since= next."})
    head = fields.Integer(metadata={"description": "The feed's newest cursor."})


class ExecutionSummary(Schema):
    id = fields.String()
    status = _enum(ExecutionStatus)
    message_received_time = _time()
    start_time = _time(allow_none=True)
    finish_time = _time(allow_none=True)
    _links = _abaco_links()


class ExecutionTotals(Schema):
    total_executions = fields.Integer()
    total_cpu = fields.Integer()
    total_io = fields.Integer()
    total_runtime = fields.Float()
    total_gpu_seconds = fields.Float()


class ExecutionPage(Schema):
    """Where a page of an actor's executions lies in all of them (schemas/paging.py)."""
    total_count = fields.Integer(metadata={"description": "Every execution listed, not only "
                                                          "this page."})
    records_skipped = fields.Integer(metadata={"description": "Position of the first one "
                                                              "listed (0: the oldest)."})
    record_limit = fields.Integer()
    count_returned = fields.Integer()
    next_offset = fields.Integer(allow_none=True, metadata={
        "description": "offset= of the next page; null on the last."})
    next_cursor = fields.String(allow_none=True, metadata={
        "description": "cursor= of the next page (stable while executions arrive); null on "
                       "the last."})
    previous_offset = fields.Integer(allow_none=True)


class ExecutionList(ExecutionTotals):
    """One page of an actor's executions (its newest 100 unless paged), with totals over all
    its finished ones."""
    actor_id = fields.String()
    api_server = fields.String()
    owner = fields.String()
    ids = fields.List(fields.String(), metadata={"description": "This page's ids, oldest first."})
    executions = fields.List(fields.Nested(ExecutionSummary))
    _metadata = fields.Nested(ExecutionPage)
    _links = _abaco_links()


class Logs(Schema):
    logs = fields.String()
    _links = fields.Nested(_links("Logs", "self", "execution", "owner"))


class MessageAccepted(Schema):
    execution_id = fields.String()
    msg = fields.String(metadata={"description": "The message as text ('binary - omitted' for bytes)."})
    _links = fields.Nested(_links("Message", "self", "messages", "owner"))


class ExecutionId(Schema):
    execution_id = fields.String()


class Rerun(Schema):
    execution_id = fields.String()
    rerun_of = fields.String()
    _links = fields.Nested(_links("Rerun", "self", "rerun_of", "owner"))


class MessageCount(Schema):
    messages = fields.Integer(metadata={"description": "Queued, not yet started."})
    _links = _abaco_links()


class MessagesPurged(MessageCount):
    cancelled = fields.Integer()
    msg = fields.String()


class State(Schema):
    state = fields.Raw(allow_none=True, metadata={"description": "Any JSON value."})


class WorkerRecord(Schema):
    id = fields.String()
    actor_id = fields.String()
    status = fields.String(validate=validate.OneOf(["READY", "BUSY", "SHUTDOWN_REQUESTED"]))
    host = fields.String(allow_none=True)
    execution_id = fields.String(allow_none=True)
    slot = fields.Integer()
    create_time = _time()
    last_execution_time = _time(allow_none=True)
    last_health_check_time = _time(allow_none=True)
    _links = _abaco_links()
    image = fields.String(allow_none=True, metadata={"description": "The actor's image."})
    tenant = fields.String(allow_none=True)
    host_id = fields.String(allow_none=True)
    ch_name = fields.String(allow_none=True, metadata={"description": "Abaco's; always null."})
    cid = fields.String(allow_none=True, metadata={"description": "Abaco's; always null."})
    host_ip = fields.String(allow_none=True, metadata={"description": "Abaco's; always null."})
    location = fields.String(allow_none=True, metadata={"description": "Abaco's; always null."})


class WebhookAttempt(Schema):
    attempt = fields.Integer()
    time = _time()
    status_code = fields.Integer(allow_none=True)
    error = fields.String()
    next_delay = fields.Float()


class EventRecord(Schema):
    id = fields.String()
    actor_id = fields.String()
    kind = fields.String(validate=validate.OneOf(["link", "webhook"]))
    target = fields.String()
    event_type = fields.String()
    event = fields.Dict(metadata={"description": "The event as sent (docs/events.md)."})
    status = fields.String(validate=validate.OneOf(
        ["SUBMITTED", "PENDING", "RETRYING", "DELIVERED", "FAILED"]))
    status_message = fields.String()
    execution_id = fields.String(allow_none=True)
    create_time = _time()
    attempts = fields.List(fields.Nested(WebhookAttempt))


LEVELS = [level.name for level in PermissionLevel if level is not PermissionLevel.NONE]


class NonceRecord(Schema):
    id = fields.String()
    actor_id = fields.String(allow_none=True)
    alias = fields.String(allow_none=True)
    owner = fields.String()
    level = fields.String(validate=validate.OneOf(LEVELS))
    max_uses = fields.Integer()
    remaining_uses = fields.Integer(metadata={"description": "-1 when unlimited."})
    current_uses = fields.Integer()
    description = fields.String()
    create_time = _time()
    last_use_time = _time(allow_none=True)
    roles = fields.List(fields.String(), metadata={
        "description": "The roles of the user who created it (as Abaco's nonces carry)."})
    _links = fields.Dict(keys=fields.String(), values=fields.Url(), metadata={
        "description": "self, owner, and actor or alias."})


class AliasRecord(Schema):
    alias = fields.String()
    actor_id = fields.String()
    owner = fields.String()
    create_time = _time()
    last_update_time = _time()
    _links = fields.Nested(_links("Alias", "self", "actor", "owner"))


class ConfigRecord(Schema):
    name = fields.String()
    value = fields.String(allow_none=True, metadata={"description": "null for a secret."})
    is_secret = fields.Boolean()
    actors = fields.String(metadata={"description": "Actor ids and aliases, comma-separated."})
    owner = fields.String()
    create_time = _time()
    last_update_time = _time()
    _links = fields.Nested(_links("Config", "self", "owner"))


class HostGpu(Schema):
    index = fields.Integer()
    uuid = fields.String()
    name = fields.String()
    memory_total = fields.Integer(metadata={"description": "Bytes."})
    simulated = fields.Boolean()
    busy = fields.Boolean()
    execution_id = fields.String(allow_none=True, metadata={
        "description": "The holder, when it is an execution of the caller's tenant."})


class HostRecord(Schema):
    name = fields.String()
    hostname = fields.String()
    queues = fields.List(fields.String())
    slots = fields.Integer()
    runtime = fields.String()
    started = _time()
    last_heartbeat = _time()
    gpus = fields.List(fields.Nested(HostGpu))


def _counts(name: str, enum_values, base=Schema):
    """A base schema with one integer per status value (``{"READY": 2, "BUSY": 1}``)."""
    return type(name, (base,), {str(v): fields.Integer() for v in enum_values})


WORKER_STATUSES = ("READY", "BUSY", "SHUTDOWN_REQUESTED")


class ActorWorkers(_counts("ActorWorkerCounts", WORKER_STATUSES)):
    actor_id = fields.String()
    workers = fields.Integer()
    minimum = fields.Integer()
    max_workers = fields.Integer()


class WorkersSummary(_counts("WorkerCounts", WORKER_STATUSES)):
    total_workers = fields.Integer()
    actors = fields.List(fields.Nested(ActorWorkers))
    workers = fields.List(fields.Nested(WorkerRecord))


class ActorExecutions(_counts("ActorExecutionCounts", ExecutionStatus, ExecutionTotals)):
    actor_id = fields.String()
    executions = fields.Integer()


class ExecutionsSummary(_counts("ExecutionCounts", ExecutionStatus)):
    executions = fields.Integer()
    total_executions = fields.Integer()
    total_cpu = fields.Integer()
    total_io = fields.Integer()
    total_runtime = fields.Float()
    actors = fields.List(fields.Nested(ActorExecutions))


class HostUse(Schema):
    name = fields.String()
    queues = fields.List(fields.String())
    slots = fields.Integer()
    slots_in_use = fields.Integer()


class ActorUse(Schema):
    actor_id = fields.String()
    queue = fields.String()
    workers = fields.Integer()
    busy_workers = fields.Integer()
    max_workers = fields.Integer()
    queued_messages = fields.Integer()


class Utilization(Schema):
    total_slots = fields.Integer()
    slots_in_use = fields.Integer()
    workers = fields.Integer()
    busy_workers = fields.Integer()
    queued_messages = fields.Integer()
    hosts = fields.List(fields.Nested(HostUse))
    actors = fields.List(fields.Nested(ActorUse))


class SearchMetadata(Schema):
    total_count = fields.Integer(metadata={"description": "Every match, not only this page."})
    records_skipped = fields.Integer()
    record_limit = fields.Integer()
    count_returned = fields.Integer()


class LogRecord(Schema):
    execution_id = fields.String()
    actor_id = fields.String()
    logs = fields.String()
    _links = _abaco_links()


def search_result(record_schema):
    return type(f"{record_schema.__name__.replace('Record', '')}Search", (Schema,), {
        "_metadata": fields.Nested(SearchMetadata),
        "search": fields.List(fields.Nested(record_schema)),
    })


# -- runs (docs/runs.md) -------------------------------------------------------------------
class StageCounts(_counts("StageCountsBase", [s.value.lower() for s in StageStatus])):
    """How many items' stage is in each status."""


class RunStage(Schema):
    name = fields.String()
    actor_id = fields.String()
    needs = fields.List(fields.String())
    env = fields.Dict(keys=fields.String(), values=fields.String())
    message = fields.Raw(allow_none=True, metadata={"description": "Any JSON value, or null."})
    counts = fields.Nested(StageCounts)


class StageState(Schema):
    name = fields.String()
    status = _enum(StageStatus)
    execution_id = fields.String(allow_none=True, metadata={
        "description": "The execution of its current attempt (null while WAITING)."})
    attempt = fields.Integer(metadata={"description": "0 until queued; +1 per re-run."})
    exit_code = fields.Integer(allow_none=True)
    reason = fields.String(metadata={"description": "Why it failed, was skipped or cancelled."})
    start_time = fields.String(allow_none=True, metadata=TIME)
    finish_time = fields.String(allow_none=True, metadata=TIME)


class RunFinally(StageState):
    actor_id = fields.String()
    needs = fields.List(fields.String())
    env = fields.Dict(keys=fields.String(), values=fields.String())
    message = fields.Raw(allow_none=True)


class RunItem(Schema):
    index = fields.Integer()
    status = _enum(RunStatus)
    env = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "The item's keys, as its executions see them."})
    stages = fields.List(fields.Nested(StageState))


class RunRecord(Schema):
    id = fields.String()
    owner = fields.String()
    status = _enum(RunStatus)
    cancel_requested = fields.Boolean()
    create_time = _time()
    finish_time = _time(allow_none=True)
    items_total = fields.Integer()
    items_ended = fields.Integer(metadata={"description": "Items whose stages all ended."})
    items_failed = fields.Integer(metadata={
        "description": "Ended items where some stage did not succeed."})
    env = fields.Dict(keys=fields.String(), values=fields.String())
    stages = fields.List(fields.Nested(RunStage), metadata={"description": "In dependency order."})
    finally_ = fields.Nested(RunFinally, data_key="finally", allow_none=True)
    items = fields.List(fields.Nested(RunItem), metadata={
        "description": "The page of items asked for (offset, limit)."})
    _links = fields.Nested(_links("Run", "self", "status", "outputs", "owner"))


class RunSummary(Schema):
    id = fields.String()
    owner = fields.String()
    status = _enum(RunStatus)
    cancel_requested = fields.Boolean()
    create_time = _time()
    finish_time = _time(allow_none=True)
    items_total = fields.Integer()
    items_ended = fields.Integer()
    items_failed = fields.Integer()
    stages = fields.List(fields.String())
    finally_ = fields.String(data_key="finally", allow_none=True)


class RunEvent(Schema):
    seq = fields.Integer(metadata={"description": "1, 2, ... per run."})
    time = _time("When it happened, with milliseconds.")
    type = fields.String(metadata={"description": "RUN_ACCEPTED, STAGE_STARTED, STAGE_SUCCEEDED, "
                                                  "..., RUN_COMPLETE, RUN_FAILED, RUN_CANCELLED."})
    message = fields.String()
    source = fields.Nested(EventSource)
    run_id = fields.String()
    item = fields.Integer()
    stage = fields.String()
    execution_id = fields.String()
    detail = fields.Dict()


class RunStatusPage(Schema):
    run_id = fields.String()
    status = _enum(RunStatus)
    events = fields.List(fields.Nested(RunEvent))
    cursor = fields.Integer(metadata={"description": "Pass it as since= next."})
    final = fields.Boolean(metadata={"description": "The run has ended and every event is in "
                                                    "(a re-run reopens it)."})
