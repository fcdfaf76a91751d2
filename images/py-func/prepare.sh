#!/usr/bin/env bash
# Vendor cloudpickle into images/py-func/vendor/ before `docker build`: images are
# built offline (no pip in the base image, no registry), so the package the
# host's .venv already has is copied in. The copy is git-ignored.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${ACTORS_PYTHON:-$ROOT/.venv/bin/python}"
VENDOR="$ROOT/images/py-func/vendor"

[ -x "$PYTHON" ] || { echo "prepare.sh: $PYTHON not found; run scripts/host-setup.sh" >&2; exit 1; }
source_dir="$("$PYTHON" -c 'import cloudpickle, os; print(os.path.dirname(cloudpickle.__file__))')"

rm -rf "$VENDOR/cloudpickle"
mkdir -p "$VENDOR"
cp -R "$source_dir" "$VENDOR/cloudpickle"
find "$VENDOR" -name __pycache__ -type d -prune -exec rm -rf {} +
echo "prepare.sh: vendored cloudpickle $("$PYTHON" -c 'import cloudpickle; print(cloudpickle.__version__)') into images/py-func/vendor/"
