"""Centred minimal paths through a vessel mask, and their smoothing by arc length.

Everything here works on a cropped box: ``mask`` is a boolean (z, y, x) array and
``spacing_mm`` its voxel size, so distances are in mm whatever the anisotropy.
"""

from __future__ import annotations

import edt
import numpy as np
from scipy.ndimage import gaussian_filter1d, map_coordinates
from skimage.graph import MCP_Geometric

COST_POWER = 2.0
"""Exponent p of the path cost ``1 / (dist_mm**p + COST_EPS)``: centres paths in wide veins."""

COST_EPS = 1e-3
"""Keeps the path cost finite next to the wall (mm**p)."""

END_LAYER_VOXELS = 1.5
"""Depth (in largest voxel sizes) of the far/top layer whose centroid is a vessel end."""

FINE_STEP_MM = 0.25
"""Arc-length step at which raw voxel paths are resampled before smoothing."""

THREADS = 2
"""Threads used by the ``edt`` distance transform."""

CLOSE_MM = 6.0
"""Radius of the closing that gives a segment back the voxels a tributary painted over.

A tributary labelled over its parent's lumen (where it enters it) leaves a bite in the
parent's label; closing the parent's label with a ball of this radius, but only over
vein voxels, fills such bites (narrower than 2 x ``CLOSE_MM``) and adds nothing outside
the veins or on convex walls."""


def distance_mm(mask: np.ndarray, spacing_mm) -> np.ndarray:
    """Euclidean distance (mm) of each voxel of ``mask`` to the nearest background voxel.

    The box edge is *not* background: a vessel cut by the image border keeps its centre.
    """
    return edt.edt(np.ascontiguousarray(mask, dtype=bool), anisotropy=tuple(float(s) for s in spacing_mm),
                   black_border=False, parallel=THREADS).astype(np.float32)


def close_within(mask: np.ndarray, allowed: np.ndarray, spacing_mm, radius_mm: float = CLOSE_MM
                 ) -> np.ndarray:
    """Morphological closing of ``mask`` by a ball of ``radius_mm`` (mm), kept inside ``allowed``.

    Computed with two Euclidean distance transforms (anisotropic, in mm). ``mask`` should
    lie at least ``radius_mm`` inside the array border for an exact result.
    """
    mask = np.ascontiguousarray(mask, dtype=bool)
    if radius_mm <= 0 or not mask.any():
        return mask & allowed
    aniso = tuple(float(s) for s in spacing_mm)
    grown = edt.edt(~mask, anisotropy=aniso, black_border=False, parallel=THREADS) <= radius_mm
    closed = edt.edt(grown, anisotropy=aniso, black_border=False, parallel=THREADS) > radius_mm
    return (closed & allowed) | mask


def geodesic_mm(mask: np.ndarray, starts: np.ndarray, spacing_mm) -> np.ndarray:
    """Geodesic distance (mm) inside ``mask`` from the voxels ``starts`` (K, 3); inf outside."""
    costs = np.where(mask, 1.0, np.inf)
    mcp = MCP_Geometric(costs, fully_connected=True, sampling=tuple(spacing_mm))
    dist, _ = mcp.find_costs([tuple(int(v) for v in p) for p in starts])
    return dist


def _snap(points_idx: np.ndarray, target_mm: np.ndarray, spacing_mm) -> np.ndarray:
    """The index in ``points_idx`` (K, 3) nearest (in mm) to ``target_mm`` (index * spacing)."""
    d2 = (((points_idx * np.asarray(spacing_mm)) - target_mm) ** 2).sum(axis=1)
    return points_idx[int(np.argmin(d2))]


def layer_centre(mask: np.ndarray, depth: np.ndarray, spacing_mm, *, layer_mm: float | None = None) -> np.ndarray:
    """Centre of the far end of a vessel: the voxel nearest the centroid of its last layer.

    Parameters
    ----------
    mask : (Z, Y, X) bool
    depth : (Z, Y, X) float
        Any "how far along the vessel" value in mm (geodesic distance, patient z...);
        non-finite values are ignored.
    layer_mm : float, optional
        Thickness of the layer; default ``END_LAYER_VOXELS`` x the largest voxel size.

    Returns
    -------
    (3,) int index of the end voxel.
    """
    if layer_mm is None:
        layer_mm = END_LAYER_VOXELS * float(max(spacing_mm))
    ok = mask & np.isfinite(depth)
    if not ok.any():
        raise ValueError("empty mask")
    dmax = float(depth[ok].max())
    layer = np.argwhere(ok & (depth >= dmax - layer_mm))
    centroid_mm = layer.mean(axis=0) * np.asarray(spacing_mm)
    near = np.argwhere(ok & (depth >= dmax - 4 * layer_mm))
    return _snap(near, centroid_mm, spacing_mm)


def centre_near(mask: np.ndarray, points_idx: np.ndarray, spacing_mm) -> np.ndarray:
    """The voxel of ``mask`` nearest to the centroid of ``points_idx`` (K, 3)."""
    centroid_mm = np.asarray(points_idx, float).mean(axis=0) * np.asarray(spacing_mm)
    cand = np.argwhere(mask)
    return _snap(cand, centroid_mm, spacing_mm)


def centred_path(dist_mm: np.ndarray, start: np.ndarray, end: np.ndarray, spacing_mm) -> np.ndarray | None:
    """Minimal path from ``start`` to ``end`` (indices) with cost ``1/(dist^p+eps)``.

    Parameters
    ----------
    dist_mm : (Z, Y, X) float
        Distance to the wall in mm (0 outside the vessel, which is impassable).

    Returns
    -------
    (M, 3) int indices from ``start`` to ``end``, or None when they are not connected.
    """
    costs = np.full(dist_mm.shape, np.inf)
    inside = dist_mm > 0
    costs[inside] = 1.0 / (dist_mm[inside].astype(np.float64) ** COST_POWER + COST_EPS)
    mcp = MCP_Geometric(costs, fully_connected=True, sampling=tuple(spacing_mm))
    s, e = tuple(int(v) for v in start), tuple(int(v) for v in end)
    cum, _ = mcp.find_costs([s], [e], find_all_ends=False)
    if not np.isfinite(cum[e]):
        return None
    return np.asarray(mcp.traceback(e), dtype=np.int64)


def smooth_polyline(points_mm: np.ndarray, *, smoothing_mm: float) -> np.ndarray:
    """Resample a polyline every :data:`FINE_STEP_MM` and smooth it along arc length.

    The Gaussian (standard deviation ``smoothing_mm`` of arc length) uses an odd
    reflection at both ends, so the end points stay put. Use a smoothing of at least a
    voxel: an unsmoothed voxel staircase is longer than the vessel.

    Parameters
    ----------
    points_mm : (M, 3) float, in order.

    Returns
    -------
    (K, 3) float, the smoothed fine polyline (K >= 1).
    """
    p = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    if len(p) > 1:
        keep = np.r_[True, np.linalg.norm(np.diff(p, axis=0), axis=1) > 1e-9]
        p = p[keep]
    if len(p) < 2:
        return p.copy()
    s = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))]
    n = max(int(np.ceil(s[-1] / FINE_STEP_MM)) + 1, 3)
    sf = np.linspace(0.0, s[-1], n)
    fine = np.stack([np.interp(sf, s, p[:, k]) for k in range(3)], axis=1)
    return smooth_uniform(fine, sigma_samples=smoothing_mm / (sf[1] - sf[0]))


def smooth_uniform(fine: np.ndarray, *, sigma_samples: float) -> np.ndarray:
    """Gaussian smoothing of an evenly sampled polyline (N, 3), end points kept in place.

    Sample ``i`` of the result corresponds to sample ``i`` of the input.
    """
    fine = np.asarray(fine, dtype=np.float64)
    n = len(fine)
    sigma = float(sigma_samples)
    if sigma > 0 and n >= 3:
        pad = min(int(np.ceil(4 * sigma)), n - 1)
        head = 2 * fine[0] - fine[pad:0:-1]
        tail = 2 * fine[-1] - fine[-2:-pad - 2:-1]
        padded = np.concatenate([head, fine, tail])
        fine = gaussian_filter1d(padded, sigma, axis=0, mode="nearest")[pad:pad + n]
    return fine


def extend_to_wall(fine: np.ndarray, mask: np.ndarray, lps_to_index_affine: np.ndarray, *,
                   start: bool, end: bool, max_mm: float) -> np.ndarray:
    """Prolong a centreline at its free ends, straight along the end tangent, to the wall.

    A voxel end point lies up to a voxel inside the vessel's end; the vessel ends where
    the trilinearly interpolated mask drops below 0.5 (at most ``max_mm`` further).
    """
    if len(fine) < 2:
        return fine
    lin, tr = lps_to_index_affine[:3, :3], lps_to_index_affine[:3, 3]
    m = np.ascontiguousarray(mask, dtype=np.uint8)
    steps = np.arange(FINE_STEP_MM, max_mm + 1e-9, FINE_STEP_MM)
    out = [fine]
    for at_start, wanted in ((True, start), (False, end)):
        if not wanted:
            continue
        p0, p1 = (fine[0], fine[min(8, len(fine) - 1)]) if at_start else (fine[-1], fine[max(-9, -len(fine))])
        t = p0 - p1
        if np.linalg.norm(t) < 1e-9:
            continue
        t /= np.linalg.norm(t)
        ray = p0[None, :] + steps[:, None] * t[None, :]
        val = map_coordinates(m, (ray @ lin.T + tr).T, order=1, mode="constant", cval=0.0,
                              output=np.float32, prefilter=False)
        outside = np.nonzero(val < 0.5)[0]
        n_in = int(outside[0]) if len(outside) else len(steps)
        if n_in == 0:
            continue
        if at_start:
            out.insert(0, ray[:n_in][::-1])
        else:
            out.append(ray[:n_in])
    return np.concatenate(out)


def resample(fine: np.ndarray, *, step_mm: float):
    """Resample a (smoothed) polyline every ``step_mm`` of arc length.

    Returns
    -------
    s_mm : (N,) 0, step, 2 step, ... <= length
    points : (N, 3)
    tangents : (N, 3) unit vectors (towards increasing s)
    length_mm : float, arc length of the polyline
    """
    p = np.asarray(fine, dtype=np.float64).reshape(-1, 3)
    if len(p) > 1:
        keep = np.r_[True, np.linalg.norm(np.diff(p, axis=0), axis=1) > 1e-9]
        p = p[keep]
    if len(p) < 2:
        return np.zeros(len(p)), p.copy(), np.zeros((len(p), 3)), 0.0
    s = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))]
    length = float(s[-1])
    s_out = np.arange(0.0, length + 1e-9, step_mm)
    pts = np.stack([np.interp(s_out, s, p[:, k]) for k in range(3)], axis=1)
    grad = np.gradient(p, s, axis=0)
    tan = np.stack([np.interp(s_out, s, grad[:, k]) for k in range(3)], axis=1)
    norm = np.linalg.norm(tan, axis=1, keepdims=True)
    tan = np.divide(tan, norm, out=np.zeros_like(tan), where=norm > 0)
    return s_out, pts, tan, length


def ray_to_wall(p0: np.ndarray, direction: np.ndarray, mask: np.ndarray, lps_to_index_affine: np.ndarray,
                *, max_mm: float) -> np.ndarray:
    """Last point inside ``mask`` (trilinear value >= 0.5) on the ray from ``p0`` (LPS mm)."""
    t = np.asarray(direction, float)
    nt = np.linalg.norm(t)
    if nt < 1e-9:
        return np.asarray(p0, float)
    t = t / nt
    lin, tr = lps_to_index_affine[:3, :3], lps_to_index_affine[:3, 3]
    steps = np.arange(0.0, max_mm + 1e-9, FINE_STEP_MM)
    ray = np.asarray(p0, float)[None, :] + steps[:, None] * t[None, :]
    val = map_coordinates(np.ascontiguousarray(mask, dtype=np.uint8), (ray @ lin.T + tr).T, order=1,
                          mode="constant", cval=0.0, output=np.float32, prefilter=False)
    outside = np.nonzero(val < 0.5)[0]
    n_in = int(outside[0]) if len(outside) else len(steps)
    return ray[max(n_in - 1, 0)]


def medial_end(points_lps: np.ndarray, wall_mm: np.ndarray, tip_lps: np.ndarray, *,
               tol_mm: float) -> int:
    """Index where a centreline that starts at a rounded vessel end should start.

    Inside a rounded end cap every point is (up to ``tol_mm``) as far from the wall as
    from the tip; the centre of the cap, where the centreline (the medial axis) ends, is
    the innermost such point.

    Parameters
    ----------
    points_lps : (M, 3) path points, the first at the vessel's end, LPS mm.
    wall_mm : (M,) distance of each point to the vessel wall, mm.
    tip_lps : (3,) the farthest point of the vessel's end along the path's direction.

    Returns
    -------
    int, index of the first point to keep.
    """
    reach = np.linalg.norm(np.asarray(points_lps, float) - np.asarray(tip_lps, float)[None], axis=1)
    ok = wall_mm >= reach - tol_mm
    bad = np.nonzero(~ok)[0]
    k = int(bad[0]) if len(bad) else len(ok)
    return max(k - 1, 0)
