"""The front door's Lua scripts (``lua/*.lua``): each is ``guard.lua`` followed by its body.

``guard.lua`` refuses a revoked token and checks the guards of a cached access decision
(store/access.py) before the body runs, so posting a message or reading an execution is one
round trip whatever the API cached. :func:`call` lays out the guard's keys and arguments and
turns its refusals into exceptions. Values every call would send alike (the fields every new
execution starts with) are compiled into the script as Lua tables instead (:func:`guarded`).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

from . import keys

LUA = Path(__file__).with_name("lua")


class TokenRevoked(Exception):
    """The caller's token was revoked: the script changed nothing."""


class StaleAccess(Exception):
    """A value the caller's access decision rested on has changed: decide again."""


@lru_cache(maxsize=None)
def _text(name: str) -> str:
    return (LUA / f"{name}.lua").read_text()


def source(name: str, constants: Optional[dict] = None, preludes: Sequence[str] = ()) -> str:
    """``preludes`` (Lua functions shared with other scripts, e.g. work.py's ``wake``), then
    ``guard.lua``, then ``local NAME = {field, value, ...}`` for each of ``constants``
    (name -> pairs of str/bytes/int), then ``{name}.lua``."""
    tables = [f"local {table} = {{{', '.join(_lua(item) for pair in pairs for item in pair)}}}"
              for table, pairs in (constants or {}).items()]
    return "\n".join([*preludes, _text("guard"), *tables, _text(name)])


def guarded(redis, name: str, constants: Optional[dict] = None, preludes: Sequence[str] = ()):
    """The registered script (EVALSHA, loaded once per server on first use)."""
    return redis.register_script(source(name, constants, preludes))


def layout(token_id: Optional[str], guards: Sequence, body_keys: list, body_args: list) -> tuple:
    """(keys, args) of a guarded script: the guard's first, then the body's."""
    guard_keys = [keys.revoked_token(token_id or "")]
    guard_args = ["1" if token_id else "0", len(guards)]
    for guard in guards:
        guard_keys.append(guard.key)
        guard_args += (guard.fields, guard.expected)
    return guard_keys + body_keys, guard_args + body_args


def call(script, token_id: Optional[str], guards: Sequence, body_keys: list, body_args: list):
    """Run a guarded script; its answer after the leading ``b'ok'``.

    ``guards`` are :class:`~actors_core.store.access.Guard`. Raises :class:`TokenRevoked` or
    :class:`StaleAccess` when the guard refused.
    """
    all_keys, all_args = layout(token_id, guards, body_keys, body_args)
    answer = script(keys=all_keys, args=all_args)
    verdict = answer[0]
    if verdict == b"revoked":
        raise TokenRevoked()
    if verdict == b"stale":
        raise StaleAccess()
    return answer[1:]


def _lua(value) -> str:
    """A Lua string literal of ``value`` (every byte that is not plain ASCII escaped)."""
    data = value if isinstance(value, bytes) else str(value).encode()
    return "'" + "".join(chr(b) if 32 <= b < 127 and b not in (39, 92) else f"\\{b}"
                         for b in data) + "'"
