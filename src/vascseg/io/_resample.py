"""Opt-in repairs of irregular stacks: gantry-tilt correction and regular re-slicing.

Both keep the slice plane orientation; the result is an orthonormal grid whose axis 0 is
the slice normal. Values are linearly interpolated (float32 output). The tilt correction
enlarges the in-plane grid so that no acquired pixel is cropped (as dcm2niix does).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ._stack import StackGeometry


def untilt_padding(geom: StackGeometry) -> tuple[int, int, int, int]:
    """Rows/columns added (before y, after y, before x, after x) so no slice is cropped.

    Slice ``k`` covers grid rows ``off_col/dy .. off_col/dy + rows - 1`` of the untilted grid
    anchored at slice 0; the grid grows by whole voxels to hold every slice.
    """
    dy, dx = geom.pixel_spacing_mm
    _, ny, nx = geom.shape_zyx
    off_y = geom.inplane_offsets_mm[:, 1] / dy
    off_x = geom.inplane_offsets_mm[:, 0] / dx
    eps = 1e-6
    return (
        max(0, math.ceil(-float(off_y.min()) - eps)),
        max(0, math.ceil(float(off_y.max()) - eps)),
        max(0, math.ceil(-float(off_x.min()) - eps)),
        max(0, math.ceil(float(off_x.max()) - eps)),
    )


def untilt(array: np.ndarray, geom: StackGeometry) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Shift every slice in-plane so all slice origins lie on the normal through slice 0.

    Parameters
    ----------
    array : (Z, Y, X) ndarray
        Slices in ``geom.frames`` order.
    geom : StackGeometry
        Gives each slice's in-plane offset (mm along row and column cosines).

    Returns
    -------
    array : (Z, Y', X') float32 ndarray
        Voxel (k, j, i) at ``origin + k-th slice position * normal + j*dy*col + i*dx*row``;
        the grid is enlarged (:func:`untilt_padding`) so that no acquired pixel is lost,
        and voxels outside an acquired slice take the array minimum.
    origin_lps_mm : tuple of 3 floats
        Centre of voxel (0, 0, 0), mm LPS.
    """
    dy, dx = geom.pixel_spacing_mm
    nz, ny, nx = array.shape
    y_lo, y_hi, x_lo, x_hi = untilt_padding(geom)
    fill = float(array.min())
    out = np.empty((nz, ny + y_lo + y_hi, nx + x_lo + x_hi), dtype=np.float32)
    for k in range(nz):
        off_row_mm, off_col_mm = geom.inplane_offsets_mm[k]
        # Slice k's pixel (j', i') sits at grid (j' + off_col/dy, i' + off_row/dx) relative to
        # slice 0, i.e. output (j, i) reads input (j - y_lo - off_col/dy, i - x_lo - off_row/dx).
        ndimage.affine_transform(
            array[k].astype(np.float32, copy=False), np.ones(2),
            offset=(-y_lo - off_col_mm / dy, -x_lo - off_row_mm / dx),
            output=out[k], order=1, mode="constant", cval=fill,
        )
    origin = np.asarray(geom.origin_lps_mm) - y_lo * dy * geom.col_lps - x_lo * dx * geom.row_lps
    return out, tuple(float(v) for v in origin)  # type: ignore[return-value]


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
