"""ActorExecutor: Python functions run as executions of a py-func actor in real containers."""
from __future__ import annotations

import pytest

from runtime_sdk.client import ApiError, Client
from runtime_sdk.executor import ActorExecutor
from runtime_sdk.functions import RemoteTraceback

from .test_sdk import PY_FUNC, need_image


class ShapeError(Exception):
    """Defined in this test file: its class travels to the container and back by value."""


def area(width, height=1):
    return width * height


def check_shape(width):
    if width < 0:
        raise ShapeError(f"negative width {width}")
    return width


@pytest.fixture
def executor(api, spawner, user_token, docker_engine):
    need_image(docker_engine, PY_FUNC)
    with ActorExecutor(Client(api.url, user_token)) as executor:
        yield executor


def test_map_returns_every_result_in_order(executor):
    results = list(executor.map(area, range(20), range(100, 120), timeout=180))
    assert results == [w * h for w, h in zip(range(20), range(100, 120))]


def test_submit_gives_a_future_of_the_return_value(executor):
    future = executor.submit(area, 6, height=7)
    assert future.execution_id
    assert future.result(timeout=60) == 42 and future.done()
    assert future.execution.reload().attrs["status"] == "COMPLETE"


def test_an_exception_in_the_function_is_raised_by_result(executor):
    future = executor.submit(check_shape, -3)
    with pytest.raises(ShapeError, match="negative width -3") as raised:
        future.result(timeout=60)
    assert isinstance(raised.value.__cause__, RemoteTraceback)
    assert "check_shape" in str(raised.value.__cause__)
    assert future.execution.exit_code == 1  # the traceback is in the logs too
    assert "ShapeError: negative width -3" in future.execution.logs()

    with pytest.raises(ZeroDivisionError):
        executor.submit(lambda: 1 / 0).result(timeout=60)


def test_blocking_call_answers_through_a_synchronous_message(executor):
    assert executor.blocking_call(area, 3, 5) == 15
    with pytest.raises(ShapeError):
        executor.blocking_call(check_shape, -1)


def test_shutdown_deletes_the_executors_actor(api, spawner, user_token, docker_engine):
    need_image(docker_engine, PY_FUNC)
    client = Client(api.url, user_token)
    with ActorExecutor(client) as executor:
        assert executor.submit(area, 2).result(timeout=60) == 2
    with pytest.raises(ApiError) as raised:
        client.actors.get(executor.actor.id)
    assert raised.value.status_code == 404
