"""Opt-in repairs of irregular stacks: gantry-tilt correction and regular re-slicing.

Both keep the slice plane orientation; the result is an orthonormal grid whose axis 0 is
the slice normal. Values are linearly interpolated (float32 output).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._stack import StackGeometry


def untilt(array: np.ndarray, geom: StackGeometry) -> np.ndarray:
    """Shift every slice in-plane so all slice origins lie on the normal through slice 0.

    Parameters
    ----------
    array : (Z, Y, X) ndarray
        Slices in ``geom.frames`` order.
    geom : StackGeometry
        Gives each slice's in-plane offset (mm along row and column cosines).

    Returns
    -------
    (Z, Y, X) float32 ndarray
        Voxel (k, j, i) at ``origin + k*step*normal + j*dy*col + i*dx*row``; voxels that
        come from outside the acquired slice take the array minimum.
    """
    dy, dx = geom.pixel_spacing_mm
    fill = float(array.min())
    out = np.empty(array.shape, dtype=np.float32)
    for k in range(array.shape[0]):
        off_row_mm, off_col_mm = geom.inplane_offsets_mm[k]
        # slice k's pixel (j, i) sits at in-plane (j*dy + off_col, i*dx + off_row): the wanted
        # grid point (j, i) is its pixel (j - off_col/dy, i - off_row/dx).
        ndimage.shift(
            array[k].astype(np.float32, copy=False), (-off_col_mm / dy, -off_row_mm / dx),
            output=out[k], order=1, mode="constant", cval=fill,
        )
    return out


def regular_positions_mm(positions_mm: np.ndarray, step_mm: float) -> np.ndarray:
    """Regular positions from the first slice to the last (inclusive within 1e-3 step)."""
    span = float(positions_mm[-1] - positions_mm[0])
    n = int(np.floor(span / step_mm + 1e-3)) + 1
    return positions_mm[0] + step_mm * np.arange(n)


def reslice_regular(array: np.ndarray, positions_mm: np.ndarray, step_mm: float) -> np.ndarray:
    """Linear interpolation along axis 0 from irregular ``positions_mm`` to a regular step.

    Parameters
    ----------
    array : (Z, Y, X) ndarray
        Slices at ascending ``positions_mm`` (mm along the normal).
    positions_mm : (Z,) ndarray
    step_mm : float

    Returns
    -------
    (Z', Y, X) float32 ndarray
        Slices at ``positions_mm[0] + step_mm * arange(Z')``.
    """
    target = regular_positions_mm(positions_mm, step_mm)
    out = np.empty((target.size, *array.shape[1:]), dtype=np.float32)
    j = 0
    for k, t in enumerate(target):
        while j < len(positions_mm) - 2 and positions_mm[j + 1] < t:
            j += 1
        p0, p1 = positions_mm[j], positions_mm[j + 1] if len(positions_mm) > 1 else positions_mm[j]
        w = 0.0 if p1 == p0 else min(max((t - p0) / (p1 - p0), 0.0), 1.0)
        if w <= 1e-6:
            out[k] = array[j]
        elif w >= 1 - 1e-6:
            out[k] = array[j + 1]
        else:
            np.multiply(array[j], 1.0 - w, out=out[k], casting="unsafe")
            out[k] += w * array[j + 1].astype(np.float32)
    return out
