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

from ._distance import IN_PLANE_4
from ._ivc import (
    AREA_RANGE,
    CORD_CONTRAST,
    CORD_RIM_MM,
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

LEVEL_MARGIN = 2.0
"""See ``window_max`` of :func:`follow_cords_down`."""

CAP_MIN_SECTION_MM2 = 20.0
CAP_MIN_RUN_MM = 30.0
"""A cord may also start under the tree's underside, where a vein's lumen ends downwards on
the cord's top (a cap the wall votes miss: its wall faces up the vein); with no defect seen
there, its first section is at least CAP_MIN_SECTION_MM2, encloses nothing and is no wider
than the vein it caps, and it runs at least CAP_MIN_RUN_MM."""

RIM_PAD_PX = 2
"""Pixels a box around a section keeps beyond the section's tissue band."""

MAX_GAP_SLICES = 1
"""Noise may break a thin cord's cross-section in this many slices in a row."""


def _section_ok(cur: np.ndarray, image2d: np.ndarray, dy: float) -> bool:
    """The tissue just around the cross-section (:func:`vascseg.segment._ivc.cord_levels`)
    differs from the section's level by :data:`vascseg.segment._ivc.CORD_CONTRAST` (median
    absolute difference: on T1 MR the fat on one side of a vein is brighter than the cord and
    the muscle on the other darker, so the tissue's median may match the cord's level though
    every side differs; a section too thin for a core takes its own median): muscle of the
    cord's density around the vein leaves no cord to follow."""
    level, rim = cord_levels(cur, image2d, dy, rim_values=True)
    if np.isnan(level):
        level = float(np.median(image2d[cur]))
    return rim.size > 0 and float(np.median(np.abs(rim - level))) >= CORD_CONTRAST


class _Free:
    """Voxels a cord may take, slice by slice (``free[k]``: in the window, allowed, not the
    tree); computed per slice, as the window's top varies from cord to cord."""

    def __init__(self, image: np.ndarray, allowed: np.ndarray, low: float, high: float):
        self.image, self.allowed, self.low, self.high = image, allowed, low, high
        self.shape = image.shape

    def __getitem__(self, k: int) -> np.ndarray:
        return self.below(k, self.high)

    def below(self, k: int, high: float, box: tuple[slice, slice] = (slice(None), slice(None))) -> np.ndarray:
        """Slice ``k`` (its in-plane ``box``) with the window's top at ``high``."""
        image = self.image[k][box]
        return (image >= self.low) & (image < high) & self.allowed[k][box]


def _box(cy: float, cx: float, ry: float, rx: float, shape, pixel_mm: float) -> tuple[slice, slice]:
    """In-plane box around (cy, cx) reaching ``ry``/``rx`` pixels, plus room for the tissue
    band :func:`_section_ok` reads (:data:`vascseg.segment._ivc.CORD_RIM_MM` in pixels of
    ``pixel_mm``, the finer in-plane spacing, and :data:`RIM_PAD_PX`)."""
    pad = _px(CORD_RIM_MM[1], pixel_mm) + RIM_PAD_PX
    py, px = (int(np.ceil(r)) + pad for r in (ry, rx))
    y, x = int(round(cy)), int(round(cx))
    return slice(max(y - py, 0), min(y + py + 1, shape[0])), slice(max(x - px, 0), min(x + px + 1, shape[1]))


def _track_down(start: np.ndarray, k: int, free: _Free, image: np.ndarray, spacing_mm,
                max_px: float, min_run_mm: float = OCCLUDED_MIN_MM,
                window_max: float | None = None) -> dict[int, np.ndarray]:
    """Cross-sections of one cord from ``start`` (slice ``k``) down, by slice; empty if
    shorter than ``min_run_mm``. Each slice is examined in a box around the search disc,
    not whole. With ``window_max``, each slice is first examined with the window's top at
    the cord's running level + :data:`LEVEL_MARGIN` x :data:`vascseg.segment._ivc.CORD_CONTRAST`
    (between ``free``'s top and ``window_max``: a cord's intensity drifts along it on T1 MR),
    then, where no section is found so (the risen window joins the cord to tissue beside
    it), with ``free``'s own."""
    out: dict[int, np.ndarray] = {}
    dz, dy, dx = (float(s) for s in spacing_mm)
    fine = min(dy, dx)
    plane = free.shape[1:]
    pts = np.argwhere(start)
    (y0, x0), (y1, x1) = pts.min(axis=0), pts.max(axis=0)
    box = _box(0.5 * (y0 + y1), 0.5 * (x0 + x1), 0.5 * (y1 - y0), 0.5 * (x1 - x0), plane, fine)
    if not _section_ok(start[box], image[k][box], dy):
        return out
    out[k] = start
    prev, ref_area, last = start, float(start.sum()), k
    level = float(np.median(image[k][start]))
    for kk in range(k - 1, -1, -1):
        if last - kk > MAX_GAP_SLICES + 1:
            break
        cy, cx = np.argwhere(prev).mean(axis=0)
        reach_mm = np.sqrt(ref_area * dy * dx / np.pi) + SEARCH_MARGIN_MM
        box = _box(cy, cx, reach_mm / dy, reach_mm / dx, plane, fine)
        yy, xx = np.mgrid[box]
        win = ((yy - cy) * dy) ** 2 + ((xx - cx) * dx) ** 2 <= reach_mm ** 2
        tops = [free.high]
        if window_max is not None:  # a window risen with the cord first, then the start's
            risen = float(np.clip(level + LEVEL_MARGIN * CORD_CONTRAST, free.high, window_max))
            if risen > free.high:
                tops.insert(0, risen)
        for top in tops:
            cur = _overlapping(free.below(kk, top, box) & win, prev[box])
            if (cur is not None and AREA_RANGE[0] * ref_area <= cur.sum() <= min(AREA_RANGE[1] * ref_area, max_px)
                    and _section_ok(cur, image[kk][box], dy)):
                break
        else:
            continue  # the cord ends (lumen below it), merges with tissue of its density, or noise
        section = np.zeros(plane, bool)
        section[box] = cur
        for gap in range(kk + 1, last):
            out[gap] = prev | section  # a slice noise broke: the cord runs through it
        out[kk] = section
        ref_area = 0.8 * ref_area + 0.2 * float(cur.sum())
        level = 0.8 * level + 0.2 * float(np.median(image[kk][section]))
        prev, last = section, kk
    return out if (k - last + 1) * dz >= min_run_mm else {}


def follow_cords_down(defect: np.ndarray, tree: np.ndarray, image: np.ndarray, spacing_mm, *,
                      window: tuple[float, float], max_radius_mm: float,
                      allowed: np.ndarray | None = None, window_max: float | None = None) -> np.ndarray:
    """Veins filled by a cord, followed down from the tree's filling defect (bool mask), or
    from the tree's underside where a vein's lumen ends downwards on a cord's top
    (:data:`CAP_MIN_SECTION_MM2`).

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
    window_max : float, optional
        Where the tree's defect is denser than ``window`` allows (on T1 MR a cord's
        intensity varies from scan to scan against the fixed defect window), the window's
        top is raised to the defect's level + :data:`LEVEL_MARGIN` x
        :data:`vascseg.segment._ivc.CORD_CONTRAST`, up to this.
    """
    dy, dx = float(spacing_mm[1]), float(spacing_mm[2])
    min_px = MIN_SECTION_MM2 / (dy * dx)
    cap_px = CAP_MIN_SECTION_MM2 / (dy * dx)
    max_px = np.pi * max_radius_mm ** 2 / (dy * dx)
    free_any = ~tree if allowed is None else allowed & ~tree
    narrow = _Free(image, free_any, window[0], window[1])
    out = np.zeros_like(tree)
    reach = _disc(_px(START_NEAR_MM, dy))
    underside = np.zeros_like(tree)
    underside[1:] = tree[1:] & ~tree[:-1]
    # a cap is a solid stretch of the underside (an oblique vein's underside is a thin rim)
    caps = ndi.binary_erosion(underside, IN_PLANE_4)

    def follow(k: int, free: _Free, marks: np.ndarray, least_px: float, min_run_mm: float,
               capped: np.ndarray | None = None, adapt: float | None = None) -> None:
        """Track the pieces of ``free`` in slice k-1 lying under ``marks`` (2D, dilated by
        :data:`START_NEAR_MM`) by :data:`START_UNDER`, of ``least_px`` to a vein's area
        (``capped``: the vein above, 2D; a piece must enclose nothing and be no wider than
        the vein near it; ``adapt``: the highest window top for :func:`_track_down`)."""
        lab, n = ndi.label(ndi.binary_opening(free[k - 1], _disc(1)))
        if n == 0:
            return
        sizes = np.bincount(lab.ravel(), minlength=n + 1)
        under = np.bincount(lab[ndi.binary_dilation(marks, reach)], minlength=n + 1)
        if capped is not None:
            veins, _ = ndi.label(capped)
        for i in np.flatnonzero((under >= START_UNDER * sizes) & (sizes >= least_px) & (sizes <= max_px)):
            if i == 0:
                continue
            piece = lab == i
            if out[k - 1][piece].any():
                continue
            if capped is not None:
                near = np.unique(veins[ndi.binary_dilation(piece, reach)])
                if (ndi.binary_fill_holes(piece) & ~piece).any() or sizes[i] > np.isin(veins, near[near > 0]).sum():
                    continue
            for kk, section in _track_down(piece, k - 1, free, image, spacing_mm, max_px, min_run_mm,
                                           adapt).items():
                out[kk] |= section

    has = (defect | caps).any(axis=(1, 2))
    starts = np.flatnonzero(np.convolve(has, np.ones(START_REACH + 1), mode="full")[START_REACH:] > 0)
    for k in starts[::-1]:
        if k == 0:
            continue
        above = slice(k, k + START_REACH + 1)
        seen = defect[above]
        if seen.any():
            hi = window[1]
            if window_max is not None and window_max > hi:
                # the cord is as dense below as where the tree shows it
                level = float(np.median(image[above][seen]))
                hi = float(np.clip(np.round(level + LEVEL_MARGIN * CORD_CONTRAST), hi, window_max))
            raised = hi > window[1]
            follow(k, _Free(image, free_any, window[0], hi) if raised else narrow, seen.any(axis=0),
                   min_px, OCCLUDED_MIN_MM, adapt=window_max if raised else None)
        if caps[above].any():
            # a cord capping a vein fills it: a ring of tissue round another vein, or tissue
            # wider than the vein, is no cord
            follow(k, narrow, underside[above].any(axis=0), cap_px, CAP_MIN_RUN_MM,
                   capped=tree[above].any(axis=0))
    return out
