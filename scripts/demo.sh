#!/usr/bin/env bash
# Set everything up, then run the pipeline on the shipped sample case.
# Outputs go to ./out/demo (report.json, report.html, NIfTI masks, route CSVs, DICOM SEG).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/vascseg run sample_data/ct_continuous_left --out out/demo
echo "open out/demo/report.html"
