"""Unit tests of segmentation building blocks: eigenvalues, vesselness, closing in mm."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from vascseg.segment.defects import closing_mm
from vascseg.segment.vesselness import symmetric_eigvals, vesselness


def test_closed_form_eigenvalues_match_numpy():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(5000, 3, 3))
    a = a + a.transpose(0, 2, 1)
    got = np.stack(symmetric_eigvals(a[:, 0, 0], a[:, 1, 1], a[:, 2, 2], a[:, 0, 1], a[:, 0, 2], a[:, 1, 2]), 1)
    ref = np.linalg.eigvalsh(a)
    ref = np.take_along_axis(ref, np.argsort(np.abs(ref), 1), 1)
    np.testing.assert_allclose(got, ref, atol=1e-9)


def test_eigenvalues_of_isotropic_matrix():
    one = np.ones(3)
    l1, l2, l3 = symmetric_eigvals(2 * one, 2 * one, 2 * one, 0 * one, 0 * one, 0 * one)
    np.testing.assert_allclose([l1, l2, l3], 2.0)


def _scene(spacing, rng):
    """A tube (r 6 mm, along z), a ball (r 15 mm) and a slab (8 mm thick) in fat + noise."""
    size_mm = (120.0, 120.0, 120.0)
    shape = tuple(int(round(s / d)) for s, d in zip(size_mm, spacing, strict=True))
    z, y, x = (np.arange(n) * d for n, d in zip(shape, spacing, strict=True))
    Z, Y, X = np.meshgrid(z, y, x, indexing="ij")
    tube = (Y - 30) ** 2 + (X - 30) ** 2 < 36
    ball = (Z - 60) ** 2 + (Y - 80) ** 2 + (X - 80) ** 2 < 225
    slab = np.abs(X - 105) < 4
    img = np.full(shape, -100.0, np.float32)
    img[tube | ball | slab] = 180.0
    img += rng.normal(0, 15, shape).astype(np.float32)
    return img, tube, ball, slab, (Y, X, Z)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 1.0, 1.0)])
def test_vesselness_prefers_tubes_over_blobs_and_plates(spacing):
    img, tube, ball, slab, (Y, X, Z) = _scene(spacing, np.random.default_rng(1))
    v, scale = vesselness(img, spacing, mask=img > 60, return_scale=True)
    core_tube = (Y - 30) ** 2 + (X - 30) ** 2 < 9
    core_ball = (Z - 60) ** 2 + (Y - 80) ** 2 + (X - 80) ** 2 < 25
    core_slab = (np.abs(X - 105) < 1.5) & (Y < 60)
    vt, vb, vs = (float(np.median(v[m])) for m in (core_tube, core_ball, core_slab))
    assert vt > 0.5
    assert vt > 2 * vb  # Frangi blob term: exp(-Rb^2/2beta^2) with Rb ~ 1 at a ball centre
    assert vt > 10 * vs
    # best scale is set in mm: a 6 mm-radius tube answers at sigma ~ r / sqrt(2) .. r
    assert 3.0 <= float(np.median(scale[core_tube])) <= 7.5


def test_vesselness_same_answer_at_two_spacings():
    rng = np.random.default_rng(2)
    a = _scene((1.0, 1.0, 1.0), rng)
    b = _scene((2.0, 1.0, 1.0), rng)
    va = vesselness(a[0], (1.0, 1.0, 1.0), mask=a[1])
    vb = vesselness(b[0], (2.0, 1.0, 1.0), mask=b[1])
    assert abs(float(np.median(va[a[1]])) - float(np.median(vb[b[1]]))) < 0.15


def test_closing_mm_matches_ball_closing_and_honours_anisotropy():
    # a lumen crescent: a tube (r 8 mm) with an eccentric hole (r 5 mm) touching its wall
    def crescent(spacing):
        shape = tuple(int(round(60 / d)) for d in spacing)
        z, y, x = (np.arange(n) * d for n, d in zip(shape, spacing, strict=True))
        Z, Y, X = np.meshgrid(z, y, x, indexing="ij")
        vessel = (Y - 30) ** 2 + (X - 30) ** 2 < 64
        hole = ((Y - 30) ** 2 + (X - 33) ** 2 < 25) & (Z > 15) & (Z < 45)
        return vessel & ~hole, hole

    for spacing in [(1.0, 1.0, 1.0), (3.0, 1.0, 1.0), (2.0, 0.5, 0.5)]:
        lumen, hole = crescent(spacing)
        closed = closing_mm(lumen, 7.0, spacing)
        vox = np.prod(spacing)
        filled = (closed & hole).sum() * vox
        assert filled > 0.9 * hole.sum() * vox, spacing
        # never adds more than a thin skin outside the vessel
        assert (closed & ~(lumen | hole)).sum() * vox < 0.05 * lumen.sum() * vox, spacing
    # isotropic: same as scipy's closing with a digital ball (away from the border)
    lumen, _ = crescent((1.0, 1.0, 1.0))
    r = 7
    ball = np.add.outer(np.add.outer(np.arange(-r, r + 1) ** 2, np.arange(-r, r + 1) ** 2),
                        np.arange(-r, r + 1) ** 2) <= r * r
    ref = ndi.binary_closing(np.pad(lumen, r + 1), ball)[r + 1:-r - 1, r + 1:-r - 1, r + 1:-r - 1]
    mine = closing_mm(lumen, float(r), (1.0, 1.0, 1.0))
    assert (mine != ref).sum() <= 0.01 * ref.sum()
