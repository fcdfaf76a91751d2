"""The API's Prometheus metrics, served at ``/metrics`` (docs/operations.md lists them all).

Counters and histograms live in prometheus-client's default registry. Under gunicorn each
worker is a process, so the API runs prometheus-client's multiprocess mode: every process
writes its values to files in ``PROMETHEUS_MULTIPROC_DIR`` and a scrape, answered by any
worker, adds up all of them. ``actors_api/gunicorn_config.py`` sets that directory up; without
it (``actors serve``, tests) the process's own registry is served.

Gauges that describe the platform rather than this process (queued executions per queue)
are read from the store when scraped, so every worker answers the same and nothing drifts.

Label values are always bounded: queues, content types, methods, URL rules, status codes;
never actor or execution ids.
"""
from __future__ import annotations

import os
import time

from flask import Blueprint, Response, current_app, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram,
                               generate_latest)
from prometheus_client.core import GaugeMetricFamily

from actors_core.scheduling import dispatch_queue

from .auth import public
from .context import get_store

EXTENSION = "actors_metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

MESSAGES_ACCEPTED = Counter(
    "actors_messages_accepted_total",
    "Messages accepted by the API (each became a SUBMITTED execution), by the queue that "
    "runs the actor and the message's content type.", ["queue", "content_type"])
REQUEST_SECONDS = Histogram(
    "actors_api_request_duration_seconds",
    "Time the API took to answer, by method, URL rule (e.g. /actors/<actor_id>/messages) "
    "and status code.", ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))

bp = Blueprint("metrics", __name__)


def init_app(app) -> None:
    """Time every request and serve ``/metrics``. Register before authentication, so
    refused requests are timed too."""
    app.extensions[EXTENSION] = True
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(bp)


def message_accepted(actor: dict, content_type, app=None) -> None:
    """One message accepted for ``actor`` (the messages route and the fast lane)."""
    if (app or current_app).extensions.get(EXTENSION):
        MESSAGES_ACCEPTED.labels(dispatch_queue(actor), str(content_type)).inc()


def observe(method: str, rule: str, status: int, started: float) -> None:
    """One answer, timed from ``started`` (``time.perf_counter()``)."""
    REQUEST_SECONDS.labels(method, rule, str(status)).observe(time.perf_counter() - started)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response):
    started = g.get("metrics_started")
    if started is not None:
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        observe(request.method, rule, response.status_code, started)
    return response


@bp.get("/metrics")
@public
def metrics():
    """Prometheus metrics of the API and of the queues (text exposition format)."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(QueueCollector(get_store()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class _ThisProcess:
    """The default registry, as one collector of a scrape's registry."""

    def collect(self):
        yield from REGISTRY.collect()


class QueueCollector:
    """``actors_executions_queued{queue}``: executions waiting (SUBMITTED) per queue, read
    from the actors' mailboxes when scraped; every queue a live spawner serves is listed,
    at 0 when nothing waits."""

    def __init__(self, store):
        self.store = store

    def collect(self):
        gauge = GaugeMetricFamily(
            "actors_executions_queued",
            "Executions waiting to start, by the queue whose spawners run them.",
            labels=["queue"])
        for queue, count in sorted(queued_by_queue(self.store).items()):
            gauge.add_metric([queue], count)
        yield gauge


def queued_by_queue(store) -> dict:
    counts = {queue: 0 for host in store.hosts.list() for queue in host.get("queues", [])}
    actors = store.actors.list(store.executions.actors_with_mail())
    for actor in actors:
        queue = dispatch_queue(actor)
        counts[queue] = counts.get(queue, 0) + store.executions.queued_count(actor["id"])
    return counts
