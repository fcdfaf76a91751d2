"""Server-Sent Events for status logs, without a worker per client.

A WSGI server (gunicorn gthread, werkzeug) gives each response a thread for
as long as its body streams, so a stream per client could take every thread
and starve ordinary requests. Three rules keep that from happening:

* **a cap per process**: at most ``status_max_streams`` streams are *live*
  (held open, woken when an event comes). Beyond the cap a stream request is
  answered at once with the events there are and ``retry:``: EventSource and
  our clients reconnect after that many milliseconds with ``Last-Event-ID``,
  so they still get every event, by short polls that hold a thread for one
  Redis read. Set the cap well below the server's threads (gunicorn gthread
  defaults to 16 here; the cap defaults to 8);
* **a bounded life**: a live stream closes after ``status_stream_seconds``
  and the client resumes, so the cap turns over and no stream is forgotten;
* **one shared listener**: a single thread per process subscribes to the
  store's status channel and wakes only the streams of the execution or actor
  concerned; each stream reads Redis at most every :data:`MIN_INTERVAL`.

The wire format: ``id:`` is the event's ``seq`` (an actor feed's ``cursor``),
``data:`` its JSON. An execution's stream sends ``event: end`` after its final
event and closes; asked again after that, it answers 204 No Content, which
tells EventSource to stop reconnecting.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Callable, Iterator, Optional

log = logging.getLogger(__name__)

RETRY_MS = 1000  # what clients wait before reconnecting
HEARTBEAT = 10.0  # seconds between keep-alive comments on a quiet stream
MIN_INTERVAL = 0.1  # seconds between two reads of one stream: bursts come as one batch


class Listener:
    """One thread per process: status-channel messages wake the streams that care."""

    def __init__(self, timeline):
        self.timeline = timeline
        self._lock = threading.Lock()
        self._interested = {}  # execution or actor id -> set of threading.Event
        self._pid = None

    def watch(self, name: str) -> threading.Event:
        self._ensure_running()
        signal = threading.Event()
        with self._lock:
            self._interested.setdefault(name, set()).add(signal)
        return signal

    def forget(self, name: str, signal: threading.Event) -> None:
        with self._lock:
            waiting = self._interested.get(name)
            if waiting is not None:
                waiting.discard(signal)
                if not waiting:
                    del self._interested[name]

    def _ensure_running(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()  # also right after a fork: the parent's thread is not ours
        threading.Thread(target=self._run, name="status-listener", daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                for actor_id, execution_id in self.timeline.listen(lambda: False):
                    self._wake(actor_id, execution_id)
            except Exception as error:
                log.warning("status listener lost Redis (%s); streams poll until it is back", error)
                self._wake_all()
                time.sleep(1.0)

    def _wake(self, *names: str) -> None:
        with self._lock:
            signals = [s for name in names for s in self._interested.get(name, ())]
        for signal in signals:
            signal.set()

    def _wake_all(self) -> None:
        with self._lock:
            signals = [s for waiting in self._interested.values() for s in waiting]
        for signal in signals:
            signal.set()


class StreamSlots:
    """The per-process cap on live streams."""

    def __init__(self, limit: int):
        self.limit = max(int(limit), 0)
        self._free = threading.BoundedSemaphore(self.limit) if self.limit else None

    def take(self) -> Optional[Callable[[], None]]:
        """A release function if a live slot was free, else None."""
        if self._free is None or not self._free.acquire(blocking=False):
            return None
        released = threading.Event()

        def release() -> None:
            if not released.is_set():
                released.set()
                self._free.release()

        return release


def event_frame(event, event_id: int, convert=None) -> str:
    """One frame. ``event`` is a dict, or the JSON text as the store keeps it (passed on
    without decoding unless ``convert`` must rename its keys)."""
    if isinstance(event, str):
        if convert is None:
            return f"id: {event_id}\ndata: {event}\n\n"
        event = json.loads(event)
    body = convert(event) if convert else event
    return f"id: {event_id}\ndata: {json.dumps(body, separators=(',', ':'))}\n\n"


def stream(read: Callable[[int], dict], position: int, id_field: str,
           signal: Optional[threading.Event], seconds: float,
           convert=None, on_end: Optional[dict] = None, page_size: int = 1000) -> Iterator[str]:
    """The body of one stream.

    ``read(position)`` returns ``{events, cursor, final?}`` after ``position`` (events
    as dicts or as ``(id, json text)`` pairs);
    without a ``signal`` (over the cap) what is there is sent and the stream
    closes with ``retry:``; with one, the stream stays until ``seconds`` have passed
    or the final event is sent.
    """
    yield f"retry: {RETRY_MS}\n\n"
    deadline = time.monotonic() + seconds
    quiet_since = time.monotonic()
    while True:
        if signal is not None:
            signal.clear()  # before reading: an event recorded after the read wakes us
        page = read(position)
        for event in page["events"]:
            position, event = event if isinstance(event, tuple) else (event[id_field], event)
            yield event_frame(event, position, convert)
        if page["events"]:
            quiet_since = time.monotonic()
        if page.get("final"):
            yield f"event: end\ndata: {json.dumps(on_end or {})}\n\n"
            return
        if len(page["events"]) >= page_size:
            continue  # a full page: there is more already
        remaining = deadline - time.monotonic()
        if signal is None or remaining <= 0:
            return
        if not signal.wait(min(remaining, HEARTBEAT)):
            if time.monotonic() - quiet_since >= HEARTBEAT:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
            continue
        time.sleep(MIN_INTERVAL)
