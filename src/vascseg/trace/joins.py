"""Where a route passes from one segment's centreline to the next one's (its parent).

Two kinds of confluence:

* end to end (:func:`axis_corner`): two veins join to *form* the parent (the external and
  internal iliac veins the common iliac vein, the common iliac veins the IVC). Their labels
  split the confluence between them and bend each centreline towards its own part of it;
  the route leaves the child's centreline a child radius before the confluence, runs on
  along the child's axis to where it meets the parent's axis (produced backwards from a
  little after the confluence), and along that back to the parent's centreline. A vein's
  centreline reaches its parent's centreline, so the corner is at the axes' meeting point,
  not cut across the confluence. The axes are fitted to section centroids: the labels'
  split leaves each vein's own centreline leaning off its axis there.
* side branch (:func:`side_junction`): a tributary opens into the side of its parent; its
  label reaches about the parent's centreline, and the route follows it to its point
  nearest that centreline.

Every point is LPS mm.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..geometry import Volume
from .centreline import FINE_STEP_MM, centred_path, distance_mm, smooth_polyline
from .sections import section_centroids
from .segments import lps_to_box_affine, offset

CORNER_CHILD_RADII = 1.0
"""At an end-to-end confluence the route leaves the child's centreline this many child
radii before the child's point nearest the parent's start (the labels' split cuts the
child's sections from about there on)..."""

CORNER_PARENT_RADII = 1.5
"""...and rejoins the parent's centreline this many parent radii (plus
:data:`CORNER_MARGIN_MM` and :data:`AXIS_CHORD_MM`) after its start: in between, the
labels' split bends both centrelines."""

CORNER_MARGIN_MM = 5.0
"""Added to the parent's stretch above, and to the half-width (mm) of the sections whose
centroids give the axes."""

AXIS_CHORD_MM = 10.0
"""Arc length (mm) of the child's centreline before its leaving point whose sections give
its axis (or whose chord, when they cannot)."""

AXIS_MEET_RADII = 1.0
"""The child's and the parent's axes meet when they pass within this many parent radii of
each other (else the route is traced through the confluence's mask instead)."""

AXIS_REACH_FACTOR = 2.0
"""The meeting point lies at most this many times the leaving-to-joining distance along
either axis."""

RETRACE_BOX_MM = 15.0
"""Margin (mm) around the two ends of a fallback path where it is searched."""


def link(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Points every FINE_STEP_MM from ``a`` to ``b`` (both excluded)."""
    n = int(np.ceil(np.linalg.norm(b - a) / FINE_STEP_MM))
    if n <= 1:
        return np.zeros((0, 3))
    f = np.arange(1, n)[:, None] / n
    return a[None] + f * (b - a)[None]


def arc_mm(points: np.ndarray) -> np.ndarray:
    """Cumulative arc length (mm) of a polyline (M, 3)."""
    return np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]


def _direction(points: np.ndarray, s: np.ndarray, i: int, chord_mm: float) -> np.ndarray | None:
    """Unit direction of the chord from sample ``i`` to the sample ``chord_mm`` further on
    (backwards for a negative ``chord_mm``); None when it is degenerate."""
    j = int(np.clip(np.searchsorted(s, s[i] + chord_mm), 0, len(s) - 1))
    d = points[j] - points[i] if chord_mm > 0 else points[i] - points[j]
    n = float(np.linalg.norm(d))
    return d / n if n > 1e-6 else None


def _closest_on_lines(a, da, b, db) -> tuple[float, float] | None:
    """Parameters ``(t, u)`` of the closest points ``a + t da`` and ``b + u db`` of two lines."""
    w = a - b
    ab = float(da @ db)
    den = 1.0 - ab * ab
    if den < 1e-6:  # parallel
        return None
    t = (ab * float(db @ w) - float(da @ w)) / den
    u = (float(db @ w) - ab * float(da @ w)) / den
    return t, u


def _fit_axis(points: np.ndarray, sel: np.ndarray, mask: np.ndarray, lps_to_box: np.ndarray, *,
              radius_mm: float, pixel_mm: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Line (point, unit direction along ``points``) through the centroids of ``mask``'s
    sections at ``points[sel]`` (orthogonal to the polyline); None with fewer than 3."""
    sel = sel[::max(int(round(1.0 / FINE_STEP_MM)), 1)]  # a section every mm
    if len(sel) < 3:
        return None
    tang = np.gradient(points, axis=0)[sel]
    tang /= np.maximum(np.linalg.norm(tang, axis=1, keepdims=True), 1e-9)
    cen = section_centroids(mask, lps_to_index_affine=lps_to_box, points_lps_mm=points[sel],
                            tangents_lps=tang, radius_mm=radius_mm, pixel_mm=pixel_mm)
    cen = cen[np.all(np.isfinite(cen), axis=1)]
    if len(cen) < 3:
        return None
    mid = cen.mean(axis=0)
    d = np.linalg.svd(cen - mid, full_matrices=False)[2][0]
    return mid, (-d if float(d @ (points[sel[-1]] - points[sel[0]])) < 0 else d)


def corner_ends(child: np.ndarray, parent: np.ndarray, *, r_child_mm: float, r_parent_mm: float
                ) -> tuple[int, int]:
    """Indices where the route leaves the child's centreline and rejoins the parent's.

    The child's is left :data:`CORNER_CHILD_RADII` child radii before its point nearest
    the parent's start; the parent's is rejoined :data:`CORNER_PARENT_RADII` parent radii
    (plus :data:`CORNER_MARGIN_MM` and :data:`AXIS_CHORD_MM`) after its start.
    """
    s_c, s_p = arc_mm(child), arc_mm(parent)
    i0 = int(np.argmin(np.linalg.norm(child - parent[0], axis=1)))
    back = CORNER_CHILD_RADII * r_child_mm
    a = max(int(np.searchsorted(s_c, s_c[i0] - back, side="right")) - 1, 0)
    ahead = CORNER_PARENT_RADII * r_parent_mm + CORNER_MARGIN_MM + AXIS_CHORD_MM
    b = min(int(np.searchsorted(s_p, ahead)), len(parent) - 1)
    return a, b


def corner_axes(child: np.ndarray, parent: np.ndarray, a: int, b: int, *, child_mask, parent_mask,
                r_child_mm: float, r_parent_mm: float, pixel_mm: float):
    """The child's axis before the corner and the parent's after it, from section centroids.

    Near an end-to-end confluence each vein's label lacks the part its neighbours' labels
    take and its centreline leans off the axis. The child's axis is fitted to the centroids
    of its own (closed) mask's sections over the :data:`AXIS_CHORD_MM` before ``child[a]``;
    the parent's to those of the whole vessel interior (every vein voxel: round there once
    past the forming veins' ends) from a child radius (plus :data:`CORNER_MARGIN_MM`) after
    its start to ``parent[b]``. ``child_mask``/``parent_mask`` are ``(mask, lps_to_box)``.

    Returns
    -------
    ``((point, direction), (point, direction))``, either None when it cannot be fitted.
    """
    s_c, s_p = arc_mm(child), arc_mm(parent)
    c_sel = np.nonzero((s_c >= s_c[a] - AXIS_CHORD_MM) & (s_c <= s_c[a]))[0]
    p_sel = np.nonzero((s_p >= r_child_mm + CORNER_MARGIN_MM) & (s_p <= s_p[b]))[0]
    c_line = None if child_mask is None else _fit_axis(
        child, c_sel, *child_mask, radius_mm=2.0 * r_child_mm + CORNER_MARGIN_MM, pixel_mm=pixel_mm)
    p_line = None if parent_mask is None else _fit_axis(
        parent, p_sel, *parent_mask, radius_mm=2.0 * r_parent_mm + CORNER_MARGIN_MM, pixel_mm=pixel_mm)
    return c_line, p_line


def axis_corner(child: np.ndarray, parent: np.ndarray, a: int, b: int, *, r_parent_mm: float,
                child_line=None, parent_line=None) -> np.ndarray | None:
    """The route's corner at an end-to-end confluence.

    Parameters
    ----------
    child : (K, 3) the child's centreline as the route runs it, towards the confluence.
    parent : (M, 3) the parent's centreline from its start at the confluence.
    a, b : the route keeps ``child[:a + 1]`` and goes on with ``parent[b:]``
        (:func:`corner_ends`).
    child_line, parent_line : ``(point, direction)`` of the axes (:func:`corner_axes`);
        without them, the chords of :data:`AXIS_CHORD_MM` before ``child[a]`` and
        before ``parent[b]``.

    Returns
    -------
    (L, 3) points from ``child[a]`` to ``parent[b]`` (both excluded) along the child's
    axis to where it meets the parent's, then along that; None when the axes do not
    meet (parallel, or farther apart than :data:`AXIS_MEET_RADII` parent radii).
    """
    if child_line is None:
        dc = _direction(child, arc_mm(child), a, -AXIS_CHORD_MM)
        child_line = None if dc is None else (child[a], dc)
    if parent_line is None:
        dp = _direction(parent, arc_mm(parent), b, -AXIS_CHORD_MM)
        parent_line = None if dp is None else (parent[b], dp)
    if child_line is None or parent_line is None:
        return None
    (oc, dc), (op, dp) = child_line, parent_line
    tu = _closest_on_lines(oc, dc, op, dp)
    if tu is None:
        return None
    leave = oc + float((child[a] - oc) @ dc) * dc  # foot of child[a] on its axis
    rejoin = op + float((parent[b] - op) @ dp) * dp  # foot of parent[b] on the parent's
    xc, xp = oc + tu[0] * dc, op + tu[1] * dp
    reach = AXIS_REACH_FACTOR * float(np.linalg.norm(parent[b] - child[a]))
    ahead, behind = float((xc - leave) @ dc), float((rejoin - xp) @ dp)
    if not (0.0 <= ahead <= reach and 0.0 <= behind <= reach) \
            or np.linalg.norm(xc - xp) > AXIS_MEET_RADII * r_parent_mm:
        return None
    pts = [child[a], leave, xc, xp, rejoin, parent[b]]
    out = []
    for p, q in zip(pts[:-1], pts[1:], strict=True):
        out += [link(p, q), q[None]]
    return np.concatenate(out[:-1])


def through_mask(via: list[np.ndarray], vessel: np.ndarray, box, grid: Volume, *,
                 smoothing_mm: float) -> np.ndarray:
    """Centred path (LPS mm, smoothed, every FINE_STEP_MM) through the points ``via``.

    ``vessel`` is the route's mask on ``box``; each leg is searched within
    :data:`RETRACE_BOX_MM` of its two ends and falls back to the straight segment.
    """
    legs = [via[0][None]]
    for a, b in zip(via[:-1], via[1:], strict=True):
        legs.append(_leg(a, b, vessel, box, grid))
        legs.append(b[None])
    return smooth_polyline(np.concatenate(legs), smoothing_mm=smoothing_mm)


def _leg(a: np.ndarray, b: np.ndarray, vessel: np.ndarray, box, grid: Volume) -> np.ndarray:
    """Voxel centres (LPS mm) of the centred path from ``a`` to ``b``, both excluded."""
    to_box = lps_to_box_affine(grid, box)
    lin, tr = to_box[:3, :3], to_box[:3, 3]
    shape = np.array(vessel.shape)
    ia = np.clip(np.round(a @ lin.T + tr).astype(int), 0, shape - 1)
    ib = np.clip(np.round(b @ lin.T + tr).astype(int), 0, shape - 1)
    if not (vessel[tuple(ia)] and vessel[tuple(ib)]) or np.array_equal(ia, ib):
        return link(a, b)
    sp = grid.spacing_mm
    m = np.ceil(RETRACE_BOX_MM / np.asarray(sp)).astype(int)
    lo = np.maximum(np.minimum(ia, ib) - m, 0)
    hi = np.minimum(np.maximum(ia, ib) + m + 1, shape)
    sub = tuple(slice(int(x), int(y)) for x, y in zip(lo, hi, strict=True))
    path = centred_path(distance_mm(vessel[sub], sp), ia - lo, ib - lo, sp)
    if path is None:
        return link(a, b)
    return grid.index_to_lps(path[1:-1] + lo + offset(box))


def side_junction(child: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Where a side branch's centreline ``child`` (K, 3) joins ``parent``'s (M, 3), LPS mm.

    A tributary's centreline ends on its parent's centreline; its label reaches about that
    far (nearest-centreline labelling) and the centreline traced through it ends at its tip,
    up to a radius beyond. The junction is the child's point nearest the parent's centreline.
    """
    d = cKDTree(parent).query(child)[0]
    return np.asarray(child[int(np.argmin(d))], dtype=np.float64)
