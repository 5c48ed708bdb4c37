"""Geometry and voxels of loaded DICOM against an independent converter (dcm2niix).

dcm2niix (the PyPI package) runs once per data folder into a temporary folder (never into
the read-only data), naming its output ``<SeriesNumber>_<...>.nii``. Every NIfTI it writes
is mapped to our series by SeriesNumber and compared through the affines: the map from
our (z, y, x) indices to its (i, j, k) indices must be a signed permutation with an
integer shift, voxel centres must agree within 1e-3 mm, and voxel values exactly. A
4-D NIfTI is compared volume by volume with our split series. Series vascseg refuses
(multi-volume without ``split_multivolume``, gantry tilt) must raise the typed error; the
split or resampled result is then compared. Each test prints what it compared and
asserts the count, so a comparison that silently drops out fails the test.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from conftest import require, require_module, require_testdata_file, require_tool
from vascseg.config import LoadConfig
from vascseg.errors import GantryTiltError, MultiVolumeError, SliceSpacingError
from vascseg.io import SeriesInfo, find_series, load_series

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

ORACLE_FOLDERS = {
    # folder under shared data: (volumes compared voxel for voxel, volumes per series)
    "dcm_qa_nih/GE": (40, 10),  # 4 EPI series, 15 slices x 10 time points each
    "dcm_qa_nih/Siemens": (8, 2),  # 4 EPI mosaics, 5 slices x 2 time points each
    "dcm_qa_ts/In": (9, 9),  # one 35-slice mosaic in 9 transfer syntaxes, series 1..9
    "totalsegmentator/example_ct_dicom": (1, 1),  # JPEG 2000 CT, empty UIDs
}


def convert(folder: Path, out: Path) -> list[Path]:
    """Run dcm2niix on ``folder`` writing only into ``out``; the NIfTI files it wrote."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([require_tool("dcm2niix"), "-b", "n", "-z", "n", "-f", "%s_%r", "-o", str(out), str(folder)],
                   check=True, capture_output=True, timeout=300)
    return sorted(out.glob("*.nii"))


@pytest.fixture(scope="module")
def nib():
    return require_module("nibabel")


@pytest.fixture(scope="module")
def dcm2niix(tmp_path_factory) -> Callable[[Path], list[Path]]:
    """``dcm2niix(folder)``: its NIfTI files for ``folder``, converted once per module."""
    cache: dict[Path, list[Path]] = {}
    root = tmp_path_factory.mktemp("dcm2niix")

    def run(folder: Path) -> list[Path]:
        if folder not in cache:
            cache[folder] = convert(folder, root / f"{len(cache):02d}_{folder.name}")
        return cache[folder]

    return run


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


def assert_matches_nifti(volume, img, index: int | None = None) -> None:
    """Same voxel centres (1e-3 mm) and identical values as volume ``index`` of NIfTI ``img``."""
    data = np.asarray(img.dataobj)
    if index is not None:
        data = data[..., index]
    data = data.reshape(data.shape[:3])
    p, t = map_to_nifti(volume.affine, volume.shape, img.affine)
    ours = reorder_to_nifti(volume.array, p, t)
    assert ours.shape == data.shape
    np.testing.assert_array_equal(ours.astype(np.float64), data.astype(np.float64))


def _series_numbers(s: SeriesInfo) -> set[str]:
    """SeriesNumber of every image; dcm2niix writes an empty one as 0."""
    return {h.series_number or "0" for vol in s.volumes for h in vol}


@pytest.mark.parametrize("folder", sorted(ORACLE_FOLDERS))
def test_every_converted_series_matches_dcm2niix(shared_data, dcm2niix, nib, folder):
    root = require(shared_data / folder)
    n_expected, per_series = ORACLE_FOLDERS[folder]
    niftis = dcm2niix(root)
    assert niftis, f"dcm2niix wrote nothing for {folder}"

    # refused as a whole: the typed error with the volume count
    for s in find_series(root).series:
        assert s.n_volumes == per_series, s.summary_line()
        if s.n_volumes > 1:
            with pytest.raises(MultiVolumeError, match=f"holds {s.n_volumes} volumes"):
                load_series(root, series=s)

    cfg = LoadConfig(split_multivolume=True)
    split = find_series(root, config=cfg).series
    compared: list[str] = []
    for nii in niftis:
        number = re.match(r"(\d+)_", nii.name)
        assert number, f"unexpected dcm2niix output name {nii.name}"
        ours = [s for s in split if _series_numbers(s) == {number.group(1)}]
        img = nib.load(str(nii))
        n_vol = img.shape[3] if len(img.shape) > 3 else 1
        assert len(ours) == n_vol, f"{nii.name}: {n_vol} volumes in dcm2niix, {len(ours)} here"
        for k, s in enumerate(ours):
            vol = load_series(root, series=s, config=cfg)  # headers already read
            assert_matches_nifti(vol, img, index=k if n_vol > 1 else None)
            compared.append(f"{folder}: {nii.name}[{k}] == {s.short_id} {s.description!r} {vol.shape}")
    print("\n".join(compared))
    assert len(compared) == n_expected, compared
    assert len(split) == n_expected  # nothing of ours left without a dcm2niix counterpart


def _sample(img, points_lps_mm: np.ndarray) -> np.ndarray:
    """Linear interpolation of a NIfTI at LPS points (N, 3); NaN outside."""
    inv = np.linalg.inv(LPS_FROM_RAS @ img.affine)
    idx = inv[:3, :3] @ points_lps_mm.T + inv[:3, 3:4]
    data = np.asarray(img.dataobj, dtype=np.float32)
    return ndimage.map_coordinates(data, idx, order=1, mode="constant", cval=np.nan)


def test_tilted_ge_ct_refused_then_resampled_like_dcm2niix(shared_data, dcm2niix, nib):
    """18.5 deg tilt with uneven gaps: typed refusals, then the repaired volume vs dcm2niix."""
    folder = require(shared_data / "dcm_qa_ct" / "GE")
    with pytest.raises(GantryTiltError, match=r"18\.5"):
        load_series(folder)
    with pytest.raises(GantryTiltError):
        load_series(folder, config=LoadConfig(resample_uneven=True))
    with pytest.raises(SliceSpacingError, match=r"gap of 1\.081 mm .* gap of 6\.999 mm"):
        load_series(folder, config=LoadConfig(resample_tilt=True))
    vol = load_series(folder, config=LoadConfig(resample_tilt=True, resample_uneven=True))
    d = vol.direction
    np.testing.assert_allclose(d.T @ d, np.eye(3), atol=1e-9)
    assert any("gantry tilt" in w for w in vol.warnings) and any("uneven" in w for w in vol.warnings)
    assert vol.spacing_mm[0] == pytest.approx(4.0, abs=0.01)

    niftis = {p.name: p for p in dcm2niix(folder)}
    # 2_1.nii is the raw stack with a sheared affine and uneven gaps: nothing to compare
    # with a refusal. 2_1_Tilt_Eq_1.nii is dcm2niix's tilt-corrected, equalised volume.
    assert set(niftis) == {"2_1.nii", "2_1_Tilt_Eq_1.nii"}
    img = nib.load(str(niftis["2_1_Tilt_Eq_1.nii"]))
    theirs_dir = (LPS_FROM_RAS @ img.affine)[:3, :3]
    theirs_dir = theirs_dir / np.linalg.norm(theirs_dir, axis=0)
    # the same three axes up to order and sign, and the same in-plane grid (no cropping)
    np.testing.assert_allclose(np.abs(d.T @ theirs_dir).max(axis=1), 1.0, atol=1e-4)
    assert sorted(vol.shape[1:]) == sorted(img.shape[:2]) == [512, 611]
    # values agree where both are defined (different slice steps, both linear)
    zz, yy, xx = np.meshgrid(*(np.arange(0, n, 3) for n in vol.shape), indexing="ij")
    idx = np.column_stack([zz.ravel(), yy.ravel(), xx.ravel()])
    theirs = _sample(img, vol.index_to_lps(idx))
    ours = vol.array[zz, yy, xx].ravel()
    head = ~np.isnan(theirs) & (ours > -500)
    assert head.sum() > 100_000
    assert np.corrcoef(ours[head], theirs[head])[0, 1] > 0.99
    assert np.median(np.abs(ours[head] - theirs[head])) < 5.0  # HU
    print(f"dcm_qa_ct/GE: resampled {vol.shape} vs 2_1_Tilt_Eq_1.nii {img.shape}: "
          f"{head.sum()} voxels, median |diff| {np.median(np.abs(ours[head] - theirs[head])):.2f} HU")


def test_enhanced_ct_matches_dcm2niix(tmp_path, dcm2niix, nib):
    folder = tmp_path / "ect"
    folder.mkdir()
    shutil.copy(require_testdata_file("eCT_Supplemental.dcm"), folder)
    vol = load_series(folder)
    assert vol.shape == (2, 512, 512)
    (nii,) = dcm2niix(folder)
    assert_matches_nifti(vol, nib.load(str(nii)))


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
def test_single_slices_match_dcm2niix(tmp_path, dcm2niix, nib, name):
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(require_testdata_file(name), folder)
    vol = load_series(folder)
    (nii,) = dcm2niix(folder)
    img = nib.load(str(nii))
    # a single slice: only the in-plane axes and the origin are defined by both tools
    p, t = map_to_nifti(vol.affine, vol.shape, img.affine)
    np.testing.assert_array_equal(reorder_to_nifti(vol.array, p, t).ravel(), np.asarray(img.dataobj).ravel())


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
