#!/usr/bin/env bash
# Set everything up, then run the whole test suite (napari tests under Xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Headless Chromium renders report.html in one test.
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
export QT_QPA_PLATFORM=xcb
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
