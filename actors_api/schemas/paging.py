"""Paging an actor's executions: ``limit``, ``offset`` and an opaque ``cursor``.

Positions count in arrival order (0: the oldest). With neither ``offset`` nor ``cursor`` a
page holds the newest ``limit`` executions (:data:`DEFAULT_LIMIT` unless asked), so an
Abaco client that reads ``ids`` without paging always gets its latest executions, and
``_metadata.total_count`` says how many there are in all. A ``cursor`` (from
``_metadata.next_cursor``) continues just after the last execution listed, however many
arrive meanwhile.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Optional

from ..errors import APIError
from .search import _non_negative

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_POSITION = 2 ** 53  # offsets and cursors past it are no actor's (Redis takes 64-bit ints)
_CURSOR_PREFIX = "after:"


@dataclass(frozen=True)
class Paging:
    limit: int = DEFAULT_LIMIT
    offset: Optional[int] = None
    after: Optional[int] = None  # the sequence a cursor points just after

    def metadata(self, page) -> dict:
        """``_metadata`` for a store ``listing.Page`` (search's names, plus where to go next)."""
        end = page.offset + len(page.ids)
        more = end < page.total
        return {
            "total_count": page.total, "records_skipped": page.offset,
            "record_limit": self.limit, "count_returned": len(page.ids),
            "next_offset": end if more else None,
            "next_cursor": encode_cursor(page.sequences[-1]) if more and page.sequences else None,
            "previous_offset": max(page.offset - self.limit, 0) if page.offset > 0 else None,
        }


def parse_paging(args) -> Paging:
    """The request's paging, or a 400 that names the parameter."""
    limit = _non_negative(args, "limit", DEFAULT_LIMIT)
    if limit > MAX_LIMIT:
        raise APIError(f"'limit' may be at most {MAX_LIMIT}; got {limit}.")
    offset = _non_negative(args, "offset", -1)
    if offset > MAX_POSITION:
        raise APIError(f"'offset' may be at most {MAX_POSITION}; got {offset}.")
    cursor = args.get("cursor") or None
    if cursor is not None and offset >= 0:
        raise APIError("Give either 'cursor' or 'offset', not both.")
    return Paging(limit, offset if offset >= 0 else None,
                  decode_cursor(cursor) if cursor is not None else None)


def encode_cursor(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{sequence}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(text)
        sequence = int(text[len(_CURSOR_PREFIX):])
        if not 0 <= sequence <= MAX_POSITION:
            raise ValueError(text)
        return sequence
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise APIError(f"{cursor!r} is not a cursor this server gave: use _metadata.next_cursor "
                       "of a previous page.")
