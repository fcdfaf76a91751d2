"""The OpenAPI 3.1 document, generated from the app's routes and the marshmallow schemas.

Every URL rule of the app is an operation (``flask`` plugin: the path and its parameters),
documented by one :class:`Operation` entry in :data:`OPERATIONS` keyed by the rule's endpoint:
what the request body is (a schema from ``schemas/``), what the envelope's ``result`` is (a
schema from ``schemas/records.py``), which query parameters it reads and which errors it can
answer. Summaries and descriptions are the views' docstrings. A route without an entry is an
error when the document is built, so the document cannot silently fall behind the code.

With ``ACTORS_CASE=camel`` the same document is produced with every key in camelCase, by
the very function that renames the keys of requests and responses (``casing.convert_keys``'s
rule: user data such as ``default_environment`` keeps its keys).

``/openapi.json`` serves it and ``/docs`` a Swagger UI page; the page's files come from the
``swagger-ui-py`` package, installed with the platform, so nothing is fetched from elsewhere.
"""
from __future__ import annotations

import inspect
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Optional

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec_webframeworks.flask import FlaskPlugin
from marshmallow import validate
from flask import (Blueprint, Response, current_app, render_template_string,
                   send_from_directory, url_for)

from .auth import NONCE_BLUEPRINTS, public
from .casing import OPAQUE_KEYS, to_camel, to_snake
from .routes import ROUTED_WORDS
from .schemas import records
from .schemas.access import (NAME_RULE, AliasSchema, AliasUpdateSchema, ConfigSchema,
                             ConfigUpdateSchema, Level, NonceSchema, PermissionSchema)
from .schemas.actor import (ENV_NAME, ActorSchema, ActorUpdateSchema, CronScheduleField,
                            GpuCount, JSONDict, WebhookUrl)
from .schemas.paging import DEFAULT_LIMIT as EXECUTIONS_DEFAULT_LIMIT
from .schemas.paging import MAX_LIMIT as EXECUTIONS_MAX_LIMIT
from .schemas.paging import MAX_POSITION as EXECUTIONS_MAX_POSITION
from .schemas.run import ItemField, RerunSchema, RunSchema
from .schemas.search import MAX_LIMIT, OPERATORS

bp = Blueprint("docs", __name__)
PAGE_DIR = os.path.join(os.path.dirname(__file__), "apidocs")

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
BINARY = "application/octet-stream"
TEXT = "text/plain"
SSE = "text/event-stream"

ERROR_MESSAGES = {
    400: "Bad input: the message names the field or value.",
    401: "No, bad, expired or revoked credentials.",
    403: "Not allowed: the message says what is missing (e.g. the permission level).",
    404: "No such actor, execution or resource (another tenant's is never found).",
    408: "A synchronous message did not finish in time; the execution goes on.",
    409: "The request conflicts with the current state: the name is taken, a stateless "
         "actor has no state, a stateful actor cannot become stateless.",
    410: "It was kept for the actor's log_ex and is gone.",
    413: "The request body is larger than the server accepts.",
    503: "The server cannot do this now (e.g. no key to encrypt secrets).",
}
READS = (401, 403, 404)  # what any authenticated request about one resource can answer
WRITES = (400, 401, 403, 404, 413)


# -- what the table says about each endpoint --------------------------------------------
@dataclass(frozen=True)
class Operation:
    """How one endpoint is called and what it answers.

    ``result`` is what the envelope's ``result`` holds: a marshmallow schema class, ``[cls]``
    for a list of them, a JSON Schema dict, or ``None`` for ``null``. ``body`` is a schema
    class read from a JSON object or a form, or a ``{media type: JSON Schema}`` dict.
    """

    result: Any = None
    errors: tuple = READS
    body: Any = None
    body_required: bool = True
    query: tuple = ()
    answers: Optional[dict] = None  # extra or non-envelope responses: {status: response}
    paths: Optional[dict] = None  # one rule documented as several concrete paths
    public: bool = False
    convert_case: bool = True  # False: the result's keys are user data (a permission map)


def _query(name: str, schema: dict, description: str = "", **extra) -> dict:
    return dict({"name": name, "in": "query", "schema": schema, "description": description},
                **extra)


SYNCHRONOUS = _query("_abaco_synchronous", {"type": "string"},
                     "'true' (any case): wait for the execution and answer with its first "
                     "result, else its logs (408 past ACTORS_SYNC_TIMEOUT).")
MESSAGE_ENVIRONMENT = _query(
    "environment", {"type": "object", "additionalProperties": {"type": "string"},
                    "propertyNames": {
                        "minLength": 1, "pattern": "^[^=\u0000]+$",
                        "not": {"anyOf": [
                            {"enum": ["_abaco_synchronous", "x-nonce", "MSG", "_actor_configs"]},
                            {"pattern": "^_abaco_"}]}}},
    "Every other query parameter becomes an environment variable of the execution "
    "(overriding the actor's default_environment).", style="form", explode=True)

SINCE = _query("since", {"type": "integer", "minimum": 0, "maximum": 2 ** 53 - 1},
               "Events after this seq (execution) or cursor (actor feed); Last-Event-ID wins.")
STATUS_LIMIT = _query("limit", {"type": "integer", "minimum": 1},
                      "At most this many events (the server caps it).")
LIMIT_RUNS = _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                    "At most this many runs, newest first.")
ITEM_OFFSET = _query("offset", {"type": "integer", "minimum": 0, "default": 0},
                     "The first item to show.")
ITEM_LIMIT = _query("limit", {"type": "integer", "minimum": 0, "maximum": 1000, "default": 100},
                    "How many items to show (0: none, only the counts).")

PERMISSION_MAP = {"type": "object", "additionalProperties": {"enum": records.LEVELS},
                  "description": "{username: level}, strongest first."}
ANY_JSON = {"description": "Any JSON value."}

SYNC_ANSWERS = {
    "200": {"description": "The message was accepted (asynchronous), or the execution "
                           "finished (synchronous): its first result, else its logs.",
            "content": {BINARY: {"schema": {"type": "string", "format": "binary"}},
                        TEXT: {"schema": {"type": "string"}}}},
}
RESULT_ANSWER = {
    "200": {"description": "The next unread result as raw bytes; an empty body when there "
                           "is none (the result is then gone).",
            "content": {BINARY: {"schema": {"type": "string", "format": "binary"}}}},
}


def _search_paths() -> dict:
    """``/actors/search/{kind}``: one concrete path per kind, each with its own record and
    the conditions its fields allow (generated from the same tables the search reads)."""
    from .routes.search import searchable_fields
    from .schemas.search import KINDS

    shapes = {"actors": records.ActorRecord, "executions": records.ExecutionRecord,
              "workers": records.WorkerRecord, "logs": records.LogRecord}
    return {f"/actors/search/{kind}": dict(kind=kind, record=shapes[kind],
                                           fields=searchable_fields(kind))
            for kind in KINDS}


class AliasPointer(AliasUpdateSchema):
    """A PUT's body as documented: the server also takes the URL's own alias (a rename is a 400)."""

    class Meta:
        exclude = ("alias",)


class ConfigReplacement(ConfigUpdateSchema):
    """A PUT's body as documented: the server also takes the URL's own name (a rename is a 400)."""

    class Meta:
        exclude = ("name",)


OPERATIONS = {
    # actors
    "actors.list_actors": Operation([records.ActorRecord], errors=(401,)),
    "actors.register_actor": Operation(records.ActorRecord, errors=WRITES, body=ActorSchema),
    "actors.get_actor": Operation(records.ActorRecord),
    "actors.replace_actor": Operation(records.ActorRecord, errors=WRITES + (409,),
                                      body=ActorUpdateSchema),
    "actors.delete_actor": Operation(None),
    # state
    "state.get_state": Operation(records.State, errors=READS + (409,)),
    "state.set_state": Operation(records.State, errors=WRITES + (409,), body={JSON: ANY_JSON}),
    # messages
    "messages.send_message": Operation(
        records.MessageAccepted, errors=WRITES, query=(SYNCHRONOUS, MESSAGE_ENVIRONMENT),
        body={FORM: {"type": "object", "properties": {"message": {"type": "string"}},
                     "required": ["message"]},
              JSON: dict(ANY_JSON, description="A JSON message (MSG is its text)."),
              TEXT: {"type": "string", "description": "A text message."},
              BINARY: {"type": "string", "format": "binary",
                       "description": "Bytes, read by the actor from /_abaco_binary_data."}},
        answers=dict(SYNC_ANSWERS, **{"408": {"result": records.ExecutionId}})),
    "messages.count_messages": Operation(records.MessageCount),
    "messages.purge_messages": Operation(records.MessagesPurged),
    # executions
    "executions.list_executions": Operation(records.ExecutionList, errors=(400, 401, 403, 404),
                                            query=(
        _query("limit", {"type": "integer", "minimum": 0, "maximum": EXECUTIONS_MAX_LIMIT,
                         "default": EXECUTIONS_DEFAULT_LIMIT},
               "How many executions a page holds."),
        _query("offset", {"type": "integer", "minimum": 0, "maximum": EXECUTIONS_MAX_POSITION},
               "Start at this position in arrival order (0: the oldest). Without offset or "
               "cursor a page holds the newest executions."),
        _query("cursor", {"type": "string"},
               "Continue just after the last execution of a page: its _metadata.next_cursor "
               "(not with offset)."),
        _query("retries_exhausted", {"type": "string", "enum": ["true", "false"]},
               "true: only executions that failed with no retry left (the dead letters)."))),
    "rerun.rerun_execution": Operation(records.Rerun, errors=(401, 403, 404, 409, 410),
                                       body_required=False),
    "executions.get_execution": Operation(records.ExecutionView),
    "executions.stop_execution": Operation(records.ExecutionRecord),
    "executions.get_logs": Operation(records.Logs, answers={"200": {
        "description": "The logs; with Accept: text/plain the raw text alone.",
        "content": {TEXT: {"schema": {"type": "string"}}}}}),
    "executions.pop_result": Operation(answers=RESULT_ANSWER),
    # status events and outputs
    "status.execution_status": Operation(
        records.ExecutionStatusPage, errors=(400, 401, 403, 404), query=(SINCE, STATUS_LIMIT),
        answers={"200": {"description": "The events after since; with Accept: "
                         "text/event-stream a Server-Sent Events stream (id: is the seq, "
                         "Last-Event-ID resumes) that ends after the final event.",
                         "content": {SSE: {"schema": {"type": "string"}}}},
                 "204": {"description": "A stream asked for after its final event."}}),
    "status.actor_status": Operation(
        records.ActorStatusPage, errors=(400, 401, 403, 404), query=(SINCE, STATUS_LIMIT),
        answers={"200": {"description": "The actor's feed after since (a cursor); with "
                         "Accept: text/event-stream a Server-Sent Events stream.",
                         "content": {SSE: {"schema": {"type": "string"}}}}}),
    "outputs.download_outputs": Operation(errors=(401, 403, 404, 409, 410), answers={"200": {
        "description": "Every output file, as a zip streamed while it is written.",
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}}),
    "outputs.download_output": Operation(errors=(401, 403, 404, 409, 410), answers={"200": {
        "description": "One output file.",
        "content": {BINARY: {"schema": {"type": "string", "format": "binary"}}}}}),
    # runs (docs/runs.md)
    "runs.create_run": Operation(records.RunRecord, errors=WRITES, body={JSON: RunSchema}),
    "runs.list_runs": Operation([records.RunSummary], errors=(400, 401, 403), query=(LIMIT_RUNS,)),
    "runs.get_run": Operation(records.RunRecord, errors=(400, 401, 403, 404),
                              query=(ITEM_OFFSET, ITEM_LIMIT)),
    "runs.cancel_run": Operation(records.RunRecord),
    "runs.rerun": Operation(records.RunRecord, errors=WRITES + (409,), body={JSON: RerunSchema},
                            body_required=False),
    "runs.run_status": Operation(
        records.RunStatusPage, errors=(400, 401, 403, 404), query=(SINCE, STATUS_LIMIT),
        answers={"200": {"description": "The run's events after since; with Accept: "
                         "text/event-stream a Server-Sent Events stream (id: is the seq, "
                         "Last-Event-ID resumes) that ends after the run's final event.",
                         "content": {SSE: {"schema": {"type": "string"}}}},
                 "204": {"description": "A stream asked for after the run's final event."}}),
    "runs.download_run_outputs": Operation(answers={"200": {
        "description": "Every item's and stage's outputs and logs, and run.json, as a zip "
                       "streamed while it is written.",
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}}),
    # workers
    "workers.list_workers": Operation([records.WorkerRecord]),
    "workers.ensure_workers": Operation(
        [records.WorkerRecord], errors=WRITES, body_required=False,
        body={"type": "object", "additionalProperties": False,
              "properties": {"num": {"type": "integer", "minimum": 0, "default": 1,
                                     "description": "Workers to keep at least."}}}),
    "workers.get_worker": Operation(records.WorkerRecord),
    "workers.delete_worker": Operation(None),
    # events
    "events.list_events": Operation([records.EventRecord]),
    # permissions
    "permissions.get_actor_permissions": Operation(PERMISSION_MAP, convert_case=False),
    "permissions.share_actor": Operation(PERMISSION_MAP, errors=WRITES, body=PermissionSchema,
                                         convert_case=False),
    # nonces
    "nonces.list_actor_nonces": Operation([records.NonceRecord]),
    "nonces.create_actor_nonce": Operation(records.NonceRecord, errors=WRITES, body=NonceSchema),
    "nonces.get_actor_nonce": Operation(records.NonceRecord),
    "nonces.delete_actor_nonce": Operation(None),
    "nonces.list_alias_nonces": Operation([records.NonceRecord]),
    "nonces.create_alias_nonce": Operation(records.NonceRecord, errors=WRITES, body=NonceSchema),
    "nonces.get_alias_nonce": Operation(records.NonceRecord),
    "nonces.delete_alias_nonce": Operation(None),
    # aliases
    "aliases.list_aliases": Operation([records.AliasRecord], errors=(401, 403)),
    "aliases.create_alias": Operation(records.AliasRecord, errors=WRITES + (409,),
                                      body=AliasSchema),
    "aliases.get_alias": Operation(records.AliasRecord),
    "aliases.point_alias": Operation(records.AliasRecord, errors=WRITES, body=AliasPointer),
    "aliases.delete_alias": Operation(None),
    "aliases.get_alias_permissions": Operation(PERMISSION_MAP, convert_case=False),
    "aliases.share_alias": Operation(PERMISSION_MAP, errors=WRITES, body=PermissionSchema,
                                     convert_case=False),
    # configs
    "configs.list_configs": Operation([records.ConfigRecord], errors=(401, 403)),
    "configs.create_config": Operation(records.ConfigRecord, errors=WRITES + (409, 503),
                                       body=ConfigSchema),
    "configs.get_config_record": Operation(records.ConfigRecord),
    "configs.replace_config": Operation(records.ConfigRecord, errors=WRITES + (503,),
                                        body=ConfigReplacement),
    "configs.delete_config": Operation(None),
    "configs.get_config_permissions": Operation(PERMISSION_MAP, convert_case=False),
    "configs.share_config": Operation(PERMISSION_MAP, errors=WRITES, body=PermissionSchema,
                                      convert_case=False),
    # search
    "search.search": Operation(errors=(400, 401, 403), paths=_search_paths()),
    # admin and capacity
    "admin.list_hosts": Operation([records.HostRecord], errors=(401, 403)),
    "admin.workers_summary": Operation(records.WorkersSummary, errors=(401, 403)),
    "admin.executions_summary": Operation(records.ExecutionsSummary, errors=(401, 403)),
    "admin.utilization": Operation(records.Utilization, errors=(401, 403)),
    # this module's own, and the metrics
    "docs.openapi_json": Operation(public=True, answers={"200": {
        "description": "This document.", "content": {JSON: {"schema": {"type": "object"}}}}}),
    "docs.docs_page": Operation(public=True, answers={"200": {
        "description": "A page to read and try the API (Swagger UI).",
        "content": {"text/html": {"schema": {"type": "string"}}}}}),
    "docs.docs_asset": Operation(public=True, errors=(404,), answers={"200": {
        "description": "A file of the docs page.", "content": {"*/*": {"schema": {}}}}}),
    "ui.index": Operation(public=True, answers={"200": {
        "description": "The web dashboard (docs/dashboard.md); it signs in with a token.",
        "content": {"text/html": {"schema": {"type": "string"}}}}}),
    "ui.static_file": Operation(public=True, errors=(404,), answers={"200": {
        "description": "A file of the dashboard.", "content": {"*/*": {"schema": {}}}}}),
    "metrics.metrics": Operation(public=True, answers={"200": {
        "description": "Prometheus text exposition format (docs/operations.md lists the "
                       "metrics).",
        "content": {"text/plain": {"schema": {"type": "string"}}}}}),
}


# -- marshmallow fields the plugin cannot know ------------------------------------------
def _custom_fields(self, field_obj, ret, **kwargs) -> dict:
    """JSON Schema for the request fields that accept more than their plain type, and for
    what the plugin leaves out (a range whose end is excluded)."""
    for validator in field_obj.validators:
        if isinstance(validator, validate.Range) and not validator.min_inclusive:
            ret.pop("minimum", None)
            ret["exclusiveMinimum"] = validator.min
        if isinstance(validator, validate.Range) and not validator.max_inclusive:
            ret.pop("maximum", None)
            ret["exclusiveMaximum"] = validator.max
    if isinstance(field_obj, JSONDict):
        ret.pop("additionalProperties", None)
        return {"additionalProperties": {"type": "string"},
                "propertyNames": {"pattern": ENV_NAME.pattern.replace("\\x00", "\\u0000")}}
    if isinstance(field_obj, ItemField):
        return {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]},
                "propertyNames": {"pattern": ENV_NAME.pattern.replace("\\x00", "\\u0000")},
                "description": "An item: its keys become environment variables."}
    if isinstance(field_obj, records.RunItemRef):
        return {"anyOf": [{"type": "integer", "minimum": 0}, {"const": "finally"}],
                "description": "The run's item (its index), or finally."}
    if isinstance(field_obj, GpuCount):
        return {"anyOf": [{"type": "integer", "minimum": 0}, {"const": "all"}],
                "description": "Whole GPUs per execution, or 'all'."}
    if isinstance(field_obj, Level):
        choices = records.LEVELS + ([] if not field_obj.allow_none_level else ["NONE"])
        default = getattr(field_obj.load_default, "name", None)
        return dict({"type": "string", "enum": choices}, **({"default": default} if default else {}))
    if isinstance(field_obj, WebhookUrl):
        ret.pop("format", None)
        return {"pattern": WEBHOOK_PATTERN, "description": "An http(s) URL; empty clears it."}
    if isinstance(field_obj, CronScheduleField):
        return {"pattern": CRON_PATTERN, "description": CRON_RULE}
    return {}


CRON_RULE = ("'<YYYY-MM-DD HH | now> + <n> <hour|day|week|month>' (any case, plural units "
             "too); empty clears it.")


def _cron_pattern() -> str:
    """The schedules documented as valid: real dates (1900-2999; the server takes any whose
    firings stay before the year 10000) and periods up to 9999."""
    def any_case(word):
        return "".join(f"[{c.upper()}{c.lower()}]" for c in word)

    day = (r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
           r"|02-(?:0[1-9]|1[0-9]|2[0-8]))")
    start = rf"(?:{any_case('now')}|(?:19|2[0-9])[0-9]{{2}}-{day} +(?:[01]?[0-9]|2[0-3]))"
    unit = "|".join(any_case(u) for u in ("hour", "day", "week", "month"))
    return rf"^ *$|^ *{start} *\+ *[1-9][0-9]{{0,3}} *(?:{unit})[Ss]? *$"


CRON_PATTERN = _cron_pattern()
# The webhook URLs documented as valid: http(s), a host name, an optional port and path.
WEBHOOK_PATTERN = (r"^$|^https?://[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z][A-Za-z0-9-]{0,30}[A-Za-z0-9])*(?::[1-9][0-9]{0,3})?"
                   r"(?:/[A-Za-z0-9._~-]*)*$")


# -- building ---------------------------------------------------------------------------
class _FlaskRoutes(FlaskPlugin):
    """apispec's Flask plugin (a view's rule -> its path), also taking a concrete path for
    one rule documented as several."""

    def path_helper(self, path=None, operations=None, parameters=None, *, view=None, app=None,
                    **kwargs):
        if view is None:
            return path
        return super().path_helper(path, operations, parameters, view=view, app=app, **kwargs)


def build_spec(app) -> dict:
    """The whole document for ``app``: its routes, in its key case."""
    config = app.config["ACTORS"]
    camel = config.case == "camel"
    marshmallow = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(
        title="actors", version=config.version, openapi_version="3.1.0",
        plugins=[_FlaskRoutes(), marshmallow],
        info={"description": _INFO}, servers=[{"url": "/"}],
    )
    marshmallow.converter.add_attribute_function(_custom_fields)
    _add_components(spec)
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint == "static":
            continue
        operation = OPERATIONS.get(rule.endpoint)
        if operation is None:
            raise LookupError(f"route {rule.rule} ({rule.endpoint}) has no entry in "
                              "actors_api.openapi.OPERATIONS: document it there")
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if operation.paths:
                for path, variant in operation.paths.items():
                    spec.path(path=path, operations={
                        method.lower(): _search_operation(view, operation, variant, camel)})
                continue
            spec.path(view=view, app=app, parameters=_path_parameters(rule), operations={
                method.lower(): _operation(rule, view, method, operation)})
    document = _with_links(_with_form_variants(_with_schema_rules(spec.to_dict())), camel)
    return camelize(document) if camel else document


# Where the ids that other operations take in their paths come from (OpenAPI links: a
# client, or schemathesis's stateful phase, follows them from a create to its uses).
LINKS = {
    "actors_register_actor": {"actor_id": "result/id"},
    "aliases_create_alias": {"alias": "result/alias"},
    "configs_create_config": {"name": "result/name"},
    "messages_send_message": {"execution_id": "result/execution_id"},
    "runs_create_run": {"run_id": "result/id"},
    "nonces_create_actor_nonce": {"nonce_id": "result/id"},
    "nonces_create_alias_nonce": {"nonce_id": "result/id"},
    "workers_ensure_workers": {"worker_id": "result/0/id"},
}


def _with_links(document: dict, camel: bool) -> dict:
    operations = {op["operationId"]: (path, op) for path, item in document["paths"].items()
                  for op in item.values() if isinstance(op, dict) and "operationId" in op}
    for source_id, produced in LINKS.items():
        if source_id not in operations:
            continue
        path, source = operations[source_id]
        known = set(produced) | set(re.findall(r"{(\w+)}", path))
        links = {}
        for target_id, (target_path, _) in sorted(operations.items()):
            needed = set(re.findall(r"{(\w+)}", target_path))
            if not needed & set(produced) or not needed <= known:
                continue
            links[target_id] = {"operationId": target_id, "parameters": {
                name: (f"$response.body#/{_pointer(produced[name], camel)}" if name in produced
                       else f"$request.path.{name}") for name in sorted(needed)}}
        if links:
            source["responses"]["200"]["links"] = links
    return document


def _pointer(pointer: str, camel: bool) -> str:
    return "/".join(to_camel(part) for part in pointer.split("/")) if camel else pointer


_INFO = """Run container images as actors: register an actor, send it messages, read what its
executions did. Compatible with TACC's Abaco actors API (v2).

Every JSON answer is the envelope `{message, result, status, version}`; errors keep it with
`result: null`. Authenticate with `Authorization: Bearer <JWT>`; on an actor's own endpoints a
nonce (`?x-nonce=<id>` or an `X-Nonce` header) works instead. Bodies are JSON or form fields.
docs/api.md in the repository tells the same in prose."""


def _schema_name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name[: -len("Schema")] + "Request" if name.endswith("Schema") else name


def _add_components(spec: APISpec) -> None:
    spec.components.security_scheme("bearer", {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "A JWT with sub, exp and optionally roles and tenant."})
    spec.components.security_scheme("nonce", {
        "type": "apiKey", "in": "query", "name": "x-nonce",
        "description": "A nonce id, on the actor's (or alias's) own endpoints."})
    spec.components.security_scheme("nonceHeader", {
        "type": "apiKey", "in": "header", "name": "X-Nonce"})
    spec.components.schema("Error", {
        "type": "object", "additionalProperties": False,
        "required": ["message", "result", "status", "version"],
        "properties": {"message": {"type": "string"}, "result": {"type": "null"},
                       "status": {"const": "error"}, "version": {"type": "string"}}})
    for code, description in ERROR_MESSAGES.items():
        spec.components.response(f"Error{code}", {
            "description": description,
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}})


# Words a URL segment cannot be an actor id or alias by: another route answers them
# (routes.ActorIdConverter), or they are dot segments that a client may fold away.
SEGMENT = r"^[A-Za-z0-9._~-]{1,128}$"
PATH_PARAMETERS = {
    "actor_id": {"type": "string", "pattern": SEGMENT,
                 "not": {"enum": sorted(ROUTED_WORDS) + [".", ".."]},
                 "description": "An actor id or one of its aliases."},
    "alias": {"type": "string", "pattern": SEGMENT, "not": {"enum": [".", ".."]},
              "description": f"An alias: {NAME_RULE}."},
    "name": {"type": "string", "pattern": SEGMENT, "not": {"enum": [".", ".."]},
             "description": f"A config name: {NAME_RULE}."},
    "execution_id": {"type": "string", "pattern": r"^[A-Za-z0-9]{1,64}$"},
    "nonce_id": {"type": "string", "pattern": r"^[A-Za-z0-9]{1,64}$"},
    "worker_id": {"type": "string", "pattern": r"^[A-Za-z0-9._~-]{1,160}$",
                  "not": {"enum": [".", ".."]}},
    "filename": {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,128}$"},
    "run_id": {"type": "string", "pattern": r"^[A-Za-z0-9]{1,64}$"},
}


def _path_parameters(rule) -> list:
    return [{"name": name, "in": "path", "required": True,
             "schema": dict(PATH_PARAMETERS.get(name, {"type": "string", "minLength": 1}))}
            for name in sorted(rule.arguments, key=rule.rule.index)]


def _docstring(view) -> tuple:
    text = inspect.getdoc(view) or view.__name__.replace("_", " ").capitalize() + "."
    summary, _, description = text.partition("\n\n")
    return " ".join(summary.split()), description.strip()


def _operation(rule, view, method: str, operation: Operation) -> dict:
    summary, description = _docstring(view)
    document = {"operationId": rule.endpoint.replace(".", "_"), "summary": summary,
                "tags": [rule.endpoint.partition(".")[0]], "responses": _responses(operation)}
    if description:
        document["description"] = description
    if operation.public:
        document["security"] = []
    elif rule.endpoint.partition(".")[0] in NONCE_BLUEPRINTS and "actor_id" in rule.arguments:
        document["security"] = [{"bearer": []}, {"nonce": []}, {"nonceHeader": []}]
    if operation.query:
        document["parameters"] = [dict(p) for p in operation.query]
    if operation.body is not None and method in ("POST", "PUT"):
        document["requestBody"] = _request_body(operation)
    if not operation.convert_case:
        document["x-keys-are-data"] = True
    return document


def _responses(operation: Operation) -> dict:
    responses = {}
    answers = {status: dict(answer) for status, answer in (operation.answers or {}).items()}
    if "200" not in answers or operation.result is not None:
        answer = answers.pop("200", {"description": "Success, in the envelope.", "content": {}})
        answer["content"] = {JSON: {"schema": _envelope(operation.result)}, **answer["content"]}
        responses["200"] = answer
    for status, answer in answers.items():
        if "result" in answer:  # the envelope with status "error" and a result
            answer = {"description": ERROR_MESSAGES[int(status)], "content": {JSON: {
                "schema": _envelope(operation.answers[status]["result"], status="error")}}}
        responses[status] = answer
    for code in operation.errors:
        responses.setdefault(str(code), f"Error{code}")
    return responses


def _envelope(result, status: str = "success") -> dict:
    return {"type": "object", "additionalProperties": False,
            "required": ["message", "result", "status", "version"],
            "properties": {"message": {"type": "string"}, "result": _schema(result),
                           "status": {"const": status}, "version": {"type": "string"}}}


def _schema(value):
    """A JSON Schema, or a marshmallow schema class the plugin turns into a reference."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, list):
        return {"type": "array", "items": _schema(value[0])}
    return dict(value) if isinstance(value, dict) else value


def _request_body(operation: Operation) -> dict:
    body = operation.body
    if isinstance(body, dict) and all("/" in key for key in body):
        content = {media: {"schema": schema} for media, schema in body.items()}
    elif isinstance(body, dict):
        content = {JSON: {"schema": body}, FORM: {"schema": body}}
    else:
        content = {JSON: {"schema": body}, FORM: {"schema": body, "x-form-fields": True}}
    return {"required": operation.body_required, "content": content}


def _search_operation(view, operation: Operation, variant: dict, camel: bool) -> dict:
    kind = variant["kind"]
    _, description = _docstring(view)
    names = tuple(to_camel(n) for n in variant["fields"]) if camel else variant["fields"]
    return {"operationId": f"search_{kind}", "summary": f"Search {kind}.",
            "description": description, "tags": ["search"],
            "parameters": _search_parameters(names),
            "responses": _responses(Operation(records.search_result(variant["record"]),
                                              errors=operation.errors))}


def _search_parameters(names: tuple) -> list:
    fields_pattern = "|".join(sorted(names))
    ops = "|".join(OPERATORS)
    condition = rf"^({fields_pattern})$|^({fields_pattern})(\.[^.]+)*\.({ops})$"
    between = rf"^({fields_pattern})(\.[^.]+)*\.between$"
    count = {"type": "integer", "minimum": 0}
    return [
        _query("search", {"type": "string"}, "Some value of the record, at any depth, "
               "contains this text, ignoring case."),
        _query("exactsearch", {"type": "string"}, "Some value of the record is exactly this."),
        _query("skip", count, "Leave out the first n matches."),
        _query("limit", dict(count, maximum=MAX_LIMIT, default=100), "Return at most n."),
        _query("conditions", {
            "type": "object", "additionalProperties": False,
            "patternProperties": {condition: {"type": "string"},
                                  between: {"type": "string", "pattern": "^[^,]*,[^,]*$"}},
        }, "field.op=value conditions, combined with AND (docs/api.md#search): a field of the "
           "record, or a dotted path into it, and one of " + ", ".join(OPERATORS) + "; a bare "
           "field=value means field.eq=value.", style="form", explode=True),
    ]


# What a schema's @validates_schema checks, in JSON Schema, for the request schemas.
STATEFUL_RULE = {"if": {"properties": {"stateless": {"const": False}}, "required": ["stateless"]},
                 "then": {"properties": {"max_workers": {"enum": [None, 1]},
                                         "concurrency": {"enum": [None, 1]}}}}
SCHEMA_RULES = {"ActorRequest": STATEFUL_RULE, "ActorUpdateRequest": STATEFUL_RULE}


def _with_schema_rules(document: dict) -> dict:
    for name, rule in SCHEMA_RULES.items():
        if name in document["components"]["schemas"]:
            document["components"]["schemas"][name].update(json.loads(json.dumps(rule)))
    return document


def _with_form_variants(document: dict) -> dict:
    """Form bodies carry every field as text: an object or list field is JSON text (a
    list may also be comma-separated). Each request schema used by a form gets a ``…Form``
    twin saying so."""
    schemas = document["components"]["schemas"]
    for item in document["paths"].values():
        for operation in item.values():
            content = (operation.get("requestBody") or {}).get("content", {}) \
                if isinstance(operation, dict) else {}
            form = content.get(FORM)
            if not form or not form.pop("x-form-fields", False):
                continue
            name = form["schema"]["$ref"].rpartition("/")[2]
            if f"{name}Form" not in schemas:
                schemas[f"{name}Form"] = _form_twin(schemas[name])
            form["schema"] = {"$ref": f"#/components/schemas/{name}Form"}
    return document


def _form_twin(schema: dict) -> dict:
    """Form fields are text: no null (leave a field out, or send it empty to clear it)."""
    twin = json.loads(json.dumps(schema))
    for prop in twin.get("properties", {}).values():
        if isinstance(prop.get("type"), list) and "null" in prop["type"]:
            prop["type"] = [t for t in prop["type"] if t != "null"]
            if len(prop["type"]) == 1:
                prop["type"] = prop["type"][0]
    for name, prop in twin.get("properties", {}).items():
        if prop.get("type") in ("object", "array") or "object" in (prop.get("type") or ()):
            twin["properties"][name] = {
                "type": "string", "contentMediaType": JSON, "contentSchema": prop,
                "description": "JSON text" + (", or comma-separated values"
                                              if prop.get("type") == "array" else "") + "."}
    return twin


def camelize(document: dict) -> dict:
    """The document with the API's keys in camelCase, as ``ACTORS_CASE=camel`` sends them.

    Renames the properties (and ``required`` names) of every schema, except inside a
    property that is user data (casing.OPAQUE_KEYS), as convert_keys does at run time.
    """
    def schema(node, opaque=False):
        if isinstance(node, list):
            return [schema(item, opaque) for item in node]
        if not isinstance(node, dict):
            return node
        renamed = {}
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict) and not opaque:
                renamed[key] = {to_camel(name): schema(sub, to_snake(name) in OPAQUE_KEYS)
                                for name, sub in value.items()}
            elif key == "required" and isinstance(value, list) and not opaque:
                renamed[key] = [to_camel(name) for name in value]
            else:
                renamed[key] = schema(value, opaque)
        return renamed

    document = json.loads(json.dumps(document))
    document["components"]["schemas"] = schema(document["components"]["schemas"])
    for item in document["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict) or operation.get("x-keys-are-data"):
                continue
            bodies = [r for r in operation.get("responses", {}).values() if isinstance(r, dict)]
            bodies.append(operation.get("requestBody") or {})
            for body in bodies:
                for media in body.get("content", {}).values():
                    media["schema"] = schema(media["schema"])
    return document


# -- serving ----------------------------------------------------------------------------
def swagger_ui_dir() -> str:
    import swagger_ui

    return os.path.join(os.path.dirname(swagger_ui.__file__), "static")


@bp.get("/openapi.json")
@public
def openapi_json():
    """This API's OpenAPI 3.1 document."""
    document = current_app.extensions.get("actors_openapi")
    if document is None:
        document = json.dumps(build_spec(current_app), indent=1)
        current_app.extensions["actors_openapi"] = document
    return Response(document, mimetype=JSON)


@bp.get("/docs")
@public
def docs_page():
    """A page to read the API and try it (Swagger UI, served from this server)."""
    with open(os.path.join(PAGE_DIR, "index.html"), encoding="utf-8") as page:
        html = render_template_string(
            page.read(), spec_url=url_for("docs.openapi_json"),
            asset=lambda name: url_for("docs.docs_asset", filename=name))
    return Response(html, mimetype="text/html")


@bp.get("/docs/<filename>")
@public
def docs_asset(filename):
    """The docs page's scripts and styles."""
    if filename in os.listdir(PAGE_DIR):
        return send_from_directory(PAGE_DIR, filename, max_age=3600)
    return send_from_directory(swagger_ui_dir(), filename, max_age=3600)
