"""Artifacts as files under one folder (the default; a shared file system on a cluster).

Writes go to a hidden temporary file beside the target and are renamed into
place, so a reader never sees half an object. Reads open each path component
with ``O_NOFOLLOW`` below the root: a symbolic link planted inside the store
is refused, never followed out of it.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from .base import ArtifactMissing, ArtifactStore, check_key
from .confined import NotConfined, open_beneath

CHUNK = 1 << 20


class FolderArtifactStore(ArtifactStore):
    def __init__(self, root: str):
        self.root = Path(root)
        self.url = str(self.root)

    def put(self, key: str, stream: BinaryIO) -> None:
        target = self.root / check_key(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        try:
            with open(scratch, "wb") as out:
                shutil.copyfileobj(stream, out, CHUNK)
            os.replace(scratch, target)
        finally:
            scratch.unlink(missing_ok=True)

    def open(self, key: str) -> BinaryIO:
        try:
            fd = open_beneath(self.root, check_key(key))
        except (FileNotFoundError, NotADirectoryError, NotConfined) as error:
            raise ArtifactMissing(key) from error
        return os.fdopen(fd, "rb")

    def delete_prefix(self, prefix: str) -> int:
        folder = self.root / check_key(prefix.rstrip("/"))
        if folder.is_symlink() or not folder.is_dir():
            return 0
        count = sum(len(files) for _, _, files in os.walk(folder))
        shutil.rmtree(folder, ignore_errors=True)
        return count
