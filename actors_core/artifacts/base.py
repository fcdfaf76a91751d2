"""The artifact store interface: put a whole object, open one, delete a prefix.

Keys are relative POSIX paths (``<actor>/<execution>/<output path>``) with no
empty, ``.`` or ``..`` component, so no key can name anything outside the
store, whatever the backend does with it.
"""
from __future__ import annotations

import abc
from typing import BinaryIO


class ArtifactMissing(Exception):
    """No object under that key (never written, expired or removed)."""


def check_key(key: str) -> str:
    """The key itself if it is a confined relative path; ValueError if not."""
    parts = key.split("/")
    if (not key or "\\" in key or "\0" in key or key.startswith("/")
            or any(part in ("", ".", "..") for part in parts)):
        raise ValueError(f"{key!r} is not a relative path inside the artifact store")
    return key


def execution_prefix(actor_id: str, execution_id: str) -> str:
    return f"{check_key(actor_id)}/{check_key(execution_id)}/"


def output_key(actor_id: str, execution_id: str, path: str) -> str:
    return check_key(execution_prefix(actor_id, execution_id) + "outputs/" + path)


class ArtifactStore(abc.ABC):
    url: str

    @abc.abstractmethod
    def put(self, key: str, stream: BinaryIO) -> None:
        """Store everything ``stream`` yields under ``key``. Atomic: until the last byte
        is in, readers see the old object or none, never part of the new one."""

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A binary stream of the object (the caller closes it); ArtifactMissing if none."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with ``prefix`` (a folder-like ``a/b/``);
        how many were removed. Safe to call twice, and concurrently."""
