"""A ``vascseg run`` output folder as the viewer sees it (no Qt).

:func:`load_run` reads the folder (report.json, veins/defects NIfTI, route CSVs and,
through ``source.json``, the image it was computed from); :func:`run_layers` turns it
into layer-data tuples.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..geometry import Volume
from ._layers import (
    LayerData,
    defects_layer,
    image_layer,
    lesion_layer,
    read_route_csvs,
    route_layers,
    veins_layer,
)

log = logging.getLogger(__name__)

RUN_MARKERS = ("report.json", "veins.nii.gz")
"""Files whose presence makes a folder a ``vascseg run`` output."""


def is_run_dir(path: str | Path) -> bool:
    """True when ``path`` is a folder holding a run's report.json and veins.nii.gz."""
    p = Path(path)
    return p.is_dir() and all((p / m).is_file() for m in RUN_MARKERS)


def read_label_volume(path: str | Path) -> Volume:
    """A label NIfTI written by vascseg as a :class:`Volume` (array as stored, LPS geometry)."""
    import SimpleITK as sitk

    return Volume.from_sitk(sitk.ReadImage(str(path)))


@dataclass(eq=False)
class RunFolder:
    """What the viewer needs from a run folder.

    Attributes
    ----------
    path : the run folder.
    report : parsed report.json.
    grid : the label grid (veins.nii.gz; its array is the vein labels (Z, Y, X) uint8).
    defects : (Z, Y, X) uint8 0/1 filling-defect mask on ``grid``.
    routes : route tables from routes/*.csv (column arrays, see ``ROUTE_COLUMNS``).
    image : the source image when ``source.json`` points at something loadable, else None.
    source : parsed source.json (empty dict when absent).
    notes : what could not be loaded and why.
    """

    path: Path
    report: dict[str, Any]
    grid: Volume
    defects: np.ndarray
    routes: dict[str, dict[str, np.ndarray]]
    image: Volume | None = None
    source: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def veins(self) -> np.ndarray:
        """(Z, Y, X) uint8 vein labels."""
        return self.grid.array


def load_source_image(source: dict[str, Any], notes: list[str]) -> Volume | None:
    """Load the image a run was computed from; None (with a note) when it is unavailable."""
    from ..io import load_series

    src = source.get("input_path")
    if not src:
        notes.append("source.json names no input image: showing the labels only")
        return None
    if not Path(src).exists():
        notes.append(f"source image {src} no longer exists: showing the labels only")
        return None
    try:
        return load_series(src, series=source.get("series") or None)
    except Exception as exc:  # noqa: BLE001 - the viewer still shows the labels
        notes.append(f"could not load the source image {src}: {exc}")
        return None


def load_run(path: str | Path, *, with_image: bool = True) -> RunFolder:
    """Read a ``vascseg run`` output folder (never writes to it)."""
    p = Path(path)
    report = json.loads((p / "report.json").read_text(encoding="utf-8"))
    grid = read_label_volume(p / "veins.nii.gz")
    grid = grid.with_array(grid.array.astype(np.uint8, copy=False))
    notes: list[str] = []
    if (p / "defects.nii.gz").is_file():
        dvol = read_label_volume(p / "defects.nii.gz")
        if not dvol.same_grid(grid):
            raise ValueError(f"{p / 'defects.nii.gz'} is not on the grid of veins.nii.gz")
        defects = (dvol.array > 0).astype(np.uint8)
    else:
        notes.append("no defects.nii.gz: starting with an empty defect mask")
        defects = np.zeros(grid.shape, np.uint8)
    source: dict[str, Any] = {}
    if (p / "source.json").is_file():
        source = json.loads((p / "source.json").read_text(encoding="utf-8"))
    image = load_source_image(source, notes) if with_image else None
    if image is not None and not image.same_grid(grid):
        notes.append("the source image is not on the label grid (shown in world coordinates)")
    for n in notes:
        log.warning("%s: %s", p, n)
    return RunFolder(p, report, grid, defects, read_route_csvs(p / "routes"), image, source, notes)


def run_layers(run: RunFolder, *, preset: str = "venous") -> list[LayerData]:
    """Image (if found), veins, defects, one Points layer per route and the lesion ends."""
    layers: list[LayerData] = []
    if run.image is not None:
        layers.append(image_layer(run.image, preset=preset))
    layers.append(veins_layer(run.veins, run.grid))
    layers.append(defects_layer(run.defects, run.grid))
    layers.extend(route_layers(run.routes, run.grid))
    layers.append(lesion_layer(run.report, run.grid, run.routes))
    for _, kwargs, _ in layers:
        kwargs["metadata"]["vascseg"]["run_dir"] = str(run.path.resolve())
    return layers
