#!/usr/bin/env bash
# Set up vascseg on a fresh Debian 12 / Python 3.11 machine (run as root or with sudo).
# Idempotent: safe to run again. Creates ./.venv with vascseg and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages napari needs headless (Xvfb and two xcb libraries).
need=()
for p in xvfb libxcb-icccm4 libxcb-keysyms1; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
echo "vascseg set up in $(pwd)/.venv"
