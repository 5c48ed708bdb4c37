#!/usr/bin/env bash
# Set everything up, then run the whole test suite (napari tests under Xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_QPA_PLATFORM=xcb
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
