"""Cross-sections of a vessel orthogonal to its centreline.

Each section is a square plane of half-width ``radius_mm`` sampled every ``pixel_mm``
through the binary vessel and defect masks by trilinear interpolation (inside: > 0.5).
Only the 2-D connected component containing (or nearest to) the centreline point is
kept, so a neighbouring vein cut by the same plane does not count.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

N_ANGLES = 180
"""Caliper directions (every 1 degree) for the min/max Feret diameters."""

CHUNK_SECTIONS = 64
"""Sections sampled per ``map_coordinates`` call (bounds the memory to ~50 MB)."""

PIXEL_SHIFT = 0.25
"""Pixel centres sit this fraction of a pixel off the centreline point: a plane aligned
with the voxel grid would otherwise sample exactly on voxel faces, where the interpolated
mask is exactly 0.5 and whole rows of pixels flip in or out together."""

RADIUS_FACTOR = 3.0
"""Section half-width in multiples of the local largest distance to the wall."""

RADIUS_MARGIN_MM = 5.0
"""Added to the section half-width (mm)."""

RADIUS_WINDOW_MM = 15.0
"""Arc length (each side) over which the largest distance to the wall is taken."""

CENTRE_REACH_MM = 0.5
"""A section's defect reaches its centreline point when a defect pixel lies within this
distance (mm, square window, at least one pixel) of it: a lesion is where the route runs
inside the defect, not where an oblique plane near a confluence catches the defect of the
vein it joins, nor where a cord in a touching vein reaches close to the centreline."""

_STRUCT_LABEL = np.zeros((3, 3, 3), dtype=bool)
_STRUCT_LABEL[1] = True  # 8-connectivity within a section, none across sections
_STRUCT_ERODE = np.zeros((3, 3, 3), dtype=bool)
_STRUCT_ERODE[1] = ndimage.generate_binary_structure(2, 1)


def plane_basis(tangents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors (N, 3) orthogonal to each tangent and to each other."""
    t = np.asarray(tangents, dtype=np.float64)
    axis = np.zeros_like(t)
    axis[np.arange(len(t)), np.argmin(np.abs(t), axis=1)] = 1.0
    u = np.cross(t, axis)
    u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)
    v = np.cross(t, u)
    return u, v


def section_radii(dist_mm: np.ndarray, lps_to_index_affine: np.ndarray, points_lps_mm: np.ndarray, *,
                  step_mm: float, max_radius_mm: float) -> np.ndarray:
    """Half-width (mm) of each section plane, from the local vessel radius.

    ``RADIUS_FACTOR`` x the largest distance-to-wall within ``RADIUS_WINDOW_MM`` of arc
    length, plus ``RADIUS_MARGIN_MM``, at most ``max_radius_mm``: wide enough for a
    flattened section, much cheaper than the full plane in small veins.
    """
    pts = np.asarray(points_lps_mm, dtype=np.float64).reshape(-1, 3)
    if not len(pts):
        return np.zeros(0)
    lin, tr = lps_to_index_affine[:3, :3], lps_to_index_affine[:3, 3]
    d = ndimage.map_coordinates(np.asarray(dist_mm, np.float32), (pts @ lin.T + tr).T, order=1,
                                mode="nearest", prefilter=False)
    win = max(int(round(RADIUS_WINDOW_MM / max(step_mm, 1e-6))), 1)
    d = ndimage.maximum_filter1d(d, 2 * win + 1, mode="nearest")
    return np.minimum(RADIUS_FACTOR * d + RADIUS_MARGIN_MM, max_radius_mm)


def measure_sections(
    vessel: np.ndarray,
    defect: np.ndarray | None,
    *,
    lps_to_index_affine: np.ndarray,
    points_lps_mm: np.ndarray,
    tangents_lps: np.ndarray,
    radius_mm,
    pixel_mm: float,
    max_radius_mm: float | None = None,
) -> dict[str, np.ndarray]:
    """Measure vessel and defect sections at every centreline point.

    Parameters
    ----------
    vessel : (Z, Y, X) bool or uint8
        Vessel mask (lumen + defect) of the box being sampled.
    defect : (Z, Y, X) bool or uint8, or None
        Filling-defect mask of the same box.
    lps_to_index_affine : (4, 4)
        Maps LPS ``(x, y, z, 1)`` mm to *box* indices ``(z, y, x, 1)``.
    points_lps_mm, tangents_lps : (N, 3)
        Section centres and normals.
    radius_mm : float or (N,) float
        Half-width of each section plane (mm).
    pixel_mm : float
        Pixel size of the section planes (mm).
    max_radius_mm : float, optional
        A section whose vessel touches the edge of its plane is measured again with this
        half-width (default: the largest of ``radius_mm``).

    Returns
    -------
    dict of (N,) arrays: ``lumen_area_mm2``, ``equivalent_diameter_mm``,
    ``min_diameter_mm``, ``max_diameter_mm``, ``defect_area_mm2``, ``occlusion_pct`` and
    the boolean ``defect_at_centre`` (defect within :data:`CENTRE_REACH_MM` of the point).
    """
    pts = np.asarray(points_lps_mm, dtype=np.float64).reshape(-1, 3)
    n_sec = len(pts)
    out = {k: np.zeros(n_sec) for k in ("vessel", "defect", "min_d", "max_d", "centre")}
    if n_sec:
        radii = np.broadcast_to(np.asarray(radius_mm, dtype=np.float64), (n_sec,))
        r_max = float(max_radius_mm if max_radius_mm is not None else radii.max())
        u, v = plane_basis(tangents_lps)
        lin, tr = lps_to_index_affine[:3, :3], lps_to_index_affine[:3, 3]
        geo = (pts @ lin.T + tr, u @ lin.T, v @ lin.T)
        vessel_f = np.ascontiguousarray(vessel, dtype=np.uint8)
        defect_f = None
        if defect is not None and np.any(defect):
            defect_f = np.ascontiguousarray(defect, dtype=np.uint8)
        angles = np.linspace(0.0, np.pi, N_ANGLES, endpoint=False)
        dirs = np.stack([np.cos(angles), np.sin(angles)])  # (2, A)
        redo = []
        for a in range(0, n_sec, CHUNK_SECTIONS):
            sel = np.arange(a, min(a + CHUNK_SECTIONS, n_sec))
            m = int(round(float(radii[sel].max()) / pixel_mm))
            touched = _measure_chunk(vessel_f, defect_f, geo, sel, m, pixel_mm, dirs, out)
            if m < int(round(r_max / pixel_mm)):
                redo.extend(sel[touched].tolist())
        m = int(round(r_max / pixel_mm))
        for a in range(0, len(redo), CHUNK_SECTIONS):
            _measure_chunk(vessel_f, defect_f, geo, np.asarray(redo[a:a + CHUNK_SECTIONS]), m,
                           pixel_mm, dirs, out)
    px2 = pixel_mm * pixel_mm
    vessel_a = out["vessel"] * px2
    defect_a = out["defect"] * px2
    found = vessel_a > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        occl = np.where(found, 100.0 * defect_a / np.where(found, vessel_a, 1.0), np.nan)
    return {
        "lumen_area_mm2": vessel_a - defect_a,
        "equivalent_diameter_mm": np.where(found, 2.0 * np.sqrt(vessel_a / np.pi), np.nan),
        "min_diameter_mm": np.where(found, out["min_d"], np.nan),
        "max_diameter_mm": np.where(found, out["max_d"], np.nan),
        "defect_area_mm2": defect_a,
        "occlusion_pct": occl,
        "defect_at_centre": out["centre"] > 0,
    }


def _central_sections(vessel, geo, sel, m, pixel_mm, structure=_STRUCT_LABEL) -> tuple[np.ndarray, np.ndarray]:
    """Sample sections ``sel`` on planes of (2m+1)^2 pixels and keep, in each, the vessel
    component containing (or nearest to) the centreline point.

    Returns ``(keep, coords)``: (k, n, n) bool and the sampled index coordinates (3, k*n*n).
    Plane axis 1 runs along ``v``, axis 2 along ``u`` (:func:`plane_basis`).
    """
    c_idx, du, dv = geo
    offs = (np.arange(-m, m + 1) + PIXEL_SHIFT) * pixel_mm
    coords = (c_idx[sel, None, None, :]
              + offs[None, :, None, None] * dv[sel, None, None, :]
              + offs[None, None, :, None] * du[sel, None, None, :])
    coords = np.moveaxis(coords, -1, 0).reshape(3, -1)
    n = 2 * m + 1
    k = len(sel)
    samp = ndimage.map_coordinates(vessel, coords, order=1, mode="constant",
                                   cval=0.0, output=np.float32, prefilter=False)
    vbin = samp.reshape(k, n, n) > 0.5
    lab, nlab = ndimage.label(vbin, structure=structure)
    if nlab == 0:
        return np.zeros((k, n, n), dtype=bool), coords
    flat = lab.reshape(k, -1)
    sec, pix = np.nonzero(flat)
    ii, jj = np.divmod(pix, n)
    d2 = (ii - m + PIXEL_SHIFT) ** 2 + (jj - m + PIXEL_SHIFT) ** 2
    order = np.lexsort((d2, sec))
    secs_found, first_idx = np.unique(sec[order], return_index=True)
    chosen = np.full(k, -1, dtype=np.int64)
    chosen[secs_found] = flat[secs_found, pix[order][first_idx]]
    return lab == chosen[:, None, None], coords


def _measure_chunk(vessel, defect, geo, sel, m, pixel_mm, dirs, out) -> np.ndarray:
    """Measure sections ``sel`` on planes of (2m+1)^2 pixels; True where the vessel touches the edge."""
    keep, coords = _central_sections(vessel, geo, sel, m, pixel_mm)
    k, n = len(sel), 2 * m + 1
    out["vessel"][sel] = keep.reshape(k, -1).sum(axis=1)
    touched = (keep[:, 0, :].any(axis=1) | keep[:, -1, :].any(axis=1)
               | keep[:, :, 0].any(axis=1) | keep[:, :, -1].any(axis=1))
    if defect is not None:
        dsamp = ndimage.map_coordinates(defect, coords, order=1, mode="constant",
                                        cval=0.0, output=np.float32, prefilter=False)
        dbin = (dsamp.reshape(k, n, n) > 0.5) & keep
        out["defect"][sel] = dbin.reshape(k, -1).sum(axis=1)
        w = int(np.ceil(CENTRE_REACH_MM / pixel_mm))
        out["centre"][sel] = dbin[:, max(m - w, 0):m + w + 1, max(m - w, 0):m + w + 1].any(axis=(1, 2))
    else:
        out["defect"][sel] = 0
    # Feret diameters from the boundary pixels of the kept component.
    edge = keep & ~ndimage.binary_erosion(keep, structure=_STRUCT_ERODE, border_value=0)
    esec, ei, ej = np.nonzero(edge)
    if len(esec) == 0:
        return touched
    xy = np.stack([(ej - m) * pixel_mm, (ei - m) * pixel_mm], axis=1)
    proj = xy @ dirs  # (P, A)
    secs, starts = np.unique(esec, return_index=True)
    width = (np.maximum.reduceat(proj, starts, axis=0) - np.minimum.reduceat(proj, starts, axis=0)
             + pixel_mm)
    out["min_d"][sel[secs]] = width.min(axis=1)
    out["max_d"][sel[secs]] = width.max(axis=1)
    return touched


def section_centroids(vessel: np.ndarray, *, lps_to_index_affine: np.ndarray, points_lps_mm: np.ndarray,
                      tangents_lps: np.ndarray, radius_mm: float, pixel_mm: float) -> np.ndarray:
    """Centroid (LPS mm) of the vessel's section at each point, NaN where none is found.

    The section is the 2-D component of ``vessel`` containing (or nearest to) the point on
    the plane orthogonal to its tangent, sampled as in :func:`measure_sections`.

    Returns
    -------
    (N, 3) float.
    """
    pts = np.asarray(points_lps_mm, dtype=np.float64).reshape(-1, 3)
    out = np.full((len(pts), 3), np.nan)
    if not len(pts):
        return out
    u, v = plane_basis(tangents_lps)
    lin, tr = lps_to_index_affine[:3, :3], lps_to_index_affine[:3, 3]
    geo = (pts @ lin.T + tr, u @ lin.T, v @ lin.T)
    m = int(round(radius_mm / pixel_mm))
    offs = (np.arange(-m, m + 1) + PIXEL_SHIFT) * pixel_mm
    vessel_f = np.ascontiguousarray(vessel, dtype=np.uint8)
    for a in range(0, len(pts), CHUNK_SECTIONS):
        sel = np.arange(a, min(a + CHUNK_SECTIONS, len(pts)))
        # 4-connected components (``_STRUCT_ERODE``): the axis fits want the vessel's own
        # section, not one joined to a neighbour at a corner pixel
        keep, _ = _central_sections(vessel_f, geo, sel, m, pixel_mm, structure=_STRUCT_ERODE)
        count = keep.sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            off_v = (keep.sum(axis=2) * offs).sum(axis=1) / count  # mean offset along v, mm
            off_u = (keep.sum(axis=1) * offs).sum(axis=1) / count  # ... along u
        cen = pts[sel] + off_v[:, None] * v[sel] + off_u[:, None] * u[sel]
        out[sel] = np.where(count[:, None] > 0, cen, np.nan)
    return out
    u, v = plane_basis(tangents_lps)
    lin, tr = lps_to_index_affine[:3, :3], lps_to_index_affine[:3, 3]
    m = int(round(radius_mm / pixel_mm))
    offs = (np.arange(-m, m + 1) + PIXEL_SHIFT) * pixel_mm
    vessel_f = np.ascontiguousarray(vessel)
    vessel_f = vessel_f.view(np.uint8) if vessel_f.dtype == bool else vessel_f.astype(np.uint8)
    for i in range(len(pts)):
        plane = pts[i] + offs[:, None, None] * v[i] + offs[None, :, None] * u[i]  # (n, n, 3)
        idx = plane.reshape(-1, 3) @ lin.T + tr
        inside = ndimage.map_coordinates(vessel_f, idx.T, order=1, mode="constant", cval=0.0,
                                         output=np.float32, prefilter=False).reshape(plane.shape[:2]) > 0.5
        lab, n = ndimage.label(inside)
        if n == 0:
            continue
        ii, jj = np.nonzero(lab)
        k = int(np.argmin((ii - m + PIXEL_SHIFT) ** 2 + (jj - m + PIXEL_SHIFT) ** 2))
        keep = lab == lab[ii[k], jj[k]]
        out[i] = plane[keep].mean(axis=0)
    return out
