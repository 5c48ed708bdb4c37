"""Geometry and voxels of loaded DICOM against an independent converter (dcm2niix).

dcm2niix runs into a temporary folder (never into the read-only data). Its NIfTI is
RAS with its own index order; both are compared through their affines: the map from our
(z, y, x) indices to its (i, j, k) indices must be a signed permutation with an integer
shift, voxel centres must agree within 1e-3 mm, and voxel values exactly.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import require
from vascseg.config import LoadConfig
from vascseg.errors import GantryTiltError
from vascseg.io import find_series, load_series

nib = pytest.importorskip("nibabel")

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _dcm2niix() -> str:
    exe = Path(sys.executable).with_name("dcm2niix")
    found = str(exe) if exe.exists() else shutil.which("dcm2niix")
    if not found:
        pytest.skip("dcm2niix (PyPI package) not installed")
    return found


def convert(folder: Path, out: Path) -> list[Path]:
    """Run dcm2niix on ``folder`` writing only into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([_dcm2niix(), "-b", "n", "-z", "n", "-f", "%s_%r", "-o", str(out), str(folder)],
                   check=True, capture_output=True, timeout=120)
    return sorted(out.glob("*.nii"))


def map_to_nifti(affine_zyx: np.ndarray, shape_zyx, nifti_affine_ras: np.ndarray):
    """Signed permutation P and shift t with nifti_index = P @ our_index + t (checked)."""
    a_lps = LPS_FROM_RAS @ nifti_affine_ras
    m = np.linalg.inv(a_lps) @ affine_zyx
    p = np.round(m[:3, :3])
    t = np.round(m[:3, 3])
    assert np.allclose(np.abs(p).sum(axis=0), 1) and np.allclose(np.abs(p).sum(axis=1), 1), m
    corners = np.array([[z, y, x, 1.0] for z in (0, shape_zyx[0] - 1) for y in (0, shape_zyx[1] - 1)
                        for x in (0, shape_zyx[2] - 1)])
    ours = corners @ affine_zyx.T
    mapped = np.column_stack([corners[:, :3] @ p.T + t, np.ones(len(corners))])
    theirs = mapped @ a_lps.T
    assert np.max(np.abs(ours - theirs)) < 1e-3, f"voxel centres differ by {np.max(np.abs(ours - theirs))} mm"
    return p, t


def reorder_to_nifti(array_zyx: np.ndarray, p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Our array re-indexed as the NIfTI's (i, j, k) array."""
    axes = [int(np.flatnonzero(p[b])[0]) for b in range(3)]  # NIfTI axis b <- our axis
    out = np.transpose(array_zyx, axes)
    for b in range(3):
        if p[b, axes[b]] < 0:
            out = np.flip(out, axis=b)
    return out


def assert_matches_nifti(volume, nii: Path, index: int | None = None) -> None:
    img = nib.load(str(nii))
    data = np.asarray(img.dataobj)
    if index is not None:
        data = data[..., index]
    data = data.reshape(data.shape[:3])
    p, t = map_to_nifti(volume.affine, volume.shape, img.affine)
    ours = reorder_to_nifti(volume.array, p, t)
    assert ours.shape == data.shape
    np.testing.assert_array_equal(ours.astype(np.float64), data.astype(np.float64))


@pytest.fixture(scope="module")
def d2n_out(tmp_path_factory):
    return tmp_path_factory.mktemp("dcm2niix")


def test_totalsegmentator_dicom_matches_dcm2niix(shared_data, d2n_out):
    folder = require(shared_data / "totalsegmentator" / "example_ct_dicom")
    vol = load_series(folder)
    (nii,) = convert(folder, d2n_out / "ts")
    assert_matches_nifti(vol, nii)


@pytest.mark.parametrize("series", ["mr_0004", "mr_0007"])
def test_ge_4d_epi_volumes_match_dcm2niix(shared_data, d2n_out, series):
    folder = require(shared_data / "dcm_qa_nih" / "GE" / series)
    (nii,) = convert(folder, d2n_out / series)
    cfg = LoadConfig(split_multivolume=True)
    found = find_series(folder, config=cfg)
    assert len(found.series) == 10
    for k in (1, 5, 10):
        key = found.series[0].uid_sha256[:12] + f":{k}"
        vol = load_series(folder, series=key, config=cfg)
        assert vol.shape == (15, 64, 64)
        assert_matches_nifti(vol, nii, index=k - 1)


def test_enhanced_ct_matches_dcm2niix(tmp_path, d2n_out):
    pydicom_data = pytest.importorskip("pydicom.data")
    src = Path(pydicom_data.get_testdata_file("eCT_Supplemental.dcm"))
    folder = tmp_path / "ect"
    folder.mkdir()
    shutil.copy(src, folder)
    vol = load_series(folder)
    assert vol.shape == (2, 512, 512)
    (nii,) = convert(folder, d2n_out / "ect")
    assert_matches_nifti(vol, nii)


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
def test_single_slices_match_dcm2niix(tmp_path, d2n_out, name):
    from pydicom.data import get_testdata_file

    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(get_testdata_file(name), folder)
    vol = load_series(folder)
    (nii,) = convert(folder, d2n_out / name)
    img = nib.load(str(nii))
    # a single slice: only the in-plane axes and the origin are defined by both tools
    p, t = map_to_nifti(vol.affine, vol.shape, img.affine)
    np.testing.assert_array_equal(reorder_to_nifti(vol.array, p, t).ravel(), np.asarray(img.dataobj).ravel())


def test_tilted_ge_ct_refused_then_resampled_orthonormal(shared_data):
    folder = require(shared_data / "dcm_qa_ct" / "GE")
    with pytest.raises(GantryTiltError, match=r"18\.5"):
        load_series(folder)
    vol = load_series(folder, config=LoadConfig(resample_tilt=True, resample_uneven=True))
    d = vol.direction
    np.testing.assert_allclose(d.T @ d, np.eye(3), atol=1e-9)
    assert any("gantry tilt" in w for w in vol.warnings)
    assert any("uneven" in w for w in vol.warnings)
    assert vol.spacing_mm[0] == pytest.approx(4.0, abs=0.01)


def test_totalsegmentator_label_map_lines_up(shared_data):
    folder = require(shared_data / "totalsegmentator" / "example_ct_dicom")
    seg_path = require(shared_data / "totalsegmentator" / "example_ct_dicom_seg_total.nii.gz")
    ct = load_series(folder)
    labels = load_series(seg_path)
    # same grid up to axis order/flips, voxel centres within 1e-3 mm
    m = np.linalg.inv(labels.affine) @ ct.affine
    p, t = np.round(m[:3, :3]), np.round(m[:3, 3])
    np.testing.assert_allclose(m[:3, :3], p, atol=1e-4)
    np.testing.assert_allclose(m[:3, 3], t, atol=1e-3 / min(labels.spacing_mm))
    axes = [int(np.flatnonzero(p[b])[0]) for b in range(3)]
    ct_on_labels = np.transpose(ct.array, axes)
    for b in range(3):
        if p[b, axes[b]] < 0:
            ct_on_labels = np.flip(ct_on_labels, axis=b)
    assert ct_on_labels.shape == labels.shape
    ivc = labels.array == 63
    assert ivc.sum() > 100
    # the IVC is soft tissue/blood: median HU well inside (-100, 300)
    assert -100 < float(np.median(ct_on_labels[ivc])) < 300
