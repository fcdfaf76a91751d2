"""Outputs: confined collection with a cap, both artifact backends, the streamed zip."""
from __future__ import annotations

import hashlib
import io
import os
import types
import zipfile

import pytest

from actors_api.zipstream import Member, stream_zip
from actors_core.artifacts import ArtifactMissing, FolderArtifactStore, check_key, from_url
from actors_core.artifacts.confined import NotConfined, open_beneath, walk
from actors_core.artifacts.s3 import S3ArtifactStore
from actors_core.ids import new_id
from spawner import outputs

from ..s3_server import S3Server, _boto_credentials


@pytest.fixture
def outside(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the spawner's own secret")
    (tmp_path / "secret-dir").mkdir()
    (tmp_path / "secret-dir" / "key").write_text("also secret")
    return tmp_path


def _run(store, config, workdir, log_ex=60):
    actor = {"id": new_id(), "log_ex": log_ex}
    return types.SimpleNamespace(store=store, config=config, actor=actor, execution_id=new_id(),
                                 workdir=workdir)


def _write(folder, path, data: bytes):
    target = folder / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_collection_keeps_regular_files_and_never_leaves_the_folder(store, config, tmp_path,
                                                                   outside):
    config = config.with_overrides(artifact_url=str(tmp_path / "artifacts"))
    workdir = tmp_path / "run"
    mount = outputs.prepare(workdir)
    folder = workdir / "outputs"
    assert mount.target == "/_abaco_outputs" and mount.source == str(folder)
    assert oct(folder.stat().st_mode & 0o777) == "0o777"
    expected = [_write(folder, "a.txt", b"alpha\n"), _write(folder, "sub/b.bin", os.urandom(3000))]
    os.symlink(outside / "secret.txt", folder / "link.txt")
    os.symlink(outside / "secret-dir", folder / "linked-dir")
    os.symlink("../../secret.txt", folder / "sub" / "dotdot")
    os.mkfifo(folder / "pipe")
    run = _run(store, config, workdir)
    fields = outputs.collect(run)
    assert fields["outputs"] == expected and fields["outputs_bytes"] == 3006
    assert fields["outputs_truncated"] is False
    message = fields["outputs_message"]
    for skipped in ("link.txt (symlink)", "linked-dir (symlink)", "sub/dotdot (symlink)",
                    "pipe (fifo)"):
        assert skipped in message
    kept = FolderArtifactStore(config.artifact_url)
    prefix = f"{run.actor['id']}/{run.execution_id}/outputs/"
    assert kept.open(prefix + "a.txt").read() == b"alpha\n"
    stored = sorted(str(p.relative_to(tmp_path / "artifacts")) for p in
                    (tmp_path / "artifacts").rglob("*") if p.is_file())
    assert stored == [prefix + "a.txt", prefix + "sub/b.bin"]  # no secret came along
    event = store.timeline.since(run.execution_id)["events"][-1]
    assert event["type"] == "OUTPUTS_COLLECTED" and "Collected 2 output file(s)" in event["message"]
    assert store.artifacts.delete_at(f"{run.actor['id']}/{run.execution_id}/") is not None


def test_over_the_cap_collection_stops_and_says_so(store, config, tmp_path):
    config = config.with_overrides(artifact_url=str(tmp_path / "artifacts"), output_max_bytes=2500)
    workdir = tmp_path / "run"
    outputs.prepare(workdir)
    folder = workdir / "outputs"
    first = _write(folder, "1.bin", b"x" * 1000)
    _write(folder, "2.bin", b"y" * 2000)
    _write(folder, "3.bin", b"z" * 10)
    run = _run(store, config, workdir)
    fields = outputs.collect(run)
    assert fields["outputs"] == [first] and fields["outputs_truncated"] is True
    assert "cap of 2500 bytes" in fields["outputs_message"]
    assert "2.bin (2000 bytes) and 1 file(s) after it were not kept" in fields["outputs_message"]
    with pytest.raises(ArtifactMissing):
        FolderArtifactStore(config.artifact_url).open(
            f"{run.actor['id']}/{run.execution_id}/outputs/2.bin")
    leftovers = [p.name for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    assert leftovers == ["1.bin"]  # no partial file beside it


def test_a_file_that_grows_past_the_cap_while_read_is_not_kept(store, config, tmp_path,
                                                              monkeypatch):
    config = config.with_overrides(artifact_url=str(tmp_path / "artifacts"), output_max_bytes=100)
    workdir = tmp_path / "run"
    outputs.prepare(workdir)
    _write(workdir / "outputs", "grows.bin", b"a" * 10)
    real_walk = outputs.walk

    def stale_walk(folder):  # listed at 10 bytes, 500 when read
        entries = list(real_walk(folder))
        (workdir / "outputs" / "grows.bin").write_bytes(b"b" * 500)
        return iter(entries)

    monkeypatch.setattr(outputs, "walk", stale_walk)
    fields = outputs.collect(_run(store, config, workdir))
    assert fields["outputs"] == [] and fields["outputs_truncated"] is True
    assert not [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]


def test_no_folder_no_fields_and_an_empty_folder_is_an_empty_list(store, config, tmp_path):
    config = config.with_overrides(artifact_url=str(tmp_path / "artifacts"))
    assert outputs.collect(_run(store, config, tmp_path / "never-started")) == {}
    outputs.prepare(tmp_path / "run")
    run = _run(store, config, tmp_path / "run")
    assert outputs.collect(run) == {"outputs": [], "outputs_bytes": 0, "outputs_truncated": False}
    assert store.timeline.last_seq(run.execution_id) == 0  # nothing collected, nothing to tell


def test_confined_open_refuses_links_and_dotdot(tmp_path, outside):
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_text("ok")
    os.symlink(outside / "secret.txt", root / "d" / "l")
    os.symlink(outside / "secret-dir", root / "ld")
    os.close(open_beneath(root, "d/f"))
    for bad in ("d/l", "ld/key", "../secret.txt", "d/../../secret.txt", "/etc/passwd", ""):
        with pytest.raises(NotConfined):
            os.close(open_beneath(root, bad))
    assert [(e.path, e.kind) for e in walk(root)] == [("d/f", "file"), ("d/l", "symlink"),
                                                      ("ld", "symlink")]
    for bad in ("../x", "a//b", "/abs", "a/./b", "a\\b"):
        with pytest.raises(ValueError):
            check_key(bad)


def test_the_folder_store_serves_no_link_planted_in_it(tmp_path, outside):
    kept = FolderArtifactStore(str(tmp_path / "artifacts"))
    kept.put("a/e/outputs/f.txt", io.BytesIO(b"data"))
    os.symlink(outside / "secret.txt", tmp_path / "artifacts" / "a" / "e" / "outputs" / "evil")
    assert kept.open("a/e/outputs/f.txt").read() == b"data"
    with pytest.raises(ArtifactMissing):
        kept.open("a/e/outputs/evil")
    assert kept.delete_prefix("a/e/") == 2
    with pytest.raises(ArtifactMissing):
        kept.open("a/e/outputs/f.txt")
    assert (outside / "secret.txt").exists()


def test_expired_outputs_are_swept(store, config, tmp_path):
    config = config.with_overrides(artifact_url=str(tmp_path / "artifacts"))
    kept = from_url(config.artifact_url)
    kept.put("act/ex1/outputs/f", io.BytesIO(b"1"))
    kept.put("act/ex2/outputs/f", io.BytesIO(b"2"))
    store.artifacts.schedule("act/ex1/", 0)
    store.artifacts.schedule("act/ex2/", 9e12)
    assert outputs.sweep_expired(store, config) == 1
    with pytest.raises(ArtifactMissing):
        kept.open("act/ex1/outputs/f")
    assert kept.open("act/ex2/outputs/f").read() == b"2"
    assert outputs.sweep_expired(store, config) == 0  # claimed once


def test_the_zip_is_streamed_in_pieces_and_round_trips(tmp_path):
    big = os.urandom(3 * 1024 * 1024)
    members = [Member("big.bin", len(big), lambda: io.BytesIO(big)),
               Member("dir/small.txt", 5, lambda: io.BytesIO(b"small"))]
    pieces = list(stream_zip(members, comment="INCOMPLETE: test"))
    assert len(pieces) > 10 and max(map(len, pieces)) < 1024 * 1024
    archive = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    assert archive.testzip() is None and archive.comment == b"INCOMPLETE: test"
    assert archive.read("big.bin") == big and archive.read("dir/small.txt") == b"small"


@pytest.fixture(scope="module")
def s3():
    server = S3Server()
    yield server
    server.stop()


def test_the_s3_store_against_a_real_s3_server(s3, store, config, tmp_path):
    bucket = f"outputs-{new_id().lower()}"
    s3.make_bucket(bucket)
    import boto3

    client = boto3.client("s3", endpoint_url=s3.endpoint, **_boto_credentials())
    kept = S3ArtifactStore(bucket, "runs/", client=client)
    assert kept.url == f"s3://{bucket}/runs"
    payload = os.urandom(40 * 1024 * 1024 + 17)  # multipart (16 MiB parts)
    kept.put("a/e/outputs/big.bin", io.BytesIO(payload))
    kept.put("a/e/outputs/x/y.txt", io.BytesIO(b"y"))
    kept.put("a/other/outputs/z", io.BytesIO(b"z"))
    body = kept.open("a/e/outputs/big.bin")
    assert hashlib.sha256(body.read()).digest() == hashlib.sha256(payload).digest()
    names = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert names == ["runs/a/e/outputs/big.bin", "runs/a/e/outputs/x/y.txt",
                     "runs/a/other/outputs/z"]
    assert kept.delete_prefix("a/e/") == 2
    with pytest.raises(ArtifactMissing):
        kept.open("a/e/outputs/big.bin")
    assert kept.open("a/other/outputs/z").read() == b"z"
    with pytest.raises(ValueError):
        kept.open("a/../../etc/passwd")


def test_collection_into_s3_stops_at_the_cap_leaving_no_object(s3, store, config, tmp_path,
                                                               monkeypatch):
    bucket = f"cap-{new_id().lower()}"
    s3.make_bucket(bucket)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    config = config.with_overrides(artifact_url=f"s3://{bucket}/p",
                                   artifact_s3_endpoint=s3.endpoint, output_max_bytes=1000)
    workdir = tmp_path / "run"
    outputs.prepare(workdir)
    small = _write(workdir / "outputs", "a.txt", b"a" * 600)
    _write(workdir / "outputs", "b.txt", b"b" * 600)
    run = _run(store, config, workdir)
    fields = outputs.collect(run)
    assert fields["outputs"] == [small] and fields["outputs_truncated"]
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [f"p/{run.actor['id']}/{run.execution_id}/outputs/a.txt"]
