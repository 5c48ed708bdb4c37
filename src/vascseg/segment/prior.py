"""Anatomical priors: a label map on the same patient (e.g. TotalSegmentator) resampled by geometry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, SegmentationError
from ..geometry import Volume

PRIOR_MAPS: dict[str, dict[str, tuple[int, ...]]] = {
    # TotalSegmentator "total": 63 inferior_vena_cava, 67/68 iliac_vena_left/right
    "total": {"ivc": (63,), "iliac_vein_left": (67,), "iliac_vein_right": (68,), "aorta": (52,)},
    # TotalSegmentator "total_mr": 24 inferior_vena_cava, 28/29 iliac_vena_left/right
    "total_mr": {"ivc": (24,), "iliac_vein_left": (28,), "iliac_vein_right": (29,), "aorta": (23,)},
}
"""Label numbers of the structures a prior can anchor. ``iliac_vein_*`` covers the common
and external iliac veins together (TotalSegmentator does not separate them)."""


@dataclass(frozen=True)
class Prior:
    """Masks on the image grid, (z, y, x) bool, keyed by structure name."""

    masks: dict[str, np.ndarray]
    source: str

    def get(self, name: str) -> np.ndarray | None:
        m = self.masks.get(name)
        return m if m is not None and m.any() else None


def resolve_map(prior_map: str | Path) -> dict[str, tuple[int, ...]]:
    """``"total"``, ``"total_mr"`` or a JSON file ``{"ivc": 7, "iliac_vein_left": [8, 9]}``."""
    if str(prior_map) in PRIOR_MAPS:
        return PRIOR_MAPS[str(prior_map)]
    p = Path(prior_map)
    try:
        raw = json.loads(p.read_text())
    except FileNotFoundError:
        raise InputError(f"prior label map '{prior_map}' is neither 'total', 'total_mr' nor a JSON file") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"prior map file {p} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InputError(f"prior map file {p} must hold an object {{name: label}}")
    out = {}
    for k, v in raw.items():
        vals = tuple(v) if isinstance(v, list) else (v,)
        if not all(isinstance(x, int) for x in vals):
            raise InputError(f"prior map file {p}: labels of {k!r} must be integers")
        out[k] = vals
    return out


def load_prior(labels: Volume, grid: Volume, prior_map: str | Path = "total") -> Prior:
    """Resample a prior label image onto ``grid`` (nearest neighbour, by LPS geometry).

    Raises :class:`SegmentationError` when the prior does not overlap the image (a prior
    from another patient or scan) or holds none of the mapped labels.
    """
    import SimpleITK as sitk

    mapping = resolve_map(prior_map)
    src = labels.to_sitk()
    # reference grid without copying the image's pixels
    ref = sitk.Image([int(s) for s in grid.shape[::-1]], sitk.sitkUInt8)
    ref.SetSpacing(grid.spacing_mm[::-1])
    ref.SetOrigin(grid.origin_lps_mm)
    ref.SetDirection(tuple(float(v) for v in grid.direction[:, ::-1].ravel()))
    res = sitk.Resample(sitk.Cast(src, sitk.sitkInt32), ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    arr = sitk.GetArrayFromImage(res)
    masks = {name: np.isin(arr, vals) for name, vals in mapping.items()}
    if not any(m.any() for m in masks.values()):
        present = np.unique(labels.array)[:20].tolist()
        raise SegmentationError(
            f"the prior label map holds none of the labels {mapping} on the image grid "
            f"(labels present: {present}...). Is it on the same patient and scan, and is the "
            f"mapping right (--prior-map total|total_mr|FILE)?"
        )
    return Prior(masks=masks, source=str(prior_map))
