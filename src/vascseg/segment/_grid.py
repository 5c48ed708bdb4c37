"""The working grid: a fine series is segmented on a block-averaged copy, then refined.

Detection (body, bone, vesselness, organs, seeds, vein/artery split, envelope, naming) was
designed and tuned for voxels of about 1.5 mm; on a 0.6 mm series it costs 8-10 times
more for no gain. :func:`working_factors` picks integer block sizes so the working voxels
stay at or under :data:`WORK_SPACING_MAX_MM`; :func:`block_mean` averages blocks (what a
coarser scanner would see); :func:`expand_nearest` / :func:`expand_linear` bring coarse
masks back onto a box of the input grid.

A box is a tuple of three slices of the *input* grid, (z, y, x).
"""

from __future__ import annotations

import numpy as np

from ..geometry import Volume

WORK_SPACING_MAX_MM = 1.8
"""Largest working-grid spacing (mm) along any axis; series at or above it are used as is."""

_SLAB_BLOCKS = 8
"""Coarse slices averaged per pass in :func:`block_mean` (bounds the float32 temporaries)."""


def working_factors(spacing_mm, *, max_mm: float = WORK_SPACING_MAX_MM) -> tuple[int, int, int]:
    """Integer block size per axis (z, y, x): the largest ``f`` with ``f * spacing <= max_mm``."""
    return tuple(max(1, int(np.floor(max_mm / float(s) + 1e-6))) for s in spacing_mm)  # type: ignore[return-value]


def coarse_shape(shape, factors) -> tuple[int, int, int]:
    """Shape of the working grid (a partial last block counts as a block)."""
    return tuple(-(-int(n) // int(f)) for n, f in zip(shape, factors, strict=True))  # type: ignore[return-value]


def block_mean(array: np.ndarray, factors) -> np.ndarray:
    """Float32 mean over ``factors``-sized blocks of a (Z, Y, X) array (bool, int or float).

    Partial blocks at the far ends average the voxels they hold. Strided views are summed
    into a small slab buffer that is reused (fresh memory is slow to touch here), so no
    full-size temporary is made.
    """
    f = [int(v) for v in factors]
    n = array.shape
    out_shape = coarse_shape(n, f)
    counts = [np.minimum(f[ax], n[ax] - np.arange(out_shape[ax]) * f[ax]).astype(np.float32) for ax in range(3)]
    inv = 1.0 / (counts[1][:, None] * counts[2][None, :])
    out = np.empty(out_shape, np.float32)
    acc = np.empty((_SLAB_BLOCKS,) + out_shape[1:], np.float32)
    for z0 in range(0, out_shape[0], _SLAB_BLOCKS):
        z1 = min(z0 + _SLAB_BLOCKS, out_shape[0])
        o = acc[:z1 - z0]
        o[...] = 0
        for i in range(f[0]):
            sl = array[z0 * f[0] + i:min(z1 * f[0], n[0]):f[0]]
            for j in range(f[1]):
                for k in range(f[2]):
                    v = sl[:, j::f[1], k::f[2]]
                    o[:v.shape[0], :v.shape[1], :v.shape[2]] += v
        o *= inv
        o /= counts[0][z0:z1, None, None]
        out[z0:z1] = o
    return out


def coarse_volume(volume: Volume, array: np.ndarray, factors) -> Volume:
    """The working-grid Volume of ``array`` (from :func:`block_mean`): each voxel sits at
    the centre of its block, spacing multiplied by the factors."""
    centre = volume.index_to_lps([(f - 1) / 2.0 for f in factors])
    spacing = tuple(float(s) * f for s, f in zip(volume.spacing_mm, factors, strict=True))
    return Volume(array, spacing_mm=spacing, origin_lps_mm=tuple(float(v) for v in centre),
                  direction=volume.direction.copy(), modality=volume.modality,
                  description=volume.description)


def fine_box(mask_c: np.ndarray, factors, shape, *, margin_mm: float, spacing_mm) -> tuple[slice, ...] | None:
    """Box of the input grid (``shape``) covering the coarse mask's blocks plus at least
    ``margin_mm``, starting on a block boundary (block ``i`` of the box is working voxel
    ``box.start // f + i``)."""
    if not mask_c.any():
        return None
    box = []
    for ax in range(3):
        other = tuple(a for a in range(3) if a != ax)
        idx = np.flatnonzero(mask_c.any(axis=other))
        f = int(factors[ax])
        m = -(-int(np.ceil(margin_mm / float(spacing_mm[ax]))) // f)  # in blocks
        lo = max(int(idx[0]) - m, 0) * f
        hi = min((int(idx[-1]) + 1 + m) * f, int(shape[ax]))
        box.append(slice(lo, hi))
    return tuple(box)


def _coarse_range(box, factors, coarse_shape_zyx, pad: int) -> tuple[slice, ...]:
    """Coarse slices covering the blocks of ``box`` plus ``pad`` blocks."""
    return tuple(slice(max(b.start // int(f) - pad, 0), min((b.stop - 1) // int(f) + 1 + pad, n))
                 for b, f, n in zip(box, factors, coarse_shape_zyx, strict=True))


def expand_nearest(coarse: np.ndarray, factors, box) -> np.ndarray:
    """Values of the coarse array on the input-grid ``box`` (each voxel takes its block's)."""
    cr = _coarse_range(box, factors, coarse.shape, 0)
    out = coarse[cr]
    for ax in range(3):
        idx = np.arange(box[ax].start, box[ax].stop) // int(factors[ax]) - cr[ax].start
        out = np.take(out, np.minimum(idx, out.shape[ax] - 1), axis=ax)
    return out


def expand_linear(coarse: np.ndarray, factors, box) -> np.ndarray:
    """Float32 trilinear interpolation of a coarse array (block centres) on the input-grid ``box``."""
    cr = _coarse_range(box, factors, coarse.shape, 1)
    out = np.asarray(coarse[cr], np.float32)
    for ax in range(3):
        f, n = int(factors[ax]), coarse.shape[ax]
        u = (np.arange(box[ax].start, box[ax].stop) + 0.5) / f - 0.5
        i0 = np.clip(np.floor(u).astype(np.int64), 0, n - 1)
        i1 = np.minimum(i0 + 1, n - 1)
        w = np.clip(u - i0, 0.0, 1.0).astype(np.float32)
        shape = [1, 1, 1]
        shape[ax] = len(u)
        lo = np.take(out, i0 - cr[ax].start, axis=ax)
        hi = np.take(out, i1 - cr[ax].start, axis=ax)
        hi -= lo
        hi *= w.reshape(shape)
        lo += hi
        out = lo
    return out
