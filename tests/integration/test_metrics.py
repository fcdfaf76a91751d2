"""Prometheus metrics, read through real HTTP after real actions: the API's /metrics
(in-process server, and gunicorn with several workers in multiprocess mode) and a spawner's
own port (``--metrics-port``), with redis-server and Docker.

This module has its own Redis database, API and spawner, so no other spawner of the test
session takes its work (or its webhook deliveries)."""
from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from actors_core.tokens import mint

from .conftest import ECHO, SLEEP
from .platform import (REPO, ApiClient, ApiServer, SpawnerProcess, config_from, free_port,
                       platform_environment)

QUEUE = f"metrics{uuid.uuid4().hex[:6]}"
GPU_INVENTORY = '[{"index": 0, "uuid": "GPU-simulated-0", "name": "Simulated", "memory_total": 1024}]'


def samples(url: str) -> dict:
    """``{(name, frozenset(labels)): value}`` of one scrape."""
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(scrape: dict, name: str, **labels) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, l), v in scrape.items() if n == name and wanted <= l)


@pytest.fixture(scope="module")
def platform(redis_server, docker_engine, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("metrics")
    url = redis_server.url.rsplit("/", 1)[0] + "/3"
    environment = platform_environment(url, workdir, ACTORS_WEBHOOK_BACKOFF="0.2",
                                       ACTORS_WEBHOOK_MAX_ATTEMPTS="2",
                                       ACTORS_WEBHOOK_ALLOW="127.0.0.1")  # the test's hook
    api = ApiServer(environment)
    port = free_port()
    spawner = SpawnerProcess(environment, name=f"metrics-{uuid.uuid4().hex[:6]}", queues=QUEUE,
                             slots=2, log_path=workdir / "spawner.log",
                             extra_args=("--metrics-port", str(port), "--gpus", GPU_INVENTORY))
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "the spawner's metrics port never opened"
            time.sleep(0.2)
    admin = ApiClient(api.url, mint(api.config, "metrics-admin", roles=("admin",)))
    yield api, spawner, f"http://127.0.0.1:{port}/metrics", admin, environment
    spawner.stop()
    api.stop()


def test_an_accepted_message_counts_by_queue_and_content_type(platform):
    api, _, _, admin, _ = platform
    actor = admin.create_actor(ECHO, queue="nowhere")  # no spawner: the messages stay queued
    before = samples(f"{api.url}/metrics")
    admin.send(actor["id"], "one")
    admin.send(actor["id"], "two")
    admin.result(admin.post(f"/actors/{actor['id']}/messages", json={"n": 3}))
    refused = admin.post("/actors/nope/messages", data={"message": "x"})
    assert refused.status_code == 404
    after = samples(f"{api.url}/metrics")

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("actors_messages_accepted_total", queue="nowhere", content_type="str") == 2
    assert delta("actors_messages_accepted_total", queue="nowhere",
                 content_type="application/json") == 1
    route = "/actors/<actor:actor_id>/messages"
    assert delta("actors_api_request_duration_seconds_count", method="POST", route=route,
                 status="200") == 3
    assert delta("actors_api_request_duration_seconds_count", method="POST", route=route,
                 status="404") == 1
    # Queued per queue is read from the store when scraped.
    assert value(after, "actors_executions_queued", queue="nowhere") == 3
    admin.delete(f"/actors/{actor['id']}/messages")
    assert value(samples(f"{api.url}/metrics"), "actors_executions_queued", queue="nowhere") == 0
    # No actor or execution id is ever a label value.
    text = requests.get(f"{api.url}/metrics", timeout=30).text
    assert actor["id"] not in text


def test_a_spawner_counts_its_executions_on_its_own_port(platform):
    api, spawner, metrics_url, admin, _ = platform
    scrape = samples(metrics_url)
    name = spawner.name
    assert value(scrape, "actors_spawner_slots", spawner=name) == 2
    assert value(scrape, "actors_spawner_slots_free", spawner=name) == 2
    assert value(scrape, "actors_spawner_gpus", spawner=name) == 1
    assert value(scrape, "actors_spawner_gpus_busy", spawner=name) == 0

    echo = admin.create_actor(ECHO, queue=QUEUE)
    admin.wait_actor(echo["id"])
    ok = admin.send(echo["id"], "fine")
    failing = admin.send(echo["id"], "fails", params={"ECHO_EXIT_CODE": "3"})
    assert admin.wait(echo["id"], ok)["exit_code"] == 0
    assert admin.wait(echo["id"], failing)["exit_code"] == 3

    sleeper = admin.create_actor(SLEEP, queue=QUEUE)
    admin.wait_actor(sleeper["id"])
    running = admin.send(sleeper["id"], "sleep")
    admin.wait(sleeper["id"], running, statuses=("RUNNING",))
    during = samples(metrics_url)
    assert value(during, "actors_spawner_executions_running", spawner=name) == 1
    assert value(during, "actors_spawner_slots_free", spawner=name) == 1
    admin.delete(f"/actors/{sleeper['id']}/executions/{running}")
    admin.wait(sleeper["id"], running)

    after = samples(metrics_url)
    finished = "actors_executions_finished_total"
    assert value(after, finished, queue=QUEUE, status="COMPLETE", exit_class="zero") == 1
    assert value(after, finished, queue=QUEUE, status="COMPLETE", exit_class="nonzero") == 1
    assert value(after, finished, queue=QUEUE, status="COMPLETE", exit_class="force_quit") == 1
    assert value(after, "actors_execution_start_delay_seconds_count", queue=QUEUE) == 3
    assert value(after, "actors_execution_run_seconds_count", queue=QUEUE) == 3
    assert value(after, "actors_execution_run_seconds_sum", queue=QUEUE) > 0
    assert value(after, "actors_spawner_executions_running", spawner=name) == 0
    assert echo["id"] not in requests.get(metrics_url, timeout=30).text


class _Hook(http.server.BaseHTTPRequestHandler):
    answers = []  # status codes to answer with, in order (then 200)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(self.answers.pop(0) if self.answers else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_deliveries_count_by_outcome(platform):
    _, _, metrics_url, admin, _ = platform
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _Hook.answers[:] = [500]  # the first attempt fails, the retry is delivered
        before = samples(metrics_url)
        actor = admin.create_actor(ECHO, queue=QUEUE,
                                   webhook=f"http://127.0.0.1:{server.server_port}/hook")
        admin.wait_actor(actor["id"])  # ACTOR_READY: the first event
        deadline = time.monotonic() + 60
        while True:
            after = samples(metrics_url)
            outcomes = {o: value(after, "actors_webhook_deliveries_total", outcome=o)
                        - value(before, "actors_webhook_deliveries_total", outcome=o)
                        for o in ("delivered", "retrying", "failed")}
            if outcomes["delivered"] >= 1:
                break
            assert time.monotonic() < deadline, outcomes
            time.sleep(0.3)
        assert outcomes == {"delivered": 1, "retrying": 1, "failed": 0}
    finally:
        server.shutdown()


def test_gunicorn_workers_add_up_in_multiprocess_mode(platform, tmp_path):
    """Two gunicorn workers: every scrape, whichever worker answers it, counts every message."""
    _, _, _, _, environment = platform
    port = free_port()
    env = dict(environment, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"))
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:actors_api.gunicorn_config",
         "-b", f"127.0.0.1:{port}", "-w", "2", "actors_api:create_app()"],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/openapi.json", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None, "gunicorn never answered"
                time.sleep(0.2)
        client = ApiClient(url, mint(config_from(environment), "gunicorn-user", roles=("admin",)))
        actor = client.create_actor(ECHO, queue="gunicorn-nowhere")

        def send(number):  # a new connection each, several at once: both workers take some
            return requests.post(f"{url}/actors/{actor['id']}/messages",
                                 data={"message": str(number)},
                                 headers=dict(client.session.headers), timeout=30).status_code

        def workers():  # the pids that wrote metrics
            return {name.rpartition("_")[2] for name in os.listdir(tmp_path / "prometheus")}

        sent = 0
        with ThreadPoolExecutor(8) as pool:
            while sent < 16 or (len(workers()) < 2 and sent < 320):  # until both took some
                assert set(pool.map(send, range(16))) == {200}
                sent += 16
        assert len(workers()) >= 2, f"one worker took every request ({workers()})"
        counts = [value(samples(f"{url}/metrics"), "actors_messages_accepted_total",
                        queue="gunicorn-nowhere") for _ in range(6)]
        assert counts == [sent] * 6
    finally:
        server.terminate()
        server.wait(30)
