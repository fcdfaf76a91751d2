"""What a user may say in a search, and what each condition means for one record.

A query string such as ``?status.in=COMPLETE,ERROR&exit_code.gt=0&search=boom&limit=10``
becomes a :class:`Query`: free text (``search``, case-insensitive substring of any
value; ``exactsearch``, a value equal to it exactly), paging (``skip``, ``limit``) and
:class:`Condition` s ``field[.nested...].operator=value``. A bare ``field=value`` means
``field.eq=value``. Values arrive as text and are compared as the record's own type:
numbers as numbers, booleans as ``true``/``false``, ``null`` as a missing value, and
ISO 8601 times as instants (so ``2026-01-01`` < ``2026-01-01T00:00:01Z``; a query may write a
partial time, completed with the earliest instant it names). A list field
(``hints``) matches when any element does (``neq`` and ``nin``: when none does).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

from actors_core.times import parse_partial_iso

from ..errors import APIError

OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "nin", "like", "nlike", "between")
NEGATIVE = ("neq", "nin", "nlike")
RESERVED = ("search", "exactsearch", "skip", "limit", "x-nonce")
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
KINDS = ("actors", "executions", "workers", "logs")

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|z|[+-]\d{2}:?\d{2})?$")
_MISSING = object()


def parse_time(text: str) -> Optional[datetime]:
    """An aware datetime from ISO 8601 text (naive: UTC), or None if it is not one."""
    if not isinstance(text, str) or not _ISO.match(text.strip()):
        return None
    value = text.strip()
    if value[-1] in "Zz":
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _coerce(text: str, like: Any):
    """The query text as the type of the record's value ``like``; _MISSING if it cannot be."""
    if like is None:
        return None if text.strip().lower() in ("null", "none", "") else _MISSING
    if isinstance(like, bool):
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        return _MISSING
    if isinstance(like, (int, float)):
        try:
            return float(text)
        except ValueError:
            return _MISSING
    if isinstance(like, str):
        moment = parse_time(like)
        if moment is not None:  # a time: the query may write a partial one (2026-05-01)
            other = parse_partial_iso(text)
            return other if other is not None else _MISSING
        return text
    return text if isinstance(like, str) else _MISSING


def _comparable(value: Any):
    """The record's value in the form _coerce produces for its type."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        moment = parse_time(value)
        return moment if moment is not None else value
    return value


def _wildcard(pattern: str) -> re.Pattern:
    """``like``: case-insensitive substring; ``*`` or ``%`` stand for any run of characters."""
    parts = re.split(r"[*%]", pattern)
    return re.compile(".*".join(re.escape(p) for p in parts), re.IGNORECASE | re.DOTALL)


def resolve(record: dict, path: tuple):
    """The value at a dotted path (a number indexes a list), or _MISSING."""
    value = record
    for part in path:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


@dataclass(frozen=True)
class Condition:
    """One ``path.op=value`` clause; ``values`` holds one value, or the list for in/nin/between."""

    path: tuple
    op: str
    values: tuple

    @property
    def name(self) -> str:
        return ".".join(self.path)

    def matches(self, record: dict) -> bool:
        value = resolve(record, self.path)
        elements = value if isinstance(value, list) else [value]
        hit = any(self._positive(e) for e in elements if e is not _MISSING)
        return not hit if self.op in NEGATIVE else hit

    def _positive(self, value) -> bool:
        """Whether one scalar satisfies the operator (the negative ones as their positive)."""
        op = self.op
        if op in ("like", "nlike"):
            if value is None or isinstance(value, (dict, list)):
                return False
            text = value if isinstance(value, str) else json.dumps(value)
            return bool(_wildcard(self.values[0]).search(text))
        mine = _comparable(value)
        theirs = [_coerce(v, value) for v in self.values]
        if op in ("eq", "neq", "in", "nin"):
            return any(t is not _MISSING and t == mine for t in theirs)
        if mine is None or isinstance(mine, (bool, dict, list)) or _MISSING in theirs:
            return False
        try:
            if op == "gt":
                return mine > theirs[0]
            if op == "gte":
                return mine >= theirs[0]
            if op == "lt":
                return mine < theirs[0]
            if op == "lte":
                return mine <= theirs[0]
            if op == "between":
                low, high = theirs
                return low <= mine <= high
        except TypeError:  # e.g. a time against a plain string
            return False
        raise AssertionError(op)


@dataclass
class Query:
    kind: str
    conditions: list = field(default_factory=list)
    text: Optional[str] = None
    exact: Optional[str] = None
    skip: int = 0
    limit: int = DEFAULT_LIMIT

    def matches(self, record: dict) -> bool:
        """Every condition and the free text hold for the record."""
        if not all(c.matches(record) for c in self.conditions):
            return False
        if self.text is not None:
            needle = self.text.lower()
            if not any(needle in s.lower() for s in _scalars(record)):
                return False
        if self.exact is not None and not any(self.exact == s for s in _scalars(record)):
            return False
        return True


def _scalars(value):
    """Every scalar value of a record at any depth, as text (keys are not searched)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif value is not None:
        yield value if isinstance(value, str) else json.dumps(value)


def _non_negative(args, name: str, default: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        number = int(raw)
    except ValueError:
        raise APIError(f"{name!r} must be a whole number; got {raw!r}.")
    if number < 0:
        raise APIError(f"{name!r} must not be negative; got {number}.")
    return number


def _list_values(raw: str) -> tuple:
    """The values of ``in``, ``nin`` and ``between``: a JSON list, as Abaco clients write
    them (``["COMPLETE", "READY"]``, single quotes too), or comma-separated text."""
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        for candidate in (text, text.replace("'", '"')):
            try:
                items = json.loads(candidate)
            except ValueError:
                continue
            return tuple(item if isinstance(item, str) else json.dumps(item) for item in items)
        raise APIError(f"{raw!r} is not a JSON list: write [\"a\", \"b\"] or a,b.")
    return tuple(raw.split(",")) if raw != "" else ()


def parse_query(kind: str, args, fields: tuple, to_snake=None) -> Query:
    """A Query from request arguments (a MultiDict); 400 naming any bad field, operator or
    value. ``fields`` are the top-level fields a record of ``kind`` has; ``to_snake``
    renames camelCase field names when the API speaks camelCase."""
    query = Query(kind=kind, text=args.get("search"), exact=args.get("exactsearch"),
                  skip=_non_negative(args, "skip", 0),
                  limit=_non_negative(args, "limit", DEFAULT_LIMIT))
    if query.limit > MAX_LIMIT:
        raise APIError(f"'limit' may be at most {MAX_LIMIT}; got {query.limit}.")
    for key, raw in args.items(multi=True):
        if key in RESERVED:
            continue
        parts = key.split(".")
        if len(parts) == 1:
            path, op = parts, "eq"
        else:
            path, op = parts[:-1], parts[-1]
            if op not in OPERATORS:
                raise APIError(f"Unknown search operator {op!r} in {key!r}: use one of "
                               f"{', '.join(OPERATORS)} (e.g. {'.'.join(path)}.eq=...).")
        if to_snake is not None:
            path = [to_snake(path[0])] + path[1:]
        if path[0] not in fields or not all(path):
            raise APIError(f"Unknown field {path[0]!r} for a search of {kind}: use one of "
                           f"{', '.join(sorted(fields))}.")
        if op in ("in", "nin"):
            values = _list_values(raw)
        elif op == "between":
            values = _list_values(raw)
            if len(values) != 2:
                raise APIError(f"{key!r} takes two values, low and high: {key}=a,b.")
        else:
            values = (raw,)
        query.conditions.append(Condition(tuple(path), op, values))
    return query
