"""Security defaults against real Redis, real spawners and Docker (issue 12, items 5-8)."""
from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis as redis_lib

from actors_core.ids import new_id
from actors_core.store import Store
from actors_core.tokens import mint

from .conftest import ECHO, SLEEP
from .platform import ApiClient, ApiServer, SpawnerProcess, platform_environment


@pytest.fixture
def store(api):
    return Store.from_config(api.config)


# -- 8. platform variables -------------------------------------------------------------
def test_platform_variables_are_refused_by_the_api_and_dropped_by_the_spawner(client, store):
    actor = client.create_actor(ECHO, default_environment={"KEEP": "1"})
    client.wait_actor(actor["id"])
    for name in ("_actor_configs", "MSG", "_abaco_cron", "_abaco_username", "A=B"):
        response = client.post(f"/actors/{actor['id']}/messages", data={"message": "x"},
                               params={name: '{"forged": "1"}'})
        assert response.status_code == 400 and repr(name) in response.json()["message"]
    response = client.put(f"/actors/{actor['id']}", json={
        "image": ECHO, "default_environment": {"_actor_configs": '{"forged": "1"}'}})
    assert response.status_code == 400 and "'_actor_configs'" in response.json()["message"]

    # A record that holds them anyway (written before the API refused them): the
    # spawner drops them, and the platform's own values are what the container sees.
    store.actors.update(actor["id"], default_environment={
        "KEEP": "1", "_abaco_cron": "true", "_actor_configs": '{"forged": "1"}',
        "_abaco_username": "root"})
    execution = store.executions.submit(store.actors.get(actor["id"]), {
        "id": new_id(), "executor": actor["owner"], "content_type": "str",
        "environment": {"QUERY": "q", "_abaco_forged": "yes", "MSG": "forged",
                        '_actor_configs={"forged":"1"}': "", "_abaco_link_depth": "3"}},
        b"the real message")
    finished = client.wait(actor["id"], execution["id"])
    logs = client.logs(actor["id"], execution["id"])
    assert finished["status"] == "COMPLETE", logs
    assert "Contents of MSG: the real message" in logs
    assert "KEEP=1" in logs and "QUERY=q" in logs
    assert "_actor_configs={}" in logs and "forged" not in logs
    assert f"_abaco_username={actor['owner']}" in logs
    assert "_abaco_cron" not in logs  # only from a message's environment, where cron puts it
    assert "_abaco_link_depth=3" in logs  # the platform's own message context passes


# -- 5. privilege escalation ------------------------------------------------------------
def test_an_update_holder_cannot_turn_a_privileged_actor_to_their_image(admin, client, api):
    actor = admin.create_actor(ECHO, privileged=True, mem_limit="256m")
    user = client.session.headers["Authorization"]
    from actors_core.tokens import verify

    username = verify(api.config, user.split()[1]).username
    admin.result(admin.post(f"/actors/{actor['id']}/permissions",
                            json={"user": username, "level": "UPDATE"}))
    for body in ({"image": "actors/sleep-loop:latest"},
                 {"image": "actors/sleep-loop:latest", "privileged": True, "mem_limit": "256m"}):
        response = client.put(f"/actors/{actor['id']}", json=body)
        assert response.status_code == 403, response.text
        assert "is privileged" in response.json()["message"]
    assert client.result(client.get(f"/actors/{actor['id']}"))["image"] == ECHO
    shown = client.result(client.get(f"/actors/{actor['id']}"))
    assert (shown["privileged"], shown["mem_limit"], shown["revision"]) == (True, "256m", 1)
    # (Running it is not part of this test: privileged containers need a Docker engine
    # that may grant every capability, which a nested test engine often cannot.)


# -- 7. SSRF ------------------------------------------------------------------------------
def _until(check, timeout=60, step=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not met after {timeout}s"
        time.sleep(step)


class LoopbackHook:
    """An HTTP endpoint on 127.0.0.1 only, counting the POSTs that reach it."""

    def __init__(self):
        self.received, hook = [], self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_webhooks_never_reach_loopback_unless_the_operator_allows_it(
        redis_server, docker_engine, tmp_path):
    """A platform of its own (no ACTORS_WEBHOOK_ALLOW, unlike the session's), so that only
    its spawner delivers the events."""
    environment = platform_environment(redis_server.url.rsplit("/", 1)[0] + "/7", tmp_path)
    redis_lib.Redis.from_url(environment["ACTORS_REDIS_URL"]).flushdb()
    api = ApiServer(environment)
    hook = LoopbackHook()
    spawner = SpawnerProcess(environment, name=f"ssrf-{uuid.uuid4().hex[:6]}", slots=2,
                             log_path=tmp_path / "spawner.log")
    try:
        client = ApiClient(api.url, mint(api.config, "mallory"))
        loopback = f"http://127.0.0.1:{hook.port}/hook"
        response = client.post("/actors", json={"image": ECHO, "webhook": loopback})
        assert response.status_code == 400 and "loopback" in response.json()["message"]

        # A name that passed registration and resolves to loopback when the event is sent
        # (or a record from before the check): delivery refuses it, and sends nothing.
        actor = client.create_actor(ECHO)
        client.wait_actor(actor["id"])
        store = Store.from_config(api.config)
        store.actors.update(actor["id"], webhook=f"http://localhost:{hook.port}/hook")
        execution_id = client.send(actor["id"], "to a loopback hook")
        client.wait(actor["id"], execution_id)
        [event] = _until(lambda: [e for e in client.result(client.get(f"/actors/{actor['id']}/events"))
                                  if e["status"] == "FAILED"], what="the webhook event FAILED")
        assert event["event_type"] == "EXECUTION_COMPLETE" and len(event["attempts"]) == 1
        assert event["attempts"][0]["error"].startswith("Refused: The webhook target 127.0.0.1")
        assert "loopback" in event["attempts"][0]["error"]
        time.sleep(1)
        assert hook.received == []

        # The operator allows loopback: the next event arrives.
        spawner.stop()
        spawner = SpawnerProcess(dict(environment, ACTORS_WEBHOOK_ALLOW="127.0.0.0/8"),
                                 name=spawner.name, slots=2, log_path=tmp_path / "spawner.log")
        execution_id = client.send(actor["id"], "allowed now")
        client.wait(actor["id"], execution_id)
        _until(lambda: hook.received, what="the allowed webhook POST")
        assert [(b["event_type"], b["execution_id"]) for b in hook.received] == \
            [("EXECUTION_COMPLETE", execution_id)]
    finally:
        spawner.stop()
        hook.stop()
        api.stop()


# -- 6. container defaults -------------------------------------------------------------
PY_FUNC = "actors/py-func:latest"
GIB = 1024 ** 3


def _running_container(docker_engine, client, actor_id: str, execution_id: str):
    client.wait(actor_id, execution_id, statuses=("RUNNING",))
    deadline = time.monotonic() + 30
    while True:
        found = docker_engine.containers.list(
            filters={"label": f"actors.execution={execution_id}"})
        if found:
            return found[0]
        assert time.monotonic() < deadline, "the execution's container never showed up"
        time.sleep(0.1)


def _confinement(container) -> dict:
    host = container.attrs["HostConfig"]
    shown = {name: host.get(name) for name in (
        "Privileged", "CapAdd", "CapDrop", "SecurityOpt", "Memory", "NanoCpus", "PidsLimit",
        "NetworkMode", "ReadonlyRootfs")}
    shown["Config.User"] = container.attrs["Config"]["User"]
    return shown


def test_an_ordinary_actor_runs_confined(client, docker_engine):
    actor = client.create_actor(SLEEP)
    execution_id = client.send(actor["id"], "30")
    container = _running_container(docker_engine, client, actor["id"], execution_id)
    try:
        shown = _confinement(container)
        print("HostConfig of an ordinary actor:", json.dumps(shown, indent=2))
        assert shown["Privileged"] is False
        assert shown["CapDrop"] == ["ALL"] and not shown["CapAdd"]
        assert shown["SecurityOpt"] == ["no-new-privileges:true"]
        assert shown["Memory"] == 2 * GIB and shown["NanoCpus"] == 1_000_000_000
        assert shown["PidsLimit"] == 512
        assert shown["Config.User"] == "65532:65532"
        assert shown["NetworkMode"] in ("default", "bridge")
        top = container.top(ps_args="-o pid,uid,comm")["Processes"]
        assert top and all(row[1] == "65532" for row in top), top
    finally:
        client.delete(f"/actors/{actor['id']}/executions/{execution_id}")


def try_to_gain_privileges():
    """Runs inside py-func: who am I, and can I become root?"""
    import os
    import subprocess

    def status(pid="self"):
        with open(f"/proc/{pid}/status") as handle:
            fields = dict(line.rstrip("\n").split(":\t", 1) for line in handle if ":\t" in line)
        return {name: fields.get(name) for name in ("Uid", "CapEff", "CapBnd", "NoNewPrivs")}

    found = {"self": status()}
    try:
        os.setuid(0)
        found["setuid(0)"] = "allowed"
    except PermissionError:
        found["setuid(0)"] = "refused"
    # su is setuid root: while it waits for a password, what did executing it give it?
    su = subprocess.Popen(["/usr/bin/su", "root", "-c", "true"], stdin=subprocess.PIPE,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        found["su"] = status(su.pid)
    finally:
        su.kill()
        su.wait()
    with open("/tmp/mine", "w"):
        pass
    try:
        os.chown("/tmp/mine", 1, 1)
        found["chown"] = "allowed"
    except PermissionError:
        found["chown"] = "refused"
    return found


@pytest.fixture
def executor_for(api, spawner, docker_engine):
    from runtime_sdk.client import Client
    from runtime_sdk.executor import ActorExecutor

    try:
        docker_engine.images.get(PY_FUNC)
    except Exception:
        pytest.fail(f"test image {PY_FUNC} is missing: run scripts/build-images.sh")

    def make(token, **fields):
        sdk = Client(api.url, token)
        return ActorExecutor(sdk, actor=sdk.actors.create(image=PY_FUNC, **fields))
    return make


NO_CAPABILITIES = "0000000000000000"


def test_an_actor_that_tries_to_gain_privileges_fails(executor_for, user_token):
    with executor_for(user_token) as executor:
        found = executor.submit(try_to_gain_privileges).result(timeout=90)
    print("inside an ordinary actor:", json.dumps(found, indent=2))
    assert found["self"] == {"Uid": "65532\t65532\t65532\t65532", "CapEff": NO_CAPABILITIES,
                             "CapBnd": NO_CAPABILITIES, "NoNewPrivs": "1"}
    assert found["setuid(0)"] == "refused" and found["chown"] == "refused"
    # executing a setuid-root program gives it neither root nor any capability
    assert found["su"]["Uid"] == "65532\t65532\t65532\t65532"
    assert found["su"]["CapEff"] == NO_CAPABILITIES


def test_use_container_uid_runs_as_the_image_user_still_without_capabilities(
        executor_for, api):
    admin = mint(api.config, "operator", roles=("admin",))
    with executor_for(admin, use_container_uid=True) as executor:
        found = executor.submit(try_to_gain_privileges).result(timeout=90)
    assert found["self"]["Uid"].split("\t")[0] == "0"  # py-func's image runs as root
    assert found["self"]["CapEff"] == NO_CAPABILITIES and found["self"]["NoNewPrivs"] == "1"
    assert found["chown"] == "refused"  # root without CAP_CHOWN


def test_the_operator_chooses_the_network_and_the_limits(admin, environment, platform_dir,
                                                       docker_engine):
    queue = f"net-{uuid.uuid4().hex[:6]}"
    spawner = SpawnerProcess(dict(environment, ACTORS_CONTAINER_NETWORK="none",
                                  ACTORS_DEFAULT_MEM_LIMIT="256m", ACTORS_DEFAULT_MAX_CPUS="0.5",
                                  ACTORS_CONTAINER_CAP_ADD="NET_BIND_SERVICE"),
                             name=queue, queues=queue, slots=2,
                             log_path=platform_dir / f"{queue}.log")
    try:
        default = admin.create_actor(SLEEP, queue=queue)
        own = admin.create_actor(SLEEP, queue=queue, mem_limit="512m", max_cpus=2)
        shown = {}
        for actor in (default, own):
            execution_id = admin.send(actor["id"], "30")
            container = _running_container(docker_engine, admin, actor["id"], execution_id)
            shown[actor["id"]] = _confinement(container)
            admin.delete(f"/actors/{actor['id']}/executions/{execution_id}")
    finally:
        spawner.stop()
    first, second = shown[default["id"]], shown[own["id"]]
    assert first["NetworkMode"] == "none" and second["NetworkMode"] == "none"
    assert (first["Memory"], first["NanoCpus"]) == (256 * 1024 ** 2, 500_000_000)
    assert (second["Memory"], second["NanoCpus"]) == (512 * 1024 ** 2, 2_000_000_000)
    assert first["CapDrop"] == ["ALL"] and first["CapAdd"] == ["NET_BIND_SERVICE"]
