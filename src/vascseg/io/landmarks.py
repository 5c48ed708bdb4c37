"""Landmarks JSON: ``{"points": [{"name": "<segment>", "lps_mm": [x, y, z]}, ...]}``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._util import write_text_atomic
from ..anatomy import LABELS
from ..errors import LandmarkError
from ..geometry import Volume


@dataclass(frozen=True)
class Landmark:
    """A point inside a named vein segment.

    Attributes
    ----------
    name : str
        Segment name from :data:`vascseg.anatomy.LABELS`.
    lps_mm : (x, y, z)
        Patient LPS position in mm.
    index_zyx : (z, y, x)
        Fractional array index on the grid it was read against (``nan`` when unknown).
    """

    name: str
    lps_mm: tuple[float, float, float]
    index_zyx: tuple[float, float, float] = (float("nan"),) * 3


def load_landmarks(path: str | Path, grid: Volume) -> list[Landmark]:
    """Read a landmarks file and place each point on ``grid``.

    Raises
    ------
    LandmarkError
        The file is missing or malformed, a name is not a known segment, or a point lies
        outside the grid (the message names the point and the file).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LandmarkError(f"Landmarks file {path} does not exist.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LandmarkError(f"Landmarks file {path} is not valid JSON: {exc}") from None
    points = data.get("points") if isinstance(data, dict) else None
    if not isinstance(points, list):
        raise LandmarkError(f"Landmarks file {path} must hold {{\"points\": [...]}}.")
    shape = np.asarray(grid.shape, dtype=float)
    out = []
    for i, p in enumerate(points):
        where = f"{path}: points[{i}]"
        if not isinstance(p, dict) or "name" not in p or "lps_mm" not in p:
            raise LandmarkError(f"{where} must be an object with 'name' and 'lps_mm'.")
        name = p["name"]
        if name not in LABELS:
            raise LandmarkError(f"{where}: unknown segment {name!r}; known: {', '.join(LABELS)}.")
        try:
            lps = tuple(float(v) for v in p["lps_mm"])
        except (TypeError, ValueError):
            lps = ()
        if len(lps) != 3 or not all(np.isfinite(lps)):
            raise LandmarkError(f"{where} ({name}): 'lps_mm' must be three finite numbers [x, y, z].")
        idx = grid.lps_to_index(lps)
        if np.any(idx < -0.5) or np.any(idx > shape - 0.5):
            raise LandmarkError(
                f"{where} ({name}) at LPS {list(lps)} mm lies outside the image "
                f"(index z,y,x {np.round(idx, 1).tolist()}, shape {list(grid.shape)})."
            )
        out.append(Landmark(name, lps, tuple(float(v) for v in idx)))  # type: ignore[arg-type]
    return out


def save_landmarks(landmarks: Sequence[Landmark], path: str | Path) -> Path:
    """Write landmarks to ``path`` (JSON, atomic). Names are validated."""
    points = []
    for lm in landmarks:
        if lm.name not in LABELS:
            raise LandmarkError(f"Landmark name {lm.name!r} is not a known segment.")
        points.append({"name": lm.name, "lps_mm": [float(v) for v in lm.lps_mm]})
    return write_text_atomic(path, json.dumps({"points": points}, indent=2) + "\n")
