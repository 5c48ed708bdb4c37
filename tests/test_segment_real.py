"""Segmentation on real public CT (read-only ../shared/data)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from conftest import require
from vascseg.anatomy import LABELS
from vascseg.geometry import Volume
from vascseg.segment import load_prior, segment_veins

sitk = pytest.importorskip("SimpleITK")


def _read(path, **meta) -> Volume:
    return Volume.from_sitk(sitk.ReadImage(str(require(path))), **meta)


@pytest.fixture(scope="module")
def native_ct(shared_data):
    d = shared_data / "totalsegmentator"
    vol = _read(d / "example_ct.nii.gz", modality="CT")
    labels = _read(d / "example_ct_seg_total.nii.gz")
    return vol, labels


def test_prior_names_ivc_and_iliac_veins_as_one_tree(native_ct):
    vol, labels = native_ct
    seg = segment_veins(vol, prior=load_prior(labels, vol, "total"))
    for name in ("ivc", "common_iliac_vein_left", "common_iliac_vein_right",
                 "external_iliac_vein_left", "external_iliac_vein_right"):
        assert name in seg.found, (name, seg.missing.get(name))
    assert ndi.label(seg.veins > 0, structure=np.ones((3, 3, 3)))[1] == 1
    # names follow the prior's sides: TotalSegmentator 67 = left iliac vein, 68 = right
    lab = labels.array
    left = np.isin(seg.veins, [LABELS["common_iliac_vein_left"], LABELS["external_iliac_vein_left"]])
    right = np.isin(seg.veins, [LABELS["common_iliac_vein_right"], LABELS["external_iliac_vein_right"]])
    assert (left & (lab == 67)).sum() > 0.9 * left.sum()
    assert (right & (lab == 68)).sum() > 0.9 * right.sum()
    assert (seg.veins == LABELS["ivc"]).sum() > 0.9 * (lab == 63).sum()
    # non-contrast: the defects cannot be assessed, and the report says so
    assert not seg.defects.any()
    assert any("enhance" in w for w in seg.warnings)
    # the aorta (52) is never a vein
    assert ((seg.veins > 0) & (lab == 52)).sum() == 0


def test_prior_on_another_grid_is_resampled_by_geometry(native_ct):
    vol, labels = native_ct
    # the same label map shifted by one voxel in LPS x must give labels shifted by one voxel
    moved = Volume(labels.array, labels.spacing_mm,
                   tuple(np.add(labels.origin_lps_mm, labels.direction[:, 2] * labels.spacing_mm[2])),
                   labels.direction)
    p0 = load_prior(labels, vol, "total").masks["ivc"]
    p1 = load_prior(moved, vol, "total").masks["ivc"]
    assert p0.sum() == p1.sum()
    np.testing.assert_array_equal(np.roll(p0, 1, axis=2)[:, :, 1:], p1[:, :, 1:])


def test_prior_without_mapped_labels_is_refused(native_ct):
    from vascseg.errors import SegmentationError

    vol, labels = native_ct
    with pytest.raises(SegmentationError, match="none of the labels"):
        load_prior(labels.with_array(np.zeros(labels.shape, np.uint8)), vol, "total")


def test_arterial_ct_aorta_is_not_a_vein(shared_data):
    d = shared_data / "totalsegmentator"
    vol = _read(d / "arterial_ct_cropped.nii.gz", modality="CT")
    aorta = _read(d / "arterial_ct_cropped_aorta.nii.gz").array > 0
    seg = segment_veins(vol)
    assert ((seg.veins > 0) & aorta).sum() == 0
    # and nothing is invented: no IVC in a chest CT angiogram
    assert "ivc" in seg.missing and seg.missing["ivc"]
