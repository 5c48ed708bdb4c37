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


def measure_sections(
    vessel: np.ndarray,
    defect: np.ndarray | None,
    *,
    lps_to_index_affine: np.ndarray,
    points_lps_mm: np.ndarray,
    tangents_lps: np.ndarray,
    radius_mm: float,
    pixel_mm: float,
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

    Returns
    -------
    dict of (N,) arrays: ``lumen_area_mm2``, ``equivalent_diameter_mm``,
    ``min_diameter_mm``, ``max_diameter_mm``, ``defect_area_mm2``, ``occlusion_pct``.
    """
    pts = np.asarray(points_lps_mm, dtype=np.float64).reshape(-1, 3)
    n_sec = len(pts)
    out = {k: np.zeros(n_sec) for k in ("vessel", "defect", "min_d", "max_d")}
    if n_sec:
        m = int(round(radius_mm / pixel_mm))
        offs = (np.arange(-m, m + 1) + PIXEL_SHIFT) * pixel_mm
        u, v = plane_basis(tangents_lps)
        lin, tr = lps_to_index_affine[:3, :3], lps_to_index_affine[:3, 3]
        c_idx = pts @ lin.T + tr
        du, dv = u @ lin.T, v @ lin.T
        vessel_f = np.ascontiguousarray(vessel, dtype=np.uint8)
        defect_f = None if defect is None else np.ascontiguousarray(defect, dtype=np.uint8)
        angles = np.linspace(0.0, np.pi, N_ANGLES, endpoint=False)
        dirs = np.stack([np.cos(angles), np.sin(angles)])  # (2, A)
        for a in range(0, n_sec, CHUNK_SECTIONS):
            b = min(a + CHUNK_SECTIONS, n_sec)
            coords = (c_idx[a:b, None, None, :]
                      + offs[None, :, None, None] * dv[a:b, None, None, :]
                      + offs[None, None, :, None] * du[a:b, None, None, :])
            coords = np.moveaxis(coords, -1, 0)
            _measure_chunk(vessel_f, defect_f, coords, m, pixel_mm, dirs, out, a)
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
    }


def _measure_chunk(vessel, defect, coords, m, pixel_mm, dirs, out, first) -> None:
    n = 2 * m + 1
    k = coords.shape[1]
    samp = ndimage.map_coordinates(vessel, coords.reshape(3, -1), order=1, mode="constant",
                                   cval=0.0, output=np.float32, prefilter=False)
    vbin = samp.reshape(k, n, n) > 0.5
    lab, nlab = ndimage.label(vbin, structure=_STRUCT_LABEL)
    if nlab == 0:
        return
    flat = lab.reshape(k, -1)
    sec, pix = np.nonzero(flat)
    ii, jj = np.divmod(pix, n)
    d2 = (ii - m + PIXEL_SHIFT) ** 2 + (jj - m + PIXEL_SHIFT) ** 2
    order = np.lexsort((d2, sec))
    secs_found, first_idx = np.unique(sec[order], return_index=True)
    chosen = np.full(k, -1, dtype=np.int64)
    chosen[secs_found] = flat[secs_found, pix[order][first_idx]]
    keep = lab == chosen[:, None, None]
    counts = keep.reshape(k, -1).sum(axis=1)
    out["vessel"][first:first + k] = counts
    if defect is not None:
        dsamp = ndimage.map_coordinates(defect, coords.reshape(3, -1), order=1, mode="constant",
                                        cval=0.0, output=np.float32, prefilter=False)
        dbin = (dsamp.reshape(k, n, n) > 0.5) & keep
        out["defect"][first:first + k] = dbin.reshape(k, -1).sum(axis=1)
    # Feret diameters from the boundary pixels of the kept component.
    edge = keep & ~ndimage.binary_erosion(keep, structure=_STRUCT_ERODE, border_value=0)
    esec, ei, ej = np.nonzero(edge)
    if len(esec) == 0:
        return
    xy = np.stack([(ej - m) * pixel_mm, (ei - m) * pixel_mm], axis=1)
    proj = xy @ dirs  # (P, A)
    secs, starts = np.unique(esec, return_index=True)
    width = (np.maximum.reduceat(proj, starts, axis=0) - np.minimum.reduceat(proj, starts, axis=0)
             + pixel_mm)
    out["min_d"][first + secs] = width.min(axis=1)
    out["max_d"][first + secs] = width.max(axis=1)
