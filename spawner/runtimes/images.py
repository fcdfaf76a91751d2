"""Image folders for the process runtime: find one, read its Dockerfile, stage it.

An "image" here is a folder holding a Dockerfile, as in this repository's
``images/<name>/``. Nothing is built: the Dockerfile is read for what a
process can honour (ARG, ENV, WORKDIR, COPY, CMD, ENTRYPOINT) and the rest is
ignored. ``RUN`` in particular is skipped, so whatever it would install must
already be on the host; ``USER`` is ignored (the spawner's container_user
applies); ``ADD`` and ``COPY --from`` (multi-stage) make the image unavailable;
``.dockerignore`` is not read (only ``__pycache__`` and ``*.pyc`` are skipped).

COPY is honoured by *staging*: the sources are copied once into a private
folder laid out like the container's filesystem (``<cache>/<hash>/rootfs/``),
and the container paths the image copied to are rewritten to their staged
host paths wherever the image uses them (its ENV values, WORKDIR, CMD and
ENTRYPOINT; not the execution's own environment, so a message is never
altered): see :func:`_host_path` for which paths count. The cache key covers the
Dockerfile, the sources' names, sizes and modification times and the Python
interpreter, so editing an actor's code gives a fresh staging folder (for
executions that start more than ``process.STAGE_SECONDS`` later) and a
staging folder is never changed once made (several spawner processes can share
the cache: each stages into a temporary folder and renames it into place).

The build context is the repository root, i.e. the image folder's grandparent
(``images/echo/..`` / ``..``), as ``docker build -f images/echo/Dockerfile .``
would use; a source missing there is looked up in the image folder itself.
Sources may not leave their context, as with Docker.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import posixpath
import re
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import spawner

from .base import ImageUnavailable

REPOSITORY_IMAGES = Path(spawner.__file__).resolve().parent.parent / "images"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # Docker's default
CACHE_FORMAT = "1"  # bump when the staging layout changes
SKIPPED = ("__pycache__", "*.pyc")
PYTHON_NAME = re.compile(r"python(\d+(\.\d+)?)?$")
# An absolute path inside a larger string: "/opt/a" in "PYTHONPATH=/opt/a:/opt/b".
CONTAINER_PATH = re.compile(r"(?<![\w.~$/-])/[^\s:;,='\"$`]+")
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::-([^}]*))?\}|(\w+))")


@dataclass(frozen=True)
class Copy:
    sources: tuple  # absolute host paths
    dest: str  # absolute container path; ends with "/" when it names a folder


@dataclass
class Recipe:
    """What a Dockerfile asks for, before staging."""

    dockerfile: Path
    env: dict = field(default_factory=dict)
    workdir: Optional[str] = None  # container path
    copies: list = field(default_factory=list)
    entrypoint: Optional[list] = None  # argv
    entrypoint_is_shell: bool = False
    cmd: Optional[list] = None  # argv

    def argv(self) -> list:
        """ENTRYPOINT then CMD, as Docker joins them (a shell-form ENTRYPOINT drops CMD)."""
        if self.entrypoint_is_shell:
            return list(self.entrypoint)
        return list(self.entrypoint or []) + list(self.cmd or [])


@dataclass(frozen=True)
class StagedImage:
    """An image ready to run: host paths only."""

    name: str
    root: Path  # the staging folder (rootfs/ and bin/ inside)
    env: dict
    cwd: Optional[str]  # a host folder, or None when the image's WORKDIR has no host copy
    argv: list
    bin_dir: str  # python/python3 wrappers for the current interpreter; goes first on PATH


def find_image(name: str, search_path: Sequence[str] = ()) -> Path:
    """The folder holding the Dockerfile for ``name``; ImageUnavailable naming where it looked.

    ``name`` is an absolute folder, or a reference like ``actors/echo:latest``
    looked up as ``<dir>/actors/echo`` then ``<dir>/echo`` in each folder of
    ``search_path`` and then in this repository's ``images/``. Tags and
    digests are ignored: one folder is one image.
    """
    if os.path.isabs(name):
        if (Path(name) / "Dockerfile").is_file():
            return Path(name)
        raise ImageUnavailable(f"Image {name!r}: there is no Dockerfile in {name}.")
    reference = name.split("@", 1)[0]
    head, _, last = reference.rpartition("/")
    last = last.split(":", 1)[0]
    repository = f"{head}/{last}" if head else last
    parts = repository.split("/")
    if not last or any(part in ("", ".", "..") for part in parts):
        raise ImageUnavailable(f"Image {name!r} is not a name the process runtime can look up.")
    candidates = [repository] if repository == last else [repository, last]
    folders = [Path(d) for d in search_path] + [REPOSITORY_IMAGES]
    tried = []
    for folder in folders:
        for candidate in candidates:
            path = folder / candidate
            if (path / "Dockerfile").is_file():
                return path
            tried.append(str(path))
    raise ImageUnavailable(f"Image {name!r} has no folder with a Dockerfile for the process "
                           f"runtime; looked in: {', '.join(tried)} (set ACTORS_PROCESS_IMAGE_PATH "
                           f"to add folders).")


def read_dockerfile(folder: Path) -> Recipe:
    """Parse ``folder/Dockerfile`` into a Recipe; ImageUnavailable for what cannot be honoured."""
    dockerfile = folder / "Dockerfile"
    recipe = Recipe(dockerfile=dockerfile)
    contexts = [folder.parent.parent.resolve(), folder.resolve()]
    variables = {"PATH": BASE_PATH}  # what $VAR expands to: ARG defaults, then ENV so far
    for instruction, text in _instructions(dockerfile.read_text()):
        if instruction in ("CMD", "ENTRYPOINT"):
            argv, shell = _command(text)
            if instruction == "CMD":
                recipe.cmd = argv
            else:
                recipe.entrypoint, recipe.entrypoint_is_shell = argv, shell
            continue
        text = _expand(text, variables)
        if instruction == "ARG":
            key, _, default = text.strip().partition("=")
            variables.setdefault(key.strip(), _unquote(default))
        elif instruction == "ENV":
            for key, value in _env_pairs(text):
                recipe.env[key] = variables[key] = value
        elif instruction == "WORKDIR":
            recipe.workdir = posixpath.join(recipe.workdir or "/", _unquote(text.strip()))
        elif instruction == "COPY":
            recipe.copies.append(_copy(text, contexts, recipe.workdir or "/", dockerfile))
        elif instruction == "ADD":
            raise ImageUnavailable(f"{dockerfile}: ADD is not supported by the process runtime; "
                                   f"use COPY.")
        # FROM, RUN, USER, LABEL, EXPOSE, VOLUME, ...: nothing a plain process can do with them.
    if not recipe.argv():
        raise ImageUnavailable(f"{dockerfile} has no CMD or ENTRYPOINT: nothing to run.")
    return recipe


def stage(recipe: Recipe, cache: Path, name: str) -> StagedImage:
    """Copy the recipe's sources under ``cache`` (once per content) and rewrite its paths."""
    root = cache / _fingerprint(recipe)
    if not root.is_dir():
        _stage_into(recipe, root)
    rootfs = root / "rootfs"
    dests = [c.dest.rstrip("/") for c in recipe.copies]

    def rewrite(text: str) -> str:
        return CONTAINER_PATH.sub(lambda m: _host_path(m.group(0), rootfs, dests), text)

    argv = [rewrite(arg) for arg in recipe.argv()]
    if PYTHON_NAME.match(posixpath.basename(argv[0])):
        argv[0] = sys.executable  # the interpreter running us is one that is known to work
    cwd = None
    if recipe.workdir:
        staged = rewrite(recipe.workdir)
        cwd = staged if staged != recipe.workdir else None
    return StagedImage(name=name, root=root, env={k: rewrite(v) for k, v in recipe.env.items()},
                       cwd=cwd, argv=argv, bin_dir=str(root / "bin"))


# -- Dockerfile reading --------------------------------------------------------
def _instructions(text: str):
    """(INSTRUCTION, rest) pairs, with comments dropped and continuation lines joined."""
    logical = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if logical and stripped.startswith("#"):
            continue  # comments may sit between continuation lines
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        instruction, _, rest = logical.partition(" ")
        yield instruction.upper(), rest.strip()
        logical = ""
    if logical.strip():
        instruction, _, rest = logical.strip().partition(" ")
        yield instruction.upper(), rest.strip()


def _command(text: str) -> tuple:
    """(argv, shell_form) for CMD/ENTRYPOINT: a JSON array (exec form) or a shell line."""
    if text.startswith("["):
        try:
            argv = json.loads(text)
        except ValueError:
            argv = None
        if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
            return argv, False
    return ["/bin/sh", "-c", text], True


def _expand(text: str, variables: dict) -> str:
    def value(match):
        name = match.group(1) or match.group(3)
        found = variables.get(name)
        return found if found else (match.group(2) or "")

    return VARIABLE.sub(value, text)


def _env_pairs(text: str) -> list:
    """``ENV K=V K2="V 2"`` and the older ``ENV K V with spaces``."""
    first = text.split(None, 1)
    if not first:
        return []
    if "=" not in first[0]:
        return [(first[0], first[1] if len(first) > 1 else "")]
    pairs = []
    for word in shlex.split(text):
        key, _, value = word.partition("=")
        pairs.append((key, value))
    return pairs


def _unquote(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text


def _copy(text: str, contexts: list, workdir: str, dockerfile: Path) -> Copy:
    if text.startswith("["):
        words = json.loads(text)
    else:
        words = shlex.split(text)
    flags = [w for w in words if w.startswith("--")]
    words = [w for w in words if not w.startswith("--")]
    if any(f.startswith("--from") for f in flags):
        raise ImageUnavailable(f"{dockerfile}: COPY --from (multi-stage builds) is not supported "
                               f"by the process runtime.")
    if len(words) < 2:
        raise ImageUnavailable(f"{dockerfile}: COPY needs a source and a destination: {text!r}")
    *patterns, dest = words
    sources = []
    for pattern in patterns:
        found = _sources(pattern, contexts)
        if not found:
            raise ImageUnavailable(f"{dockerfile}: COPY source {pattern!r} is not in "
                                   f"{' or '.join(map(str, contexts))}.")
        sources.extend(found)
    dest = posixpath.join(workdir, dest)
    if len(sources) > 1 and not dest.endswith("/"):
        dest += "/"  # Docker requires it; be lenient and read it as a folder
    return Copy(sources=tuple(sources), dest=dest)


def _sources(pattern: str, contexts: list) -> list:
    for context in contexts:
        matches = sorted(glob.glob(str(context / pattern.lstrip("/"))))
        inside = [m for m in matches if Path(m).resolve().is_relative_to(context)]
        if inside:
            return inside
    return []


# -- staging --------------------------------------------------------------------
def _fingerprint(recipe: Recipe) -> str:
    digest = hashlib.sha256()
    for part in (CACHE_FORMAT, sys.executable, recipe.dockerfile.read_text()):
        digest.update(part.encode() + b"\0")
    for copy in recipe.copies:
        for source in copy.sources:
            for path in _files(Path(source)):
                info = path.stat()
                digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:32]


def _files(path: Path):
    if not path.is_dir():
        yield path
        return
    for folder, names, files in os.walk(path):
        names[:] = sorted(n for n in names if n != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".pyc"):
                yield Path(folder) / name


def _stage_into(recipe: Recipe, root: Path) -> None:
    root.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        scratch.chmod(0o755)  # an execution may run as another user and must read it
        rootfs = scratch / "rootfs"
        rootfs.mkdir()
        for copy in recipe.copies:
            _copy_into(copy, rootfs)
        bin_dir = scratch / "bin"
        bin_dir.mkdir()
        for name in ("python", "python3"):
            wrapper = bin_dir / name
            wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} \"$@\"\n")
            wrapper.chmod(0o755)
        try:
            scratch.rename(root)
        except OSError:
            if not root.is_dir():  # anything but "another process staged it first"
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _copy_into(copy: Copy, rootfs: Path) -> None:
    target = rootfs / copy.dest.lstrip("/")
    ignore = shutil.ignore_patterns(*SKIPPED)
    for source in map(Path, copy.sources):
        if source.is_dir():  # a folder's contents, not the folder itself
            shutil.copytree(source, target, symlinks=True, ignore=ignore, dirs_exist_ok=True)
            continue
        destination = target / source.name if copy.dest.endswith("/") or target.is_dir() else target
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)


def _host_path(text: str, rootfs: Path, dests: list) -> str:
    """The staged host path for a container path the image copied to, else ``text``.

    A COPY destination and anything under it is always rewritten. A folder
    that only *holds* destinations (``/opt/actors`` for ``/opt/actors/actor.py``)
    is rewritten only when the host has nothing at that path, so a COPY into
    ``/usr/local/bin`` does not take the host's ``/usr/local/bin`` off PATH.
    """
    normal = posixpath.normpath(text)
    if normal == "/" or ".." in normal.split("/"):
        return text
    staged = str(rootfs) + normal
    copied = any(normal == d or normal.startswith(d + "/") for d in dests)
    if copied or (os.path.lexists(staged) and not os.path.lexists(normal)):
        return staged + ("/" if text.endswith("/") else "")
    return text
