"""What a user may say about an actor when registering or replacing it."""
from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from actors_core import actor_fields
from actors_core.cron import CronError, normalize as normalize_cron, parse as parse_cron
from actors_core.platform_variables import refusal

from ..context import parse_json

MEM_LIMIT = re.compile(r"^\d+(\.\d+)?[bkmgBKMG]?$")
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
ENV_NAME = re.compile(r"^[^=\x00]+$")

# Abaco's max_cpus is in nanoCPUs; values this large are read that way.
NANO_CPUS_THRESHOLD = 1_000_000

# What a registration (or a PUT, which replaces the description) starts from: the one
# table in actors_core/actor_fields.py. ActorSchema validates exactly its settable fields.
DEFAULTS = actor_fields.defaults()
MAX_RETRIES = 20


class JSONDict(fields.Dict):
    """A dict of strings, also accepted as a JSON string (how a form field carries one)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            try:
                value = parse_json(value) if value.strip() else {}
            except ValueError:
                raise ValidationError("Must be a JSON object of strings.")
        if not isinstance(value, dict):
            raise ValidationError("Must be an object mapping names to strings.")
        for key, item in value.items():
            if not isinstance(item, str) or not ENV_NAME.match(str(key)):
                raise ValidationError(f"Entry {key!r} must be a name without '=' mapping to a string.")
            problem = refusal(key)
            if problem:
                raise ValidationError(problem)
        return value


class StringList(fields.List):
    """A list of strings, also accepted as a JSON list or a comma-separated string."""

    def __init__(self, **kwargs):
        super().__init__(fields.String(), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = parse_json(text)
                except ValueError:
                    raise ValidationError("Must be a list of strings.")
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        return super()._deserialize(value, attr, data, **kwargs)


class GpuCount(fields.Field):
    """A whole number of GPUs, or "all" (every GPU of the host that runs it)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value.strip().lower() == "all":
            return "all"
        if isinstance(value, float) and value.is_integer():  # JSON's 2.0 is a whole number
            value = int(value)
        try:
            count = int(value)
        except (TypeError, ValueError, OverflowError):
            raise ValidationError("Must be a whole number of GPUs or 'all'.")
        if count < 0 or isinstance(value, bool) or str(value).strip() != str(count):
            raise ValidationError("Must be a whole number of GPUs (0 or more) or 'all'.")
        return count


class CronScheduleField(fields.String):
    """``"<start: YYYY-MM-DD HH | now> + <n> <unit>"``, checked here (see actors_core/cron.py)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip():
            return None
        try:
            parse_cron(text)
        except CronError as error:
            raise ValidationError(str(error))
        return normalize_cron(text)


class WebhookUrl(fields.Url):
    """An http(s) URL; an empty string clears it (as a form field sends "no webhook")."""

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if isinstance(value, str) and not value.strip():
            return None
        return super().deserialize(value, attr, data, **kwargs)


class ActorSchema(Schema):
    """The settable fields of actors_core/actor_fields.py, each with its validation."""

    image = fields.String(required=True, validate=validate.Length(min=1, max=512))
    name = fields.String(allow_none=True, validate=validate.Length(max=256))
    description = fields.String(validate=validate.Length(max=4096))
    default_environment = JSONDict()
    stateless = fields.Boolean()
    privileged = fields.Boolean()
    max_workers = fields.Integer(allow_none=True, validate=validate.Range(min=1))
    mem_limit = fields.String(allow_none=True, validate=validate.Regexp(
        MEM_LIMIT, error="Must be a size such as '512m' or '2g'."))
    max_cpus = fields.Float(allow_none=True, validate=validate.Range(min=0, min_inclusive=False))
    hints = StringList()
    queue = fields.String(validate=validate.Regexp(
        QUEUE_NAME, error="Must be 1-64 letters, digits, '_', '.' or '-'."))
    log_ex = fields.Integer(allow_none=True, validate=validate.Range(min=1))
    token = fields.Boolean()
    use_container_uid = fields.Boolean()
    gpus = GpuCount()
    gpu_memory_min = fields.Integer(allow_none=True, validate=validate.Range(min=0))
    # Events (docs/events.md): checked against the store in routes/actors.py.
    link = fields.String(allow_none=True, validate=validate.Length(max=256))
    webhook = WebhookUrl(allow_none=True, schemes={"http", "https"}, require_tld=False,
                         error_messages={"invalid": "Must be an http:// or https:// URL."})
    cron_schedule = CronScheduleField(allow_none=True)
    cron_on = fields.Boolean()
    # Retries (spawner/retries.py): tries after an ERROR (or a non-zero exit code, if asked).
    max_retries = fields.Integer(validate=validate.Range(min=0, max=MAX_RETRIES))
    retry_backoff = fields.Float(validate=validate.Range(min=0, max=3600))
    retry_on_exit_code = fields.Boolean()
    # Warm actors (docs/warm.md); the operator's caps are checked in auth.check_warm_caps.
    warm = fields.Boolean()
    warm_form = fields.String(validate=validate.OneOf(("exec", "handler")))
    warm_idle_seconds = fields.Integer(allow_none=True, validate=validate.Range(min=1))
    concurrency = fields.Integer(validate=validate.Range(min=1))

    @validates_schema
    def stateful_runs_one_at_a_time(self, data, **kwargs):
        if data.get("stateless") is False and data.get("concurrency") not in (None, 1):
            raise ValidationError("stateful actors run one execution at a time. Do not set "
                                  "concurrency on a stateful actor (stateless=false).")

    @validates_schema
    def stateful_has_one_worker(self, data, **kwargs):
        if data.get("stateless") is False and data.get("max_workers") not in (None, 1):
            raise ValidationError("stateful actors can only have 1 worker. Do not set "
                                  "max_workers on a stateful actor (stateless=false).")


class ActorUpdateSchema(ActorSchema):
    force = fields.Boolean()  # Abaco's: check (and pull) the image again


def with_defaults(loaded: dict) -> dict:
    actor = actor_fields.defaults()
    actor.update(loaded)
    for name in ("link", "webhook"):
        actor[name] = actor[name] or None  # "" clears it, as on a form
    if actor["max_cpus"] and actor["max_cpus"] >= NANO_CPUS_THRESHOLD:
        actor["max_cpus"] = actor["max_cpus"] / 1e9
    return actor
