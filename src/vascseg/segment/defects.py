"""Vein envelope (lumen + filling defects) and the defects themselves.

A filling defect is hypodense tissue *inside* the vein: it fills a concavity of the
enhanced lumen (the contrast rim wraps around it), or a whole stretch of the vein between
two enhanced stumps (complete occlusion). Soft tissue next to a vein but outside it
(bowel wall, muscle, uterus) is not in a concavity of the lumen, so it is not a defect.

The envelope is an exact Euclidean closing of the lumen in mm (two distance transforms
with the ``edt`` package, anisotropy honoured) restricted to soft-tissue intensities.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ._distance import edt_mm as _edt_mm


def closing_mm(mask: np.ndarray, radius_mm: float, spacing_mm) -> np.ndarray:
    """Binary closing by a ball of ``radius_mm`` (exact Euclidean, anisotropic voxels)."""
    if not mask.any():
        return mask.copy()
    pad = [int(np.ceil(radius_mm / s)) + 1 for s in spacing_mm]
    m = np.pad(mask, [(p, p) for p in pad])
    dil = _edt_mm(~m, spacing_mm) <= radius_mm
    clo = _edt_mm(dil, spacing_mm) > radius_mm
    return clo[pad[0]:-pad[0], pad[1]:-pad[1], pad[2]:-pad[2]]


def vein_envelope(lumen: np.ndarray, smooth: np.ndarray, spacing_mm, *, radius_mm: float,
                  defect_min: float, defect_max: float, avoid: np.ndarray | None = None) -> np.ndarray:
    """Lumen plus the soft-tissue voxels inside its concavities (bool, same shape).

    ``avoid``: voxels (arteries) the envelope must not take, nor any voxel nearer to them
    than to ``lumen``.
    """
    if not lumen.any():
        return lumen.copy()
    sl = ndi.find_objects(lumen.astype(np.uint8))[0]
    margin = [int(np.ceil(radius_mm / s)) + 1 for s in spacing_mm]
    sl = tuple(slice(max(s.start - m, 0), min(s.stop + m, n))
               for s, m, n in zip(sl, margin, lumen.shape, strict=True))
    lum = lumen[sl]
    closed = closing_mm(lum, radius_mm, spacing_mm)
    soft = (smooth[sl] >= defect_min) & (smooth[sl] < defect_max)
    add = closed & soft
    if avoid is not None and avoid[sl].any():
        nearer_artery = _edt_mm(~avoid[sl], spacing_mm) < _edt_mm(~lum, spacing_mm)
        add &= ~nearer_artery & ~avoid[sl]
    env = lum | add
    # partial-volume rim between lumen and fat is not a defect but is vessel
    out = np.zeros_like(lumen)
    out[sl] = env
    return out


def defects_in(envelope: np.ndarray, lumen: np.ndarray, veins: np.ndarray, spacing_mm, *,
               min_volume_ml: float, min_thickness_mm: float = 1.5) -> np.ndarray:
    """Defect mask: envelope voxels that are not lumen, inside named veins, cleaned.

    Thin shells (partial-volume rims at the lumen edge) are removed by an opening of
    ``min_thickness_mm``; components smaller than ``min_volume_ml`` are dropped.
    """
    cand = envelope & ~lumen & (veins > 0)
    if not cand.any():
        return cand
    sl = ndi.find_objects(cand.astype(np.uint8))[0]
    c = cand[sl]
    # opening by a small ball in mm: erode (EDT > r) then dilate (EDT of complement <= r)
    r = min_thickness_mm / 2.0
    core = _edt_mm(c, spacing_mm) > r
    opened = (_edt_mm(~core, spacing_mm) <= r + 1e-6) & c if core.any() else np.zeros_like(c)
    lab, n = ndi.label(opened, structure=np.ones((3, 3, 3)))
    out = np.zeros_like(cand)
    if n:
        vox_ml = float(np.prod(spacing_mm)) / 1000.0
        sizes = np.bincount(lab.ravel())[1:] * vox_ml
        keep = np.nonzero(sizes >= min_volume_ml)[0] + 1
        out[sl] = np.isin(lab, keep)
    return out
