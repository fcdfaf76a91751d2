"""What the package rules in .importlinter cannot see: what a process actually loads."""
from __future__ import annotations

import subprocess
import sys

import pytest


def _loaded_after(*modules: str) -> set:
    """Top-level packages in sys.modules after importing ``modules`` in a fresh interpreter."""
    code = ("import importlib, sys\n"
            f"for name in {list(modules)!r}: importlib.import_module(name)\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", ["spawner.runner", "spawner.supervisor", "spawner.jobs",
                                    "spawner.reconcile", "spawner.events"])
def test_the_spawner_never_loads_flask(module):
    loaded = _loaded_after(module)
    assert "spawner" in loaded
    assert not {"flask", "werkzeug", "actors_api", "marshmallow"} & loaded


def test_the_kernel_loads_neither_side():
    loaded = _loaded_after("actors_core.store", "actors_core.scheduling", "actors_core.config")
    assert not {"flask", "actors_api", "spawner", "actors_cli", "docker"} & loaded


def test_the_sdk_loads_nothing_of_the_platform():
    loaded = _loaded_after("runtime_sdk", "runtime_sdk.client", "runtime_sdk.executor")
    assert not {"actors_core", "actors_api", "spawner", "actors_cli", "flask", "redis",
                "requests"} & loaded
