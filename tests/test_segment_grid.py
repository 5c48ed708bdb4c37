"""The working grid: block means, expansion back to the input grid, and a fine series
segmented on it agreeing with the same anatomy segmented directly."""

from __future__ import annotations

import numpy as np
import pytest

from vascseg.anatomy import LABELS
from vascseg.evaluation import dice
from vascseg.geometry import Volume
from vascseg.segment import segment_veins
from vascseg.segment._grid import (
    block_mean,
    coarse_shape,
    coarse_volume,
    expand_linear,
    expand_nearest,
    working_factors,
)


def test_working_factors_keep_voxels_at_or_under_the_limit():
    assert working_factors((0.875, 0.625, 0.625)) == (2, 2, 2)
    assert working_factors((2.5, 1.5, 1.5)) == (1, 1, 1)
    assert working_factors((1.0, 0.7, 0.7)) == (1, 2, 2)
    assert working_factors((0.5, 0.5, 0.5)) == (3, 3, 3)
    assert working_factors((0.9, 0.9, 0.9), max_mm=1.8) == (2, 2, 2)


def test_block_mean_averages_partial_blocks_too():
    rng = np.random.default_rng(0)
    a = rng.integers(-1000, 1000, (19, 23, 11)).astype(np.int16)
    f = (2, 3, 4)
    got = block_mean(a, f)
    assert got.shape == coarse_shape(a.shape, f) == (10, 8, 3)
    assert got.dtype == np.float32
    for z, y, x in np.ndindex(got.shape):
        ref = a[2 * z:2 * z + 2, 3 * y:3 * y + 3, 4 * x:4 * x + 4].mean()
        assert got[z, y, x] == pytest.approx(ref, abs=1e-3)
    mask = a > 0
    np.testing.assert_allclose(block_mean(mask, f), block_mean(mask.astype(np.float32), f))


def test_expansion_back_to_the_input_grid():
    rng = np.random.default_rng(1)
    c = rng.random((6, 7, 8)).astype(np.float32)
    f = (2, 3, 1)
    box = (slice(1, 11), slice(4, 20), slice(0, 8))
    near = expand_nearest(c, f, box)
    for z, y, x in np.ndindex(near.shape):
        assert near[z, y, x] == c[(z + 1) // 2, (y + 4) // 3, x]
    # trilinear between block centres: exact on a ramp, constant stays constant
    ramp = np.broadcast_to(np.arange(6, dtype=np.float32)[:, None, None], (6, 2, 2))
    up = expand_linear(ramp, (2, 1, 1), (slice(0, 12), slice(0, 2), slice(0, 2)))[:, 0, 0]
    np.testing.assert_allclose(up[1:-1], (np.arange(1, 11) + 0.5) / 2 - 0.5)
    np.testing.assert_allclose(expand_linear(np.full((3, 3, 3), 5.0), (2, 2, 2),
                                             (slice(0, 6),) * 3), 5.0)


def test_coarse_voxel_sits_at_the_centre_of_its_block():
    vol = Volume(np.zeros((8, 9, 10), np.int16), (0.8, 0.6, 0.6), (10.0, -20.0, 30.0))
    f = (2, 3, 2)
    cv = coarse_volume(vol, block_mean(vol.array, f), f)
    assert cv.spacing_mm == pytest.approx((1.6, 1.8, 1.2))
    block = np.argwhere(np.ones(f, bool)) + [2, 3, 4]  # block (1, 1, 2)
    np.testing.assert_allclose(cv.index_to_lps([1, 1, 2]), vol.index_to_lps(block).mean(axis=0))


@pytest.fixture(scope="module")
def phantom_twice():
    """A development phantom, and the same image on a grid twice as fine in the slice."""
    from vascseg.phantom import PhantomSpec, generate_phantom

    ph = generate_phantom(PhantomSpec(seed=7, route="uterine-iliac-caval-right", pattern="discontinuous"))
    v = ph.volume
    fine = np.repeat(np.repeat(v.array, 2, axis=1), 2, axis=2)
    dz, dy, dx = v.spacing_mm
    # fine voxel (0, 0, 0) lies a quarter of a coarse voxel before the coarse one in y and x
    origin = v.index_to_lps([0.0, -0.25, -0.25])
    fine_vol = Volume(fine, (dz, dy / 2, dx / 2), tuple(origin), v.direction, modality="CT")
    return ph, fine_vol


def _up(a: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(a, 2, axis=1), 2, axis=2)


def test_fine_series_is_segmented_on_the_working_grid_and_refined(phantom_twice):
    # block means of the fine image are the coarse image: the working grid sees exactly
    # what a direct segmentation of the coarse phantom sees, and only the edges are redone
    ph, fine = phantom_twice
    assert working_factors(fine.spacing_mm) == (1, 2, 2)
    ref = segment_veins(ph.volume)
    got = segment_veins(fine)
    assert got.veins.shape == fine.shape
    assert got.found == ref.found
    up = _up(ref.veins)
    assert dice(up > 0, got.veins > 0) > 0.92
    for name in ref.found:
        assert dice(up == LABELS[name], got.veins == LABELS[name]) > 0.75, name
    both = (up > 0) & (got.veins > 0)
    assert (up[both] == got.veins[both]).mean() > 0.97
    # refined edges are as true as the coarse ones (the fine image's edges are blocky)
    truth = _up(ph.veins) > 0
    assert dice(truth, got.veins > 0) > dice(truth, up > 0) - 0.03
    if ref.defects.any():
        assert dice(_up(ref.defects), got.defects) > 0.5
    assert not (got.defects & (got.veins == 0)).any()
    assert not (got.lumen & got.defects).any()


def _refine_found(img, sp, env_c, lumen_c, name, level, *, modality="CT", dark_hu=None):
    """:func:`refine_on_input_grid` of a working-grid detection that found ``env_c`` (lumen
    ``lumen_c``) as the vein ``name``, on the input image ``img`` (spacing ``sp``)."""
    from vascseg.config import Config
    from vascseg.segment._refine import refine_on_input_grid
    from vascseg.segment._result import Detection, Segmentation

    veins_c = np.where(env_c, LABELS[name], 0).astype(np.uint8)
    none = np.zeros(env_c.shape, bool)
    det = Detection(Segmentation(veins_c, none, lumen_c, none), env_c, lumen_c,
                    np.ones(env_c.shape, bool), none, level, dark_hu=dark_hu)
    vol = Volume(img, sp, (0.0, 0.0, 0.0), modality=modality)
    return refine_on_input_grid(det, vol, img, working_factors(sp), Config().segment)


@pytest.mark.parametrize("radius_mm", [3.0, 5.0])
def test_refined_lumen_edge_of_a_thin_vein_sits_at_its_half_maximum(radius_mm):
    # a vertical vein (200 HU, radius 3-5 mm) in fat (-100 HU) on a 0.875 x 0.625 x 0.625 mm
    # grid, blurred by the scanner (0.45 mm) and noisy; the working grid (blocks of 2) holds
    # it as found: the refined lumen must be neither shrunk nor swollen (volume within 7 %,
    # about 0.1 mm of radius; smoothing before the half-maximum test shrank it by 10-25 %)
    from scipy import ndimage as ndi

    sp = (0.875, 0.625, 0.625)
    shape = (24, 64, 64)
    yy, xx = np.mgrid[:shape[1], :shape[2]] * sp[1]
    centre = (shape[1] // 2 * sp[1] + 0.3, shape[2] // 2 * sp[2] - 0.2)
    # truth: fraction of each voxel inside the circle (supersampled), voxel inside at >= 0.5
    sub = 5
    offs = (np.arange(sub) + 0.5) / sub - 0.5
    frac = np.zeros(shape[1:], np.float32)
    for oy in offs:
        for ox in offs:
            frac += (((yy + oy * sp[1]) - centre[0]) ** 2 + ((xx + ox * sp[2]) - centre[1]) ** 2 <= radius_mm ** 2)
    frac /= sub * sub
    truth = np.broadcast_to(frac >= 0.5, shape)
    img2d = ndi.gaussian_filter(-100.0 + 300.0 * frac, 0.45 / sp[1])
    rng = np.random.default_rng(3)
    img = (np.broadcast_to(img2d, shape) + rng.normal(0.0, 15.0, shape)).astype(np.float32)
    lumen_c = block_mean(img, working_factors(sp)) >= 50.0
    # 200: the lumen level the working grid measures in the cores of the big veins
    got = _refine_found(img, sp, lumen_c, lumen_c, "gonadal_vein_left", 200.0).lumen
    inner = (slice(4, -4), slice(None), slice(None))  # away from the cut ends
    ratio = got[inner].sum() / truth[inner].sum()
    assert 0.93 <= ratio <= 1.07, ratio
    assert dice(truth[inner], got[inner]) > 0.95


def test_refined_envelope_keeps_a_t1_cord_brighter_than_the_defect_window():
    # T1 MR, pseudo-HU: a vein (lumen 180) whose lower half a cord fills completely, the
    # cord at 35 (above the defect window's top, 20, under the bias field) in fat at 100;
    # the working grid found the cord as envelope and its cord window reaches 60
    from scipy import ndimage as ndi

    sp = (0.875, 0.625, 0.625)
    shape = (40, 48, 48)
    yy, xx = np.mgrid[:shape[1], :shape[2]] * sp[1]
    disc = (yy - 15.0) ** 2 + (xx - 15.0) ** 2 <= 5.0 ** 2
    tube = np.broadcast_to(disc, shape)
    cord = tube.copy()
    cord[:20] = False
    img = np.where(tube, 180.0, 100.0).astype(np.float32)
    img[cord] = 35.0
    img = ndi.gaussian_filter(img, (0.45 / sp[0], 0.45 / sp[1], 0.45 / sp[2]))
    img += np.random.default_rng(4).normal(0.0, 6.0, shape).astype(np.float32)
    f = working_factors(sp)
    env_c = block_mean(tube, f) >= 0.5
    lumen_c = env_c & (block_mean(img, f) >= 140.0)
    got = _refine_found(img, sp, env_c, lumen_c, "common_iliac_vein_right", 180.0, modality="MR",
                        dark_hu=(-15.0, 60.0))
    inner = cord & np.broadcast_to(ndi.binary_erosion(disc, iterations=2), shape)  # past the edge's partial volume
    inner[:22] = False
    inner[-2:] = False
    assert (got.veins[inner] > 0).mean() > 0.95
    assert (got.veins[~tube] > 0).mean() < 0.01
