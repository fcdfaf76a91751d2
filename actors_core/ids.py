"""Opaque ids for actors, executions, nonces and workers."""
from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(length: int = 13) -> str:
    """A short opaque id, in the style of Abaco's (not a UUID).

    Each character is uniform over letters and digits: the digits of a random number
    with 64 bits more than the id needs, in base 62 (bias below 2**-64), from one read of
    the system's randomness instead of one per character.
    """
    number = int.from_bytes(secrets.token_bytes((length * 6 + 64 + 7) // 8), "big")
    characters = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        characters.append(_ALPHABET[digit])
    return "".join(characters)
