"""Loading real DICOM: transfer syntaxes, rescale, enhanced multi-frame, gaps, series choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from conftest import require, require_module, require_testdata_file
from test_io_oracle import assert_matches_nifti
from vascseg.config import LoadConfig
from vascseg.errors import GeometryError, MultiVolumeError, SeriesSelectionError, SliceSpacingError
from vascseg.io import find_series, load_series
from vascseg.io._headers import frame_headers
from vascseg.io._pixels import decode_frames_into

PYDICOM_FILES = Path(get_testdata_file("CT_small.dcm")).parent  # ships with pydicom itself
MR_SMALL = ["MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm",
            "MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
            "MR_small_padded.dcm"]


def test_ct_small_in_hu():
    vol = load_series(require_testdata_file("CT_small.dcm"))
    assert vol.modality == "CT" and vol.shape == (1, 128, 128)
    assert vol.array.dtype == np.int16
    ds = pydicom.dcmread(require_testdata_file("CT_small.dcm"))
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(vol.array[0], expected)


def test_mr_small_transfer_syntaxes_identical():
    ref = load_series(require_testdata_file("MR_small.dcm"))
    for name in MR_SMALL[1:]:
        vol = load_series(require_testdata_file(name))
        np.testing.assert_array_equal(vol.array, ref.array, err_msg=name)
        np.testing.assert_allclose(vol.affine, ref.affine, atol=1e-6)


def test_dcm_qa_ts_nine_syntaxes_identical_and_match_reference(shared_data):
    """One Siemens mosaic in 9 transfer syntaxes: identical voxels, equal to dcm2niix's Ref."""
    nib = require_module("nibabel")
    folder = require(shared_data / "dcm_qa_ts" / "In")
    files = sorted(folder.glob("*.dcm"))
    assert len(files) == 9
    syntaxes = {pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID for p in files}
    assert len(syntaxes) == 7  # JPEG lossless and JPEG-LS appear twice, with different options
    vols = {p.name: load_series(p) for p in files}  # a single file: one mosaic, unpacked
    ref = vols["1.dcm"]
    assert ref.shape == (35, 64, 64) and ref.spacing_mm == pytest.approx((3.6, 3.25, 3.25))
    for name, vol in vols.items():
        np.testing.assert_array_equal(vol.array, ref.array, err_msg=name)
        np.testing.assert_allclose(vol.affine, ref.affine, atol=1e-9)
    img = nib.load(str(require(shared_data / "dcm_qa_ts" / "Ref" / "1.nii")))
    assert_matches_nifti(ref, img)


@pytest.mark.parametrize("name", ["emri_small.dcm", "emri_small_RLE.dcm", "emri_small_jpeg_ls_lossless.dcm",
                                  "emri_small_big_endian.dcm", "emri_small_jpeg_2k_lossless.dcm"])
def test_enhanced_mr_without_geometry_refused_but_decodes(name):
    path = require_testdata_file(name)
    # these files carry no functional groups (no plane position): never an identity grid
    with pytest.raises(GeometryError, match="position/orientation"):
        load_series(path)
    headers = frame_headers(path)
    assert len(headers) == 10
    out = np.empty((10, 64, 64), dtype=np.float32)
    decode_frames_into(out, headers)
    ref = np.empty_like(out)
    decode_frames_into(ref, frame_headers(require_testdata_file("emri_small.dcm")))
    np.testing.assert_array_equal(out, ref)


def test_enhanced_ct_by_per_frame_position():
    vol = load_series(require_testdata_file("eCT_Supplemental.dcm"))
    assert vol.shape == (2, 512, 512)
    assert vol.spacing_mm[0] == pytest.approx(10.0)
    z = sorted(vol.index_to_lps([[k, 0, 0] for k in range(2)])[:, 2].tolist())
    assert z == pytest.approx([-159.0, -149.0])


def test_four_slice_ct_gap_named():
    folder = PYDICOM_FILES / "dicomdirtests" / "77654033" / "CT2"
    with pytest.raises(SliceSpacingError) as err:
        load_series(folder)
    msg = str(err.value)
    assert "202.500 mm" in msg and "-99.48 mm" in msg and "103.02 mm" in msg and "17106" in msg
    vol = load_series(folder, config=LoadConfig(resample_uneven=True))
    assert vol.spacing_mm[0] == pytest.approx(1.25)
    assert vol.shape[0] == 165 and vol.warnings  # -99.48 .. 105.52 mm every 1.25 mm


def test_total_segmentator_empty_uids(shared_data):
    folder = require(shared_data / "totalsegmentator" / "example_ct_dicom")
    found = find_series(folder)
    assert len(found.series) == 1
    assert any("empty SeriesInstanceUID" in n for n in found.notes)
    vol = load_series(folder, series=found.series[0].uid_sha256[:8])
    assert vol.shape == (20, 512, 512) and vol.array.dtype == np.int16
    assert vol.spacing_mm[0] == pytest.approx(2.0, abs=1e-3)


def test_several_series_need_a_choice(shared_data):
    folder = require(shared_data / "dcm_qa_nih" / "GE")
    with pytest.raises(SeriesSelectionError) as err:
        load_series(folder)
    msg = str(err.value)
    assert "4 series" in msg and "Axial EPI-FMRI (Sequential I to S)" in msg and "150 images" in msg
    assert "1.2.840.113619" not in msg  # hashed UIDs only


def test_4d_epi_refused_or_split(shared_data):
    folder = require(shared_data / "dcm_qa_nih" / "GE" / "mr_0005")
    with pytest.raises(MultiVolumeError, match="10 volumes"):
        load_series(folder)
    cfg = LoadConfig(split_multivolume=True)
    found = find_series(folder, config=cfg)
    assert [s.n_frames for s in found.series] == [15] * 10
    with pytest.raises(SeriesSelectionError):
        load_series(folder, config=cfg)
    vol = load_series(folder, series=found.series[2].id, config=cfg)
    assert vol.shape == (15, 64, 64) and vol.spacing_mm[0] == pytest.approx(5.0, abs=1e-3)


def test_localizer_dropped_with_note():
    folder = PYDICOM_FILES / "dicomdirtests" / "98892003" / "MR2"
    found = find_series(folder)
    assert any("localizer" in n for n in found.notes)
    assert all("PILOT" not in s.description for s in found.series)
    found = find_series(PYDICOM_FILES / "dicomdirtests" / "98892001")
    assert any("localizer" in n and "Scout" in n for n in found.notes)
