"""Timestamps as the records store them: ISO 8601 UTC ending in Z."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Optional


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def isoformat(moment: datetime) -> str:
    """ISO 8601 UTC ending in Z, with microseconds."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_iso() -> str:
    return isoformat(utcnow())


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# A broadly conforming ISO 8601 time as search values are written (Abaco reads them so):
# any prefix of YYYY-MM-DDTHH:MM:SS.ffffff, 'T' or a space, and an optional Z or offset.
_LENIENT = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{1,2})(?:-(?P<day>\d{1,2})"
    r"(?:[T ](?P<hour>\d{1,2})?(?::(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?)?)?)?)?"
    r"(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?$")


_PLUS_AS_SPACE = re.compile(r"^(.*T\d{1,2}(?::\d{2}){0,2}(?:\.\d+)?) (\d{2}(?::?\d{2})?)$")


def parse_partial_iso(text) -> Optional[datetime]:
    """An aware datetime from a full or partial ISO 8601 time, or None if it is not one.

    What is left out is the earliest it can be: month and day 1, hour, minutes and seconds
    0; no offset means UTC. ``2000-01-01T01:00`` is 01:00 UTC that day, ``2000-01-01`` its
    midnight, ``2000`` midnight of 1 January, and ``2000-05:00`` (a year and an offset, as
    Abaco reads it) midnight of 1 January 2000 at UTC-05:00.
    """
    if not isinstance(text, str):
        return None
    # an unencoded '+' of an offset arrives in a query string as a space
    text = _PLUS_AS_SPACE.sub(r"\1+\2", text.strip())
    match = _LENIENT.match(text)
    if not match:
        return None
    part = {name: int(value) for name, value in match.groupdict().items()
            if value and name not in ("zone", "fraction")}
    micro = int((match["fraction"] or "0")[:6].ljust(6, "0"))
    zone = match["zone"] or "Z"
    if zone in "Zz":
        tz = timezone.utc
    else:
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        tz = timezone(offset if zone[0] == "+" else -offset)
    try:
        return datetime(part["year"], part.get("month", 1), part.get("day", 1),
                        part.get("hour", 0), part.get("minute", 0), part.get("second", 0),
                        micro, tzinfo=tz)
    except ValueError:  # 2000-13-01, 2000-02-30...
        return None
