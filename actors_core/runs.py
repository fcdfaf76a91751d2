"""Runs: the same stages over many items, in dependency order, then one ``finally`` stage.

Pure policy, no Redis (the transitions are Lua scripts in ``store/runs.py``):

* :func:`plan` checks a run's description (names, needs, cycles) and gives the
  :class:`Plan` the store keeps: stages in a dependency order, what each needs,
  the actor each runs on, and the ``finally`` stage;
* the words of a run: :class:`RunStatus` of the whole, :class:`StageStatus` of
  one item's stage (and of the ``finally`` stage), the event types of its feed;
* :func:`outcome_of` says what an ended execution means for its stage;
* :func:`stage_environment` is what an execution of a stage sees (the item's
  keys, the run's and the stage's ``env``, where it is in the run).
"""
from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NAME_RULE = "1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
MAX_STAGES = 32
MAX_ITEMS = 10_000
FINALLY_ITEM = "finally"  # the finally stage's cell is (FINALLY_ITEM, its name)
SUMMARY_FOLDER = "_run"  # /_abaco_inputs/_run/summary.json (no stage name starts with '_')
SUMMARY_FILE = "summary.json"


class RunStatus(str, enum.Enum):
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"  # every stage of every item and the finally stage succeeded
    FAILED = "FAILED"  # something failed or was skipped (or the finally stage failed)
    CANCELLED = "CANCELLED"  # DELETE /runs/{id}; the finally stage still ran

    def __str__(self) -> str:
        return self.value

    @property
    def ended(self) -> bool:
        return self is not RunStatus.RUNNING


class StageStatus(str, enum.Enum):
    """One item's stage. WAITING -> QUEUED (its execution submitted) -> RUNNING -> an end."""

    WAITING = "WAITING"  # some need has not succeeded yet
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"  # COMPLETE with exit code 0
    FAILED = "FAILED"  # ERROR, or a non-zero exit code
    SKIPPED = "SKIPPED"  # a need failed, was skipped or cancelled: never run
    CANCELLED = "CANCELLED"  # the run (or the stage's execution) was cancelled

    def __str__(self) -> str:
        return self.value

    @property
    def ended(self) -> bool:
        return self in ENDED


ENDED = (StageStatus.SUCCEEDED, StageStatus.FAILED, StageStatus.SKIPPED, StageStatus.CANCELLED)
ACTIVE = (StageStatus.QUEUED, StageStatus.RUNNING)

# The run's feed (GET /runs/{id}/status), in the order a run meets them; the store's scripts
# write them (tests/unit/test_runs.py checks that they write no other).
EVENT_TYPES = (
    "RUN_ACCEPTED",
    "STAGE_QUEUED",  # a stage became ready after its needs, or is issued again
    "STAGE_STARTED",
    *(f"STAGE_{s.value}" for s in ENDED),  # STAGE_SUCCEEDED, STAGE_FAILED, ...
    "ITEM_ENDED",
    "FINALLY_QUEUED",
    "CANCEL_REQUESTED",
    "RERUN",
    *(f"RUN_{s.value}" for s in RunStatus if s.ended),  # the final events
)


class RunSpecError(ValueError):
    """A description that cannot run; the message names what is wrong."""


@dataclass(frozen=True)
class Stage:
    name: str
    actor_id: str
    needs: tuple = ()
    env: dict = field(default_factory=dict)
    message: object = None  # None: the empty string

    def as_dict(self) -> dict:
        return {"name": self.name, "actor_id": self.actor_id, "needs": list(self.needs),
                "env": dict(self.env), "message": self.message}


@dataclass(frozen=True)
class Plan:
    """A checked description: ``stages`` in dependency order (a stage after what it needs,
    otherwise as given), the ``finally`` stage (or None) and the run's ``env``."""

    stages: tuple
    final: Optional[Stage] = None
    env: dict = field(default_factory=dict)

    def stage(self, name: str) -> Stage:
        for stage in self.stages + ((self.final,) if self.final else ()):
            if stage.name == name:
                return stage
        raise KeyError(name)

    @property
    def names(self) -> list:
        return [s.name for s in self.stages]

    def roots(self) -> list:
        return [s.name for s in self.stages if not s.needs]

    def dag(self) -> dict:
        """What the store's scripts read: names in order, needs, and the finally stage."""
        return {"order": self.names, "needs": {s.name: list(s.needs) for s in self.stages},
                "finally": self.final.name if self.final else None}

    def as_dict(self) -> dict:
        return {"stages": [s.as_dict() for s in self.stages],
                "finally": self.final.as_dict() if self.final else None, "env": dict(self.env)}

    @classmethod
    def from_dict(cls, data: dict) -> "Plan":
        def stage(d):
            return Stage(d["name"], d["actor_id"], tuple(d.get("needs") or ()),
                         dict(d.get("env") or {}), d.get("message"))

        return cls(tuple(stage(d) for d in data["stages"]),
                   stage(data["finally"]) if data.get("finally") else None,
                   dict(data.get("env") or {}))


def plan(stages: Iterable[dict], final: Optional[dict] = None, env: Optional[dict] = None,
         resolve=lambda ident: ident) -> Plan:
    """Check a run's stages and give them in dependency order.

    Each stage dict has ``name``, ``actor`` (``resolve`` turns it into an actor id; it
    raises what the caller wants, e.g. 404), optional ``needs``, ``env``, ``message``.
    Raises :class:`RunSpecError` naming every unknown need, a repeated name, or a cycle
    (``a -> b -> a``).
    """
    given = list(stages)
    if not given:
        raise RunSpecError("A run needs at least one stage.")
    if len(given) > MAX_STAGES:
        raise RunSpecError(f"A run has at most {MAX_STAGES} stages, not {len(given)}.")
    names = [s["name"] for s in given]
    every = names + ([final["name"]] if final else [])
    for name in every:
        if not NAME.match(name):
            raise RunSpecError(f"Stage name {name!r} is not valid: {NAME_RULE}.")
    repeated = sorted({n for n in every if every.count(n) > 1})
    if repeated:
        raise RunSpecError(f"Stage names must be unique: {', '.join(repeated)} "
                           "given more than once.")
    unknown = []
    for stage in given + ([final] if final else []):
        for need in stage.get("needs") or ():
            if need not in names:
                unknown.append(f"{stage['name']} needs {need!r}")
    if unknown:
        raise RunSpecError("Unknown stage names in needs: " + "; ".join(unknown) + ".")
    order = _order(names, {s["name"]: list(dict.fromkeys(s.get("needs") or ())) for s in given})
    by_name = {s["name"]: s for s in given}

    def build(spec: dict) -> Stage:
        return Stage(spec["name"], resolve(spec["actor"]),
                     tuple(dict.fromkeys(spec.get("needs") or ())),
                     dict(spec.get("env") or {}), spec.get("message"))

    return Plan(tuple(build(by_name[n]) for n in order), build(final) if final else None,
                dict(env or {}))


def _order(names: list, needs: dict) -> list:
    """Kahn's order, stable (as given where the needs allow); a cycle is named."""
    done, order = set(), []
    while len(order) < len(names):
        ready = [n for n in names if n not in done and set(needs[n]) <= done]
        if not ready:
            raise RunSpecError(f"The stages' needs form a cycle: {_cycle(names, needs, done)}.")
        order.append(ready[0])
        done.add(ready[0])
    return order


def _cycle(names: list, needs: dict, done: set) -> str:
    """One cycle among the stages not yet ordered, as ``a -> b -> a``."""
    start = next(n for n in names if n not in done)
    path, seen = [start], {start: 0}
    while True:
        following = next(n for n in needs[path[-1]] if n not in done)
        if following in seen:
            loop = path[seen[following]:] + [following]
            return " -> ".join(reversed(loop))  # said in the direction work flows
        seen[following] = len(path)
        path.append(following)


# -- what ended executions mean ------------------------------------------------------------
def outcome_of(record: dict) -> tuple:
    """(StageStatus, reason, detail) for an execution's final record.

    COMPLETE with exit code 0 succeeded; ERROR or another exit code failed; an
    execution that ended without ever running (cancelled while queued, refused at
    start) was cancelled.
    """
    status = str(record.get("status"))
    exit_code = record.get("exit_code")
    message = record.get("status_message") or ""
    detail = {"execution_status": status, "exit_code": exit_code}
    if status == "ERROR":
        return StageStatus.FAILED, message or "The execution ended in ERROR.", detail
    if exit_code is None:
        return StageStatus.CANCELLED, message or "The execution never ran.", detail
    if int(exit_code) != 0:
        forced = (record.get("final_state") or {}).get("ForceQuit")
        why = "was force-quit" if forced else f"exited with code {exit_code}"
        return StageStatus.FAILED, f"The execution {why}.", detail
    return StageStatus.SUCCEEDED, "", detail


# -- what an execution of a stage sees -------------------------------------------------------
def stage_environment(run_id: str, plan_: Plan, stage: Stage, item, item_env: dict,
                      attempt: int, cancelled: bool = False) -> dict:
    """The run's ``env``, the stage's ``env``, the item's keys (the item wins), then where
    the execution stands in the run. ``item`` is the item's index, or FINALLY_ITEM."""
    environment = {}
    environment.update(plan_.env)
    environment.update(stage.env)
    environment.update(item_env)
    environment.update({"_abaco_run_id": run_id, "_abaco_run_item": str(item),
                        "_abaco_run_stage": stage.name, "_abaco_run_attempt": str(attempt)})
    if item == FINALLY_ITEM:
        environment["_abaco_run_cancelled"] = "true" if cancelled else "false"
    return {str(k): str(v) for k, v in environment.items()}


def message_body(message) -> tuple:
    """(content type, body bytes) of a stage's ``message``: a string as text, anything
    else as JSON, nothing as the empty text."""
    if message is None:
        return "str", b""
    if isinstance(message, str):
        return "str", message.encode()
    return "application/json", json.dumps(message).encode()


def item_env(values: dict) -> dict:
    """An item's keys as environment variables: numbers as written, booleans as true/false."""
    def text(value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return {str(k): text(v) for k, v in values.items()}


def item_status(cells: Iterable[str]) -> str:
    """An item as a whole: RUNNING until every stage ended, then COMPLETE if all
    succeeded, CANCELLED if anything was cancelled and nothing failed, else FAILED."""
    statuses = [StageStatus(c) for c in cells]
    if not all(s.ended for s in statuses):
        return str(RunStatus.RUNNING)
    if all(s is StageStatus.SUCCEEDED for s in statuses):
        return str(RunStatus.COMPLETE)
    if StageStatus.FAILED not in statuses and StageStatus.CANCELLED in statuses:
        return str(RunStatus.CANCELLED)
    return str(RunStatus.FAILED)

