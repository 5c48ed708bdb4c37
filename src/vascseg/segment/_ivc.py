"""Follow the IVC up where it runs against the liver.

Under the diaphragm the IVC lies in a groove of the liver. The liver enhances to within a
few tens of HU of the vein, so at the lumen threshold the two merge into one thick bright
region, which the organ mask removes: the IVC's top is lost. Slice by slice upwards from
the highest IVC cross-section found, the IVC is the region brighter than half-way between
the vein and the brightest tissue around it, inside a disc around the last cross-section's centre
(its radius plus a margin), overlapping that cross-section and of about its size. Works
on axial stacks (array axis 0 = patient z). Arrays are (z, y, x).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

AREA_RANGE = (0.6, 1.6)
"""A cross-section continues the IVC when its area is within these fractions of the
running reference area."""

SEARCH_MARGIN_MM = 4.0
"""The next cross-section lies within the last one's equivalent radius plus this margin."""

RING_MM = 6.0
RING_PERCENTILE = 66.0
"""The surrounding tissue level is this percentile of a ring RING_MM wide around the search
disc: the brightest tissue there that covers a good part of it (the liver, where the IVC
lies in its groove; fat elsewhere), not a vessel crossing a corner of it."""

MIN_CONTRAST = 25.0
"""The vein must be at least this much brighter than the tissue around it (HU)."""


REF_SPAN_MM = 30.0
"""The running reference area starts as the median area over the IVC's top this many mm."""


def _largest(mask2d: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(mask2d)
    return lab == (np.argmax(np.bincount(lab.ravel())[1:]) + 1) if n > 1 else mask2d


def _reference_area(ivc: np.ndarray, ks: np.ndarray, dz: float) -> float:
    """The IVC's cross-section area (voxels) over its top REF_SPAN_MM, not the top slice's
    alone (where the liver's tip or a renal vein merges with it)."""
    top = ks[ks >= ks.max() - max(int(round(REF_SPAN_MM / dz)), 1)]
    return float(np.median([_largest(ivc[kk]).sum() for kk in top]))


def _disc(radius_px: int) -> np.ndarray:
    r = max(int(radius_px), 1)
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return y * y + x * x <= r * r


def _top(ivc: np.ndarray, dz: float) -> tuple[int, np.ndarray, float] | None:
    """(top slice, its largest piece, reference area in voxels) of ``ivc``; None if empty."""
    ks = np.flatnonzero(ivc.any(axis=(1, 2)))
    if not len(ks):
        return None
    k = int(ks.max())
    return k, _largest(ivc[k]), _reference_area(ivc, ks, dz)


def _next_section(cand: np.ndarray, prev: np.ndarray, ref_area: float) -> np.ndarray | None:
    """The piece of ``cand`` (opened by a 1-pixel disc) overlapping ``prev`` most, if its
    area is within :data:`AREA_RANGE` of ``ref_area``; else None (the IVC stops here)."""
    lab, n = ndi.label(ndi.binary_opening(cand, _disc(1)))
    if n == 0:
        return None
    hits = np.bincount(lab[prev], minlength=n + 1)
    hits[0] = 0
    if hits.max() == 0:
        return None
    cur = lab == int(np.argmax(hits))
    return cur if AREA_RANGE[0] * ref_area <= cur.sum() <= AREA_RANGE[1] * ref_area else None


def follow_ivc_up(ivc: np.ndarray, image: np.ndarray, spacing_mm, *, allowed: np.ndarray | None = None,
                  min_level: float = -np.inf, max_slices: int | None = None,
                  level: float | None = None) -> np.ndarray:
    """Cross-sections of the IVC above the top of ``ivc`` (bool mask, same shape).

    Parameters
    ----------
    ivc : (Z, Y, X) bool
        The IVC found so far (its highest cross-section starts the tracking).
    image : (Z, Y, X) float
        Smoothed image (pseudo-HU).
    allowed : (Z, Y, X) bool, optional
        Voxels the IVC may take (not arteries, not bone).
    min_level : float
        The lumen threshold: in fat the half-way level would take a filling defect in.
    level : float, optional
        The lumen's level (default: the median of the top cross-section, which must then
        be lumen).
    """
    out = np.zeros_like(ivc)
    top = _top(ivc, float(spacing_mm[0]))
    if top is None:
        return out
    k, prev, ref_area = top  # from the largest piece of the top cross-section
    dy, dx = float(spacing_mm[1]), float(spacing_mm[2])
    level = float(np.median(image[k][prev])) if level is None else float(level)
    yy, xx = np.mgrid[0:ivc.shape[1], 0:ivc.shape[2]]
    limit = image.shape[0] if max_slices is None else min(image.shape[0], k + 1 + max_slices)
    for kk in range(k + 1, limit):
        cy, cx = np.argwhere(prev).mean(axis=0)
        r_mm = np.sqrt(ref_area * dy * dx / np.pi)
        d2 = ((yy - cy) * dy) ** 2 + ((xx - cx) * dx) ** 2
        win = d2 <= (r_mm + SEARCH_MARGIN_MM) ** 2
        ring = (d2 <= (r_mm + SEARCH_MARGIN_MM + RING_MM) ** 2) & ~win
        bg = float(np.percentile(image[kk][ring], RING_PERCENTILE))
        if level - bg < MIN_CONTRAST:
            break
        cand = (image[kk] >= max(0.5 * (level + bg), min_level)) & win
        if allowed is not None:
            cand &= allowed[kk]
        cur = _next_section(cand, prev, ref_area)
        if cur is None:
            break  # a branch joins, the liver leaks in, or a filling defect narrows the lumen
        out[kk] = cur
        level = 0.5 * level + 0.5 * float(np.median(image[kk][cur]))
        ref_area = 0.8 * ref_area + 0.2 * float(cur.sum())
        prev = cur
    return out


OCCLUDED_MIN_MM = 10.0
"""A run of cord-filled IVC cross-sections counts from this length up (shorter: partial
volume where the IVC's top ends)."""


def follow_occluded_ivc_up(ivc: np.ndarray, image: np.ndarray, spacing_mm, *, window: tuple[float, float],
                           allowed: np.ndarray | None = None) -> np.ndarray:
    """Cross-sections of the IVC filled by a cord, directly above the top of ``ivc``.

    Where a cord fills the IVC (complete occlusion), the enhanced IVC stops; above it the
    vein goes on as a disc of cord intensity (``window``, pseudo-HU) in the fat. Slice by
    slice upwards, the IVC is the region of that intensity inside a disc around the last
    cross-section, overlapping it and of about the IVC's area (:data:`AREA_RANGE` of its
    area below). Empty when the slice above the IVC's top is no such disc (the lumen goes
    on, the IVC enters the liver, a partial defect) or the run is shorter than
    :data:`OCCLUDED_MIN_MM`. Arrays are (z, y, x), axial.
    """
    out = np.zeros_like(ivc)
    top = _top(ivc, float(spacing_mm[0]))
    if top is None:
        return out
    k, prev, ref_area = top
    dy, dx = float(spacing_mm[1]), float(spacing_mm[2])
    r_mm = np.sqrt(ref_area * dy * dx / np.pi)
    yy, xx = np.mgrid[0:ivc.shape[1], 0:ivc.shape[2]]
    last = k
    for kk in range(k + 1, image.shape[0]):
        cy, cx = np.argwhere(prev).mean(axis=0)
        win = ((yy - cy) * dy) ** 2 + ((xx - cx) * dx) ** 2 <= (r_mm + SEARCH_MARGIN_MM) ** 2
        cand = (image[kk] >= window[0]) & (image[kk] < window[1]) & win
        if allowed is not None:
            cand &= allowed[kk]
        cur = _next_section(cand, prev, ref_area)
        if cur is None:
            break
        out[kk] = cur
        prev, last = cur, kk
    if (last - k) * float(spacing_mm[0]) < OCCLUDED_MIN_MM:
        out[:] = False
    return out
