"""What confines a Docker container (issue 12, item 6); the real thing is in
tests/integration/test_security.py."""
from __future__ import annotations

import pytest

pytest.importorskip("docker")

from actors_core.config import Config  # noqa: E402
from spawner.runtimes import RunSpec, make_runtime  # noqa: E402
from spawner.runtimes.docker import ContainerDefaults  # noqa: E402

SECRET = "x" * 40


def _spec(**fields) -> RunSpec:
    return RunSpec(**{"image": "x/y", "environment": {"A": "1"}, "labels": {}, **fields})


def test_an_ordinary_container_is_confined_by_default():
    options = ContainerDefaults().options(_spec())
    assert options == {"mem_limit": "2g", "nano_cpus": 1_000_000_000, "cap_drop": ["ALL"],
                       "security_opt": ["no-new-privileges:true"], "user": "65532:65532",
                       "environment": {"A": "1", "HOME": "/tmp"}}


def test_the_actor_and_the_operator_choose_within_them():
    defaults = ContainerDefaults.from_config(Config(
        jwt_secret=SECRET, container_user="1000:1000", default_mem_limit=None,
        default_max_cpus=0.5, container_network="isolated", container_cap_add=("CHOWN",)))
    options = defaults.options(_spec(mem_limit="512m", max_cpus=2.0))
    assert options["mem_limit"] == "512m" and options["nano_cpus"] == 2_000_000_000
    assert options["network"] == "isolated" and options["cap_add"] == ["CHOWN"]
    assert options["user"] == "1000:1000"
    assert "mem_limit" not in defaults.options(_spec())
    assert ContainerDefaults(network="none").options(_spec())["network_mode"] == "none"
    assert "network" not in ContainerDefaults().options(_spec())


def test_use_container_uid_keeps_the_image_user_and_nothing_else():
    options = ContainerDefaults().options(_spec(run_as_image_user=True))
    assert "user" not in options and "environment" not in options
    assert options["cap_drop"] == ["ALL"] and options["security_opt"]


def test_the_actor_home_wins():
    options = ContainerDefaults().options(_spec(environment={"HOME": "/work"}))
    assert "environment" not in options


def test_a_privileged_actor_keeps_what_it_needs_and_the_limits():
    options = ContainerDefaults(network="none").options(_spec(privileged=True))
    assert options == {"privileged": True, "mem_limit": "2g", "nano_cpus": 1_000_000_000,
                       "network_mode": "none"}


def test_make_runtime_gives_docker_the_defaults_of_the_config():
    runtime = make_runtime("docker", config=Config(jwt_secret=SECRET, default_mem_limit="1g"),
                           client=object())
    assert runtime.defaults.mem_limit == "1g" and runtime.defaults.user == "65532:65532"


@pytest.mark.parametrize("setting,value", [
    ("ACTORS_DEFAULT_MEM_LIMIT", "lots"), ("ACTORS_DEFAULT_MAX_CPUS", "-1"),
    ("ACTORS_CONTAINER_USER", "root; rm -rf /"), ("ACTORS_CONTAINER_NETWORK", " "),
])
def test_bad_settings_stop_the_start(monkeypatch, setting, value):
    monkeypatch.setenv("ACTORS_JWT_SECRET", SECRET)
    monkeypatch.setenv(setting, value)
    with pytest.raises(ValueError, match=setting):
        Config.from_env()


def test_none_turns_a_default_limit_off(monkeypatch):
    monkeypatch.setenv("ACTORS_JWT_SECRET", SECRET)
    monkeypatch.setenv("ACTORS_DEFAULT_MEM_LIMIT", "none")
    monkeypatch.setenv("ACTORS_DEFAULT_MAX_CPUS", "none")
    config = Config.from_env()
    assert config.default_mem_limit is None and config.default_max_cpus is None
