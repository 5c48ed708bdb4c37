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


SECTION_SIGMA_MM = 1.5
"""In-plane Gaussian smoothing of a slice where the IVC is told from the liver around it..."""

SURROUNDED_SPREAD = 40.0
"""...that is, where the ring's 10th percentile lies within this of its level (HU): tissue
all around the IVC, no fat."""

GAP_MAX_MM = 10.0
"""Going up from enhanced lumen, cross-sections too small for the IVC (a filling defect's
tip narrowing the lumen) are passed over for up to this length when one of the IVC's size
follows: their lumen beside the defect is kept..."""

GAP_RESUME = 0.8
"""...that is, a section of at least this fraction of the IVC's area (a cord filling the
vein on up keeps it narrow)."""

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


def _px(mm: float, spacing: float) -> int:
    """``mm`` in whole pixels of ``spacing`` (at least one)."""
    return max(int(round(mm / spacing)), 1)


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


def _overlapping(cand: np.ndarray, prev: np.ndarray) -> np.ndarray | None:
    """The piece of ``cand`` (opened by a 1-pixel disc) overlapping ``prev`` most, or None."""
    lab, n = ndi.label(ndi.binary_opening(cand, _disc(1)))
    if n == 0:
        return None
    hits = np.bincount(lab[prev], minlength=n + 1)
    hits[0] = 0
    return lab == int(np.argmax(hits)) if hits.max() > 0 else None


def _of_area(section: np.ndarray | None, ref_area: float) -> np.ndarray | None:
    """``section`` if its area is within :data:`AREA_RANGE` of ``ref_area``, else None."""
    ok = section is not None and AREA_RANGE[0] * ref_area <= section.sum() <= AREA_RANGE[1] * ref_area
    return section if ok else None


def _next_section(cand: np.ndarray, prev: np.ndarray, ref_area: float) -> np.ndarray | None:
    """The piece of ``cand`` overlapping ``prev`` most (:func:`_overlapping`), if its area is
    within :data:`AREA_RANGE` of ``ref_area``; else None (the IVC stops here)."""
    return _of_area(_overlapping(cand, prev), ref_area)


def follow_ivc_up(ivc: np.ndarray, image: np.ndarray, spacing_mm, *, allowed: np.ndarray | None = None,
                  min_level: float = -np.inf, max_slices: int | None = None,
                  level: float | None = None, gap_mm: float = 0.0) -> np.ndarray:
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
    gap_mm : float
        Cross-sections too small for the IVC are passed over for up to this length when one
        of the IVC's size follows (:data:`GAP_MAX_MM`); their lumen is kept.

    Where bright tissue surrounds the IVC (the liver: the half-way level above ``min_level``
    and :data:`SURROUNDED_SPREAD`), the slice is smoothed in-plane first
    (:data:`SECTION_SIGMA_MM`): against tissue a few tens of HU darker, noise speckles the
    half-way threshold across the lumen and the sections shrink. (Where fat abuts it, the
    threshold lies high on the lumen's edge towards the fat, and smoothing would pull that
    edge in.)
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
    gap: list[tuple[int, np.ndarray]] = []  # narrowed sections passed over since ``prev``
    for kk in range(k + 1, limit):
        cy, cx = np.argwhere(prev).mean(axis=0)
        r_mm = np.sqrt(ref_area * dy * dx / np.pi)
        d2 = ((yy - cy) * dy) ** 2 + ((xx - cx) * dx) ** 2
        win = d2 <= (r_mm + SEARCH_MARGIN_MM) ** 2
        ring = (d2 <= (r_mm + SEARCH_MARGIN_MM + RING_MM) ** 2) & ~win
        bg, low = (float(v) for v in np.percentile(image[kk][ring], [RING_PERCENTILE, 10.0]))
        if level - bg < MIN_CONTRAST:
            break
        half = 0.5 * (level + bg)
        sec = image[kk]
        if half > min_level and bg - low < SURROUNDED_SPREAD:
            sec = ndi.gaussian_filter(sec, (SECTION_SIGMA_MM / dy, SECTION_SIGMA_MM / dx))
        cand = (sec >= max(half, min_level)) & win
        if allowed is not None:
            cand &= allowed[kk]
        piece = _overlapping(cand, prev)
        cur = _of_area(piece, ref_area)
        if cur is None:
            # a branch joins, the liver leaks in, or a filling defect narrows the lumen: only
            # the last is passed over (a narrowed section, for no more than ``gap_mm``)
            if piece is None or piece.sum() > AREA_RANGE[0] * ref_area or \
                    (len(gap) + 1) * float(spacing_mm[0]) > gap_mm:
                break
            gap.append((kk, piece))
            continue
        if gap and cur.sum() < GAP_RESUME * ref_area:
            break
        for kg, g in gap:
            out[kg] = g
        gap = []
        out[kk] = cur
        level = 0.5 * level + 0.5 * float(np.median(image[kk][cur]))
        ref_area = 0.8 * ref_area + 0.2 * float(cur.sum())
        prev = cur
    return out


OCCLUDED_MIN_MM = 10.0
"""A run of cord-filled IVC cross-sections counts from this length up (shorter: partial
volume where the IVC's top ends)."""


def follow_occluded_ivc_up(ivc: np.ndarray, image: np.ndarray, spacing_mm, *, window: tuple[float, float],
                           lumen_min: float, cord_max: float = np.inf,
                           allowed: np.ndarray | None = None) -> np.ndarray:
    """Cross-sections of the IVC filled by a cord above the top of ``ivc``.

    Where a cord fills the IVC (complete occlusion), the enhanced IVC stops; above it the
    vein goes on as a disc of cord intensity (``window``, pseudo-HU) in the fat. First, a
    run of such discs right above the IVC's top (:func:`_cord_right_above`); failing that,
    the cord's tip sits in the lumen a slice or more below where the cord fills the vein:
    the vein is followed up through lumen and cord as :func:`follow_occluded_ivc_down`
    follows it down (``lumen_min``, ``cord_max`` as there). Arrays are (z, y, x), axial.
    """
    out = _cord_right_above(ivc, image, spacing_mm, window=window, allowed=allowed)
    if out.any():
        return out
    rev = (slice(None, None, -1),)
    return follow_occluded_ivc_down(ivc[rev], image[rev], spacing_mm, window=window, lumen_min=lumen_min,
                                    cord_max=cord_max, allowed=None if allowed is None else allowed[rev])[rev]


def _cord_right_above(ivc: np.ndarray, image: np.ndarray, spacing_mm, *, window: tuple[float, float],
                      allowed: np.ndarray | None = None) -> np.ndarray:
    """Slice by slice upwards from the top of ``ivc``, the IVC is the region of cord
    intensity (``window``) inside a disc around the last cross-section, overlapping it and
    of about the IVC's area (:data:`AREA_RANGE` of its area below). Empty when the slice
    above the IVC's top is no such disc (the lumen goes on, the IVC enters the liver, the
    cord's tip in the lumen) or the run is shorter than :data:`OCCLUDED_MIN_MM`.
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


CORD_SECTION_MIN = 0.8
"""Going down, a cross-section is cord-filled when at least this fraction of it has cord
intensity (the slices where the cord's tip sits in the lumen have less)..."""

CORD_CONTRAST = 15.0
"""...and its cord differs by at least this much from the tissue just around it (pseudo-HU;
fat on CT and T2 MR, or the partial-volume rim towards fat on T1 MR; muscle of a cord's
density around the vein leaves no cord to see)."""

CORD_CORE_MM = 3.0
CORD_RIM_MM = (1.5, 6.0)
"""The cord's level is the median of the section eroded by CORD_CORE_MM; the tissue's, of
the band CORD_RIM_MM (from, to) outside it (in-plane mm)."""

TOP_GAP_SLICES = 1
"""Going down, the slice just under the enhanced IVC may hold no section of the IVC's area:
where the cord's top meets the lumen beside it, partial volume leaves voxels of neither
intensity, and the section breaks into pieces (fine grids, 1.75 mm slices: MR s4853, s4953);
it is passed over, and takes the section below it."""

SECTION_MAX = 2.0
"""Going down, a cross-section (lumen, cord and the partial-volume rim between them and the
tissue around) is at most this many times the IVC's area; larger, a branch joins or the
vein divides."""


def cord_levels(section: np.ndarray, image2d: np.ndarray, dy: float, *,
                rim_values: bool = False) -> tuple[float, float | np.ndarray]:
    """(level, around) of a cross-section: the median of it eroded by :data:`CORD_CORE_MM`
    (nan when nothing is left) and of the band :data:`CORD_RIM_MM` outside it (in-plane mm,
    ``dy`` the pixel size). ``rim_values``: the band's values instead of their median."""
    core = ndi.binary_erosion(section, iterations=_px(CORD_CORE_MM, dy))
    rim = (ndi.binary_dilation(section, iterations=_px(CORD_RIM_MM[1], dy))
           & ~ndi.binary_dilation(section, iterations=_px(CORD_RIM_MM[0], dy)))
    level = float(np.median(image2d[core])) if core.any() else np.nan
    if rim_values:
        return level, image2d[rim]
    around = float(np.median(image2d[rim])) if rim.any() else np.nan
    return level, around


def follow_occluded_ivc_down(ivc: np.ndarray, image: np.ndarray, spacing_mm, *,
                             window: tuple[float, float], lumen_min: float, cord_max: float = np.inf,
                             allowed: np.ndarray | None = None) -> np.ndarray:
    """The cord filling the IVC below its enhanced part (bool mask, same shape).

    A cord growing up from the pelvis fills the IVC's lower part: the enhanced IVC stops
    above it, and the iliac veins may reach the IVC only through it. The enhanced IVC is
    followed down from ``ivc`` first (:func:`follow_ivc_up` on the reversed stack); below
    it, slice by slice, the vein is the region of cord or lumen intensity (``window``,
    ``lumen_min``: the cord's tip sits in the lumen) inside a disc around the last
    cross-section and overlapping it, of :data:`AREA_RANGE` to :data:`SECTION_MAX` times
    the median cross-section of ``ivc``. A section mostly of cord intensity
    (:data:`CORD_SECTION_MIN`), whose level (median of its core) is below ``cord_max`` (a
    defect's, not soft tissue's) and differs from the tissue just around it
    (:data:`CORD_CONTRAST`), is cord-filled; its cord, the voxels on the cord's side of
    half-way between the two (a partial-volume rim lies between them), has
    :data:`AREA_RANGE` of the IVC's area (a cord in muscle of its density does not). The
    first such section may hold lumen beside the cord (an oblique cord top): when its cord
    side is too small for an IVC section, it is taken whole, once. The tracking stops where
    the vein divides, leaves the window, or shows lumen again below the cord. Empty unless
    the cord-filled sections run for :data:`OCCLUDED_MIN_MM`.
    """
    out = np.zeros_like(ivc)
    ks = np.flatnonzero(ivc.any(axis=(1, 2)))
    if not len(ks):
        return out
    ref_area = float(np.median([_largest(ivc[kk]).sum() for kk in ks]))
    rev = (slice(None, None, -1),)
    enhanced = follow_ivc_up(ivc[rev], image[rev], spacing_mm, min_level=lumen_min,
                             allowed=None if allowed is None else allowed[rev])[rev]
    start = ivc | enhanced
    k = int(np.flatnonzero(start.any(axis=(1, 2))).min())
    prev = _largest(start[k])
    dy, dx = float(spacing_mm[1]), float(spacing_mm[2])
    r_mm = np.sqrt(ref_area * dy * dx / np.pi)
    yy, xx = np.mgrid[0:ivc.shape[1], 0:ivc.shape[2]]
    filled = 0
    top_blurred = False
    skipped: list[int] = []
    for kk in range(k - 1, -1, -1):
        cy, cx = np.argwhere(prev).mean(axis=0)
        win = ((yy - cy) * dy) ** 2 + ((xx - cx) * dx) ** 2 <= (r_mm + SEARCH_MARGIN_MM) ** 2
        cord = (image[kk] >= window[0]) & (image[kk] < window[1])
        cand = (cord | (image[kk] >= lumen_min)) & win
        if allowed is not None:
            cand &= allowed[kk]
        cur = _overlapping(cand, prev)
        if cur is None or not AREA_RANGE[0] * ref_area <= cur.sum() <= SECTION_MAX * ref_area:
            if kk >= k - TOP_GAP_SLICES:
                skipped.append(kk)  # the cord's top
                continue
            break  # the vein divides, a branch joins, or it leaves the window
        level, around = cord_levels(cur, image[kk], dy)
        if ((cur & cord).sum() >= CORD_SECTION_MIN * cur.sum() and level < cord_max
                and abs(around - level) >= CORD_CONTRAST):
            half = 0.5 * (level + around)
            side = cur & cord & ((image[kk] < half) if around > level else (image[kk] > half))
            # noise speckles the threshold: the cord is the section's solid largest piece
            side = ndi.binary_opening(ndi.binary_fill_holes(side), _disc(1))
            cord_section = _of_area(_largest(side), ref_area) if side.any() else None
            if cord_section is None:
                if filled or top_blurred:
                    break
                # an oblique cord top: lumen beside the cord in its first section
                top_blurred = True
                out[kk] = cur
                prev = cur
                continue
            cur = cord_section
            filled += 1
            out[kk] = cur
        elif filled:
            break  # lumen again below the cord: the occlusion ends
        prev = cur
    if skipped and skipped[-1] > 0:
        out[skipped] = out[skipped[-1] - 1]
    if filled * float(spacing_mm[0]) < OCCLUDED_MIN_MM:
        out[:] = False
    return out
