"""A spawner's Prometheus metrics, served on its own port (``actors spawner --metrics-port``).

A spawner is several processes: the supervisor and one process per slot, where executions
run and finish. They share prometheus-client's multiprocess mode: :func:`serve`, called by
the supervisor before any slot starts, gives this spawner a fresh directory in
``PROMETHEUS_MULTIPROC_DIR`` (inherited by the slot processes it starts) and serves
``/metrics`` from all of their files, plus gauges read when scraped (slots, running
executions, GPUs). Without ``--metrics-port`` the counters below still count, in memory,
and nobody reads them.

The metric objects are made on first use, so that the variable is set before
prometheus-client makes them. Nothing here may import Flask (the API's side is
actors_api/metrics.py). Label values are bounded: queues, statuses, exit classes and
outcomes, never actor or execution ids.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Optional

from actors_core.scheduling import dispatch_queue
from actors_core.times import parse_iso

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds: from a few ms (a warm slot) to an hour (queued behind long work).
START_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
RUN_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)

_metrics: Optional[SimpleNamespace] = None
_making = threading.Lock()  # re-attached runs finish on threads of one process, at once


def _get() -> SimpleNamespace:
    global _metrics
    with _making:
        if _metrics is None:
            _metrics = _make()
    return _metrics


def _make() -> SimpleNamespace:
    from prometheus_client import Counter, Histogram

    return SimpleNamespace(
        finished=Counter(
            "actors_executions_finished_total",
            "Executions that ended, by queue, final status (COMPLETE, ERROR) and exit "
            "class (zero, nonzero, force_quit, oom_killed, not_run).",
            ["queue", "status", "exit_class"]),
        start_delay=Histogram(
            "actors_execution_start_delay_seconds",
            "From the message's arrival to its execution's start, by queue.",
            ["queue"], buckets=START_BUCKETS),
        run=Histogram(
            "actors_execution_run_seconds",
            "How long executions ran (the runtime's own start and finish), by queue.",
            ["queue"], buckets=RUN_BUCKETS),
        webhooks=Counter(
            "actors_webhook_deliveries_total",
            "Webhook delivery attempts by outcome: delivered, retrying (failed, tried "
            "again later) or failed (failed for the last time).", ["outcome"]),
    )


# -- counted where it happens (one call each) ----------------------------------------------
def execution_started(actor: dict, execution: dict) -> None:
    """The execution's container started now."""
    try:
        received = parse_iso(execution["message_received_time"])
    except (KeyError, TypeError, ValueError):
        return
    delay = (datetime.now(timezone.utc) - received).total_seconds()
    _get().start_delay.labels(dispatch_queue(actor)).observe(max(delay, 0.0))


def execution_finished(actor: Optional[dict], execution: dict, status, exit_code=None,
                       final_state: Optional[dict] = None, runtime: Optional[float] = None,
                       killed: bool = False) -> None:
    """The execution ended COMPLETE or ERROR (counted once: callers call it only when the
    store's finish() recorded the change)."""
    queue = dispatch_queue(actor) if actor else str(execution.get("queue") or "unknown")
    metrics = _get()
    metrics.finished.labels(queue, str(status), exit_class(status, exit_code, final_state,
                                                           killed)).inc()
    if runtime is not None and exit_code is not None:
        metrics.run.labels(queue).observe(float(runtime))


def exit_class(status, exit_code, final_state: Optional[dict], killed: bool) -> str:
    if str(status) == "ERROR" or exit_code is None:
        return "not_run"  # it never started, or the spawner lost it
    if killed or (final_state or {}).get("ForceQuit"):
        return "force_quit"
    if (final_state or {}).get("OOMKilled"):
        return "oom_killed"
    return "zero" if int(exit_code) == 0 else "nonzero"


def webhook_delivery(outcome: Optional[str]) -> None:
    """One delivery attempt and what came of it (an EventStatus value)."""
    if outcome is not None:
        _get().webhooks.labels(str(outcome).lower()).inc()


# -- serving -------------------------------------------------------------------------------
class SpawnerCollector:
    """Gauges of one spawner, read from the store when scraped."""

    def __init__(self, supervisor):
        self.supervisor = supervisor

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        name, store = self.supervisor.name, self.supervisor.store
        running = len(store.executions.running_on(name))
        slots = self.supervisor.slots
        gpus = len(self.supervisor.gpus)
        busy_gpus = len(store.hosts.held(name)) if gpus else 0
        for metric, help_text, value in (
                ("actors_spawner_slots", "Executions this spawner runs at once (--slots).", slots),
                ("actors_spawner_executions_running", "Executions running on this spawner.",
                 running),
                ("actors_spawner_slots_free", "Slots with no execution.", max(slots - running, 0)),
                ("actors_spawner_gpus", "GPUs this spawner hands out (--gpus).", gpus),
                ("actors_spawner_gpus_busy", "Of those, GPUs held by an execution.", busy_gpus)):
            gauge = GaugeMetricFamily(metric, help_text, labels=["spawner"])
            gauge.add_metric([name], value)
            yield gauge


class MetricsServer:
    """This spawner's /metrics: every process's files, plus :class:`SpawnerCollector`."""

    def __init__(self, supervisor, port: int, host: str = "0.0.0.0"):
        self.directory = tempfile.mkdtemp(prefix=f"actors-spawner-metrics-{os.getpid()}-")
        os.environ[MULTIPROC_ENV] = self.directory  # before any metric is made; slots inherit it
        from prometheus_client import CollectorRegistry, start_http_server, values
        from prometheus_client.multiprocess import MultiProcessCollector

        values.ValueClass = values.get_value_class()  # in case prometheus-client came first
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.directory)
        registry.register(SpawnerCollector(supervisor))
        self.server, self.thread = start_http_server(port, addr=host, registry=registry)
        self.port = self.server.server_port
        log.info("metrics on port %d", self.port)

    def close(self) -> None:
        self.server.shutdown()
        shutil.rmtree(self.directory, ignore_errors=True)
