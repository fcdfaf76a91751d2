"""Stopping ``actors dev`` and starting it again on the same data dir loses nothing.

The private redis-server keeps its AOF in the data dir and the signing secret is kept
there too, so actors, executions, logs and earlier tokens all survive. The runtime is
chosen with ``ACTORS_RUNTIME=process`` (no ``--runtime``): the variable must be honoured,
and this test needs only redis-server, not Docker.
"""
from __future__ import annotations

import re

import pytest

from .conftest import DevPlatform


@pytest.fixture
def platform(tmp_path, redis_server_binary):
    platform = DevPlatform(tmp_path, ACTORS_RUNTIME="process")
    yield platform
    platform.stop()


def test_actors_executions_and_tokens_survive_a_restart(platform):
    platform.start()
    assert "runtime: process" in platform.output()
    echo = platform.create("actors/echo", "--name", "survivor")
    sent = platform.cli("send", echo, "before the restart", "--wait")
    assert "_abaco_results_path=" in sent.stdout  # ran as a plain process, not a container
    execution_id = re.search(r"execution (\w+): COMPLETE", sent.stderr).group(1)
    old_token = platform.token

    platform.stop()
    platform.start()

    assert "a private redis-server (AOF in" in platform.output()
    actors = platform.cli_json("ls")
    assert [(a["id"], a["name"]) for a in actors] == [(echo, "survivor")]
    assert echo in platform.cli("ls").stdout
    assert execution_id in platform.cli_json("executions", echo)["ids"]
    assert execution_id in platform.cli("executions", echo).stdout
    execution = platform.cli_json("execution", echo, execution_id)
    assert (execution["status"], execution["exit_code"]) == ("COMPLETE", 0)
    assert "Contents of MSG: before the restart" in platform.cli("logs", echo, execution_id).stdout

    # the token written before the restart still works (the signing secret was kept)
    assert platform.token != old_token
    with_old_token = platform.cli("ls", "--json", env={"ACTORS_TOKEN": old_token})
    assert echo in with_old_token.stdout

    after = platform.cli("send", echo, "after the restart", "--wait")
    assert "Contents of MSG: after the restart" in after.stdout
    assert len(platform.cli_json("executions", echo)["ids"]) == 2
