"""Cron schedules: ``"<start> + <n> <unit>"`` parsed once, and the next firing time.

``<start>`` is ``YYYY-MM-DD HH`` (UTC, on the hour; month, day and hour need no
zero padding, as in Abaco: ``2078-09-6 20``) or ``now`` (the current hour);
``<unit>`` is hour, day, week or month (plural or not). The ``+`` may also be a
space: in a form body (``curl -d "cron_schedule=2026-12-01 08 + 1 day"``) a
``+`` arrives as a space, and the schedule is stored with its ``+`` back. The schedule
fires at ``start``, ``start + period``, ``start + 2 periods``... A start in
the past counts from the current hour: the first firing is the first of those
times at or after the start of the current hour, so ``now`` fires at once.
A spawner that was down for several periods fires once, then moves to the
next time after now: missed periods are skipped, never fired in a burst.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

UNITS = ("hour", "day", "week", "month")
_SCHEDULE = re.compile(
    r"^\s*(?P<start>now|\d{4}-\d{1,2}-\d{1,2}\s+\d{1,2})(?:\s*\+\s*|\s+)(?P<n>\d+)\s*"
    r"(?P<word>(?P<unit>[a-z]+?)s?)\s*$",
    re.IGNORECASE)
FORMAT_HELP = ("use '<start> + <n> <unit>' where <start> is 'YYYY-MM-DD HH' (UTC) or 'now' "
               "and <unit> is hour, day, week or month, e.g. '2025-01-01 12 + 1 day'")


class CronError(ValueError):
    """A schedule that cannot be understood; the message says how to write one."""


@dataclass(frozen=True)
class Schedule:
    start: Optional[datetime]  # None: "now"
    every: int
    unit: str

    def at(self, start: datetime, periods: int) -> datetime:
        """``start`` plus ``periods`` periods (months from ``start`` each time, so no drift)."""
        if self.unit == "month":
            return add_months(start, self.every * periods)
        hours = {"hour": 1, "day": 24, "week": 24 * 7}[self.unit]
        return start + timedelta(hours=hours * self.every * periods)

    def first(self, now: datetime) -> datetime:
        """The first firing at or after the start of ``now``'s hour."""
        hour = current_hour(now)
        return self.at_or_after(self.start or hour, hour)

    def next_after(self, fired: datetime, now: datetime) -> datetime:
        """The firing after ``fired`` that is later than ``now`` (missed ones skipped)."""
        return self.at_or_after(self.start or fired, max(fired, now) + timedelta(microseconds=1))

    def at_or_after(self, start: datetime, bound: datetime) -> datetime:
        """The first of ``start, start + period, ...`` that is not before ``bound``."""
        if start >= bound:
            return start
        if self.unit == "month":
            months = (bound.year - start.year) * 12 + bound.month - start.month
            periods = max(months // self.every - 1, 0)
        else:
            periods = max(int((bound - start) / (self.at(start, 1) - start)) - 1, 0)
        while self.at(start, periods) < bound:
            periods += 1
        return self.at(start, periods)


def parse(text: str) -> Schedule:
    match = _SCHEDULE.match(str(text or ""))
    if not match:
        raise CronError(f"{text!r} is not a cron schedule: {FORMAT_HELP}.")
    unit = match["unit"].lower()
    if unit not in UNITS:
        raise CronError(f"{match['unit']!r} is not a unit: use hour, day, week or month.")
    every = int(match["n"])
    if every < 1:
        raise CronError("The period must be at least 1 (e.g. '+ 1 hour').")
    start = None
    if match["start"].lower() != "now":
        day, hour = match["start"].split()
        try:
            start = datetime.strptime(f"{day} {int(hour):02d}", "%Y-%m-%d %H").replace(
                tzinfo=timezone.utc)
        except ValueError:
            raise CronError(f"{match['start']!r} is not a date and hour: {FORMAT_HELP}.")
    schedule = Schedule(start, every, unit)
    try:  # firings must stay within the calendar (year 9999), or the schedule never fires
        schedule.at(max(start or current_hour(datetime.now(timezone.utc)),
                        current_hour(datetime.now(timezone.utc))), 2)
    except (OverflowError, ValueError):
        raise CronError(f"'{every} {unit}' from {match['start']!r} runs past the year 9999; "
                        "use a shorter period or an earlier start.")
    return schedule


def normalize(text: str) -> str:
    """The schedule as stored and shown: as written, with single spaces and its ``+``
    (which a form body turns into a space) in place. Call only on a valid schedule."""
    match = _SCHEDULE.match(str(text or ""))
    if not match:
        raise CronError(f"{text!r} is not a cron schedule: {FORMAT_HELP}.")
    start = " ".join(match["start"].split())
    return f"{start} + {match['n']} {match['word']}"


def current_hour(now: datetime) -> datetime:
    return now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months later, the day clamped to the month's length (Jan 31 + 1 -> Feb 28)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def next_ex_for(actor: dict, current: Optional[dict] = None,
                now: Optional[datetime] = None) -> Optional[str]:
    """The ``cron_next_ex`` an actor being registered or replaced gets (ISO 8601 Z).

    An unchanged schedule keeps the time already set, so replacing an actor for
    another reason neither skips nor repeats a firing.
    """
    from .times import isoformat, utcnow

    text = actor.get("cron_schedule")
    if not text:
        return None
    if current and current.get("cron_schedule") == text and current.get("cron_next_ex"):
        return current["cron_next_ex"]
    return isoformat(parse(text).first(now or utcnow()))
