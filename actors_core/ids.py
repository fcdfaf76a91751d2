"""Opaque ids for actors, executions, nonces and workers."""
from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(length: int = 13) -> str:
    """A short opaque id, in the style of Abaco's (not a UUID)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
