"""The napari plugin: manifest, readers, layer builders (no window), widget and `vascseg view`.

Widget tests use napari's ``make_napari_viewer`` under Xvfb (pytest-xvfb). The run folder
is made from a small phantom's *true* labels with ``measure_labels`` + ``write_outputs`` (no
segmentation) and a fast section sampling, so the whole module takes well under a minute.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")

from vascseg.anatomy import COLOURS, DEFECT_COLOUR, LABELS  # noqa: E402
from vascseg.config import Config, TraceConfig  # noqa: E402
from vascseg.geometry import Volume  # noqa: E402
from vascseg.napari import _layers as L  # noqa: E402
from vascseg.report.report_json import validate_report  # noqa: E402

pytestmark = pytest.mark.napari

ROUTE = "uterine-iliac-caval-left"
SPACING = (5.0, 4.0, 4.0)


def _fast_config() -> Config:
    base = Config()
    return base.model_copy(update={
        "trace": TraceConfig(section_pixel_mm=1.0, section_radius_mm=16.0),
        "routes": tuple(r for r in base.routes if r.name == ROUTE),
    })


@pytest.fixture(scope="module")
def phantom():
    from vascseg.phantom import PhantomSpec, generate_phantom

    return generate_phantom(PhantomSpec(pattern="continuous", route=ROUTE, spacing_zyx_mm=SPACING, seed=1))


@pytest.fixture(scope="module")
def run_template(phantom, tmp_path_factory) -> Path:
    """A run folder (with source.json pointing at the phantom image as NIfTI)."""
    from vascseg.io import write_volume_nifti
    from vascseg.pipeline import measure_labels, write_outputs

    base = tmp_path_factory.mktemp("run")
    src = write_volume_nifti(phantom.volume.array, phantom.volume, base / "src" / "image.nii.gz")
    res = measure_labels(phantom.volume, phantom.veins, phantom.defects, _fast_config())
    write_outputs(res, base / "run", source_path=src)
    return base / "run"


@pytest.fixture
def run_dir(run_template, tmp_path) -> Path:
    """A private copy of the run folder (tests write revisions into it)."""
    return Path(shutil.copytree(run_template, tmp_path / "run"))


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "revisions" not in p.parts}


# ----------------------------------------------------------------------------- manifest
def test_npe2_manifest_validates():
    exe = Path(sys.executable).with_name("npe2")
    proc = subprocess.run([str(exe), "validate", "vascseg"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from npe2 import PluginManifest

    mf = PluginManifest.from_distribution("vascseg")
    assert all(r.accepts_directories for r in mf.contributions.readers)
    for cmd in mf.contributions.commands:  # every python_name resolves
        mod, _, attr = cmd.python_name.partition(":")
        assert callable(getattr(__import__(mod, fromlist=[attr]), attr)), cmd.id


# ----------------------------------------------------------------------------- builders
def test_layers_carry_physical_transform_axial(phantom):
    from napari.layers import Layer

    vol = phantom.volume
    assert vol.origin_lps_mm != (0.0, 0.0, 0.0) and len(set(vol.spacing_mm)) > 1
    data, kw, kind = L.veins_layer(phantom.veins, vol)
    assert kw["scale"] == vol.spacing_mm
    assert kw["translate"] == tuple(vol.origin_lps_mm[::-1])
    lay = Layer.create(data, kw, kind)
    idx = np.array([7, 11, 13])
    world = lay.data_to_world(idx)
    np.testing.assert_allclose(world, vol.index_to_lps(idx)[::-1], atol=1e-9)
    # vocabulary names and fixed colours
    lab = LABELS["ivc"]
    np.testing.assert_allclose(lay.colormap.map(np.array([lab]))[0, :3], np.array(COLOURS["ivc"]) / 255, atol=1e-3)
    assert "ivc" in list(lay.features["name"])
    d_data, d_kw, _ = L.defects_layer(phantom.defects, vol)
    d_lay = Layer.create(d_data, d_kw, "labels")
    np.testing.assert_allclose(d_lay.colormap.map(np.array([1]))[0, :3], np.array(DEFECT_COLOUR) / 255, atol=1e-3)


@pytest.mark.filterwarnings("ignore:Non-orthogonal slicing:UserWarning")
def test_layers_carry_affine_for_oblique_grid():
    from napari.layers import Layer

    a = np.deg2rad(20.0)
    rot = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])  # about LPS x
    direction = rot @ np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # x flipped too
    vol = Volume(np.zeros((6, 7, 8), np.int16), (3.0, 0.8, 1.2), (-40.0, 12.5, 300.0), direction=direction,
                 modality="CT")
    data, kw, kind = L.image_layer(vol)
    assert "affine" in kw
    lay = Layer.create(data, kw, kind)
    for idx in ([0, 0, 0], [5, 6, 7], [2, 3, 1]):
        np.testing.assert_allclose(lay.data_to_world(np.array(idx, float)), vol.index_to_lps(idx)[::-1], atol=1e-6)
    # landmarks: LPS in, LPS out
    lps = vol.index_to_lps([2.0, 3.0, 4.0])
    pdata, pkw, _ = L.landmarks_layer(vol, [{"name": "ivc", "lps_mm": lps}])
    pts = Layer.create(pdata, pkw, "points")
    np.testing.assert_allclose(pts.data_to_world(pts.data[0]), lps[::-1], atol=1e-6)
    np.testing.assert_allclose(L.points_to_lps(pts)[0], lps, atol=1e-9)


def test_ct_window_presets():
    assert L.window_limits("venous") == (-100.0, 300.0)
    assert set(L.WINDOW_PRESETS) == {"venous", "soft tissue", "bone"}
    with pytest.raises(ValueError, match="unknown window preset"):
        L.window_limits("lung")


def test_run_reader_layers(run_dir, phantom):
    from vascseg.napari._reader import get_run_reader, get_series_reader

    assert get_series_reader(str(run_dir)) is None  # a run folder is not a series
    reader = get_run_reader(str(run_dir))
    assert reader is not None
    layers = reader(str(run_dir))
    roles = [L.layer_role(type("X", (), {"metadata": kw["metadata"]})) for _, kw, _ in layers]
    assert roles[:3] == ["image", "veins", "defects"] and "route" in roles and roles[-1] == "lesions"
    vol = phantom.volume
    for _, kw, _ in layers:
        np.testing.assert_allclose(kw["scale"], vol.spacing_mm)
        np.testing.assert_allclose(kw["translate"], vol.origin_lps_mm[::-1], atol=1e-3)
    veins = next(d for d, kw, _ in layers if kw["metadata"]["vascseg"]["role"] == "veins")
    np.testing.assert_array_equal(veins, phantom.veins)
    route = next((d, kw) for d, kw, _ in layers if kw["metadata"]["vascseg"]["role"] == "route")
    feats = route[1]["features"]
    assert {"s_mm", "equivalent_diameter_mm", "occlusion_pct"} <= set(feats)
    lesions = next(kw for _, kw, _ in layers if kw["metadata"]["vascseg"]["role"] == "lesions")
    assert set(lesions["features"]["end"]) == {"caudal", "cranial"}
    assert all(" mm" in t for t in lesions["features"]["label"])
    assert get_run_reader(str(run_dir.parent)) is None


def test_series_reader_dicom(phantom, tmp_path):
    from vascseg.io.synthetic import write_synthetic_series
    from vascseg.napari._reader import get_series_reader

    vol = phantom.volume
    write_synthetic_series(tmp_path / "dcm", (vol.array.astype(np.int32) + 1024).astype(np.int16),
                           spacing_mm=vol.spacing_mm, origin_lps_mm=vol.origin_lps_mm)
    reader = get_series_reader(str(tmp_path / "dcm"))
    assert reader is not None
    (img, kw, kind), (pts, pkw, pkind) = reader(str(tmp_path / "dcm"))
    assert (kind, pkind) == ("image", "points") and len(pts) == 0
    np.testing.assert_array_equal(img, vol.array)
    np.testing.assert_allclose(kw["scale"], vol.spacing_mm)
    np.testing.assert_allclose(kw["translate"], vol.origin_lps_mm[::-1], atol=1e-3)
    assert kw["contrast_limits"] == L.window_limits("venous")
    assert get_series_reader(str(tmp_path / "nothing")) is None


def test_sample_data(tmp_path, monkeypatch, phantom):
    from vascseg.io import write_volume_nifti
    from vascseg.napari import _sample_data as S

    monkeypatch.setenv(S.SAMPLE_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="holds no case"):
        S.make_first_case()
    case = tmp_path / "ct_continuous_left"
    write_volume_nifti(phantom.volume.array, phantom.volume, case / "dicom" / "image.nii.gz")
    write_volume_nifti(phantom.veins, phantom.volume, case / "truth" / "truth_veins.nii.gz")
    layers = S.make_ct_continuous_left()
    assert [k for _, _, k in layers] == ["image", "points", "labels"]
    with pytest.raises(FileNotFoundError, match="available: ct_continuous_left"):
        S.case_layers("mr_none")
    monkeypatch.setenv(S.SAMPLE_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="not a folder"):
        S.find_sample_root()


# ----------------------------------------------------------------------------- widget
@pytest.fixture
def review(make_napari_viewer, qtbot, run_dir):
    from vascseg.napari._widget import ReviewWidget

    viewer = make_napari_viewer()
    viewer.open(str(run_dir), plugin="vascseg")
    widget = ReviewWidget(viewer, config=_fast_config())
    viewer.window.add_dock_widget(widget)
    return viewer, widget, qtbot


def _click_and_wait(button, widget, qtbot):
    from qtpy.QtCore import Qt

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert widget.worker is not None
    with qtbot.waitSignal(widget.worker.finished, timeout=60_000, raising=False):
        pass
    qtbot.waitUntil(lambda: widget.remeasure_btn.isEnabled(), timeout=60_000)


def test_widget_point_lands_on_voxel(review, phantom, tmp_path):
    viewer, widget, _ = review
    vol = phantom.volume
    k = tuple(int(v) for v in np.argwhere(phantom.veins == LABELS["ivc"])[10])
    lps = vol.index_to_lps(np.array(k, float))
    widget.landmark_combo.setCurrentText("ivc")
    widget.place_landmarks()
    pts = widget.layer("landmarks")
    assert pts.mode == "add" and viewer.layers.selection.active is pts
    pts.add(pts.world_to_data(lps[::-1]))  # what a click at that world position does
    veins = widget.layer("veins")
    assert tuple(np.round(veins.world_to_data(pts.data_to_world(pts.data[0]))).astype(int)) == k
    assert veins.data[k] == LABELS["ivc"]
    pts.selected_data = {0}
    widget.landmark_combo.setCurrentText("renal_vein_left")  # renames the selected point
    assert list(pts.features["name"]) == ["renal_vein_left"]
    assert pts.feature_defaults["name"][0] == "renal_vein_left"
    widget.landmark_combo.setCurrentText("ivc")
    (lm,) = widget.landmarks()
    assert lm.name == "ivc"
    np.testing.assert_allclose(lm.lps_mm, lps, atol=1e-6)
    out = widget.save_landmarks(tmp_path / "landmarks.json")
    saved = json.loads(out.read_text())
    assert saved == {"points": [{"name": "ivc", "lps_mm": pytest.approx(list(lps))}]}
    viewer.layers.remove(pts)
    again = widget.load_landmarks(out)
    np.testing.assert_allclose(again.data[0], k, atol=1e-6)


def test_profile_and_table(review):
    from vascseg.napari._widget import viewer_camera

    viewer, widget, _ = review
    assert widget.report is not None and widget.table.rowCount() >= 1
    assert widget.route_combo.currentText() == ROUTE
    t = widget.tables[ROUTE]
    world = widget.jump_to(ROUTE, 100.0)
    i = int(np.argmin(np.abs(t["s_mm"] - 100.0)))
    assert world == pytest.approx((t["z_mm"][i], t["y_mm"][i], t["x_mm"][i]))
    assert abs(viewer.dims.point[0] - t["z_mm"][i]) <= SPACING[0] / 2 + 1e-6
    assert viewer_camera(viewer).center[1:] == pytest.approx(world[1:])
    widget.profile.s_clicked.emit(150.0)  # a click on the plot
    j = int(np.argmin(np.abs(t["s_mm"] - 150.0)))
    assert abs(viewer.dims.point[0] - t["z_mm"][j]) <= SPACING[0] / 2 + 1e-6


def _lesion(report, route=ROUTE):
    (r,) = [r for r in report["routes"] if r["name"] == route]
    assert len(r["lesions"]) == 1, r["lesions"]
    return r["lesions"][0]


def _erase_cranial_part(widget, segment="common_iliac_vein_left"):
    """Erase (as the eraser would) every defect voxel whose nearest centreline sample lies
    beyond ``s_cut``, the middle of ``segment`` on the route (away from confluences, where a
    section disk also cuts the neighbouring branch). Returns (old lesion, s_cut, n erased)."""
    from scipy.spatial import cKDTree

    old = _lesion(widget.report)
    t = widget.tables[ROUTE]
    s_cut = float(np.round(t["s_mm"][t["segment"] == segment].mean()))
    assert old["start_mm"] + 20 < s_cut < old["end_mm"] - 20
    grid = widget.grid()
    defects = widget.layer("defects")
    idx = np.argwhere(defects.data > 0)
    cl = np.stack([t["x_mm"], t["y_mm"], t["z_mm"]], axis=1)
    _, near = cKDTree(cl).query(grid.index_to_lps(idx))
    erase = idx[t["s_mm"][near] > s_cut]
    assert len(erase) > 0
    defects.data_setitem(tuple(erase.T), 0)  # napari's paint/erase path (undo history)
    return old, s_cut, len(erase)


def test_remeasure_after_erasing_defect(review):
    from vascseg.napari._widget import TABLE_COLUMNS

    viewer, widget, qtbot = review
    old, s_cut, _ = _erase_cranial_part(widget)
    _click_and_wait(widget.remeasure_btn, widget, qtbot)
    assert widget.result is not None, widget.status.text()
    new = _lesion(widget.report)
    expected = s_cut - old["start_mm"]
    assert new["start_mm"] == pytest.approx(old["start_mm"], abs=2.0)
    assert new["length_mm"] == pytest.approx(expected, abs=3.0)
    assert old["length_mm"] - new["length_mm"] == pytest.approx(old["end_mm"] - s_cut, abs=3.0)
    # the lesion-extent layer and the table follow the new measurement
    ends = widget.layer("lesions")
    (cranial,) = [lab for lab in ends.features["label"] if lab.startswith("cranial")]
    assert cranial.endswith(f"z={new['cranial_end_lps_mm'][2]:.1f} mm, s={new['end_mm']:.1f} mm")
    col = TABLE_COLUMNS.index("length_mm")
    assert widget.table.item(0, col).text() == f"{new['length_mm']:.1f}"


def test_save_revision_keeps_original(review, run_dir):
    import SimpleITK as sitk

    viewer, widget, qtbot = review
    before = _hashes(run_dir)
    old, s_cut, n_erased = _erase_cranial_part(widget)
    edited = np.asarray(widget.layer("defects").data).copy()
    _click_and_wait(widget.save_btn, widget, qtbot)
    rev = widget.last_revision
    assert rev is not None, widget.status.text()
    assert rev.parent == run_dir / "revisions" and rev.name.startswith("001-")
    assert {"veins.nii.gz", "defects.nii.gz", "report.json"} <= {p.name for p in rev.iterdir()}
    assert _hashes(run_dir) == before  # original files byte-identical
    saved = sitk.GetArrayFromImage(sitk.ReadImage(str(rev / "defects.nii.gz")))
    np.testing.assert_array_equal(saved, edited)
    rep = json.loads((rev / "report.json").read_text())
    validate_report(rep)  # the revision block is part of the schema
    prov = rep["provenance"]["revision"]
    assert prov["who"] and prov["when"].endswith("Z") and prov["what"]["re_measured"] is True
    assert prov["what"]["defects"]["removed_voxels"] == n_erased
    assert prov["what"]["defects"]["added_voxels"] == 0 and prov["what"]["veins"]["changed_voxels"] == 0
    assert _lesion(rep)["length_mm"] == pytest.approx(s_cut - old["start_mm"], abs=3.0)
    # a second save is a new revision
    _click_and_wait(widget.save_btn, widget, qtbot)
    assert widget.last_revision.name.startswith("002-")
    assert _hashes(run_dir) == before


def test_run_pipeline_in_worker(make_napari_viewer, qtbot, run_template, phantom):
    from vascseg.napari._widget import ReviewWidget

    viewer = make_napari_viewer()
    viewer.open(str(run_template.parent / "src" / "image.nii.gz"), plugin="vascseg")
    assert [L.layer_role(x) for x in viewer.layers] == ["image", "landmarks"]
    widget = ReviewWidget(viewer, config=_fast_config())
    viewer.window.add_dock_widget(widget)
    k = np.argwhere(phantom.veins == LABELS["ivc"])[len(np.argwhere(phantom.veins == LABELS["ivc"])) // 2]
    pts = widget.layer("landmarks")
    widget.landmark_combo.setCurrentText("ivc")
    widget.place_landmarks()
    pts.add(k.astype(float))
    stages = []
    widget.progress_changed.connect(lambda st, f: stages.append((st, f)))
    _click_and_wait(widget.run_btn, widget, qtbot)
    assert [st for st, _ in stages][:2] == ["segment", "trace"] and stages[-1][1] == 1.0
    assert widget.progress.value() == 100
    assert widget.result is not None and "ivc" in widget.result.segmentation.found
    roles = [L.layer_role(x) for x in viewer.layers]
    assert {"veins", "defects", "route", "lesions"} <= set(roles)
    assert widget.table.rowCount() >= 1 and widget.route_combo.currentText() == ROUTE


# ----------------------------------------------------------------------------- CLI
def _blended(rgb: np.ndarray, colour, alpha: float, *, grey_under: bool) -> np.ndarray:
    """Mask of pixels that are ``alpha * colour`` over something (over grey: the CT image)."""
    c = np.asarray(colour, float)
    under = (rgb[..., :3].astype(float) - alpha * c) / (1.0 - alpha)
    ok = (under.min(-1) > -15) & (under.max(-1) < 270)
    if grey_under:
        ok &= under.max(-1) - under.min(-1) < 20
    return ok


def test_cli_view_screenshot(run_dir, tmp_path):
    from PIL import Image

    png = tmp_path / "shot.png"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "vascseg.cli", "view", str(run_dir), "--screenshot", str(png)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rgb = np.asarray(Image.open(png).convert("RGB"))
    assert rgb.shape[0] > 200 and rgb.std() > 10  # not blank
    # defect label (opacity 0.8) over the vein label: red-orange, clearly not grey
    red = _blended(rgb, DEFECT_COLOUR, 0.8, grey_under=False) & (rgb[..., 0].astype(int) - rgb[..., 1] > 100)
    assert red.sum() >= 20, "no defect colour in the screenshot"
    # vein labels (opacity 0.7) over the CT
    seen = {n: int(_blended(rgb, c, 0.7, grey_under=True).sum()) for n, c in COLOURS.items()}
    assert max(seen.values()) >= 20, f"no vein colour in the screenshot: {seen}"
    assert seen["common_iliac_vein_left"] >= 10 or seen["ivc"] >= 10, seen


def test_cli_view_missing_path(tmp_path):
    from vascseg.cli import main

    assert main(["view", str(tmp_path / "nope"), "--screenshot", str(tmp_path / "x.png")]) == 1
