"""npe2 readers: a ``vascseg run`` output folder, and a DICOM folder / series / image file.

Readers return ``None`` for what they cannot read (napari then tries another reader) and
never raise while deciding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._layers import LayerData, image_layer, landmarks_layer
from ._run import is_run_dir, load_run, run_layers

log = logging.getLogger(__name__)

ReaderFn = Callable[[Any], list[LayerData]]

IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm")
"""Single-file images :func:`vascseg.io.load_series` reads besides DICOM folders."""


def _single_path(path: Any) -> Path | None:
    if isinstance(path, list | tuple):
        if len(path) != 1:
            return None
        path = path[0]
    try:
        return Path(path)
    except TypeError:
        return None


def get_run_reader(path: Any) -> ReaderFn | None:
    """Reader for a ``vascseg run`` output folder (report.json + veins.nii.gz), or a revision."""
    p = _single_path(path)
    if p is None:
        return None
    if p.is_file() and p.name == "report.json":
        p = p.parent
    return read_run if is_run_dir(p) else None


def read_run(path: Any) -> list[LayerData]:
    """Layers of a run folder: image (via source.json), veins, defects, routes, lesion ends."""
    p = _single_path(path)
    if p is not None and p.is_file():
        p = p.parent
    return run_layers(load_run(p))


def _looks_like_series(p: Path) -> bool:
    name = p.name.lower()
    if p.is_file():
        return name.endswith(IMAGE_SUFFIXES) or "." not in name  # DICOM files often lack a suffix
    if not p.is_dir() or is_run_dir(p):
        return False
    try:
        from ..io import find_series

        return bool(find_series(p).series)
    except Exception as exc:  # noqa: BLE001 - a reader never raises while deciding
        log.debug("%s: not a series (%s)", p, exc)
        return False


def get_series_reader(path: Any) -> ReaderFn | None:
    """Reader for a DICOM folder or file, or a NIfTI/NRRD/MHA image; None otherwise."""
    p = _single_path(path)
    if p is None or not p.exists():
        return None
    return read_series if _looks_like_series(p) else None


def series_layers(path: str | Path, *, series: str | None = None) -> list[LayerData]:
    """The image of one series (CT venous window) and an empty, editable landmarks layer."""
    from ..io import load_series

    vol = load_series(path, series=series)
    img = image_layer(vol)
    img[1]["metadata"]["vascseg"]["source_path"] = str(Path(path).resolve())
    img[1]["metadata"]["vascseg"]["series"] = series
    return [img, landmarks_layer(vol)]


def pick_series(path: str | Path) -> str | None:
    """Id of the series to show at ``path``: the one with most slices (None: let the loader pick)."""
    from ..io import find_series

    found = find_series(path).series
    if len(found) <= 1:
        return None
    best = max(found, key=lambda s: (s.shape_zyx or (0, 0, 0))[0] * max(s.n_files, 1))
    log.info("%s holds %d series: showing %s (%s)", path, len(found), best.short_id, best.description)
    return best.id


def read_series(path: Any) -> list[LayerData]:
    """Read a series at ``path`` (the largest one when the folder holds several)."""
    p = _single_path(path)
    return series_layers(p, series=pick_series(p) if p.is_dir() else None)
