"""The runtime SDK from inside real containers, driven by the Python client.

wordcount sends a result, image-info reads a binary message and answers in
JSON, and py-func runs functions that call the SDK themselves
(send_python_result, update_state, get_client).
"""
from __future__ import annotations

import hashlib
import json
import threading
import uuid

import cloudpickle
import pytest
from werkzeug.serving import make_server

from actors_core.tokens import mint
from runtime_sdk.client import Client
from runtime_sdk.executor import ActorExecutor
from runtime_sdk.functions import dumps_call

from ..unit.test_sdk import jpeg_bytes, png_bytes
from .conftest import REQUIRED
from .platform import ApiServer, SpawnerProcess

WORDCOUNT = "actors/wordcount:latest"
IMAGE_INFO = "actors/image-info:latest"
PY_FUNC = "actors/py-func:latest"


def need_image(docker_engine, image: str) -> None:
    import docker

    try:
        docker_engine.images.get(image)
    except docker.errors.ImageNotFound:
        message = f"test image {image} is missing: run scripts/build-images.sh"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def sdk(api, spawner, user_token):
    return Client(api.url, user_token)


@pytest.fixture
def wordcount(sdk, docker_engine):
    need_image(docker_engine, WORDCOUNT)
    return sdk.actors.create(image=WORDCOUNT)


@pytest.fixture
def image_info(sdk, docker_engine):
    need_image(docker_engine, IMAGE_INFO)
    return sdk.actors.create(image=IMAGE_INFO)


@pytest.fixture
def py_func(sdk, docker_engine):
    need_image(docker_engine, PY_FUNC)
    return sdk.actors.create(image=PY_FUNC)


def test_wordcount_sends_its_count_as_a_result(wordcount):
    execution = wordcount.send("the quick brown fox jumps").wait(timeout=60)

    assert execution.attrs["status"] == "COMPLETE" and execution.exit_code == 0
    assert execution.results() == [b"5"]
    assert execution.result() is None  # read once: the result is gone
    assert "5 words" in execution.logs()


def test_a_synchronous_message_answers_with_the_result(wordcount):
    assert wordcount.send_sync("one two three") == b"3"


def test_the_client_reads_a_camel_case_server_the_same(environment, spawner, user_token, wordcount):
    camel = ApiServer(dict(environment, ACTORS_CASE="camel"))
    try:
        client = Client(camel.url, user_token)
        actor = client.actors.create(image=WORDCOUNT, default_environment={"myVar": "x"})
        assert actor.attrs["default_environment"] == {"myVar": "x"} and "max_workers" in actor.attrs
        actor.update(description="counts words")
        assert actor.attrs["description"] == "counts words"
        assert actor.attrs["default_environment"] == {"myVar": "x"}

        execution = actor.send("a b").wait(timeout=60)

        assert execution.attrs["actor_id"] == actor.id and execution.exit_code == 0
        assert execution.attrs["final_state"]["ExitCode"] == 0  # Docker's keys stay as they are
        assert execution.results() == [b"2"]
        assert [e.id for e in actor.executions()] == [execution.id]
    finally:
        camel.stop()


def test_python_results_read_back_with_cloudpickle(py_func):
    def summary(words):
        return {"count": len(words), "longest": max(words, key=len), "nested": {"ok": True}}

    execution = py_func.send(binary=dumps_call(summary, (["a", "actor", "is"],))).wait(timeout=60)

    assert execution.exit_code == 0, execution.logs()
    [result] = execution.results()
    assert cloudpickle.loads(result) == {"count": 3, "longest": "actor", "nested": {"ok": True}}


def test_binary_messages_arrive_whole_through_get_binary_message(py_func):
    payload = bytes(range(256)) * 4096  # 1 MiB, several times a pipe's buffer

    def digest(data):
        import hashlib
        return len(data), hashlib.sha256(data).hexdigest()

    with ActorExecutor(py_func.client, actor=py_func) as executor:
        assert executor.submit(digest, payload).result(timeout=60) == (
            len(payload), hashlib.sha256(payload).hexdigest())


@pytest.mark.parametrize("data, expected", [
    (png_bytes(32, 17), {"format": "PNG", "width": 32, "height": 17}),
    (jpeg_bytes(1920, 1080), {"format": "JPEG", "width": 1920, "height": 1080}),
])
def test_image_info_reads_the_header(image_info, data, expected):
    execution = image_info.send(binary=data).wait(timeout=60)
    assert execution.exit_code == 0, execution.logs()
    assert [json.loads(r) for r in execution.results()] == [expected]


def test_image_info_answers_an_error_for_anything_else(image_info):
    execution = image_info.send(binary=b"GIF89a not supported").wait(timeout=60)
    assert execution.attrs["status"] == "COMPLETE" and execution.exit_code == 2
    assert "not a PNG or JPEG" in json.loads(execution.result())["error"]


def test_a_result_over_128_kib_is_refused_inside_the_container(py_func):
    def too_big():
        from runtime_sdk import send_bytes_result
        send_bytes_result(b"x" * (128 * 1024 + 1))

    with ActorExecutor(py_func.client, actor=py_func) as executor:
        with pytest.raises(ValueError, match="at most 131072 bytes"):
            executor.submit(too_big).result(timeout=60)


def test_update_state_needs_an_actor_with_a_token(py_func):
    def set_state():
        from runtime_sdk import update_state
        update_state({"never": "stored"})

    from runtime_sdk.api import NoAccessToken
    with ActorExecutor(py_func.client, actor=py_func) as executor:
        with pytest.raises(NoAccessToken, match="token=true"):
            executor.submit(set_state).result(timeout=60)


# -- calling the API from inside a container -----------------------------------------------

@pytest.fixture(scope="module")
def reachable_queue(api, environment, platform_dir, docker_engine):
    """A queue whose spawner gives containers an API address they can reach.

    The shared test API listens on 127.0.0.1, which inside a container is the
    container itself; this serves the same app on the Docker bridge's gateway
    and runs a spawner whose ACTORS_API_URL names it.
    """
    bridge = docker_engine.networks.get("bridge").attrs
    gateway = ((bridge.get("IPAM") or {}).get("Config") or [{}])[0].get("Gateway") or "172.17.0.1"
    server = make_server(gateway, 0, api.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    queue = f"sdk-{uuid.uuid4().hex[:6]}"
    api_url = f"http://{gateway}:{server.server_port}"
    spawner = SpawnerProcess(dict(environment, ACTORS_API_URL=api_url), name=queue, queues=queue,
                             slots=2, log_path=platform_dir / f"{queue}.log")
    yield queue
    spawner.stop()
    server.shutdown()


def count_visits(label):
    """Runs inside py-func: read the state, store the next one, read it back over the API."""
    import os

    from runtime_sdk import get_client, get_context, update_state

    seen = get_context().state or {"visits": 0, "labels": []}
    state = {"visits": seen["visits"] + 1, "labels": seen["labels"] + [label]}
    update_state(state)
    stored = get_client().actors.get(os.environ["_abaco_actor_id"]).state
    return seen, stored


def test_update_state_from_inside_a_container(api, reachable_queue, docker_engine):
    need_image(docker_engine, PY_FUNC)
    operator = Client(api.url, mint(api.config, "operator", roles=("admin",)))  # may pick a queue
    actor = operator.actors.create(image=PY_FUNC, token=True, stateless=False,
                                   queue=reachable_queue)
    try:
        with ActorExecutor(operator, actor=actor) as executor:
            first_seen, first_stored = executor.submit(count_visits, "a").result(timeout=90)
            second_seen, second_stored = executor.submit(count_visits, "b").result(timeout=90)
        assert first_seen == {"visits": 0, "labels": []}
        assert first_stored == {"visits": 1, "labels": ["a"]}
        assert second_seen == first_stored  # the next execution starts with the new state
        assert second_stored == {"visits": 2, "labels": ["a", "b"]}
        assert actor.state == {"visits": 2, "labels": ["a", "b"]}
    finally:
        actor.delete()
