"""Acceptance of trace + measure on phantoms' TRUE labels (seeds never used for tuning)."""

from __future__ import annotations

import pytest

from vascseg.config import Config
from vascseg.evaluation import DEVELOPMENT_SEEDS, score_route
from vascseg.phantom import PhantomSpec, generate_phantom
from vascseg.pipeline import measure_labels

CASES = [
    PhantomSpec(pattern="continuous", route="uterine-iliac-caval-left", modality="CT", seed=300),
    PhantomSpec(pattern="discontinuous", route="ovarian-caval-right", modality="MR", seed=301),
    PhantomSpec(pattern="none", route="iliac-caval-left", modality="CT", seed=302, stenosis_pct=70),
    PhantomSpec(pattern="continuous", route="iliac-caval-left", modality="MR", seed=303, stenosis_pct=55,
                occlusion=True),
    PhantomSpec(pattern="discontinuous", route="uterine-iliac-caval-right", modality="CT", seed=304),
    PhantomSpec(pattern="continuous", route="ovarian-renal-caval-left", modality="CT", seed=305,
                occlusion=True),
]


@pytest.fixture(scope="module", params=CASES, ids=lambda s: f"{s.route}-{s.pattern}-{s.seed}")
def case(request):
    spec = request.param
    assert spec.seed not in DEVELOPMENT_SEEDS
    ph = generate_phantom(spec)
    res = measure_labels(ph.volume, ph.veins, ph.defects, Config())
    scores = {}
    for r in res.report["routes"]:
        scores[r["name"]] = score_route(ph.truth["routes"][r["name"]], r, res.trace.route(r["name"]).profile)
    return spec, ph, res, scores


def test_continuity_foci_extent_and_segments(case):
    spec, ph, res, scores = case
    for name, sc in scores.items():
        assert sc["continuity_ok"], (name, sc["continuity"], sc["continuity_truth"])
        assert sc["n_foci_ok"], (name, sc["n_foci"], sc["n_foci_truth"])
        for f in sc["foci"]:
            assert f["z_ok"], (name, f)
            assert f["segments_ok"], (name, f)


def test_focus_lengths(case):
    spec, ph, res, scores = case
    for name, sc in scores.items():
        for f in sc["foci"]:
            assert f["length_ok"], (name, f)


def test_route_length(case):
    spec, ph, res, scores = case
    for name, sc in scores.items():
        assert abs(sc["length_rel_err"]) <= 0.03, (name, sc["length_rel_err"])


def test_diameter_profile(case):
    spec, ph, res, scores = case
    for name, sc in scores.items():
        assert sc["diameter_p95_abs_err_mm"] <= 1.0, (name, sc["diameter_p95_abs_err_mm"])


def test_may_thurner_stenosis(case):
    spec, ph, res, scores = case
    if not spec.stenosis_pct:
        pytest.skip("no May-Thurner compression in this phantom")
    for name in ("iliac-caval-left", "uterine-iliac-caval-left"):
        sc = scores[name]
        assert abs(sc["stenosis_err_pct"]) <= 5.0, (name, sc["stenosis_pct"], sc["stenosis_truth_pct"])
