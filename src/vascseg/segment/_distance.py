"""Euclidean distance transform in mm (anisotropic voxels honoured), shared by the stages."""

from __future__ import annotations

import numpy as np


def edt_mm(mask: np.ndarray, spacing_mm) -> np.ndarray:
    """Distance (mm) from each ``True`` voxel of ``mask`` to the nearest ``False`` voxel.

    ``spacing_mm`` is (dz, dy, dx) for the (z, y, x) array; 2 threads (the ``edt`` package).
    """
    import edt

    return edt.edt(mask, anisotropy=tuple(float(s) for s in spacing_mm), parallel=2, black_border=False)
