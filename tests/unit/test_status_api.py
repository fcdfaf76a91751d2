"""The status and outputs endpoints over HTTP (test client, fakeredis)."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from actors_api import create_app
from actors_core.artifacts import FolderArtifactStore, output_key
from actors_core.enums import ExecutionStatus

from .conftest import bearer


@pytest.fixture
def app(config, store, tmp_path):
    return create_app(config.with_overrides(artifact_url=str(tmp_path / "artifacts"),
                                            status_max_streams=1, status_stream_seconds=2),
                      store)


def _actor(http, headers):
    response = http.post("/actors", data={"image": "actors/echo"}, headers=headers)
    return response.json["result"]["id"]


def _send(http, headers, actor_id, message="hi"):
    response = http.post(f"/actors/{actor_id}/messages", data={"message": message},
                         headers=headers)
    return response.json["result"]["execution_id"]


def _sse(response) -> list:
    """(id, data) of each event frame; 'end' for the end event."""
    return _frames(b"".join(response.response).decode())


def _frames(body: str) -> list:
    frames = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line
                      and not line.startswith(":"))
        if fields.get("event") == "end":
            frames.append("end")
        elif "data" in fields:
            frames.append((int(fields["id"]), json.loads(fields["data"])))
    return frames


def _run_to_the_end(store, actor_id, eid, **fields):
    store.timeline.identify("spawner", "spawner-x")
    assert store.executions.claim_next(actor_id, "spawner-x", "w") == eid
    store.executions.finish(store.executions.get_internal(eid), ExecutionStatus.COMPLETE, 60,
                            exit_code=0, **fields)
    store.timeline.identify("api")


def test_status_pages_with_since_and_says_when_it_is_final(http, alice, store):
    actor_id = _actor(http, alice)
    eid = _send(http, alice, actor_id)
    url = f"/actors/{actor_id}/executions/{eid}/status"
    page = http.get(url, headers=alice).json["result"]
    assert [e["type"] for e in page["events"]] == ["ACCEPTED", "QUEUED"]
    assert page["cursor"] == 2 and page["final"] is False and page["status"] == "SUBMITTED"
    _run_to_the_end(store, actor_id, eid)
    page = http.get(url, query_string={"since": 2}, headers=alice).json["result"]
    assert [(e["seq"], e["type"], e["source"]["node"]) for e in page["events"]] == [
        (3, "CLAIMED", "spawner-x"), (4, "FINISHED", "spawner-x")]
    assert page["final"] is True and page["status"] == "COMPLETE"
    assert http.get(url, query_string={"since": 1, "limit": 1},
                    headers=alice).json["result"]["cursor"] == 2
    assert http.get(url, query_string={"since": "x"}, headers=alice).status_code == 400
    assert http.get(url, headers=bearer(http.application.config["ACTORS"], "mallory")
                    ).status_code in (403, 404)


def test_sse_sends_every_event_ends_after_the_final_and_resumes(http, alice, store):
    actor_id = _actor(http, alice)
    eid = _send(http, alice, actor_id)
    _run_to_the_end(store, actor_id, eid)
    url = f"/actors/{actor_id}/executions/{eid}/status"
    stream = {"Accept": "text/event-stream", **alice}
    response = http.get(url, headers=stream)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    frames = _sse(response)
    assert [f[0] for f in frames[:-1]] == [1, 2, 3, 4] and frames[-1] == "end"
    assert frames[2][1]["type"] == "CLAIMED"
    resumed = http.get(url, headers={**stream, "Last-Event-ID": "2"})
    assert [f[0] for f in _sse(resumed)[:-1]] == [3, 4]
    done = http.get(url, headers={**stream, "Last-Event-ID": "4"})
    assert done.status_code == 204  # EventSource stops reconnecting


def test_over_the_stream_cap_a_stream_is_one_short_poll(http, alice, app):
    actor_id = _actor(http, alice)
    eid = _send(http, alice, actor_id)
    slots = app.extensions["actors_status_streams"]
    release = slots.take()  # the one live slot (status_max_streams=1) is taken
    try:
        response = http.get(f"/actors/{actor_id}/executions/{eid}/status",
                            headers={"Accept": "text/event-stream", **alice})
        body = b"".join(response.response).decode()
    finally:
        release()
    assert body.startswith("retry: 1000") and [f[0] for f in _frames(body)] == [1, 2]
    assert slots.take() is not None  # the short poll took no slot


def test_the_actor_feed_covers_every_execution(http, alice):
    actor_id = _actor(http, alice)
    first, second = _send(http, alice, actor_id), _send(http, alice, actor_id)
    feed = http.get(f"/actors/{actor_id}/status", headers=alice).json["result"]
    assert [(e["execution_id"], e["cursor"]) for e in feed["events"]] == [
        (first, 1), (first, 2), (second, 3), (second, 4)]
    later = http.get(f"/actors/{actor_id}/status", query_string={"since": 3},
                     headers=alice).json["result"]
    assert [e["cursor"] for e in later["events"]] == [4] and later["cursor"] == 4


def test_cancel_and_force_quit_are_events(http, alice, store):
    actor_id = _actor(http, alice)
    queued = _send(http, alice, actor_id)
    http.delete(f"/actors/{actor_id}/executions/{queued}", headers=alice)
    running = _send(http, alice, actor_id)
    store.executions.claim_next(actor_id, "s", "w")
    http.delete(f"/actors/{actor_id}/executions/{running}", headers=alice)
    http.delete(f"/actors/{actor_id}/executions/{running}", headers=alice)

    def types(eid):
        page = http.get(f"/actors/{actor_id}/executions/{eid}/status", headers=alice)
        return [e["type"] for e in page.json["result"]["events"]]

    assert types(queued) == ["ACCEPTED", "QUEUED", "CANCELLED"]
    assert types(running) == ["ACCEPTED", "QUEUED", "CLAIMED", "FORCE_QUIT_REQUESTED"]


def test_outputs_zip_one_file_and_confinement(http, alice, store, app, tmp_path):
    actor_id = _actor(http, alice)
    eid = _send(http, alice, actor_id)
    url = f"/actors/{actor_id}/executions/{eid}/outputs"
    assert http.get(url, headers=alice).status_code == 409  # not finished yet
    files = {"a.txt": b"alpha\n", "d/b.bin": bytes(range(256)) * 100}
    kept = FolderArtifactStore(app.config["ACTORS"].artifact_url)
    for path, data in files.items():
        kept.put(output_key(actor_id, eid, path), io.BytesIO(data))
    listed = [{"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
              for p, d in files.items()]
    _run_to_the_end(store, actor_id, eid, outputs=listed, outputs_truncated=False)

    record = http.get(f"/actors/{actor_id}/executions/{eid}", headers=alice).json["result"]
    assert record["outputs"] == listed and record["_links"]["outputs"].endswith("/outputs")
    response = http.get(url, headers=alice)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert {n: archive.read(n) for n in archive.namelist()} == files
    one = http.get(f"{url}/d/b.bin", headers=alice)
    assert one.data == files["d/b.bin"] and one.headers["X-Content-SHA256"] == listed[1]["sha256"]

    # Only listed paths are served, whatever lies in the store.
    (tmp_path / "artifacts" / "secret").write_text("not an output")
    (tmp_path / "outside.txt").write_text("outside")
    import os
    os.symlink(tmp_path / "outside.txt",
               tmp_path / "artifacts" / actor_id / eid / "outputs" / "planted")
    for bad in ("../../../secret", "..%2F..%2F..%2Fsecret", "/etc/passwd", "planted",
                "d/../a.txt", "%2e%2e/%2e%2e/secret"):
        answer = http.get(f"{url}/{bad}", headers=alice, follow_redirects=True)
        assert answer.status_code == 404 and b"outside" not in answer.data, bad


def test_logs_as_raw_text(http, alice, store):
    actor_id = _actor(http, alice)
    eid = _send(http, alice, actor_id)
    store.logs.append(eid, b"line one\nline two\n")
    raw = http.get(f"/actors/{actor_id}/executions/{eid}/logs",
                   headers={"Accept": "text/plain", **alice})
    assert raw.mimetype == "text/plain" and raw.data == b"line one\nline two\n"
    wrapped = http.get(f"/actors/{actor_id}/executions/{eid}/logs", headers=alice)
    assert wrapped.json["result"]["logs"] == "line one\nline two\n"


def test_a_live_stream_is_woken_by_new_events_and_ends_after_the_final_one(store):
    import threading
    import time

    from actors_api import sse
    from actors_core.ids import new_id

    actor = store.actors.create({"id": new_id(), "owner": "alice", "image": "img",
                                 "stateless": True, "queue": "default", "max_workers": None})
    eid = store.executions.submit(actor, {"id": new_id(), "executor": "alice",
                                          "content_type": "str", "environment": {}}, b"m")["id"]
    listener = sse.Listener(store.timeline)
    signal = listener.watch(eid)
    body = sse.stream(lambda position: store.timeline.since(eid, position, 1000, raw=True), 0,
                      "seq", signal, seconds=20)
    received = []

    def later():
        time.sleep(0.5)
        store.executions.claim_next(actor["id"], "s", "w")
        time.sleep(0.3)
        store.executions.finish(store.executions.get_internal(eid), ExecutionStatus.COMPLETE, 60,
                                exit_code=0)

    threading.Thread(target=later, daemon=True).start()
    started = time.monotonic()
    for frame in body:
        received.append((round(time.monotonic() - started, 1), frame))
    listener.forget(eid, signal)
    ids = [int(f.split("\n")[0][4:]) for _, f in received if f.startswith("id: ")]
    assert ids == [1, 2, 3, 4] and received[-1][1].startswith("event: end")
    assert time.monotonic() - started < 5  # woken by the events, not by the 20 s limit
    claimed_at = next(t for t, f in received if '"CLAIMED"' in f)
    assert 0.3 < claimed_at < 2.0  # it came while the stream was open
