"""The runtime SDK and the example actor scripts, without Docker.

Results go to a real Unix datagram socket, as under the platform; the image
scripts run as plain processes with the SDK's path variables pointing at
temporary files; the executor talks to a fake API that runs py-func's script
for each message.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import cloudpickle
import pytest

from runtime_sdk import (ResultsUnavailable, get_binary_message, get_client, get_context,
                         send_bytes_result, send_python_result, update_state)
from runtime_sdk.api import NoAccessToken
from runtime_sdk.executor import ActorExecutor
from runtime_sdk.functions import (FunctionError, FunctionRaised, RemoteTraceback,
                                   by_value_modules, dumps_call, loads_outcome)
from runtime_sdk.results import MAX_RESULT_BYTES

from .test_client import FakeApi

REPO = Path(__file__).resolve().parents[2]


# -- test data: images made with the standard library -------------------------------------

def png_bytes(width: int, height: int) -> bytes:
    """A complete, valid RGB PNG (every pixel black)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x00" * 3 * width for _ in range(height)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


def jpeg_bytes(width: int, height: int) -> bytes:
    """A JPEG's headers as an encoder writes them: JFIF, a table, the SOF0 frame, then EOI."""
    def segment(marker: int, data: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(data) + 2) + data
    jfif = segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    quantisation = segment(0xDB, b"\x00" + bytes(range(1, 65)))
    huffman = segment(0xC4, b"\x00" + b"\x01" + b"\x00" * 15 + b"\x00")  # C4: not a frame header
    components = b"".join(bytes([i, 0x11, 0]) for i in (1, 2, 3))
    frame = segment(0xC0, struct.pack(">BHHB", 8, height, width, 3) + components)
    return b"\xff\xd8" + jfif + quantisation + huffman + frame + b"\xff\xd9"


# -- a results socket and the image scripts as processes -----------------------------------

class ResultsSocket:
    """The platform's end of the results channel: a bound Unix datagram socket."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sdk-", dir="/tmp")  # socket paths must be short
        self.path = os.path.join(self.dir, "results.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MAX_RESULT_BYTES)
        self.sock.bind(self.path)
        self.sock.setblocking(False)

    def received(self) -> list:
        datagrams = []
        while True:
            try:
                datagrams.append(self.sock.recv(MAX_RESULT_BYTES + 1))
            except BlockingIOError:
                return datagrams

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def results(monkeypatch):
    sock = ResultsSocket()
    monkeypatch.setenv("_abaco_results_path", sock.path)
    yield sock
    sock.close()


def run_image_script(image: str, message: str = None, binary: bytes = None, env: dict = None):
    """Run images/<image>/actor.py as the platform would: (exit code, results, output)."""
    sock = ResultsSocket()
    try:
        environment = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO),
                       "_abaco_results_path": sock.path, **(env or {})}
        if binary is not None:
            binary_path = os.path.join(sock.dir, "binary")
            Path(binary_path).write_bytes(binary)
            environment.update(_abaco_Content_Type="application/octet-stream",
                               _abaco_binary_path=binary_path)
        else:
            environment.update(_abaco_Content_Type="str", MSG=message or "")
        done = subprocess.run([sys.executable, str(REPO / "images" / image / "actor.py")],
                              env=environment, capture_output=True, text=True, timeout=60)
        return done.returncode, sock.received(), done.stdout + done.stderr
    finally:
        sock.close()


# -- send_bytes_result / send_python_result ------------------------------------------------

def test_each_result_is_one_datagram_in_order(results):
    send_bytes_result(b"first")
    send_bytes_result(bytearray(b"second"))
    send_bytes_result(b"")
    assert results.received() == [b"first", b"second", b""]


def test_results_up_to_128_kib_and_not_one_byte_more(results):
    send_bytes_result(b"x" * MAX_RESULT_BYTES)
    with pytest.raises(ValueError, match="at most 131072 bytes"):
        send_bytes_result(b"x" * (MAX_RESULT_BYTES + 1))
    assert [len(r) for r in results.received()] == [131072]


def test_results_must_be_bytes(results):
    with pytest.raises(TypeError, match="encode text first"):
        send_bytes_result("text")


def test_outside_the_platform_there_is_no_socket(monkeypatch, tmp_path):
    monkeypatch.setenv("_abaco_results_path", str(tmp_path / "missing.sock"))
    with pytest.raises(ResultsUnavailable, match="only be sent from an execution"):
        send_bytes_result(b"x")

    stale = ResultsSocket()  # a socket file nobody listens on any more
    stale.sock.close()
    monkeypatch.setenv("_abaco_results_path", stale.path)
    try:
        with pytest.raises(ResultsUnavailable):
            send_bytes_result(b"x")
    finally:
        stale.close()


def test_default_results_path_is_abacos(monkeypatch):
    from runtime_sdk.results import results_path
    monkeypatch.delenv("_abaco_results_path", raising=False)
    assert results_path() == "/_abaco_results.sock"


def test_python_results_read_back_with_cloudpickle(results):
    send_python_result({"words": 3, "list": [1, 2.5, None]})
    send_python_result(lambda x: x * 2)
    value, function = (cloudpickle.loads(r) for r in results.received())
    assert value == {"words": 3, "list": [1, 2.5, None]}
    assert function(21) == 42


def test_python_results_without_cloudpickle_use_pickle(results, monkeypatch):
    monkeypatch.setitem(sys.modules, "cloudpickle", None)  # import cloudpickle -> ImportError
    send_python_result({"a": [1, 2]})
    assert pickle.loads(results.received()[0]) == {"a": [1, 2]}


# -- get_context / get_binary_message ------------------------------------------------------

def test_context_answers_attribute_and_key_access(monkeypatch):
    monkeypatch.setenv("MSG", '{"count": 3}')
    monkeypatch.setenv("_abaco_Content_Type", "application/json")
    monkeypatch.setenv("_abaco_actor_id", "a1")
    monkeypatch.setenv("_abaco_execution_id", "e1")
    monkeypatch.setenv("_abaco_actor_state", '{"seen": 2}')
    monkeypatch.setenv("MY_SETTING", "on")

    context = get_context()

    assert context.raw_message == '{"count": 3}' and context.message_dict == {"count": 3}
    assert context.content_type == "application/json"
    assert context.actor_id == "a1" and context["execution_id"] == "e1"
    assert context.state == {"seen": 2}
    assert context.MY_SETTING == "on"  # every variable is there too, as in Abaco
    with pytest.raises(AttributeError):
        context.not_a_field


def test_binary_message_is_read_whole(monkeypatch, tmp_path):
    payload = os.urandom(300_000)
    (tmp_path / "binary").write_bytes(payload)
    monkeypatch.setenv("_abaco_binary_path", str(tmp_path / "binary"))
    monkeypatch.setenv("_abaco_Content_Type", "application/octet-stream")
    assert get_binary_message() == payload
    monkeypatch.setenv("_abaco_Content_Type", "str")
    assert get_binary_message() == b""  # not a binary message: no hang, no data


# -- update_state / get_client -------------------------------------------------------------

@pytest.fixture
def fake():
    api = FakeApi()
    yield api
    api.stop()


@pytest.fixture
def execution_env(monkeypatch, fake):
    monkeypatch.setenv("_abaco_api_server", fake.url)
    monkeypatch.setenv("_abaco_actor_id", "a1")
    monkeypatch.setenv("_abaco_access_token", "execution-token")


def test_update_state_posts_the_json_value_with_the_token(fake, execution_env):
    fake.route("POST", "/actors/a1/state", lambda request: {"state": json.loads(request["body"])})

    update_state({"count": 4, "seen": ["x"]})

    sent = fake.last("POST")
    assert json.loads(sent["body"]) == {"count": 4, "seen": ["x"]}
    assert sent["headers"]["Authorization"] == "Bearer execution-token"
    assert sent["headers"]["Content-Type"] == "application/json"


def test_update_state_needs_a_token(execution_env, monkeypatch):
    monkeypatch.setenv("_abaco_access_token", "")
    with pytest.raises(NoAccessToken, match="token=true"):
        update_state(1)


def test_get_client_is_built_from_the_execution(fake, execution_env):
    client = get_client()
    assert client.url == fake.url and client.token == "execution-token"


# -- the functions wire format -------------------------------------------------------------

class NeedsTwoArguments(Exception):
    def __init__(self, a, b):  # pickles, but does not load back
        super().__init__(f"{a} and {b}")


def test_a_raised_marker_raises_the_original_exception_here():
    try:
        raise KeyError("missing")
    except KeyError as error:
        marker = FunctionRaised.from_exception(error, "Traceback: in the container")
    with pytest.raises(KeyError, match="missing") as raised:
        loads_outcome(cloudpickle.dumps(marker))
    assert isinstance(raised.value.__cause__, RemoteTraceback)
    assert "in the container" in str(raised.value.__cause__)


def test_an_exception_that_cannot_travel_becomes_function_error():
    marker = FunctionRaised.from_exception(NeedsTwoArguments(1, 2), "tb")
    with pytest.raises(FunctionError, match="NeedsTwoArguments: 1 and 2"):
        loads_outcome(cloudpickle.dumps(marker))


def double(x):
    return 2 * x


def test_project_functions_travel_by_value():
    assert by_value_modules(double) == [sys.modules[__name__]]
    assert by_value_modules(json.dumps) == []  # the standard library is in every image
    assert by_value_modules(cloudpickle.dumps) == []  # so are installed packages
    fn, args, kwargs, _sources = pickle.loads(dumps_call(double, (4,), {}))
    assert fn(*args) == 8
    assert __name__ not in cloudpickle.list_registry_pickle_by_value()


# -- the example images' scripts -----------------------------------------------------------

def test_wordcount_sends_the_count():
    code, sent, output = run_image_script("wordcount", message="the quick  brown\nfox")
    assert code == 0 and sent == [b"4"] and "4 words" in output


@pytest.mark.parametrize("data, expected", [
    (png_bytes(3, 2), {"format": "PNG", "width": 3, "height": 2}),
    (jpeg_bytes(640, 480), {"format": "JPEG", "width": 640, "height": 480}),
])
def test_image_info_reads_the_header(data, expected):
    code, sent, _ = run_image_script("image-info", binary=data)
    assert code == 0 and [json.loads(r) for r in sent] == [expected]


@pytest.mark.parametrize("data", [b"GIF89a....", b"", b"\xff\xd8\xff\xd9", b"\x89PNG\r\n\x1a\n"])
def test_image_info_refuses_anything_else(data):
    code, sent, _ = run_image_script("image-info", binary=data)
    assert code == 2 and "error" in json.loads(sent[0])


def test_py_func_sends_the_return_value():
    code, sent, _ = run_image_script("py-func", binary=dumps_call(double, (21,), {}))
    assert code == 0 and cloudpickle.loads(sent[0]) == 42


def test_py_func_sends_the_exception_and_fails():
    def broken():
        raise ValueError("bad input")
    code, sent, output = run_image_script("py-func", binary=dumps_call(broken))
    assert code == 1 and "ValueError: bad input" in output
    with pytest.raises(ValueError, match="bad input"):
        loads_outcome(sent[0])


def test_py_func_refuses_a_message_that_is_not_a_call():
    code, sent, output = run_image_script("py-func", binary=b"not a pickle",
                                          env={"PY_FUNC_CALLER_PYTHON": "2.7"})
    assert code == 2 and "same minor version" in output
    with pytest.raises(Exception):
        loads_outcome(sent[0])


# -- the executor, against a fake API that runs py-func's script ---------------------------

class FunctionPlatform:
    """Just enough of the API for ActorExecutor: each message runs py-func's script at once."""

    def __init__(self, fake: FakeApi):
        self.fake = fake
        self.executions = {}
        self.deleted = []
        fake.fallback = self.answer

    def answer(self, request):
        method, parts = request["method"], request["path"].strip("/").split("/")
        if method == "POST" and parts == ["actors"]:
            return {"id": "f1", "image": json.loads(request["body"])["image"], "stateless": True}
        if method == "DELETE" and len(parts) == 2:
            self.deleted.append(parts[1])
            return None
        if method == "POST" and parts[2:] == ["messages"]:
            execution_id = f"e{len(self.executions) + 1}"
            env = {k: v for k, v in request["query"].items() if k != "_abaco_synchronous"}
            code, sent, output = run_image_script("py-func", binary=request["body"], env=env)
            self.executions[execution_id] = {"id": execution_id, "status": "COMPLETE",
                                             "exit_code": code, "results": sent, "logs": output}
            if request["query"].get("_abaco_synchronous") == "true":
                if sent:
                    return 200, "application/octet-stream", sent[0]
                return 200, "text/plain", output.encode()
            return {"execution_id": execution_id, "msg": "binary - omitted"}
        execution = self.executions[parts[3]]
        if parts[4:] == ["results"]:
            body = execution["results"].pop(0) if execution["results"] else b""
            return 200, "application/octet-stream", body
        if parts[4:] == ["logs"]:
            return {"logs": execution["logs"]}
        return {k: v for k, v in execution.items() if k not in ("results", "logs")}


@pytest.fixture
def platform(fake):
    return FunctionPlatform(fake)


@pytest.fixture
def executor(fake, platform):
    from runtime_sdk.client import Client
    return ActorExecutor(Client(fake.url, "token", timeout=30))


def test_executor_registers_a_stateless_py_func_actor(fake, executor):
    created = json.loads(fake.requests[0]["body"])
    assert created["image"] == "actors/py-func:latest" and created["stateless"] is True


def test_submit_returns_a_future_of_the_value(fake, executor):
    future = executor.submit(pow, 2, exp=10)
    assert future.result(timeout=30) == 1024 and future.done()
    assert future.result() == 1024  # the result is kept once read
    assert fake.last("POST")["query"] == {"PY_FUNC_CALLER_PYTHON": "%d.%d" % sys.version_info[:2]}
    assert fake.last("POST")["headers"]["Content-Type"] == "application/octet-stream"


def test_map_yields_results_in_order(executor):
    assert list(executor.map(double, range(5), timeout=60)) == [0, 2, 4, 6, 8]
    assert list(executor.map(lambda a, b: a - b, [5, 6], [1, 2])) == [4, 4]


def test_the_functions_exception_is_raised_by_result(executor):
    def divide(a, b):
        return a / b
    future = executor.submit(divide, 1, 0)
    with pytest.raises(ZeroDivisionError) as raised:
        future.result()
    assert "return a / b" in str(raised.value.__cause__)


def reciprocal(x):
    return 1 / x


def test_the_remote_traceback_names_the_callers_file_and_line(executor):
    """Whatever cloudpickle does with a pickled function's file name (3.1.3 writes
    ``<dynamic-code>``), the traceback names this file, the line and its code."""
    def outer(x):
        return reciprocal(x) + 1
    future = executor.submit(outer, 0)
    with pytest.raises(ZeroDivisionError) as raised:
        future.result()
    text = str(raised.value.__cause__)
    assert f'File "{__file__}"' in text and "<dynamic-code>" not in text
    assert "return reciprocal(x) + 1" in text and "return 1 / x" in text
    line = reciprocal.__code__.co_firstlineno + 1
    assert f'line {line}, in reciprocal' in text


def test_blocking_call_uses_a_synchronous_message(fake, executor):
    assert executor.blocking_call(double, 5) == 10
    assert fake.last("POST")["query"]["_abaco_synchronous"] == "true"


def test_no_result_is_a_function_error_with_the_logs(executor, platform):
    future = executor.submit(double, 1)
    platform.executions[future.execution_id]["results"].clear()
    with pytest.raises(FunctionError, match="sent no result"):
        future.result()


def test_shutdown_deletes_only_its_own_actor(fake, platform):
    from runtime_sdk.client import Client
    client = Client(fake.url, "token")
    with ActorExecutor(client) as executor:
        executor.submit(double, 1)
    assert platform.deleted == ["f1"]
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(double, 1)

    reused = ActorExecutor(client, actor=executor.actor)
    reused.shutdown()
    assert platform.deleted == ["f1"]
