"""The README's walk-through runs as pasted, top to bottom, against a real ``actors dev``.

Every ```bash block marked ``<!-- walk-through -->`` in README.md is run, in order, in one
bash with ``set -euo pipefail`` from the repository's folder, as a user would paste them:
with ``make run`` going (here: ``actors dev`` with the Docker runtime, its data in the
default folder of a temporary HOME, on a free port instead of 8000). A variable that is
not defined, a file the repository lacks or a command that fails stops it.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .conftest import DevPlatform

REPOSITORY = Path(__file__).resolve().parents[2]
MARKER = "<!-- walk-through -->"
BLOCK = re.compile(re.escape(MARKER) + r"\s*```bash\n(.*?)```", re.DOTALL)
TIMEOUT = 420  # seconds for the whole walk-through


def walk_through() -> list:
    return BLOCK.findall((REPOSITORY / "README.md").read_text())


def test_the_walk_through_has_the_blocks_a_user_pastes():
    blocks = walk_through()
    assert len(blocks) >= 8
    text = "\n".join(blocks)
    assert "export BASE=http://127.0.0.1:8000" in blocks[0]
    for undefined in ("$AUTH", "<token", "<id>", "<execution_id>", "<an execution"):
        assert undefined not in text, undefined
    assert not re.search(r"(?<![/\w])(photo\.jpg|doc\.json)", text)  # only the shipped ones
    for sample in ("docs/examples/doc.json", "docs/examples/photo.jpg"):
        assert sample in text and (REPOSITORY / sample).exists()


def test_the_sample_photo_is_a_jpeg_the_image_info_actor_reads():
    import importlib.util

    data = (REPOSITORY / "docs" / "examples" / "photo.jpg").read_bytes()
    spec = importlib.util.spec_from_file_location(
        "make_photo", REPOSITORY / "docs" / "examples" / "make_photo.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    assert data == maker.tiny_jpeg()  # the shipped file is what the script makes
    assert data.startswith(b"\xff\xd8") and data.endswith(b"\xff\xd9")


@pytest.fixture
def platform(tmp_path, docker_images):
    dev = DevPlatform(tmp_path, runtime_option="docker")
    dev.data_dir = tmp_path / "home" / ".local" / "share" / "actors"  # make run's default
    dev.start()
    yield dev
    dev.stop()


@pytest.mark.timeout(TIMEOUT + 120)
def test_the_walk_through_runs_as_pasted(platform):
    script = "set -euxo pipefail\n" + "\n".join(walk_through())
    script = script.replace("http://127.0.0.1:8000", platform.url)
    trace = platform.root / "walk-through.trace"
    try:
        with open(trace, "w") as commands:  # set -x: where it stopped, if it does
            result = subprocess.run(["bash", "-c", script], cwd=REPOSITORY,
                                    stdout=subprocess.PIPE, stderr=commands, text=True,
                                    timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                                    env=dict(platform.env, TERM="dumb"))
    except subprocess.TimeoutExpired:
        pytest.fail(f"the walk-through did not finish in {TIMEOUT} s; its last commands:\n"
                    f"{trace.read_text()[-3000:]}\nactors dev said:\n{platform.output()[-3000:]}")
    output = result.stdout + trace.read_text()
    assert result.returncode == 0, output[-6000:]
    assert "Contents of MSG: hello world" in output
    assert '"status":"ERROR"' not in output
    assert "Issued force quit command for execution" in output
    assert "exit status 3" in result.stdout and "COMPLETE after" in output
    assert "exit code 137" in output
    assert re.search(r"^3$", result.stdout, re.MULTILINE)  # the synchronous answer
    assert re.search(r"^4$", result.stdout, re.MULTILINE)  # the next unread result
    assert "4 words" in output
    assert '"cron_schedule":"2026-12-01 08 + 1 day"' in output
    for path in REPOSITORY.glob("*.json"):  # the walk-through leaves nothing behind
        assert path.name not in ("actor.json", "sent.json")
