"""gunicorn settings for the API, so /metrics adds up every worker:

    gunicorn -c python:actors_api.gunicorn_config -b 0.0.0.0:8000 -w $(nproc) -k gthread --threads 16 "actors_api:create_app()"

prometheus-client's multiprocess mode keeps each worker's values in files under
``PROMETHEUS_MULTIPROC_DIR``. This module sets that variable (a fresh private directory when
it is not set) before any worker imports prometheus-client, empties the directory when
gunicorn starts, and tells prometheus-client when a worker is gone. Nothing here imports
prometheus-client at load time: the master must not choose its value class before the
variable is set.
"""
import os
import shutil
import tempfile

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# One worker process per core unless -w (or WEB_CONCURRENCY) says otherwise: a Python
# process runs Python code on one core at a time, so threads alone never use a second one
# (docs/performance.md measures 1 and 2 workers).
workers = int(os.environ.get("WEB_CONCURRENCY") or len(os.sched_getaffinity(0)) or 1)

if not os.environ.get(MULTIPROC_ENV):
    os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="actors-api-metrics-")


def on_starting(server):
    """A restart starts the counters at 0 (Prometheus reads that as a reset)."""
    directory = os.environ[MULTIPROC_ENV]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
