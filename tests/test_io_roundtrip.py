"""Write -> read round trips: NIfTI/NRRD/MHA, DICOM SEG (through the affine), landmarks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import require_module
from vascseg.errors import GeometryError, InputError, LandmarkError
from vascseg.geometry import Volume
from vascseg.io import (
    Landmark,
    load_landmarks,
    load_series,
    save_landmarks,
    write_dicom_seg,
    write_volume_nifti,
)
from vascseg.io.synthetic import write_synthetic_series


def _oblique_volume() -> Volume:
    a = np.radians(20)
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    direction = rot @ np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    arr = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    return Volume(arr, (2.5, 0.8, 0.7), (12.0, -30.0, 55.0), direction, modality="CT")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_image_round_trip_keeps_geometry(tmp_path, suffix):
    vol = _oblique_volume()
    path = tmp_path / f"img{suffix}"
    if suffix.startswith(".nii"):
        write_volume_nifti(vol, vol, path)
    else:
        sitk.WriteImage(vol.to_sitk(), str(path))
    back = load_series(path)
    assert back.same_grid(vol, atol_mm=1e-4)
    np.testing.assert_array_equal(back.array, vol.array)
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writer left nothing behind


def test_nifti_without_orientation_refused(tmp_path):
    vol = _oblique_volume()
    path = tmp_path / "img.nii"
    write_volume_nifti(vol, vol, path)
    raw = bytearray(path.read_bytes())
    raw[252:256] = b"\x00\x00\x00\x00"  # qform_code = sform_code = 0
    path.write_bytes(bytes(raw))
    with pytest.raises(GeometryError, match="neither qform nor sform"):
        load_series(path)


def test_write_nifti_checks_shape(tmp_path):
    vol = _oblique_volume()
    with pytest.raises(GeometryError):
        write_volume_nifti(np.zeros((2, 2, 2)), vol, tmp_path / "x.nii.gz")
    out = write_volume_nifti(vol.array > 100, vol, tmp_path / "mask.nii.gz")
    assert load_series(out).array.dtype == np.uint8


@pytest.fixture
def dicom_grid(tmp_path) -> Volume:
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 2000, size=(6, 20, 24)).astype(np.int16)
    write_synthetic_series(tmp_path / "src", arr, spacing_mm=(2.5, 0.7, 0.8), origin_lps_mm=(10, 20, 30))
    return load_series(tmp_path / "src")


def test_dicom_seg_round_trip_through_affine(tmp_path, dicom_grid, pydicom_strict):
    hd = require_module("highdicom")
    grid = dicom_grid
    veins = np.zeros(grid.shape, np.uint8)
    veins[1:4, 5:10, 5:9] = 1  # ivc
    veins[2:5, 12:15, 3:6] = 6  # common_iliac_vein_left
    defects = np.zeros(grid.shape, bool)
    defects[2, 6:8, 6] = True
    path = write_dicom_seg(veins, defects, grid, tmp_path / "out" / "veins_seg.dcm")
    seg = hd.seg.segread(path)
    labels = [d.SegmentLabel for d in seg.SegmentSequence]
    assert labels == ["ivc", "common_iliac_vein_left", "filling_defect"]
    vol = seg.get_volume(combine_segments=False)
    # map every SEG voxel centre into our grid through the two affines, never by index
    idx = np.indices(vol.spatial_shape).reshape(3, -1).T
    lps = np.column_stack([idx, np.ones(len(idx))]) @ vol.affine.T
    ours = np.rint(grid.lps_to_index(lps[:, :3])).astype(int)
    assert np.allclose(grid.lps_to_index(lps[:, :3]), ours, atol=1e-3)
    arr = vol.array.reshape(-1, 3)
    for seg_i, expected in enumerate([veins == 1, veins == 6, defects]):
        got = np.zeros(grid.shape, bool)
        got[tuple(ours.T)] = arr[:, seg_i] > 0
        np.testing.assert_array_equal(got, expected)


def test_dicom_seg_needs_dicom_source(tmp_path):
    vol = _oblique_volume()
    with pytest.raises(InputError, match="source_files"):
        write_dicom_seg(np.zeros(vol.shape, np.uint8), np.zeros(vol.shape, bool), vol, tmp_path / "s.dcm")
    assert not (tmp_path / "s.dcm").exists()


def test_landmarks_round_trip_and_errors(tmp_path):
    grid = _oblique_volume()
    inside = grid.index_to_lps([2.0, 3.0, 4.0])
    path = save_landmarks([Landmark("ivc", tuple(inside)), Landmark("uterine_vein_left", tuple(grid.origin_lps_mm))],
                          tmp_path / "lm.json")
    back = load_landmarks(path, grid)
    assert [b.name for b in back] == ["ivc", "uterine_vein_left"]
    assert back[0].index_zyx == pytest.approx((2.0, 3.0, 4.0))
    assert back[0].lps_mm == pytest.approx(tuple(inside))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"points": [{"name": "aorta", "lps_mm": [0, 0, 0]}]}))
    with pytest.raises(LandmarkError, match="aorta"):
        load_landmarks(bad, grid)
    far = grid.index_to_lps([2.0, 3.0, 40.0]).tolist()
    bad.write_text(json.dumps({"points": [{"name": "ivc", "lps_mm": far}]}))
    with pytest.raises(LandmarkError, match=r"points\[0\] \(ivc\).*outside"):
        load_landmarks(bad, grid)
    bad.write_text("{")
    with pytest.raises(LandmarkError, match="not valid JSON"):
        load_landmarks(bad, grid)
