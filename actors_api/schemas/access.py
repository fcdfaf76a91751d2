"""What a user may say when sharing: permissions, nonces, aliases and actor configs."""
from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate, validates

from actors_core.enums import PermissionLevel

from .actor import StringList

# Unreserved URL characters (RFC 3986): an alias or config name is used as a path segment.
NAME = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")
NAME_RULE = "1-128 letters, digits, '.', '_', '~' or '-' (characters safe in a URL)"
# Words that name endpoints under /actors/ (or Abaco's) and so cannot be aliases.
RESERVED_ALIASES = ("executions", "nonces", "logs", "messages", "adapters", "admin", "aliases",
                    "search", "configs", "utilization", "permissions", "state", "workers",
                    "metrics", "results")
MAX_NONCE_USES = 1_000_000_000


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


# The same rules as JSON Schema, for the OpenAPI document (actors_api/openapi.py).
NAME_DOC = {"pattern": NAME.pattern, "not": {"enum": [".", ".."]}}
ALIAS_DOC = {"pattern": NAME.pattern, "not": {"anyOf": [
    {"enum": [".", ".."]},
    {"pattern": f"^({'|'.join(_any_case(w) for w in RESERVED_ALIASES)})$"}]}}


class Level(fields.Field):
    """A permission level by name (any case), loaded as :class:`PermissionLevel`."""

    def __init__(self, allow_none_level: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.allow_none_level = allow_none_level

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            level = PermissionLevel.parse(value)
        except ValueError as error:
            raise ValidationError(str(error))
        if level is PermissionLevel.NONE and not self.allow_none_level:
            raise ValidationError("Must be READ, EXECUTE or UPDATE.")
        return level


def check_name(value: str, what: str) -> None:
    if not NAME.fullmatch(value) or value in (".", ".."):
        raise ValidationError(f"{what} must be {NAME_RULE}.")


class PermissionSchema(Schema):
    user = fields.String(required=True, validate=validate.Length(min=1, max=256))
    level = Level(required=True)


class NonceSchema(Schema):
    level = Level(allow_none_level=False, load_default=PermissionLevel.EXECUTE)
    max_uses = fields.Integer(load_default=-1, metadata={"anyOf": [
        {"const": -1}, {"minimum": 1, "maximum": MAX_NONCE_USES}]})
    description = fields.String(load_default="", validate=validate.Length(max=1024))

    @validates("max_uses")
    def valid_uses(self, value, **kwargs):
        if value == 0 or value < -1 or value > MAX_NONCE_USES:
            raise ValidationError(f"Must be -1 (unlimited) or between 1 and {MAX_NONCE_USES}.")


class AliasSchema(Schema):
    alias = fields.String(required=True, metadata=ALIAS_DOC)
    actor_id = fields.String(required=True, validate=validate.Length(min=1, max=256))

    @validates("alias")
    def valid_alias(self, value, **kwargs):
        check_name(value, "An alias")
        if value.lower() in RESERVED_ALIASES:
            raise ValidationError(f"{value!r} is a reserved word; these cannot be aliases: "
                                  f"{', '.join(RESERVED_ALIASES)}.")


class AliasUpdateSchema(AliasSchema):
    alias = fields.String(metadata=ALIAS_DOC)  # optional in a PUT; if given, the URL's alias


class ConfigSchema(Schema):
    name = fields.String(required=True, metadata=NAME_DOC)
    value = fields.String(required=True, validate=validate.Length(max=65536))
    is_secret = fields.Boolean(load_default=False)
    actors = StringList(required=True)

    @validates("name")
    def valid_name(self, value, **kwargs):
        check_name(value, "A config name")


class ConfigUpdateSchema(ConfigSchema):
    name = fields.String(metadata=NAME_DOC)  # optional in a PUT; if given, the URL's name
