"""Fast multi-scale Hessian vesselness (Frangi, bright tubes) in physical units.

Why not ``skimage.filters.frangi`` or SimpleITK's ObjectnessMeasure: both compute every
scale on the full grid and a general eigen-solver per voxel (93 s and 17 s on a
256x256x200 volume here). This implementation

* works in mm: each scale ``sigma_mm`` is computed on a grid downsampled so the Gaussian
  spans about :data:`VOXELS_PER_SIGMA` voxels (coarse scales are cheap),
* takes second derivatives by central differences at the needed coarse voxels only,
* solves the symmetric 3x3 eigenproblem in closed form (trigonometric method), float32,
* evaluates the response only at candidate voxels (``mask``); a full-grid voxel takes
  the response of the coarse block it lies in, each block solved once (found by marking a
  flat array, not by sorting voxel triples), on a crop of each scale's grid around the mask.

On the 256x256x200 crop of the 512x512x400 benchmark phantom (5 scales, ~1.8 M candidate
voxels) this takes ~1.5 s on one core here.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

VOXELS_PER_SIGMA = 1.6
"""Target Gaussian sigma in voxels on each scale's working grid."""


def symmetric_eigvals(hxx, hyy, hzz, hxy, hxz, hyz):
    """Eigenvalues of symmetric 3x3 matrices given by their six unique entries.

    Closed-form trigonometric solution (O. K. Smith, 1961). Inputs are equal-shaped float
    arrays; returns three arrays ``(l1, l2, l3)`` sorted by absolute value,
    ``|l1| <= |l2| <= |l3|``.
    """
    q = (hxx + hyy + hzz) / 3.0
    p1 = hxy * hxy + hxz * hxz + hyz * hyz
    axx, ayy, azz = hxx - q, hyy - q, hzz - q
    p2 = axx * axx + ayy * ayy + azz * azz + 2.0 * p1
    p = np.sqrt(p2 / 6.0)
    safe = p > 1e-12
    inv = np.where(safe, 1.0 / np.where(safe, p, 1.0), 0.0).astype(hxx.dtype)
    bxx, byy, bzz = axx * inv, ayy * inv, azz * inv
    bxy, bxz, byz = hxy * inv, hxz * inv, hyz * inv
    det = (bxx * (byy * bzz - byz * byz) - bxy * (bxy * bzz - byz * bxz)
           + bxz * (bxy * byz - byy * bxz))
    r = np.clip(det / 2.0, -1.0, 1.0)
    phi = np.arccos(r) / 3.0
    e1 = q + 2.0 * p * np.cos(phi)
    e3 = q + 2.0 * p * np.cos(phi + (2.0 * np.pi / 3.0))
    e2 = 3.0 * q - e1 - e3
    # sort by magnitude: three compare-and-swaps
    a, b, c = e1, e2, e3
    for i, j in ((0, 1), (1, 2), (0, 1)):
        vals = [a, b, c]
        x, y = vals[i], vals[j]
        swap = np.abs(x) > np.abs(y)
        vals[i], vals[j] = np.where(swap, y, x), np.where(swap, x, y)
        a, b, c = vals
    return a, b, c


def _scale_grid(shape, spacing_mm, target_mm: float) -> np.ndarray:
    """Integer block size per axis so voxels approach ``target_mm`` (at least 3 blocks per axis)."""
    f = [max(1, min(int(np.floor(target_mm / s)), n // 3)) for s, n in zip(spacing_mm, shape, strict=True)]
    return np.asarray(f, np.int64)


def _block_mean(image: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Float32 block mean by integer ``factors`` (the shape is a multiple of them)."""
    if np.all(factors == 1):
        return image
    fz, fy, fx = (int(f) for f in factors)
    z, y, x = (n // f for n, f in zip(image.shape, factors, strict=True))
    v = image.reshape(z, fz, y, fy, x, fx)
    return v.mean(axis=(1, 3, 5), dtype=np.float32)


def _hessian_at(g: np.ndarray, spacing_mm: np.ndarray, vox: np.ndarray) -> dict:
    """Second derivatives of ``g`` (mm units) at integer voxels ``vox`` (N, 3) by central differences."""
    nz, ny, nx = g.shape
    sz, sy, sx = ny * nx, nx, 1
    flat = g.ravel()
    c = vox[:, 0] * sz + vox[:, 1] * sy + vox[:, 2] * sx
    strides = (sz, sy, sx)
    g0 = flat[c]
    h = {}
    for i in range(3):
        si, di = strides[i], spacing_mm[i]
        h[(i, i)] = (flat[c + si] - 2 * g0 + flat[c - si]) / np.float32(di * di)
        for j in range(i + 1, 3):
            sj, dj = strides[j], spacing_mm[j]
            h[(i, j)] = (flat[c + si + sj] - flat[c + si - sj] - flat[c - si + sj]
                         + flat[c - si - sj]) / np.float32(4 * di * dj)
    return h


def _frangi_at(small: np.ndarray, spacing_mm: np.ndarray, sigma_mm: float, vox: np.ndarray,
               *, alpha: float, beta: float, c: float) -> np.ndarray:
    """Frangi bright-tube response of ``small`` smoothed at ``sigma_mm``, at integer voxels (N, 3)."""
    out = np.zeros(len(vox), np.float32)
    if len(vox) == 0:
        return out
    sig_vox = [sigma_mm / s for s in spacing_mm]
    g = ndi.gaussian_filter(small, sig_vox, mode="nearest", truncate=3.0).astype(np.float32, copy=False)
    h = _hessian_at(g, spacing_mm, vox)
    s2 = np.float32(sigma_mm * sigma_mm)  # gamma = 2 scale normalisation
    l1, l2, l3 = symmetric_eigvals(h[(0, 0)] * s2, h[(1, 1)] * s2, h[(2, 2)] * s2,
                                   h[(0, 1)] * s2, h[(0, 2)] * s2, h[(1, 2)] * s2)
    bright_tube = (l2 < 0) & (l3 < 0)
    a2, a3 = np.abs(l2), np.abs(l3)
    ra2 = (a2 / np.maximum(a3, 1e-12)) ** 2
    rb2 = l1 * l1 / np.maximum(a2 * a3, 1e-12)
    s2sum = l1 * l1 + l2 * l2 + l3 * l3
    v = ((1 - np.exp(-ra2 / (2 * alpha**2))) * np.exp(-rb2 / (2 * beta**2))
         * (1 - np.exp(-s2sum / (2 * c**2))))
    out[bright_tube] = v[bright_tube]
    return out


def vesselness(
    image: np.ndarray,
    spacing_mm,
    *,
    sigmas_mm=(1.5, 3.0, 5.0, 7.5, 10.0),
    mask: np.ndarray | None = None,
    alpha: float = 0.5,
    beta: float = 0.5,
    c: float = 60.0,
    return_scale: bool = False,
):
    """Multi-scale Frangi vesselness of bright tubes, evaluated at ``mask`` voxels.

    Parameters
    ----------
    image : (Z, Y, X) float array
        Intensities (HU or normalised units; ``c`` is in the same units).
    spacing_mm : (dz, dy, dx)
        Voxel spacing in mm.
    sigmas_mm : sequence of float
        Gaussian scales in mm (about the vessel radius / sqrt(2) each responds to best).
    mask : (Z, Y, X) bool array, optional
        Voxels where the response is wanted (default: all). Others are 0.
    alpha, beta, c : float
        Frangi's plate, blob and structure-ness sensitivities (``c`` in intensity units).
    return_scale : bool
        Also return the best scale (mm) per voxel (0 where the response is 0).

    Returns
    -------
    (Z, Y, X) float32 array in [0, 1] (and the scale map when ``return_scale``).
    """
    image = np.asarray(image, dtype=np.float32)
    if mask is None:
        mask = np.ones(image.shape, bool)
    idx = np.nonzero(mask)
    n = len(idx[0])
    best = np.zeros(n, np.float32)
    best_scale = np.zeros(n, np.float32)
    if n:
        lo_vox = np.array([int(i.min()) for i in idx])
        hi_vox = np.array([int(i.max()) for i in idx])
    for sigma in sigmas_mm if n else ():
        factors = _scale_grid(image.shape, spacing_mm, sigma / VOXELS_PER_SIGMA)
        n_blocks = np.asarray(image.shape) // factors
        sp = np.asarray(spacing_mm, float) * factors
        # Each voxel takes the response of the coarse block it falls in (inner blocks only:
        # 1 block margin for the stencils); only blocks holding mask voxels are solved, on a
        # crop of the coarse grid wide enough for the Gaussian (``truncate`` 3) and stencils.
        radius = np.ceil(3.0 * sigma / sp).astype(np.int64) + 2
        c0 = np.maximum(np.clip(lo_vox // factors, 1, n_blocks - 2) - radius, 0)
        c1 = np.minimum(np.clip(hi_vox // factors, 1, n_blocks - 2) + 1 + radius, n_blocks)
        sub = image[tuple(slice(a * f, b * f) for a, b, f in zip(c0, c1, factors, strict=True))]
        small = _block_mean(sub, factors)
        # flat index of each voxel's block on the crop, from per-axis lookup tables
        lin = np.zeros(len(idx[0]), np.int64)
        for ax in range(3):
            table = np.clip(np.arange(image.shape[ax]) // factors[ax], 1, n_blocks[ax] - 2) - c0[ax]
            if ax:
                lin *= small.shape[ax]
            lin += table[idx[ax]]
        hit = np.zeros(small.size, bool)
        hit[lin] = True
        uniq = np.flatnonzero(hit)
        del hit
        vox = np.stack(np.unravel_index(uniq, small.shape), axis=1)
        resp_grid = np.zeros(small.size, np.float32)
        resp_grid[uniq] = _frangi_at(small, sp, sigma, vox, alpha=alpha, beta=beta, c=c)
        resp = resp_grid[lin]
        better = resp > best
        best[better] = resp[better]
        best_scale[better] = sigma
    out = np.zeros(image.shape, np.float32)
    out[mask] = best
    if return_scale:
        scale = np.zeros(image.shape, np.float32)
        scale[mask] = best_scale
        return out, scale
    return out
