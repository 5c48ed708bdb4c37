"""Synthetic phantoms: ground truth against the painted masks, topology, patterns, contrast.

Phantoms are built on a coarse 3 x 2 x 2 mm grid (about 1.5 s each) once per session.
Seeds 1-9 are development seeds (the accuracy evaluation uses seeds >= 100).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from vascseg.anatomy import DEFAULT_ROUTES, DRAINS_INTO, LABELS, NAMES_BY_LABEL
from vascseg.errors import InputError
from vascseg.phantom import PhantomSpec, PhantomSpecError, generate_phantom
from vascseg.phantom._generate import merge_label_islands

COARSE_MM = (3.0, 2.0, 2.0)
SPECS = {
    "ct": PhantomSpec(seed=1, spacing_zyx_mm=COARSE_MM),
    "mr": PhantomSpec(seed=2, modality="MR", route="ovarian-renal-caval-left", spacing_zyx_mm=COARSE_MM),
    "disc": PhantomSpec(seed=3, pattern="discontinuous", route="iliac-caval-right",
                        spacing_zyx_mm=COARSE_MM),
    "mt": PhantomSpec(seed=4, pattern="none", stenosis_pct=70.0, spacing_zyx_mm=COARSE_MM),
}
SIBLINGS = {frozenset(p) for p in (
    ("common_iliac_vein_left", "common_iliac_vein_right"),
    ("external_iliac_vein_left", "internal_iliac_vein_left"),
    ("external_iliac_vein_right", "internal_iliac_vein_right"),
)}
"""Segments draining into the same confluence (they touch without draining into each other)."""
EXPECTED_CONTACTS = {frozenset((a, b)) for a, b in DRAINS_INTO.items() if b} | SIBLINGS
FULL = np.ones((3, 3, 3), dtype=bool)


@pytest.fixture(scope="module")
def phantoms():
    return {key: generate_phantom(spec) for key, spec in SPECS.items()}


@pytest.fixture(params=sorted(SPECS))
def phantom(request, phantoms):
    return phantoms[request.param]


def _world(volume, idx: np.ndarray) -> np.ndarray:
    """(N, 3) LPS mm of (N, 3) voxel indices."""
    return idx @ volume.affine[:3, :3].T + volume.affine[:3, 3]


def _contacts(labels: np.ndarray) -> set[frozenset[str]]:
    """Pairs of segment names with face-adjacent voxels."""
    pairs = set()
    for axis in range(3):
        a = np.moveaxis(labels, axis, 0)
        lo, hi = a[:-1], a[1:]
        m = (lo != hi) & (lo > 0) & (hi > 0)
        for i, j in set(zip(lo[m].tolist(), hi[m].tolist(), strict=True)):
            pairs.add(frozenset((NAMES_BY_LABEL[i], NAMES_BY_LABEL[j])))
    return pairs


def mask_runs(phantom, route: str, *, min_run_mm: float = 3.0, bridge_mm: float = 2.0
              ) -> list[tuple[float, float]]:
    """Arc-length runs (mm) of the truth centreline of ``route`` that lie in the painted
    defect mask: a centreline point counts when a defect voxel centre is within half a voxel
    diagonal of it."""
    rt = phantom.truth["routes"][route]
    pts, s = np.asarray(rt["points_lps_mm"]), np.asarray(rt["s_mm"])
    idx = np.argwhere(phantom.defects)
    if len(idx) == 0:
        return []
    d, _ = cKDTree(_world(phantom.volume, idx)).query(pts)
    inside = d <= 0.5 * float(np.linalg.norm(phantom.volume.spacing_mm))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(int), [0]])))
    runs: list[tuple[float, float]] = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if runs and s[a] - runs[-1][1] <= bridge_mm:
            runs[-1] = (runs[-1][0], float(s[b - 1]))
        else:
            runs.append((float(s[a]), float(s[b - 1])))
    return [r for r in runs if r[1] - r[0] >= min_run_mm]


# ----------------------------------------------------------------------------- truth vs masks
def test_truth_lesions_agree_with_defect_mask(phantom):
    tol = max(phantom.volume.spacing_mm) + 1.0
    seen = 0
    for name, rt in phantom.truth["routes"].items():
        truth = [(les["start_mm"], les["end_mm"]) for les in rt["lesions"]]
        found = mask_runs(phantom, name)
        assert len(found) == len(truth), (name, found, truth)
        for (a, b), (ta, tb) in zip(found, truth, strict=True):
            assert abs(a - ta) <= tol and abs(b - tb) <= tol, (name, (a, b), (ta, tb))
        for les in rt["lesions"]:
            assert les["length_mm"] == pytest.approx(les["end_mm"] - les["start_mm"], abs=0.02)
            assert les["z_min_mm"] <= les["z_max_mm"]
            assert les["segments"] and set(les["segments"]) <= set(rt["segments"])
        seen += len(truth)
    assert (seen > 0) == (phantom.spec.pattern != "none")


def test_truth_centreline_runs_inside_the_labelled_route(phantom):
    """Every 1-mm truth point lies in (or within a voxel of) the route's labelled veins, and
    the truth lengths are the arc lengths of those points."""
    vol = phantom.volume
    for name, rt in phantom.truth["routes"].items():
        pts = np.asarray(rt["points_lps_mm"])
        steps = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        assert steps.sum() == pytest.approx(rt["length_mm"], rel=0.02, abs=1.0)
        assert len(rt["diameter_mm"]) == len(pts) == len(rt["s_mm"])
        labels = [LABELS[s] for s in rt["segments"]]
        idx = np.argwhere(np.isin(phantom.veins, labels))
        d, _ = cKDTree(_world(vol, idx)).query(pts)
        assert np.quantile(d, 0.98) <= 0.5 * np.linalg.norm(vol.spacing_mm), name


def test_tributaries_run_straight_on_to_their_junction(phantom):
    """Inside its parent's lumen a vein's truth centreline heads for the junction: no hook or
    hairpin that no image could show (it would count in the route's and the lesions' lengths)."""
    segs = phantom.truth["segments"]
    for name, rt in phantom.truth["routes"].items():
        s = np.asarray(rt["s_mm"])
        pts = np.asarray(rt["points_lps_mm"])
        starts = list(rt["segment_start_mm"].items())
        for (child, s0), (parent, s1) in zip(starts[:-1], starts[1:], strict=True):
            c = pts[(s >= s0) & (s <= s1)]
            junction = pts[int(np.argmin(np.abs(s - s1)))]
            p = pts[s >= s1]
            inside = cKDTree(p).query(c)[0] < segs[parent]["mean_diameter_mm"] / 2
            if not inside.any():
                continue
            first = int(np.argmax(inside))
            run = np.linalg.norm(np.diff(np.vstack([c[first:], junction]), axis=0), axis=1).sum()
            straight = np.linalg.norm(junction - c[first])
            assert run <= 1.1 * straight + 2.0, (name, child, run, straight)


def test_segment_lengths_are_positive_and_labels_painted(phantom):
    for name, seg in phantom.truth["segments"].items():
        assert seg["label"] == LABELS[name]
        assert seg["length_mm"] > 10.0
        assert (phantom.veins == LABELS[name]).sum() > 0, name


# ----------------------------------------------------------------------------- topology
def test_each_segment_is_one_component(phantom):
    for name, lab in LABELS.items():
        _, n = ndi.label(phantom.veins == lab, structure=FULL)
        assert n == 1, f"{name}: {n} components"


def test_segments_touch_exactly_their_neighbours(phantom):
    assert _contacts(phantom.veins) == EXPECTED_CONTACTS


@pytest.mark.parametrize("route", DEFAULT_ROUTES, ids=lambda r: r.name)
def test_every_route_connects_pelvis_to_ivc(phantoms, route):
    for key, p in phantoms.items():
        union = np.isin(p.veins, [LABELS[s] for s in route.segments])
        comp, _ = ndi.label(union)  # face connectivity: stricter than 26
        start = set(np.unique(comp[p.veins == LABELS[route.segments[0]]])) - {0}
        end = set(np.unique(comp[p.veins == LABELS["ivc"]])) - {0}
        assert start & end, f"{key}: {route.name} is not connected to the IVC"


def test_arteries_touch_veins_only_at_the_may_thurner_crossing(phantom):
    truth = phantom.truth
    assert not (phantom.arteries & (phantom.veins > 0)).any()
    touch = ndi.binary_dilation(phantom.arteries) & (phantom.veins > 0)
    if touch.any():
        assert set(np.unique(phantom.veins[touch])) == {LABELS["common_iliac_vein_left"]}
        where = _world(phantom.volume, np.argwhere(touch))
        centre = np.asarray(truth["mt_crossing"]["point_lps_mm"])
        assert np.linalg.norm(where - centre, axis=1).max() < 20.0
    gaps = truth["artery_vein_min_gap_mm"]
    for pair, gap in gaps.items():
        if pair == "common_iliac_artery_right|common_iliac_vein_left":
            assert 0.8 < gap < 2.0
        else:
            assert gap >= 3.0, pair


def test_merge_label_islands_gives_strays_to_the_touching_label():
    a = np.zeros((5, 5, 9), np.uint8)
    a[2, 2, 0:6] = 1
    a[2, 2, 6:] = 2
    a[2, 2, 8] = 1  # a stray voxel of 1 inside 2's end
    assert merge_label_islands(a) == 1
    assert a[2, 2, 8] == 2 and (a == 1).sum() == 6


# ----------------------------------------------------------------------------- patterns
def test_none_pattern_has_no_defect(phantoms):
    p = phantoms["mt"]
    assert not p.defects.any()
    assert all(rt["pattern"] == "none" and not rt["lesions"] for rt in p.truth["routes"].values())


def test_discontinuous_has_separate_foci(phantoms):
    p = phantoms["disc"]
    rt = p.truth["routes"][p.spec.route]
    assert rt["pattern"] == "discontinuous" and len(rt["lesions"]) >= 2
    assert min(rt["gaps_mm"]) >= 25.0
    runs = mask_runs(p, p.spec.route)
    assert len(runs) >= 2 and min(b[0] - a[1] for a, b in zip(runs, runs[1:], strict=False)) >= 20.0


def test_continuous_cord_reaches_the_ivc(phantoms):
    for key in ("ct", "mr"):
        p = phantoms[key]
        rt = p.truth["routes"][p.spec.route]
        assert rt["pattern"] == "continuous" and len(rt["lesions"]) == 1
        assert rt["lesions"][0]["start_mm"] < rt["segment_start_mm"][rt["segments"][1]]


def test_stenosis_matches_request(phantoms):
    p = phantoms["mt"]
    st = p.truth["routes"]["iliac-caval-left"]["stenosis"]
    assert st["segment"] == "common_iliac_vein_left"
    assert st["diameter_stenosis_pct"] == pytest.approx(70.0, abs=3.0)
    # the mask is flattened too: the narrowest antero-posterior extent of the left CIV near
    # the crossing is well below the reference diameter
    centre = np.asarray(p.truth["mt_crossing"]["point_lps_mm"])
    civ = np.argwhere(p.veins == LABELS["common_iliac_vein_left"])
    near = civ[np.linalg.norm(_world(p.volume, civ) - centre, axis=1) < 6.0]
    dy = p.volume.spacing_mm[1]
    ap = [dy * np.ptp(near[(near[:, 0] == z) & (near[:, 2] == x), 1]) + dy
          for z, x in {(int(a), int(c)) for a, _, c in near}]
    assert min(ap) < 0.5 * st["reference_diameter_mm"]
    for key in ("ct", "mr", "disc"):
        assert phantoms[key].truth["routes"]["iliac-caval-left"]["stenosis"]["diameter_stenosis_pct"] < 35


# ----------------------------------------------------------------------------- contrast
def _lumen_profile(p) -> np.ndarray:
    """Mean image value of the IVC and common iliac lumen (>= 4 mm from the wall and from any
    defect) per slice."""
    big = np.isin(p.veins, [LABELS[n] for n in ("ivc", "common_iliac_vein_left",
                                                  "common_iliac_vein_right")])
    depth = ndi.distance_transform_edt(big & ~p.defects, sampling=p.volume.spacing_mm)
    lumen = depth >= 4.0
    img = p.volume.array.astype(np.float64)
    out = np.full(img.shape[0], np.nan)
    for k in range(img.shape[0]):
        m = lumen[k]
        if m.sum() >= 10:
            out[k] = img[k][m].mean()
    return out


def test_mr_has_a_bias_field_and_ct_does_not(phantoms):
    spread = {}
    for key in ("ct", "mr"):
        prof = _lumen_profile(phantoms[key])
        prof = prof[np.isfinite(prof)]
        smooth = ndi.uniform_filter1d(prof, 9)[4:-4]
        spread[key] = (smooth.max() - smooth.min()) / np.median(prof)
    assert spread["mr"] > 0.06  # seed 2: ~12 %
    assert spread["ct"] < 0.05  # noise only: ~2.5 %
    assert spread["mr"] > 2.5 * spread["ct"]
    assert phantoms["mr"].truth["tissues"]["bias_range"] > 0


def test_modalities_differ_in_contrast(phantoms):
    ct, mr = phantoms["ct"], phantoms["mr"]
    assert ct.volume.modality == "CT" and ct.volume.array.dtype == np.int16
    assert mr.volume.modality == "MR" and mr.volume.array.dtype == np.uint16
    for p in (ct, mr):
        tab = p.truth["tissues"]
        lumen = np.median(p.volume.array[ndi.binary_erosion(p.veins > 0) & ~p.defects])
        assert lumen == pytest.approx(tab["vein"], rel=0.3)
    t_ct, t_mr = ct.truth["tissues"], mr.truth["tissues"]
    assert t_ct["fat"] < t_ct["muscle"] < t_ct["vein"] < t_ct["bone_cortex"]  # CT: bone bright
    assert t_mr["bone_cortex"] < t_mr["muscle"] < t_mr["fat"] < t_mr["vein"]  # T1 GRE: fat bright
    assert ct.volume.array.min() >= -1024 and mr.volume.array.min() >= 0


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_phantom_other_seed_other_anatomy(phantoms):
    again = generate_phantom(SPECS["ct"])
    ref = phantoms["ct"]
    for name in ("veins", "defects", "arteries"):
        assert np.array_equal(getattr(again, name), getattr(ref, name))
    assert np.array_equal(again.volume.array, ref.volume.array)
    assert again.truth == ref.truth
    other = phantoms["mt"]  # another seed, same grid
    ivc_a = np.asarray(ref.truth["routes"]["iliac-caval-left"]["points_lps_mm"])
    ivc_b = np.asarray(other.truth["routes"]["iliac-caval-left"]["points_lps_mm"])
    assert ivc_a.shape != ivc_b.shape or np.abs(ivc_a - ivc_b).max() > 2.0
    assert not np.array_equal(ref.veins, other.veins)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, words", [
    ({"pattern": "patchy"}, "pattern"),
    ({"route": "hepatic"}, "unknown route"),
    ({"modality": "PET"}, "modality"),
    ({"stenosis_pct": 97}, "stenosis_pct"),
    ({"stenosis_pct": -1}, "stenosis_pct"),
    ({"shape_zyx": (4, 100, 100)}, "shape_zyx"),
    ({"spacing_zyx_mm": (0, 1, 1)}, "spacing_zyx_mm"),
])
def test_spec_validation(kwargs, words):
    with pytest.raises(PhantomSpecError, match=words) as info:
        PhantomSpec(**kwargs)
    assert isinstance(info.value, InputError)


def test_field_of_view_too_small_is_refused():
    with pytest.raises(PhantomSpecError, match="field of view too small"):
        generate_phantom(PhantomSpec(shape_zyx=(40, 60, 60), spacing_zyx_mm=(2.0, 1.5, 1.5)))


def test_evaluation_cases_on_another_voxel_grid():
    # scripts/evaluate.py --spacing: the same cases on another grid (a fine one takes the
    # working-grid path of the segmentation)
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "evaluate.py"
    spec = importlib.util.spec_from_file_location("evaluate_script", path)
    ev = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = ev
    try:
        spec.loader.exec_module(ev)
        default = ev.select_cases(100, quick=True)
        fine = ev.select_cases(100, quick=True, spacing_mm=(0.875, 0.625, 0.625))
        dev = ev.select_cases(100, dev=True, spacing_mm=(1.0, 0.75, 0.75))
    finally:
        del sys.modules[spec.name]
    assert [c.name for c in fine] == [c.name for c in default] and len(fine) == 4
    assert all(c.spacing_mm is None for c in default)
    assert all(c.spacing_mm == (0.875, 0.625, 0.625) for c in fine)
    assert len(dev) == 18 and all(c.seed < 10 for c in dev)
    assert all(c.spacing_mm == (1.0, 0.75, 0.75) for c in dev)
