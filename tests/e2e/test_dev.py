"""``actors dev`` on its own: what it does when it cannot start, and the small commands."""
from __future__ import annotations

import socket
import subprocess

from click.testing import CliRunner

from actors_cli.main import main
from actors_core.config import VERSION

from .conftest import actors_command, free_port


def test_a_busy_port_is_an_error_before_anything_is_touched(tmp_path):
    home, config, data = tmp_path / "home", tmp_path / "config", tmp_path / "data"
    home.mkdir()
    config.mkdir()
    (config / "actors").mkdir()
    existing = config / "actors" / "config.toml"
    existing.write_text('url = "http://127.0.0.1:1"\ntoken = "keep-me"\n')
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            actors_command() + ["dev", "--port", str(port), "--data-dir", str(data)],
            env={"HOME": str(home), "XDG_CONFIG_HOME": str(config), "PATH": "/usr/bin:/bin",
                 "ACTORS_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode != 0, result.stdout + result.stderr
    assert f"127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr
    assert existing.read_text() == 'url = "http://127.0.0.1:1"\ntoken = "keep-me"\n'
    assert not data.exists()  # no secret, no Redis, no logs


def test_version_and_short_help():
    runner = CliRunner()
    version = runner.invoke(main, ["--version"])
    assert version.exit_code == 0 and version.output.strip() == f"actors {VERSION}"
    assert runner.invoke(main, ["-V"]).output.strip() == f"actors {VERSION}"
    for argv in (["-h"], ["dev", "-h"], ["send", "-h"], ["token", "-h"]):
        shown = runner.invoke(main, argv, prog_name="actors")
        assert shown.exit_code == 0 and shown.output.startswith("Usage: actors"), argv


def test_token_finds_the_dev_secret_by_itself(tmp_path, monkeypatch):
    from actors_core.config import Config
    from actors_core.tokens import verify

    monkeypatch.delenv("ACTORS_JWT_SECRET", raising=False)
    runner = CliRunner()
    missing = runner.invoke(main, ["token", "--user", "bob", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 1 and "actors dev" in missing.output
    (tmp_path / "secret").write_text("a-dev-secret-0123456789abcdef0123456789\n")
    minted = runner.invoke(main, ["token", "--user", "bob", "--data-dir", str(tmp_path)])
    assert minted.exit_code == 0, minted.output
    identity = verify(Config(jwt_secret="a-dev-secret-0123456789abcdef0123456789"),
                      minted.output.strip())
    assert identity.username == "bob"
