"""The whole job through the command line on the shipped sample data, and config files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel  # noqa: F401  (installed with the dev extra; the NIfTI outputs are read back)
import numpy as np
import pytest
import yaml

from conftest import REPO, require
from vascseg.anatomy import LABELS
from vascseg.config import Config, default_config_yaml, default_routes_yaml, load_config
from vascseg.io import load_series
from vascseg.report import validate_report

SAMPLE = REPO / "sample_data" / "ct_continuous_left"


def _tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _vascseg(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "vascseg.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_shipped_config_files_are_the_defaults():
    """configs/default.yaml and configs/routes.yaml say exactly what the code defaults to."""
    shipped = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())
    assert shipped == yaml.safe_load(default_config_yaml())
    routes = yaml.safe_load((REPO / "configs" / "routes.yaml").read_text())
    assert routes == yaml.safe_load(default_routes_yaml())
    cfg = load_config(REPO / "configs" / "default.yaml")
    assert cfg.sha256() == Config().sha256()


def test_bad_config_value_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("measure:\n  stenosis_threshold_pct: 161\n")
    res = _vascseg("run", str(require(SAMPLE)), "--out", str(tmp_path / "o"), "--config", str(bad), cwd=tmp_path)
    assert res.returncode == 1
    assert "stenosis_threshold_pct" in res.stderr
    assert not (tmp_path / "o" / "report.json").exists()


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    src = require(SAMPLE)
    before = _tree_digest(src)
    out = tmp_path_factory.mktemp("run") / "out"
    res = _vascseg("run", str(src), "--out", str(out), cwd=out.parent)
    assert res.returncode == 0, res.stderr[-3000:]
    assert _tree_digest(src) == before, "vascseg run wrote into its input folder"
    return out, res


def test_run_writes_every_documented_output(sample_run):
    out, _ = sample_run
    report = json.loads((out / "report.json").read_text())
    validate_report(report)
    assert report["schema_version"] == "1.0"
    names = {r["name"] for r in report["routes"]}
    for name in names:
        assert (out / "routes" / f"{name}.csv").is_file()
    assert (out / "report.html").stat().st_size > 1000
    assert (out / "veins_seg.dcm").is_file()
    ct = load_series(SAMPLE / "dicom")
    veins = load_series(out / "veins.nii.gz")
    defects = load_series(out / "defects.nii.gz")
    for img in (veins, defects):
        assert img.shape == ct.shape
        np.testing.assert_allclose(img.affine, ct.affine, atol=1e-3)
    assert set(np.unique(veins.array)) <= {0, *LABELS.values()}
    assert defects.array.max() <= 1


def test_python_api_matches_the_command_line(sample_run):
    """``vascseg.run`` in memory gives the report the CLI wrote, without importing scipy up front."""
    out, _ = sample_run
    code = "import sys, vascseg; print('scipy' in sys.modules or 'skimage' in sys.modules)"
    light = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert light.stdout.strip() == "False", light.stderr[-2000:]
    import vascseg

    result = vascseg.run(vascseg.load_series(SAMPLE / "dicom"))
    assert isinstance(result, vascseg.Result)
    validate_report(result.report)
    on_disk = json.loads((out / "report.json").read_text())
    assert result.report["lesion_summary"] == on_disk["lesion_summary"]
    mem = {r["name"]: r for r in result.report["routes"]}
    for r in on_disk["routes"]:
        assert mem[r["name"]]["length_mm"] == pytest.approx(r["length_mm"], abs=1e-6)
        assert [x["start_mm"] for x in mem[r["name"]]["lesions"]] == pytest.approx(
            [x["start_mm"] for x in r["lesions"]], abs=1e-6)


def test_run_outputs_hold_no_patient_data(sample_run):
    """The phantom's made-up patient name and ID never reach the outputs or the terminal."""
    out, res = sample_run
    secrets = [b"Phantom^Vascseg", b"PHANTOM-"]
    for p in out.rglob("*"):
        if p.is_file() and p.suffix in (".json", ".csv", ".html"):
            data = p.read_bytes()
            assert not any(s in data for s in secrets), p
    assert not any(s.decode() in res.stdout + res.stderr for s in secrets)


def test_run_refuses_output_inside_input(tmp_path):
    src = require(SAMPLE)
    res = _vascseg("run", str(src), "--out", str(src / "out"), cwd=tmp_path)
    assert res.returncode == 1
    assert not (src / "out").exists()
