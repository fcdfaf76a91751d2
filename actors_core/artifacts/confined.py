"""Reading below a folder without ever leaving it.

Both sides need it: the spawner collects what an actor left in its outputs
folder (the actor controls every name and may plant symbolic links), and the
folder artifact store serves files. Every path component is opened relative
to its parent's descriptor with ``O_NOFOLLOW``, so neither a symbolic link
(anywhere in the path) nor ``..`` can lead outside, and a name swapped for a
link between listing and opening is refused rather than followed.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterator, NamedTuple, Union

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0)


class NotConfined(Exception):
    """The path is a link, not a regular file, or would leave the folder."""


class Entry(NamedTuple):
    path: str  # relative, "/"-separated
    size: int
    kind: str  # "file", or what was skipped: "symlink", "fifo", "socket", "device", "other"


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "other"


def open_beneath(root: Union[str, Path], relative: str) -> int:
    """A read-only descriptor of the regular file ``root/relative``; the caller closes it.

    FileNotFoundError if it is not there; NotConfined for a link, a special
    file or a ``..``/absolute path.
    """
    parts = relative.split("/")
    if not relative or relative.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise NotConfined(relative)
    current = os.open(root, DIRECTORY_FLAGS)
    try:
        for part in parts[:-1]:
            try:
                following = os.open(part, DIRECTORY_FLAGS, dir_fd=current)
            except OSError as error:
                raise _refusal(error, relative) from None
            os.close(current)
            current = following
        try:
            fd = os.open(parts[-1], FILE_FLAGS, dir_fd=current)
        except OSError as error:
            raise _refusal(error, relative) from None
    finally:
        os.close(current)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotConfined(relative)
    os.set_blocking(fd, True)
    return fd


def _refusal(error: OSError, relative: str) -> Exception:
    import errno

    if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENXIO):  # a link where a name was
        return NotConfined(relative)
    return error


def walk(root: Union[str, Path]) -> Iterator[Entry]:
    """Everything below ``root`` in path order, without following any link.

    Regular files come with their size; links and special files are listed
    with their kind so the caller can say what it skipped; folders are entered,
    except linked ones.
    """
    fd = os.open(root, DIRECTORY_FLAGS)
    yield from _walk(fd, "")


def _walk(fd: int, prefix: str) -> Iterator[Entry]:
    try:
        names = sorted(os.listdir(fd))
        for name in names:
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            path = prefix + name
            if stat.S_ISDIR(info.st_mode):
                try:
                    child = os.open(name, DIRECTORY_FLAGS, dir_fd=fd)
                except OSError:
                    yield Entry(path, 0, "other")
                    continue
                yield from _walk(child, path + "/")
            else:
                kind = _kind(info.st_mode)
                yield Entry(path, info.st_size if kind == "file" else 0, kind)
    finally:
        os.close(fd)
