#!/usr/bin/env bash
# Prepare the host, build the actor images, then run the whole platform locally
# (private redis if needed, API and a spawner):  scripts/run.sh [ACTORS DEV ARGS...]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash "$ROOT/scripts/host-setup.sh"
bash "$ROOT/scripts/build-images.sh"

exec "$ROOT/.venv/bin/actors" dev "$@"
