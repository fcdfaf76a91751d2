"""What a user may say about a run (POST /runs) and a re-run (POST /runs/{id}/rerun).

The shape is checked here; what a shape cannot say (every need names a stage, no
cycle, unique names) is actors_core/runs.py's :func:`~actors_core.runs.plan`,
after the actors are found, so an answer names the first real problem.
"""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from actors_core.runs import MAX_ITEMS, MAX_STAGES, NAME, NAME_RULE

from .actor import ENV_NAME, JSONDict

STAGE_NAME = validate.Regexp(NAME, error=f"Must be {NAME_RULE}.")


class ItemField(fields.Field):
    """One item: names -> strings, numbers or booleans, each an environment variable of
    every execution of the item."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("Each item must be an object of names to values.")
        for key, item in value.items():
            if not ENV_NAME.match(str(key)):
                raise ValidationError(f"Name {key!r} cannot be an environment variable.")
            if isinstance(item, (dict, list)) or item is None:
                raise ValidationError(f"{key!r} must be a string, a number or a boolean.")
        return value


class StageSchema(Schema):
    name = fields.String(required=True, validate=STAGE_NAME)
    actor = fields.String(required=True, validate=validate.Length(min=1, max=256),
                          metadata={"description": "An actor id or alias; the caller needs "
                                                   "EXECUTE on it."})
    needs = fields.List(fields.String(validate=STAGE_NAME), validate=validate.Length(
        max=MAX_STAGES), metadata={"description": "Names of the stages it waits for."})
    env = JSONDict(metadata={"description": "Environment variables of its executions."})
    message = fields.Raw(allow_none=True, metadata={
        "description": "The message its executions get: a string as text, any other JSON "
                       "value as JSON. A finally stage without one gets the run's summary."})


class RunSchema(Schema):
    stages = fields.List(fields.Nested(StageSchema), required=True,
                         validate=validate.Length(min=1, max=MAX_STAGES))
    items = fields.List(ItemField(), required=True, validate=validate.Length(min=1, max=MAX_ITEMS),
                        metadata={"description": "One object per item; its keys become "
                                                 "environment variables of every stage."})
    env = JSONDict(metadata={"description": "Environment variables of every execution."})
    finally_ = fields.Nested(StageSchema, data_key="finally", allow_none=True, metadata={
        "description": "A stage run once after every item ended, however they ended."})


class RerunSchema(Schema):
    items = fields.List(fields.Integer(validate=validate.Range(min=0)), allow_none=True,
                        metadata={"description": "Item indexes (default: all)."})
    stages = fields.List(fields.String(validate=STAGE_NAME), allow_none=True,
                         metadata={"description": "Stage names (default: all)."})
    force = fields.Boolean(metadata={"description": "Run the chosen stages again even if they "
                                                    "succeeded (default: only failed, skipped "
                                                    "and cancelled ones)."})
