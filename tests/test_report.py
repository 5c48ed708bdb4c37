"""report.json against the shipped schema, route CSVs and report.html (rendered in Chromium)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from _tubes import TREE, build_tree, paint_defect, shift
from conftest import require
from vascseg.config import Config
from vascseg.pipeline import measure_labels, write_outputs
from vascseg.report import CSV_COLUMNS, ReportSchemaError, validate_report

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def result():
    veins, defects, grid = build_tree((1.5, 1.0, 1.0))
    pts, r = TREE["common_iliac_vein_left"]
    paint_defect(defects, veins, grid, shift(pts), r, 10.0, 40.0)
    return measure_labels(grid, veins, defects, Config())


def test_report_validates_and_invalid_is_rejected(result):
    rep = result.report
    validate_report(rep)
    assert rep["schema_version"] == "1.0"
    r = next(x for x in rep["routes"] if x["name"] == "iliac-caval-left")
    assert r["continuity"] == "continuous" and len(r["lesions"]) == 1
    bad = copy.deepcopy(rep)
    bad["routes"][0]["continuity"] = "sometimes"
    with pytest.raises(ReportSchemaError, match="continuity"):
        validate_report(bad)
    bad = copy.deepcopy(rep)
    del bad["lesion_summary"]
    with pytest.raises(ReportSchemaError):
        validate_report(bad)


def test_outputs_and_html_in_chromium(result, tmp_path):
    out = tmp_path / "run"
    paths = write_outputs(result, out)
    rep = json.loads((out / "report.json").read_text())
    validate_report(rep)
    csv_text = (out / "routes" / "iliac-caval-left.csv").read_text().splitlines()
    assert tuple(csv_text[0].split(",")) == CSV_COLUMNS
    assert len(csv_text) > 100
    html = paths["html"].read_text()
    assert "Continuous filling defect" in html
    assert html.count("data:image/png;base64,") >= len(rep["routes"]) + 1
    if not os.path.exists(CHROMIUM) and shutil.which("chromium") is None:
        require(tmp_path / "chromium-not-installed")  # skip, or fail under CI=true
    exe = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    png = tmp_path / "shot.png"
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={png}",
                    "--window-size=1200,1600", paths["html"].resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    from PIL import Image

    img = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert img.shape[0] >= 1000
    assert img.std() > 10  # not blank
