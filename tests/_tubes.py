"""Hand-built tubes of known geometry painted into labelled volumes (test helper).

Centrelines are polylines in patient LPS mm; a voxel belongs to a tube when its nearest
centreline point (sampled every 0.1 mm) is within the radius and the voxel is not beyond
a flat end cap. Everything is exact geometry, so tests compare with closed forms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from vascseg.anatomy import LABELS
from vascseg.geometry import AXIAL_DIRECTION, Volume

SAMPLE_MM = 0.1
ORIGIN = (-83.7, -41.2, -1187.3)  # non-trivial origin (x, y, z) LPS mm


def make_grid(extent_lo_mm, extent_hi_mm, spacing_mm, *, direction=AXIAL_DIRECTION,
              origin_shift=ORIGIN) -> Volume:
    """A grid covering the LPS box [lo, hi] (x, y, z, relative to ``origin_shift``).

    ``direction`` may flip axes (e.g. a feet-first stack); the box is covered either way.
    """
    lo = np.asarray(extent_lo_mm, float) + origin_shift
    hi = np.asarray(extent_hi_mm, float) + origin_shift
    d = np.asarray(direction, float)
    sp = np.asarray(spacing_mm, float)
    # Array axis c runs along LPS axis k(c); choose the origin corner per sign.
    shape, origin = [], np.zeros(3)
    for c in range(3):
        k = int(np.argmax(np.abs(d[:, c])))
        shape.append(int(np.floor((hi[k] - lo[k]) / sp[c])) + 1)
        origin[k] = lo[k] if d[k, c] > 0 else hi[k]
    return Volume(np.zeros(shape, np.float32), tuple(sp), tuple(origin), direction=d, modality="CT",
                  series_uid_sha256="0" * 64)


def shift(points) -> np.ndarray:
    """Relative mm points -> absolute LPS (adds ORIGIN)."""
    return np.asarray(points, float) + np.asarray(ORIGIN)


def polyline_length(points) -> float:
    p = np.asarray(points, float)
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())


@dataclass
class TubeVoxels:
    idx: np.ndarray      # (K, 3) voxel indices (z, y, x)
    s: np.ndarray        # (K,) arc length of the nearest centreline point, mm
    off: np.ndarray      # (K, 3) offset from that point, LPS mm
    tangent: np.ndarray  # (K, 3)
    length: float


def tube_voxels(grid: Volume, centreline, reach_mm: float) -> TubeVoxels:
    """Voxels within ``reach_mm`` of the bounding box of a polyline, with local geometry."""
    p = np.asarray(centreline, float)
    seg = np.linalg.norm(np.diff(p, axis=0), axis=1)
    s_knots = np.r_[0.0, np.cumsum(seg)]
    s = np.arange(0.0, s_knots[-1] + SAMPLE_MM / 2, SAMPLE_MM)
    samp = np.stack([np.interp(s, s_knots, p[:, k]) for k in range(3)], axis=1)
    tan = np.gradient(samp, axis=0)
    tan /= np.linalg.norm(tan, axis=1, keepdims=True)
    # Tangents of each polyline piece (exact, not smoothed across knots).
    piece = np.clip(np.searchsorted(s_knots, s, side="right") - 1, 0, len(seg) - 1)
    tan = (p[piece + 1] - p[piece]) / seg[piece, None]
    idx_pts = grid.lps_to_index(samp)
    margin = reach_mm / min(grid.spacing_mm) + 2
    lo = np.maximum(np.floor(idx_pts.min(0) - margin), 0).astype(int)
    hi = np.minimum(np.ceil(idx_pts.max(0) + margin) + 1, grid.shape).astype(int)
    zz, yy, xx = np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)], indexing="ij")
    idx = np.stack([zz.ravel(), yy.ravel(), xx.ravel()], axis=1)
    lps = grid.index_to_lps(idx)
    dist, near = cKDTree(samp).query(lps, distance_upper_bound=reach_mm + SAMPLE_MM)
    ok = np.isfinite(dist)
    near = near[ok]
    return TubeVoxels(idx[ok], s[near], lps[ok] - samp[near], tan[near], float(s_knots[-1]))


def tube_mask(tv: TubeVoxels, radius_mm: float, *, ellipse=None, round_end: bool = False) -> np.ndarray:
    """Which voxels of ``tv`` are inside the tube (bool (K,)).

    ellipse : (s_lo, s_hi, minor_radius_mm, minor_dir_lps) compresses the tube to an
        ellipse with semi-axes (radius_mm, minor_radius_mm) between s_lo and s_hi.
    round_end : a hemispherical cap at the far end (joins smoothly onto a parent).
    """
    along = (tv.off * tv.tangent).sum(1)
    perp = tv.off - along[:, None] * tv.tangent
    r = np.linalg.norm(perp, axis=1)
    inside = (r <= radius_mm) & (np.abs(along) <= SAMPLE_MM)
    if ellipse is not None:
        s_lo, s_hi, b, mdir = ellipse
        e1 = np.broadcast_to(np.asarray(mdir, float), tv.tangent.shape)
        e1 = e1 - (e1 * tv.tangent).sum(1)[:, None] * tv.tangent
        e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
        e2 = np.cross(tv.tangent, e1)
        q = ((perp * e1).sum(1) / b) ** 2 + ((perp * e2).sum(1) / radius_mm) ** 2
        zone = (tv.s >= s_lo) & (tv.s <= s_hi)
        inside = np.where(zone, (q <= 1) & (np.abs(along) <= SAMPLE_MM), inside)
    if round_end:
        inside |= (tv.s >= tv.length - SAMPLE_MM) & (np.linalg.norm(tv.off, axis=1) <= radius_mm)
    return inside


def paint_tube(veins: np.ndarray, grid: Volume, centreline, radius_mm: float, name: str, **kw) -> TubeVoxels:
    """Paint a tube labelled ``name`` into ``veins`` (in place); return its voxels."""
    tv = tube_voxels(grid, centreline, radius_mm)
    m = tube_mask(tv, radius_mm, **kw)
    veins[tuple(tv.idx[m].T)] = LABELS[name]
    return tv


def paint_defect(defects: np.ndarray, veins: np.ndarray, grid: Volume, centreline, radius_mm: float,
                 s_lo: float, s_hi: float, *, side=(1.0, 0.0, 0.0), chord: float = -0.3) -> None:
    """Mark an eccentric filling defect inside a tube between arc lengths s_lo and s_hi.

    The defect is the part of the vessel section on the ``side`` of a chord at
    ``chord * radius`` from the centre (chord=-1: the whole section).
    """
    tv = tube_voxels(grid, centreline, radius_mm)
    w = np.asarray(side, float)
    inside = (tv.s >= s_lo) & (tv.s <= s_hi) & ((tv.off @ w) >= chord * radius_mm)
    idx = tv.idx[inside]
    keep = veins[tuple(idx.T)] > 0
    defects[tuple(idx[keep].T)] = True


# ----------------------------------------------------------------------------- a small tree
TREE = {
    # relative mm, each polyline from its free end to a point on its parent's centreline
    "ivc": ([(0, 0, 0), (0, 0, 110)], 9.0),
    "common_iliac_vein_left": ([(40, 0, -50), (0, 0, 0)], 6.0),
    "common_iliac_vein_right": ([(-40, 0, -50), (0, 0, 0)], 6.0),
    "external_iliac_vein_left": ([(55, 5, -110), (40, 0, -50)], 6.0),
    "external_iliac_vein_right": ([(-55, 5, -110), (-40, 0, -50)], 6.0),
    "internal_iliac_vein_left": ([(25, 18, -85), (40, 0, -50)], 4.0),
    "uterine_vein_left": ([(8, 12, -112), (12, 16, -100), (20, 20, -92), (25, 18, -85)], 3.0),
}
TREE_LO = (-72, -20, -124)
TREE_HI = (72, 32, 118)
PAINT_ORDER = ("uterine_vein_left", "internal_iliac_vein_left", "external_iliac_vein_left",
               "external_iliac_vein_right", "common_iliac_vein_left", "common_iliac_vein_right", "ivc")


def tree_route_length(segments) -> float:
    """Analytic centreline length of a route through TREE (polylines meet at knots)."""
    return sum(polyline_length(TREE[s][0]) for s in segments)


def build_tree(spacing_mm=(1.0, 1.0, 1.0), *, direction=AXIAL_DIRECTION, skip=(), overrides=None):
    """(veins, defects, grid) of the small tree; ``skip`` leaves segments out."""
    grid = make_grid(TREE_LO, TREE_HI, spacing_mm, direction=direction)
    veins = np.zeros(grid.shape, np.uint8)
    for name in PAINT_ORDER:
        if name in skip:
            continue
        pts, r = TREE[name]
        kw = dict((overrides or {}).get(name, {}))
        kw.setdefault("round_end", name != "ivc")
        paint_tube(veins, grid, shift(pts), r, name, **kw)
    image = np.where(veins > 0, 180.0, 40.0).astype(np.float32)
    return veins, np.zeros(grid.shape, bool), grid.with_array(image)
