"""Follow a cord down out of the vein tree, through the vein it fills.

An intravenous cord grows from a pelvic vein up into the IVC. Where it fills its vein of
origin (a complete occlusion, or a crescent of lumen too thin to be found as an enhanced
tube), that vein is no enhanced tube below the tree: it goes on as a tube of cord
intensity in the fat (CT: soft tissue in fat; T1 MR: darker than the tissue around). Slice
by slice downwards from the tree's filling defect, the vein is the region of cord
intensity right under it, inside a disc around the last cross-section, overlapping it, of
about its area and apart from the tissue around it. Axial stacks (array axis 0 = patient z,
upwards); arrays are (z, y, x).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ._ivc import (
    AREA_RANGE,
    CORD_CONTRAST,
    OCCLUDED_MIN_MM,
    SEARCH_MARGIN_MM,
    _disc,
    _overlapping,
    _px,
    cord_levels,
)

MIN_SECTION_MM2 = 7.0
"""A cord's cross-section is at least this large (a disc of 1.5 mm radius); smaller pieces
under a defect are partial volume."""

START_UNDER = 0.5
"""A cord leaves the tree where a region of cord intensity outside it lies at least this
much (fraction of its area) under the tree's filling defect..."""

START_REACH = 2
"""...in one of the slices up to this many above its own slice's neighbour (where a cord
leaves its parent vein obliquely, the tree's defect ends a slice or two above the place the
cord leaves the tree)..."""

START_NEAR_MM = 3.0
"""...counting the defect's in-plane surroundings up to this distance."""

MAX_GAP_SLICES = 1
"""Noise may break a thin cord's cross-section in this many slices in a row."""


def _section_ok(cur: np.ndarray, image2d: np.ndarray, dy: float) -> bool:
    """The cross-section's level differs from the tissue just around it by
    :data:`vascseg.segment._ivc.CORD_CONTRAST` (:func:`vascseg.segment._ivc.cord_levels`; a
    section too thin for a core takes its own median): muscle of the cord's density around
    the vein leaves no cord to follow."""
    level, around = cord_levels(cur, image2d, dy)
    if np.isnan(level):
        level = float(np.median(image2d[cur]))
    return abs(around - level) >= CORD_CONTRAST


def _track_down(start: np.ndarray, k: int, free: np.ndarray, image: np.ndarray, spacing_mm,
                max_px: float) -> dict[int, np.ndarray]:
    """Cross-sections of one cord from ``start`` (slice ``k``) down, by slice; empty if
    shorter than :data:`vascseg.segment._ivc.OCCLUDED_MIN_MM`."""
    out: dict[int, np.ndarray] = {}
    dz, dy, dx = (float(s) for s in spacing_mm)
    if not _section_ok(start, image[k], dy):
        return out
    out[k] = start
    prev, ref_area, last = start, float(start.sum()), k
    yy, xx = np.mgrid[0:free.shape[1], 0:free.shape[2]]
    for kk in range(k - 1, -1, -1):
        if last - kk > MAX_GAP_SLICES + 1:
            break
        cy, cx = np.argwhere(prev).mean(axis=0)
        r_mm = np.sqrt(ref_area * dy * dx / np.pi)
        win = ((yy - cy) * dy) ** 2 + ((xx - cx) * dx) ** 2 <= (r_mm + SEARCH_MARGIN_MM) ** 2
        cur = _overlapping(free[kk] & win, prev)
        if (cur is None or not AREA_RANGE[0] * ref_area <= cur.sum() <= min(AREA_RANGE[1] * ref_area, max_px)
                or not _section_ok(cur, image[kk], dy)):
            continue  # the cord ends (lumen below it), merges with tissue of its density, or noise
        for gap in range(kk + 1, last):
            out[gap] = prev | cur  # a slice noise broke: the cord runs through it
        out[kk] = cur
        ref_area = 0.8 * ref_area + 0.2 * float(cur.sum())
        prev, last = cur, kk
    return out if (k - last + 1) * dz >= OCCLUDED_MIN_MM else {}


def follow_cords_down(defect: np.ndarray, tree: np.ndarray, image: np.ndarray, spacing_mm, *,
                      window: tuple[float, float], max_radius_mm: float,
                      allowed: np.ndarray | None = None) -> np.ndarray:
    """Veins filled by a cord, followed down from the tree's filling defect (bool mask).

    Parameters
    ----------
    defect : (Z, Y, X) bool
        Filling defect inside the vein tree.
    tree : (Z, Y, X) bool
        The vein tree (the cord is followed outside it).
    image : (Z, Y, X) float
        Smoothed image, pseudo-HU.
    window : (low, high)
        Cord intensities (pseudo-HU).
    max_radius_mm : float
        Largest vein radius: a wider region is tissue, not a vein.
    allowed : (Z, Y, X) bool, optional
        Voxels a cord may take (not arteries, bone or organs).
    """
    dy, dx = float(spacing_mm[1]), float(spacing_mm[2])
    min_px = MIN_SECTION_MM2 / (dy * dx)
    max_px = np.pi * max_radius_mm ** 2 / (dy * dx)
    free = (image >= window[0]) & (image < window[1]) & ~tree
    if allowed is not None:
        free &= allowed
    out = np.zeros_like(tree)
    reach = _disc(_px(START_NEAR_MM, dy))
    has = defect.any(axis=(1, 2))
    starts = np.flatnonzero(np.convolve(has, np.ones(START_REACH + 1), mode="full")[START_REACH:] > 0)
    for k in starts[::-1]:
        if k == 0:
            continue
        above = ndi.binary_dilation(defect[k:k + START_REACH + 1].any(axis=0), reach)
        lab, n = ndi.label(ndi.binary_opening(free[k - 1], _disc(1)))
        if n == 0:
            continue
        sizes = np.bincount(lab.ravel(), minlength=n + 1)
        under = np.bincount(lab[above], minlength=n + 1)
        for i in np.flatnonzero((under >= START_UNDER * sizes) & (sizes >= min_px) & (sizes <= max_px)):
            if i == 0 or out[k - 1][lab == i].any():
                continue
            for kk, section in _track_down(lab == i, k - 1, free, image, spacing_mm, max_px).items():
                out[kk] |= section
    return out
