"""Runtimes behind one interface (see base.py)."""
from .base import (ImageUnavailable, Handle, Mount, RunSpec, Runtime, StartFailed, Usage,
                   LABEL_ACTOR, LABEL_EXECUTION, LABEL_SPAWNER)


def make_runtime(name: str, **options) -> Runtime:
    if name == "docker":
        from .docker import DockerRuntime

        return DockerRuntime(**options)
    raise ValueError(f"unknown runtime {name!r} (known: docker)")


__all__ = ["ImageUnavailable", "Handle", "Mount", "RunSpec", "Runtime", "StartFailed", "Usage",
           "LABEL_ACTOR", "LABEL_EXECUTION", "LABEL_SPAWNER", "make_runtime"]
