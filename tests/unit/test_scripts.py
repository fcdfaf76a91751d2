"""The set-up scripts say what they are doing during their long steps."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def _bash(script: str, **environment) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=REPOSITORY, env={"PATH": "/usr/bin:/bin", **environment})


def test_a_long_step_prints_progress_and_keeps_its_exit_status(tmp_path):
    log = tmp_path / "step.log"
    result = _bash(f'. scripts/progress.sh; run_with_progress "[test]" "a long step" {log} '
                   f'sh -c "echo fetching one; sleep 2.5; echo fetching two; sleep 1"; echo rc=$?',
                   ACTORS_PROGRESS_INTERVAL="1")
    lines = [line for line in result.stdout.splitlines() if "still running" in line]
    assert lines, result.stdout  # about one a second (fewer on a loaded machine)
    assert re.match(r"\[test\] a long step: still running \(\d+s\) \.\.\. fetching", lines[0])
    assert "rc=0" in result.stdout
    assert log.read_text() == "fetching one\nfetching two\n"
    failed = _bash(f'. scripts/progress.sh; run_with_progress "[t]" "x" {log} sh -c "exit 3"; '
                   'echo rc=$?')
    assert "rc=3" in failed.stdout


def test_every_long_step_of_the_set_up_goes_through_it():
    host_setup = (REPOSITORY / "scripts" / "host-setup.sh").read_text()
    build = (REPOSITORY / "scripts" / "build-images.sh").read_text()
    slurm = (REPOSITORY / "scripts" / "slurm-setup.sh").read_text()
    assert 'run_with_progress "[slurm-setup]" "apt-get install"' in slurm
    assert 'run_with_progress "[host-setup]" "debootstrap"' in host_setup
    assert 'run_with_progress "[host-setup]" "pip install"' in host_setup
    assert 'run_with_progress "[build-images]" "$tag"' in build
    assert 'log "building $tag from $df' in build  # said before the build starts
