#!/usr/bin/env bash
# Prepare the host, build the actor images, run the test suite.
#   scripts/test.sh [PYTEST ARGS...]
# pytest's exit status is propagated; "no tests collected" (5) is a failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash "$ROOT/scripts/host-setup.sh"
bash "$ROOT/scripts/build-images.sh"
# A one-node Slurm for tests/integration/test_slurm.py. If it cannot start, those tests say
# why and fail here (integration is required); run by hand without Slurm, they skip.
bash "$ROOT/scripts/slurm-setup.sh" || echo "[test] Slurm could not be started (see above)" >&2

# Integration tests must not silently skip here (and so in CI) when redis-server
# or Docker are missing: tests/integration/conftest.py turns that into a failure.
export ACTORS_REQUIRE_INTEGRATION="${ACTORS_REQUIRE_INTEGRATION:-1}"

# The package rules (.importlinter: the kernel imports neither side, the API and the
# spawner never import each other, runtime_sdk nothing of the platform) fail the run first.
echo "[test] .venv/bin/lint-imports"
"$ROOT/.venv/bin/lint-imports" --no-cache </dev/null || {
    echo "[test] FAILED: an import breaks the package rules in .importlinter (see docs/architecture.md)" >&2
    exit 1
}

echo "[test] .venv/bin/python -m pytest $*"
rc=0
"$ROOT/.venv/bin/python" -m pytest "$@" </dev/null || rc=$?

if [ "$rc" -eq 5 ]; then
    echo "[test] ERROR: pytest collected no tests (exit status 5); refusing to pass with zero tests" >&2
    exit 5
fi
if [ "$rc" -ne 0 ]; then
    echo "[test] FAILED: pytest exited with status $rc" >&2
fi
exit "$rc"
