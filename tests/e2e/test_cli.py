"""The README's walk-through with the ``actors`` command, against a real ``actors dev``.

Everything goes through the command line, as a user would type it. The whole module runs
twice: with the Docker runtime and with the process runtime (the image folders in images/
run as plain processes).
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import threading
import time

import pytest

from .conftest import DevPlatform, actors_command, free_port

EXECUTION_LINE = re.compile(r"execution (\w+): SUBMITTED")


@pytest.fixture(scope="module", params=["docker", "process"])
def dev(request, tmp_path_factory, redis_server_binary):
    if request.param == "docker":
        request.getfixturevalue("docker_images")
    platform = DevPlatform(tmp_path_factory.mktemp(f"dev-{request.param}"),
                           runtime_option=request.param)
    platform.start()
    yield platform
    platform.stop()


@pytest.fixture(scope="module")
def echo(dev):
    return dev.create("actors/echo", "--name", "echo")


@pytest.fixture(scope="module")
def sleeper(dev):
    return dev.create("actors/sleep-loop", "--name", "sleeper")


def test_dev_says_what_it_started_and_configures_the_cli(dev):
    output = dev.output()
    assert "does not answer; starting a Redis of our own" in output
    assert "a private redis-server (AOF in" in output
    assert f"runtime: {dev.runtime_option}" in output
    assert f"API:     {dev.url}" in output
    assert f"web:     {dev.url}/ui/" in output
    config = (dev.root / "config" / "actors" / "config.toml").read_text()
    assert f'url = "{dev.url}"' in config
    assert isinstance(dev.cli_json("ls"), list)  # the written configuration works


def test_create_list_show_update(dev):
    actor_id = dev.create("actors/echo", "--name", "greeter", "--env", "GREETING=hi",
                          "--env", "TARGET=world")
    assert actor_id in [actor["id"] for actor in dev.cli_json("ls")]
    table = dev.cli("ls").stdout
    assert actor_id in table and "greeter" in table and "actors/echo" in table

    shown = dev.cli_json("show", actor_id)
    assert shown["default_environment"] == {"GREETING": "hi", "TARGET": "world"}
    assert "actors/echo" in dev.cli("show", actor_id).stdout

    updated = dev.cli_json("update", actor_id, "--description", "says hello",
                           "--env", "TARGET=everyone")
    assert updated["description"] == "says hello"
    assert updated["name"] == "greeter"  # fields not given keep their values
    assert updated["default_environment"] == {"GREETING": "hi", "TARGET": "everyone"}

    assert "Deleted" in dev.cli("rm", actor_id).stdout
    assert actor_id not in [actor["id"] for actor in dev.cli_json("ls")]


def test_send_wait_shows_the_status_then_the_logs(dev, echo):
    result = dev.cli("send", echo, "hello world", "--wait", "--env", "COLOR=blue")
    assert result.returncode == 0
    status = result.stderr
    assert "SUBMITTED" in status and "COMPLETE" in status and "exit code 0" in status
    assert status.index("SUBMITTED") < status.index("COMPLETE")
    assert re.search(r"COMPLETE after \d+\.\d s", status)
    assert "Contents of MSG: hello world" in result.stdout
    assert "COLOR=blue" in result.stdout
    if dev.runtime_option == "process":  # ran as a plain process, in the data dir
        assert "_abaco_results_path=" + str(dev.data_dir) in result.stdout
    else:
        assert "_abaco_results_path" not in result.stdout


def test_send_wait_exits_with_the_execution_exit_code(dev, echo):
    result = dev.cli("send", echo, "fail please", "--wait", "--env", "ECHO_EXIT_CODE=3",
                     check=False)
    assert result.returncode == 3, result.stderr
    assert "exit code 3" in result.stderr
    assert "Contents of MSG: fail please" in result.stdout


def test_send_json_and_binary_messages(dev, echo, tmp_path):
    document = tmp_path / "doc.json"
    document.write_text(json.dumps({"count": 3}))
    result = dev.cli("send", echo, "--json", document, "--wait")
    assert "_abaco_Content_Type=application/json" in result.stdout
    assert '"count": 3' in result.stdout

    data = bytes(range(256)) * 40
    picture = tmp_path / "data.bin"
    picture.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    assert f"sha256 {digest}" in dev.cli("send", echo, "--binary", picture, "--wait").stdout
    from_stdin = dev.cli("send", echo, "--binary", "-", "--wait", input=data)
    assert f"sha256 {digest}" in from_stdin.stdout


def test_rerun_repeats_a_binary_message_with_its_variables(dev, echo, tmp_path):
    data = bytes(range(256)) * 8
    blob = tmp_path / "rerun.bin"
    blob.write_bytes(data)
    first = dev.cli("send", echo, "--binary", blob, "--env", "ECHO_EXIT_CODE=3",
                    "-q").stdout.strip()
    dev.wait_for_status(echo, first, ("COMPLETE", "ERROR"))
    again = dev.cli("rerun", echo, first, "--wait", check=False)
    assert again.returncode == 3, again.stderr  # the query variable came along
    assert f"sha256 {hashlib.sha256(data).hexdigest()}" in again.stdout
    rerun_id = dev.cli("rerun", echo, first, "-q").stdout.strip()
    assert dev.cli_json("execution", echo, rerun_id)["rerun_of"] == first
    assert rerun_id in dev.cli_json("execution", echo, first)["reruns"]


def test_send_then_logs_execution_and_executions(dev, echo):
    execution_id = dev.cli("send", echo, "later", "-q").stdout.strip()
    execution = dev.wait_for_status(echo, execution_id, ("COMPLETE", "ERROR"))
    assert (execution["status"], execution["exit_code"]) == ("COMPLETE", 0)

    assert "Contents of MSG: later" in dev.cli("logs", echo, execution_id).stdout
    shown = dev.cli("execution", echo, execution_id).stdout
    assert execution_id in shown and "COMPLETE" in shown
    summary = dev.cli_json("executions", echo)
    assert execution_id in summary["ids"]
    assert execution_id in dev.cli("executions", echo).stdout


def test_results_sync_and_output_file(dev, tmp_path):
    wordcount = dev.create("actors/wordcount")
    execution_id = dev.cli("send", wordcount, "one two three four five", "-q").stdout.strip()
    dev.wait_for_status(wordcount, execution_id, ("COMPLETE",))
    assert dev.cli("results", wordcount, execution_id).stdout_bytes == b"5"
    drained = dev.cli("results", wordcount, execution_id, check=False)  # reading removes it
    assert drained.returncode == 1 and "no unread result" in drained.stderr

    second = dev.cli("send", wordcount, "two words", "-q").stdout.strip()
    dev.wait_for_status(wordcount, second, ("COMPLETE",))
    target = tmp_path / "count.txt"
    dev.cli("results", wordcount, second, "-o", target)
    assert target.read_bytes() == b"2"

    assert dev.cli("send", wordcount, "a b c", "--sync").stdout_bytes == b"3"


def test_logs_follow_streams_while_it_runs(dev, sleeper):
    execution_id = dev.cli("send", sleeper, "6", "--env", "SLEEP_SECONDS=0.5", "-q").stdout.strip()
    follower = subprocess.Popen(actors_command() + ["logs", sleeper, execution_id, "--follow"],
                                env=dev.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    try:
        first = follower.stdout.readline()
        assert first == "iteration 1 of 6\n"
        # printed while the execution was still going
        assert dev.cli_json("execution", sleeper, execution_id)["status"] == "RUNNING"
        # What readline() buffered beyond the first line is in follower.stdout, not in the
        # pipe (logs arrive in batches): read on through the same file, not communicate().
        timer = threading.Timer(60, follower.kill)
        timer.start()
        rest, errors = follower.stdout.read(), follower.stderr.read()
        follower.wait()
        timer.cancel()
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, errors
    printed = first + rest
    assert [f"iteration {n} of 6" in printed for n in range(1, 7)] == [True] * 6
    assert printed.count("iteration 1 of 6") == 1  # only new text is printed
    assert printed.endswith("done\n")
    assert dev.cli_json("execution", sleeper, execution_id)["status"] == "COMPLETE"


def test_kill_force_quits_and_send_wait_reports_it(dev, sleeper):
    waiter = subprocess.Popen(actors_command() + ["send", sleeper, "600", "--wait"], env=dev.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first_status = waiter.stderr.readline()
        execution_id = EXECUTION_LINE.search(first_status).group(1)
        dev.wait_for_status(sleeper, execution_id, ("RUNNING",))
        killed = dev.cli("kill", sleeper, execution_id, "--wait")
        assert "COMPLETE" in killed.stderr and "exit code 137" in killed.stderr
        logs, status = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert waiter.returncode == 137, status
    assert "iteration 1 of 600" in logs
    execution = dev.cli_json("execution", sleeper, execution_id)
    assert (execution["status"], execution["exit_code"]) == ("COMPLETE", 137)
    assert execution["final_state"]["ForceQuit"] is True
    again = dev.cli("kill", sleeper, execution_id)
    assert "already finished" in again.stdout


def test_kill_cancels_a_queued_execution(dev):
    stateful = dev.create("actors/sleep-loop", "--stateful")  # one execution at a time
    running = dev.cli("send", stateful, "600", "-q").stdout.strip()
    queued = dev.cli("send", stateful, "600", "-q").stdout.strip()
    dev.wait_for_status(stateful, running, ("RUNNING",))
    cancelled = dev.cli("kill", stateful, queued)
    assert "cancelled" in cancelled.stdout.lower()
    execution = dev.cli_json("execution", stateful, queued)
    assert execution["status"] == "COMPLETE" and execution["start_time"] is None
    dev.cli("kill", stateful, running, "--wait")


def test_json_output_is_parseable(dev, echo):
    execution_id = dev.cli("send", echo, "json", "-q").stdout.strip()
    dev.wait_for_status(echo, execution_id, ("COMPLETE",))
    assert echo in [actor["id"] for actor in dev.cli_json("ls")]
    assert dev.cli_json("show", echo)["id"] == echo
    assert execution_id in [e["id"] for e in dev.cli_json("executions", echo)["executions"]]
    execution = dev.cli_json("execution", echo, execution_id)
    assert execution["id"] == execution_id and execution["actor_id"] == echo
    created = dev.cli_json("create", "actors/echo", "--stateful")
    dev.actor_ids.add(created["id"])
    assert created["stateless"] is False


def test_errors_print_the_server_message_and_exit_1(dev, echo):
    unknown = dev.cli("show", "no-such-actor", check=False)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("Error: ") and "no-such-actor" in unknown.stderr
    assert unknown.stdout == ""

    bad_token = dev.cli("ls", check=False, env={"ACTORS_TOKEN": "not-a-token"})
    assert bad_token.returncode == 1 and bad_token.stderr.startswith("Error: ")

    unreachable = dev.cli("ls", check=False,
                          env={"ACTORS_URL": f"http://127.0.0.1:{free_port()}"})
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stderr

    invalid = dev.cli("create", "actors/echo", "--mem-limit", "lots", check=False)
    assert invalid.returncode == 1 and "mem_limit" in invalid.stderr

    no_message = dev.cli("send", echo, check=False)
    assert no_message.returncode == 2 and "give exactly one message" in no_message.stderr



def _listening_addresses(port: int) -> set:
    """IPv4 addresses with a socket listening on ``port`` (from /proc/net/tcp)."""
    import socket
    import struct

    found = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(struct.pack("<I", int(address, 16))))
    return found


def test_the_api_listens_on_loopback_and_the_docker_bridge_only(dev):
    from actors_cli.dev import container_gateway

    listening = _listening_addresses(dev.port)
    if dev.runtime_option == "docker":
        assert listening == {"127.0.0.1", container_gateway()}, listening
        assert f"(actors reach it at http://{container_gateway()}:{dev.port})" in dev.output()
    else:
        assert listening == {"127.0.0.1"}, listening
    assert "0.0.0.0" not in listening


def test_token_uses_the_secret_actors_dev_keeps(dev):
    assert (dev.data_dir / "secret").exists()
    assert f"signing secret in {dev.data_dir / 'secret'}" in dev.output()
    minted = dev.cli("token", "--user", "visitor", "--data-dir", dev.data_dir).stdout.strip()
    assert dev.cli_json("ls", env={"ACTORS_TOKEN": minted}) == []  # valid, and sees nothing
