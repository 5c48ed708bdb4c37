"""Euclidean distance transform and shape measures in mm (anisotropic voxels honoured), shared by the stages."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

IN_PLANE_4 = np.zeros((3, 3, 3), bool)
IN_PLANE_4[1] = ndi.generate_binary_structure(2, 1)
IN_PLANE_4.flags.writeable = False
"""Structuring element: the 4 neighbours within an axial slice (z, y, x arrays), for
slice-by-slice morphology in one 3-D call."""


def edt_mm(mask: np.ndarray, spacing_mm) -> np.ndarray:
    """Distance (mm) from each ``True`` voxel of ``mask`` to the nearest ``False`` voxel.

    ``spacing_mm`` is (dz, dy, dx) for the (z, y, x) array; 2 threads (the ``edt`` package).
    """
    import edt

    return edt.edt(mask, anisotropy=tuple(float(s) for s in spacing_mm), parallel=2, black_border=False)


def within_mm(mask: np.ndarray, radius_mm: float, spacing_mm) -> np.ndarray:
    """Voxels at most ``radius_mm`` from a ``True`` voxel of ``mask`` (dilation by a ball).

    Equal to ``edt_mm(~mask, spacing_mm) <= radius_mm``, computed only in the box of
    ``mask`` grown by the radius.
    """
    out = np.zeros(mask.shape, bool)
    if not mask.any():
        return out
    box = ndi.find_objects(mask.astype(np.uint8))[0]
    grow = [int(np.ceil(radius_mm / float(s))) + 1 for s in spacing_mm]
    box = tuple(slice(max(b.start - g, 0), min(b.stop + g, n))
                for b, g, n in zip(box, grow, mask.shape, strict=True))
    out[box] = edt_mm(~mask[box], spacing_mm) <= radius_mm
    return out


def inside_mm(mask: np.ndarray, radius_mm: float, spacing_mm) -> np.ndarray:
    """Voxels of ``mask`` farther than ``radius_mm`` from any ``False`` voxel (erosion by a
    ball): ``edt_mm(mask, spacing_mm) > radius_mm``, computed in the box of ``mask``."""
    out = np.zeros(mask.shape, bool)
    if not mask.any():
        return out
    box = ndi.find_objects(mask.astype(np.uint8))[0]
    # one voxel of background around the box: the nearest False voxel is never farther out
    box = tuple(slice(max(b.start - 1, 0), min(b.stop + 1, n)) for b, n in zip(box, mask.shape, strict=True))
    out[box] = edt_mm(mask[box], spacing_mm) > radius_mm
    return out


def elongated(box: tuple[slice, ...], volume_ml: float, spacing_mm, ratio: float) -> bool:
    """Whether a component (bounding ``box`` of index slices, ``volume_ml``) is elongated like
    a vessel tree: its box diagonal (mm) is at least ``ratio`` times the cube root of its
    volume (mm^3). A compact organ (kidney, liver lobe) is not."""
    diag_mm = float(np.linalg.norm([(b.stop - b.start) * float(s) for b, s in zip(box, spacing_mm, strict=True)]))
    return diag_mm >= ratio * (volume_ml * 1000.0) ** (1.0 / 3.0)
