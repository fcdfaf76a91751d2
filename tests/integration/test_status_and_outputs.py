"""Status events, provenance and outputs against real Redis, Docker and the process runtime.

Read like the README: register, send, then follow the execution's status feed
and take its outputs home.
"""
from __future__ import annotations

import hashlib
import io
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
import zipfile

import pytest
import requests

from actors_core.tokens import mint
from runtime_sdk.client import Client
from runtime_sdk.resources import Execution

from ..s3_server import CREDENTIALS, S3Server, export_credentials
from .conftest import ECHO, SLEEP
from .platform import REPO, ApiClient, ApiServer, SpawnerProcess, free_port

WRITER = "actors/writer:latest"
API_NODE = socket.gethostname()
MB = 1024 * 1024


@pytest.fixture(scope="module")
def writer_image(docker_engine):
    try:
        docker_engine.images.get(WRITER)
    except Exception:
        pytest.fail(f"test image {WRITER} is missing: run scripts/build-images.sh")


def _events(client, actor_id, execution_id, since=0):
    return client.result(client.get(f"/actors/{actor_id}/executions/{execution_id}/status",
                                    params={"since": since}))


def _final_events(client, actor_id, execution_id, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        page = _events(client, actor_id, execution_id)
        if page["final"]:
            return page["events"]
        assert time.monotonic() < deadline, f"no final event: {page['events']}"
        time.sleep(0.2)


def _shape(events):
    return [(e["type"], e["source"]["service"], e["source"]["node"]) for e in events]


def _written(logs: str) -> dict:
    """path -> (size, sha256) from the writer's ``wrote`` lines."""
    return {m[0]: (int(m[1]), m[2]) for m in re.findall(r"^wrote (\S+) (\d+) ([0-9a-f]{64})$",
                                                        logs, re.M)}


def _zip_contents(data: bytes) -> dict:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    return {name: (archive.getinfo(name).file_size, hashlib.sha256(archive.read(name)).hexdigest())
            for name in archive.namelist()}


# -- the four endings, in order, with node names ---------------------------------------------

def test_a_complete_execution_records_every_step_once(client, spawner, writer_image,
                                                      docker_engine):
    actor = client.create_actor(WRITER)
    eid = client.post(f"/actors/{actor['id']}/messages",
                      json={"text": {"hello.txt": "hello\n"}}).json()["result"]["execution_id"]
    events = _final_events(client, actor["id"], eid)
    assert _shape(events) == [
        ("ACCEPTED", "api", API_NODE), ("QUEUED", "api", API_NODE),
        ("CLAIMED", "spawner", spawner.name), ("IMAGE_CHECKED", "spawner", spawner.name),
        ("STARTED", "runtime", spawner.name), ("OUTPUTS_COLLECTED", "spawner", spawner.name),
        ("FINISHED", "spawner", spawner.name)]
    assert [e["seq"] for e in events] == list(range(1, 8))
    assert events[-1]["message"] == "Finished with exit code 0."
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["time"]) for e in events)
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)

    record = client.execution(actor["id"], eid)
    provenance = record["provenance"]
    image_id = docker_engine.images.get(WRITER).id
    assert provenance["spawner"] == spawner.name and provenance["runtime"] == "docker"
    assert provenance["host"] == socket.gethostname() and provenance["platform_version"]
    assert provenance["image_id"] == image_id and provenance["image_digest"] == image_id
    assert image_id[:19] in events[4]["message"]  # STARTED names the image actually run


def test_an_execution_that_cannot_start_ends_in_error_with_the_reason(client, spawner):
    actor = client.create_actor("actors/no-such-image:never")
    client.wait_actor(actor["id"])
    eid = client.send(actor["id"], "x")
    events = _final_events(client, actor["id"], eid)
    assert _shape(events) == [("ACCEPTED", "api", API_NODE), ("QUEUED", "api", API_NODE),
                              ("CLAIMED", "spawner", spawner.name),
                              ("ERROR", "spawner", spawner.name)]
    assert "no-such-image" in events[-1]["message"] and events[-1]["message"].startswith("Error: ")
    assert client.execution(actor["id"], eid)["status"] == "ERROR"


def test_a_cancelled_execution_ends_with_cancelled(client, spawner):
    actor = client.create_actor(SLEEP, stateless=False)  # one worker: the second message waits
    running = client.send(actor["id"], "30")
    client.wait(actor["id"], running, statuses=("RUNNING",))
    queued = client.send(actor["id"], "1")
    client.delete(f"/actors/{actor['id']}/executions/{queued}")
    client.delete(f"/actors/{actor['id']}/executions/{running}")
    assert _shape(_final_events(client, actor["id"], queued)) == [
        ("ACCEPTED", "api", API_NODE), ("QUEUED", "api", API_NODE),
        ("CANCELLED", "api", API_NODE)]
    _final_events(client, actor["id"], running)


def test_a_force_quit_execution(client, spawner):
    actor = client.create_actor(SLEEP)
    eid = client.send(actor["id"], "120")
    client.wait_for_log(actor["id"], eid, "iteration 1 of 120")
    client.delete(f"/actors/{actor['id']}/executions/{eid}")
    client.delete(f"/actors/{actor['id']}/executions/{eid}")  # asked twice, recorded once
    events = _final_events(client, actor["id"], eid, timeout=30)
    assert _shape(events) == [
        ("ACCEPTED", "api", API_NODE), ("QUEUED", "api", API_NODE),
        ("CLAIMED", "spawner", spawner.name), ("IMAGE_CHECKED", "spawner", spawner.name),
        ("STARTED", "runtime", spawner.name), ("FORCE_QUIT_REQUESTED", "api", API_NODE),
        ("FINISHED", "spawner", spawner.name)]
    assert events[-1]["detail"] == {"status": "COMPLETE", "exit_code": 137, "force_quit": True}


# -- reading the feed -----------------------------------------------------------------------

def test_since_pages_and_the_actor_feed(client, spawner):
    actor = client.create_actor(ECHO)
    first, second = client.send(actor["id"], "one"), client.send(actor["id"], "two")
    all_events = _final_events(client, actor["id"], first)
    page = client.result(client.get(f"/actors/{actor['id']}/executions/{first}/status",
                                    params={"since": 2, "limit": 2}))
    assert [e["seq"] for e in page["events"]] == [3, 4] and page["cursor"] == 4
    rest = _events(client, actor["id"], first, since=page["cursor"])
    assert [e["seq"] for e in rest["events"]] == list(range(5, len(all_events) + 1))
    assert rest["final"]
    _final_events(client, actor["id"], second)
    feed = client.result(client.get(f"/actors/{actor['id']}/status", params={"since": 0}))
    assert [e["cursor"] for e in feed["events"]] == list(range(1, len(feed["events"]) + 1))
    assert {e["execution_id"] for e in feed["events"]} == {first, second}
    mine = [e["type"] for e in feed["events"] if e["execution_id"] == first]
    assert mine == [e["type"] for e in all_events]


def test_sse_delivers_live_and_resumes_with_last_event_id(client, spawner, user_token, api):
    actor = client.create_actor(SLEEP)
    eid = client.send(actor["id"], "3")
    url = f"{api.url}/actors/{actor['id']}/executions/{eid}/status"
    headers = {"Authorization": f"Bearer {user_token}", "Accept": "text/event-stream"}
    received = []  # (seq, type, execution status when the event arrived)
    with requests.get(url, headers=headers, stream=True, timeout=60) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        frame = {}
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("id: "):
                frame["id"] = int(line[4:])
            elif line.startswith("data: ") and "id" in frame:
                event = __import__("json").loads(line[6:])
                assert event["seq"] == frame["id"]
                received.append((event["seq"], event["type"],
                                 client.execution(actor["id"], eid)["status"]))
                frame = {}
            elif line == "event: end":
                break
    types = [t for _, t, _ in received]
    assert types[0] == "ACCEPTED" and types[-1] == "FINISHED" and "STARTED" in types
    assert [s for s, _, _ in received] == list(range(1, len(received) + 1))
    started = next(status for _, t, status in received if t == "STARTED")
    assert started == "RUNNING"  # it came while the container ran, not after

    resumed = requests.get(url, headers={**headers, "Last-Event-ID": "3"}, stream=True, timeout=30)
    ids = [int(line[4:]) for line in resumed.iter_lines(decode_unicode=True)
           if line.startswith("id: ")]
    assert ids == list(range(4, len(received) + 1))
    assert requests.get(url, headers={**headers, "Last-Event-ID": str(len(received))},
                        timeout=30).status_code == 204

    # The Python client and the CLI follow the same stream.
    sdk = Execution(Client(api.url, user_token), {"id": eid, "actor_id": actor["id"]})
    assert [e["seq"] for e in sdk.follow(since=2, timeout=30)] == list(range(3, len(received) + 1))
    line = _cli(api, user_token, "status", actor["id"], eid).splitlines()[2]
    assert re.match(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{{3}} \|{spawner.name}\| Claimed", line)


def _cli(api, token, *args) -> str:
    environment = {"ACTORS_URL": api.url, "ACTORS_TOKEN": token, "PYTHONPATH": str(REPO),
                   "XDG_CONFIG_HOME": "/nonexistent", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "actors_cli.main", *args], env=environment,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode(errors="replace")


# -- outputs ----------------------------------------------------------------------------------

def test_outputs_round_trip_byte_for_byte_with_a_50_mb_file(client, spawner, writer_image, api,
                                                            user_token, tmp_path):
    actor = client.create_actor(WRITER)
    files = {"big/fifty.bin": 50 * MB, "small.txt": 1000, "deep/a/b/c.dat": 1}
    eid = client.post(f"/actors/{actor['id']}/messages",
                      json={"files": files, "links": {"escape": "/etc/shadow",
                                                      "escape-dir": "/etc"}}
                      ).json()["result"]["execution_id"]
    record = client.wait(actor["id"], eid, timeout=180)
    assert record["status"] == "COMPLETE" and record["exit_code"] == 0
    written = _written(client.logs(actor["id"], eid))
    assert set(written) == set(files)
    assert {o["path"]: (o["size"], o["sha256"]) for o in record["outputs"]} == written
    assert record["outputs_bytes"] == sum(files.values()) and not record["outputs_truncated"]
    assert "escape (symlink)" in record["outputs_message"]  # the links were not followed

    response = client.get(f"/actors/{actor['id']}/executions/{eid}/outputs", stream=True)
    assert response.headers["Content-Type"] == "application/zip"
    assert "Content-Length" not in response.headers  # streamed, not built first
    assert _zip_contents(response.content) == written

    # The CLI writes the same zip; the Python client fetches one file.
    out = tmp_path / "out.zip"
    _cli(api, user_token, "outputs", actor["id"], eid, "-o", str(out))
    assert _zip_contents(out.read_bytes()) == written
    execution = Execution(Client(api.url, user_token), {"id": eid, "actor_id": actor["id"]})
    assert hashlib.sha256(execution.output("small.txt")).hexdigest() == written["small.txt"][1]
    assert client.get(f"/actors/{actor['id']}/executions/{eid}/outputs/escape").status_code == 404

    raw = client.get(f"/actors/{actor['id']}/executions/{eid}/logs",
                     headers={"Accept": "text/plain"})
    assert raw.headers["Content-Type"].startswith("text/plain")
    assert raw.text.startswith("wrote ")


def test_a_failing_actor_still_keeps_its_outputs(client, spawner, writer_image):
    actor = client.create_actor(WRITER)
    eid = client.post(f"/actors/{actor['id']}/messages",
                      json={"text": {"partial.log": "got this far\n"}, "exit_code": 3}
                      ).json()["result"]["execution_id"]
    record = client.wait(actor["id"], eid)
    assert record["exit_code"] == 3 and [o["path"] for o in record["outputs"]] == ["partial.log"]
    one = client.get(f"/actors/{actor['id']}/executions/{eid}/outputs/partial.log")
    assert one.content == b"got this far\n"


def test_a_restarted_spawner_reattaches_and_still_collects(admin, environment, platform_dir,
                                                           writer_image):
    queue, name = f"re-{uuid.uuid4().hex[:6]}", f"reattach-{uuid.uuid4().hex[:6]}"
    log_path = platform_dir / f"{name}.log"
    first = SpawnerProcess(environment, name=name, queues=queue, slots=1, log_path=log_path)
    actor = admin.create_actor(WRITER, queue=queue)
    try:
        eid = admin.post(f"/actors/{actor['id']}/messages",
                         json={"text": {"before-crash.txt": "kept\n"}, "sleep": 4}
                         ).json()["result"]["execution_id"]
        admin.wait_for_log(actor["id"], eid, "sleeping")
    finally:
        first.crash()
    second = SpawnerProcess(environment, name=name, queues=queue, slots=1, log_path=log_path)
    try:
        events = _final_events(admin, actor["id"], eid)
    finally:
        second.stop()
    assert [e["type"] for e in events] == [
        "ACCEPTED", "QUEUED", "CLAIMED", "IMAGE_CHECKED", "STARTED", "REATTACHED",
        "OUTPUTS_COLLECTED", "FINISHED"]
    assert "still running" in events[5]["message"] and events[5]["source"]["node"] == name
    record = admin.execution(actor["id"], eid)
    assert [o["path"] for o in record["outputs"]] == ["before-crash.txt"]


def test_assigned_gpus_are_an_event(admin, environment, platform_dir):
    from .test_gpus import TWO_GPUS

    queue = f"gpus-{uuid.uuid4().hex[:6]}"
    spawner = SpawnerProcess(dict(environment, ACTORS_GPUS=TWO_GPUS), name=f"gpu-{queue}",
                             queues=queue, slots=1, log_path=platform_dir / f"{queue}.log")
    try:
        actor = admin.create_actor(ECHO, queue=queue, gpus=1)
        eid = admin.send(actor["id"], "gpu")
        events = _final_events(admin, actor["id"], eid)
    finally:
        spawner.stop()
    assert [e["type"] for e in events] == ["ACCEPTED", "QUEUED", "CLAIMED", "GPUS_ASSIGNED",
                                           "IMAGE_CHECKED", "STARTED", "FINISHED"]
    assert events[3]["detail"] == {"gpus": ["GPU-sim-0000"]}
    assert events[3]["source"]["node"] == spawner.name


# -- the process runtime --------------------------------------------------------------------

@pytest.fixture(scope="module")
def process_spawner(environment, platform_dir):
    process = SpawnerProcess(dict(environment, ACTORS_RUNTIME="process"),
                             name=f"proc-{uuid.uuid4().hex[:6]}", queues="process", slots=1,
                             log_path=platform_dir / "process-spawner.log")
    yield process
    process.stop()


def test_the_process_runtime_records_the_same_steps_and_keeps_outputs(admin, api, process_spawner):
    actor = admin.create_actor(WRITER, queue="process")
    eid = admin.post(f"/actors/{actor['id']}/messages",
                     json={"files": {"p/out.bin": 2 * MB}, "links": {"up": "../../.."}}
                     ).json()["result"]["execution_id"]
    events = _final_events(admin, actor["id"], eid, timeout=90)
    name = process_spawner.name
    assert _shape(events) == [
        ("ACCEPTED", "api", API_NODE), ("QUEUED", "api", API_NODE),
        ("CLAIMED", "spawner", name), ("IMAGE_CHECKED", "spawner", name),
        ("STARTED", "runtime", name), ("OUTPUTS_COLLECTED", "spawner", name),
        ("FINISHED", "spawner", name)]
    record = admin.execution(actor["id"], eid)
    written = _written(admin.logs(actor["id"], eid))
    assert {o["path"]: (o["size"], o["sha256"]) for o in record["outputs"]} == written
    assert "up (symlink)" in record["outputs_message"]
    provenance = record["provenance"]
    assert provenance["runtime"] == "process" and provenance["spawner"] == name
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", provenance["image_digest"])
    zipped = admin.get(f"/actors/{actor['id']}/executions/{eid}/outputs").content
    assert _zip_contents(zipped) == written


# -- S3 (a real S3-compatible server) and the cap ----------------------------------------------

@pytest.fixture(scope="module")
def s3_platform(environment, docker_engine, platform_dir):
    server = S3Server()
    export_credentials()  # the in-process API builds its boto3 client from the environment
    bucket = f"actors-{uuid.uuid4().hex[:8]}"
    server.make_bucket(bucket)
    env = dict(environment, **CREDENTIALS, ACTORS_ARTIFACT_URL=f"s3://{bucket}/kept",
               ACTORS_ARTIFACT_S3_ENDPOINT=server.endpoint, ACTORS_OUTPUT_MAX_BYTES=str(3 * MB),
               ACTORS_CONTAINER_USER="4321:4321")  # not root: the outputs folder must let it write
    api = ApiServer(env)
    spawner = SpawnerProcess(env, name=f"s3-{uuid.uuid4().hex[:6]}", queues="s3", slots=1,
                             log_path=platform_dir / "s3-spawner.log")
    yield api, spawner, server, bucket
    spawner.stop()
    api.stop()
    server.stop()


def test_outputs_kept_in_s3_round_trip_and_stop_at_the_cap(s3_platform, writer_image):
    api, spawner, server, bucket = s3_platform
    client = ApiClient(api.url, mint(api.config, "s3-user", roles=("admin",)))
    actor = client.create_actor(WRITER, queue="s3")
    eid = client.post(f"/actors/{actor['id']}/messages",
                      json={"files": {"a.bin": 1 * MB, "b.bin": 1 * MB, "c.bin": 2 * MB,
                                      "d.bin": 10}}).json()["result"]["execution_id"]
    record = client.wait(actor["id"], eid, timeout=120)
    written = _written(client.logs(actor["id"], eid))
    kept = {o["path"]: (o["size"], o["sha256"]) for o in record["outputs"]}
    assert kept == {p: written[p] for p in ("a.bin", "b.bin")}  # c.bin would pass 3 MiB
    assert record["outputs_truncated"] is True
    assert "c.bin (2097152 bytes) and 1 file(s) after it were not kept" in record["outputs_message"]
    names = sorted(o["Key"] for o in server.client().list_objects_v2(Bucket=bucket)["Contents"])
    assert names == [f"kept/{actor['id']}/{eid}/outputs/{p}" for p in ("a.bin", "b.bin")]
    response = client.get(f"/actors/{actor['id']}/executions/{eid}/outputs")
    assert response.headers["X-Outputs-Truncated"] == "true"
    assert _zip_contents(response.content) == kept
    assert zipfile.ZipFile(io.BytesIO(response.content)).comment.startswith(b"INCOMPLETE")
    events = _final_events(client, actor["id"], eid)
    collected = [e for e in events if e["type"] == "OUTPUTS_COLLECTED"][0]
    assert collected["detail"] == {"files": 2, "bytes": 2 * MB, "truncated": True}


# -- many streams, and the API still answers ---------------------------------------------------

class Gunicorn:
    """The production server: gunicorn's gthread worker with 16 threads."""

    def __init__(self, environment: dict, log_path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", "16", "-w", "1",
             "-b", f"127.0.0.1:{self.port}", "--timeout", "120", "actors_api:create_app()"],
            env=environment, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(self.url + "/actors", timeout=5)
                return
            except requests.RequestException:  # not listening yet, or still importing the app
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def test_fifty_streams_do_not_starve_ordinary_requests(environment, redis_server, platform_dir):
    server = Gunicorn(environment, platform_dir / "gunicorn.log")
    try:
        token = mint(server_config(environment), "streamer", roles=("admin",))
        client = ApiClient(server.url, token)
        actor = client.create_actor(ECHO, queue="nobody-serves-this")
        eid = client.send(actor["id"], "waits forever")
        results, errors = {}, []

        def follow(number: int) -> None:
            execution = Execution(Client(server.url, token), {"id": eid, "actor_id": actor["id"]})
            try:
                results[number] = [e["type"] for e in execution.follow(timeout=60)]
            except Exception as error:  # reported below
                errors.append(repr(error))

        followers = [threading.Thread(target=follow, args=(n,), daemon=True) for n in range(50)]
        for thread in followers:
            thread.start()
        time.sleep(2)  # every stream has connected at least once by now
        latencies = []
        for _ in range(40):
            started = time.monotonic()
            response = client.get(f"/actors/{actor['id']}")
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200
        assert max(latencies) < 2.0, latencies
        client.delete(f"/actors/{actor['id']}/executions/{eid}")
        for thread in followers:
            thread.join(timeout=30)
        assert not errors, errors[:3]
        assert len(results) == 50
        assert all(types == ["ACCEPTED", "QUEUED", "CANCELLED"] for types in results.values())
    finally:
        server.stop()


def server_config(environment):
    from actors_core.config import Config

    return Config(jwt_secret=environment["ACTORS_JWT_SECRET"])
