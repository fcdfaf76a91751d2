"""Where the CLI finds the platform: ``~/.config/actors/config.toml``, then the environment.

``ACTORS_URL`` and ``ACTORS_TOKEN`` override the file; ``actors login`` and
``actors dev`` write it.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Optional


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "actors" / "config.toml"


def load() -> dict:
    """``{"url": ..., "token": ...}``: the file's values, overridden by the environment."""
    values = {}
    path = config_path()
    if path.exists():
        with open(path, "rb") as handle:
            values.update(tomllib.load(handle))
    if os.environ.get("ACTORS_URL"):
        values["url"] = os.environ["ACTORS_URL"]
    if os.environ.get("ACTORS_TOKEN"):
        values["token"] = os.environ["ACTORS_TOKEN"]
    return values


def save(url: str, token: Optional[str]) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"url = {_quote(url)}"]
    if token:
        lines.append(f"token = {_quote(token)}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)  # it holds a credential
    return path


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
