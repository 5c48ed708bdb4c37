"""Layer builders: plain functions returning napari layer-data tuples (no Qt, no viewer).

Coordinate convention (the one place it is defined for the plugin)
------------------------------------------------------------------
napari **world** coordinates are patient LPS millimetres in ``(z, y, x)`` order: world
axis 0 is patient z (+ superior), axis 1 patient y (+ posterior), axis 2 patient x
(+ patient left). A layer's **data** coordinates are array indices ``(z, y, x)`` of the
:class:`~vascseg.geometry.Volume` it belongs to, for images, labels *and* points.

Every layer of one volume gets the same transform from :func:`grid_transform`:

* ``scale = spacing_mm`` (dz, dy, dx) always, so napari's brush, measurements and
  status bar work in mm on anisotropic CT;
* a plain axial stack (direction = identity in ``(z, y, x)`` order) gets
  ``translate`` = world position of voxel 0 (the origin, reversed to ``(z, y, x)``);
* any other direction (flipped, coronal, oblique) gets ``translate = 0`` and an
  ``affine`` whose linear part is the direction matrix with its rows reversed to
  ``(z, y, x)`` order and whose translation is the origin, so
  ``world = affine @ (scale * index)``.

:func:`lps_to_world` / :func:`world_to_lps` swap between ``(x, y, z)`` LPS points (what
vascseg files and reports use) and ``(z, y, x)`` world points.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..anatomy import COLOURS, DEFECT_COLOUR, LABELS, NAMES_BY_LABEL
from ..geometry import Volume

LayerData = tuple[Any, dict[str, Any], str]
"""``(data, kwargs, layer_type)`` as napari readers and sample-data functions return."""

WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "venous": (400.0, 100.0),
    "soft tissue": (350.0, 40.0),
    "bone": (1800.0, 400.0),
}
"""CT window presets: name -> (width, level) in HU."""

ROUTE_COLUMNS: tuple[str, ...] = (
    "s_mm", "x_mm", "y_mm", "z_mm", "segment", "lumen_area_mm2", "equivalent_diameter_mm",
    "min_diameter_mm", "max_diameter_mm", "defect_area_mm2", "occlusion_pct",
)
"""Columns of ``routes/<route>.csv`` (DESIGN.md)."""

OCCLUDED_PCT = 5.0
"""Centreline points whose occlusion exceeds this are outlined in the defect colour."""

_META_KEY = "vascseg"


# ----------------------------------------------------------------------------- geometry
def lps_to_world(points_lps_mm: Any) -> np.ndarray:
    """(N, 3) or (3,) LPS points ``(x, y, z)`` mm -> napari world ``(z, y, x)`` mm."""
    return np.asarray(points_lps_mm, dtype=np.float64)[..., ::-1].copy()


def world_to_lps(points_world: Any) -> np.ndarray:
    """(N, 3) or (3,) napari world points ``(z, y, x)`` mm -> LPS ``(x, y, z)`` mm."""
    return np.asarray(points_world, dtype=np.float64)[..., ::-1].copy()


def grid_transform(grid: Volume) -> dict[str, Any]:
    """``scale``/``translate`` (and ``affine`` if not a plain axial stack) of ``grid``'s layers."""
    d_zyx = np.asarray(grid.direction)[::-1, :]
    origin_zyx = tuple(float(v) for v in grid.origin_lps_mm[::-1])
    scale = tuple(float(s) for s in grid.spacing_mm)
    if np.allclose(d_zyx, np.eye(3), atol=1e-9):
        return {"scale": scale, "translate": origin_zyx}
    affine = np.eye(4)
    affine[:3, :3] = d_zyx
    affine[:3, 3] = origin_zyx
    return {"scale": scale, "translate": (0.0, 0.0, 0.0), "affine": affine}


def grid_metadata(grid: Volume, role: str, **extra: Any) -> dict[str, Any]:
    """Layer metadata recording the grid (so a layer can be turned back into a Volume)."""
    meta = {
        "role": role,
        "shape_zyx": list(grid.shape),
        "spacing_mm": list(grid.spacing_mm),
        "origin_lps_mm": list(grid.origin_lps_mm),
        "direction": np.asarray(grid.direction).tolist(),
        "modality": grid.modality,
        "series_uid_sha256": grid.series_uid_sha256,
    }
    meta.update(extra)
    return {_META_KEY: meta}


def layer_role(layer: Any) -> str | None:
    """The vascseg role of a layer (``"image"``, ``"veins"``, ...) or None."""
    meta = getattr(layer, "metadata", None) or {}
    return (meta.get(_META_KEY) or {}).get("role")


def layer_meta(layer: Any) -> dict[str, Any]:
    """The vascseg metadata block of a layer (empty dict for foreign layers)."""
    return dict((getattr(layer, "metadata", None) or {}).get(_META_KEY) or {})


def volume_from_layer(layer: Any, array: np.ndarray | None = None) -> Volume:
    """Rebuild the :class:`Volume` of a layer made by these builders.

    The array is the layer's data for images/labels; pass ``array`` for points layers (or a
    zero array of the recorded shape is used).
    """
    meta = layer.metadata[_META_KEY]
    if array is None:
        array = np.asarray(layer.data)
        if array.ndim != 3:
            array = np.zeros(tuple(meta["shape_zyx"]), np.uint8)
    return Volume(
        np.asarray(array), tuple(meta["spacing_mm"]), tuple(meta["origin_lps_mm"]),
        direction=np.asarray(meta["direction"]), modality=meta.get("modality") or "OT",
        series_uid_sha256=meta.get("series_uid_sha256"),
    )


def points_to_lps(layer: Any) -> np.ndarray:
    """(N, 3) LPS ``(x, y, z)`` mm of a Points layer made by these builders (data = indices)."""
    meta = layer.metadata[_META_KEY]
    idx = np.asarray(layer.data, float).reshape(-1, 3)
    d = np.asarray(meta["direction"], float) * np.asarray(meta["spacing_mm"], float)[None, :]
    return idx @ d.T + np.asarray(meta["origin_lps_mm"], float)


# ----------------------------------------------------------------------------- images
def window_limits(preset: str) -> tuple[float, float]:
    """Contrast limits ``(level - width/2, level + width/2)`` of a CT window preset in HU."""
    try:
        width, level = WINDOW_PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown window preset {preset!r}; known: {', '.join(WINDOW_PRESETS)}") from None
    return level - width / 2.0, level + width / 2.0


def image_layer(volume: Volume, *, preset: str = "venous", name: str | None = None) -> LayerData:
    """The image layer of ``volume``: CT windowed with ``preset``, MR on robust percentiles."""
    arr = volume.array
    if volume.modality == "CT":
        limits = window_limits(preset)
    else:
        sample = arr[:: max(1, arr.shape[0] // 16)]
        lo, hi = np.percentile(sample, [1.0, 99.5]) if sample.size else (0.0, 1.0)
        limits = (float(lo), float(hi) if hi > lo else float(lo) + 1.0)
    kwargs = {
        "name": name or (volume.description or f"{volume.modality} image"),
        "colormap": "gray",
        "contrast_limits": limits,
        "metadata": grid_metadata(volume, "image", preset=preset),
        **grid_transform(volume),
    }
    return arr, kwargs, "image"


def _rgba(rgb: Sequence[int], alpha: float = 1.0) -> tuple[float, float, float, float]:
    return (rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0, alpha)


def vein_colormap() -> dict[int | None, tuple[float, float, float, float]]:
    """Direct label colours: each label in :data:`~vascseg.anatomy.COLOURS`, others transparent."""
    cmap: dict[int | None, tuple[float, float, float, float]] = {None: (0.0, 0.0, 0.0, 0.0),
                                                                 0: (0.0, 0.0, 0.0, 0.0)}
    for name, label in LABELS.items():
        cmap[label] = _rgba(COLOURS[name])
    return cmap


def defect_colormap() -> dict[int | None, tuple[float, float, float, float]]:
    """Direct label colours of the defect mask: 1 in :data:`~vascseg.anatomy.DEFECT_COLOUR`."""
    return {None: (0.0, 0.0, 0.0, 0.0), 0: (0.0, 0.0, 0.0, 0.0), 1: _rgba(DEFECT_COLOUR)}


def veins_layer(veins: np.ndarray, grid: Volume, *, name: str = "veins", opacity: float = 0.7) -> LayerData:
    """Vein label layer (labels per :data:`~vascseg.anatomy.LABELS`), segment names as features."""
    labels = [0, *sorted(NAMES_BY_LABEL)]
    features = {"index": np.asarray(labels), "name": ["background"] + [NAMES_BY_LABEL[k] for k in labels[1:]]}
    kwargs = {
        "name": name,
        "colormap": vein_colormap(),
        "features": features,
        "opacity": opacity,
        "metadata": grid_metadata(grid, "veins"),
        **grid_transform(grid),
    }
    return np.asarray(veins).astype(np.uint8, copy=True), kwargs, "labels"


def defects_layer(defects: np.ndarray, grid: Volume, *, name: str = "defects", opacity: float = 0.8) -> LayerData:
    """Filling-defect label layer (1 = defect) drawn in :data:`~vascseg.anatomy.DEFECT_COLOUR`."""
    kwargs = {
        "name": name,
        "colormap": defect_colormap(),
        "features": {"index": np.asarray([0, 1]), "name": ["background", "filling defect"]},
        "opacity": opacity,
        "metadata": grid_metadata(grid, "defects"),
        **grid_transform(grid),
    }
    return (np.asarray(defects) > 0).astype(np.uint8), kwargs, "labels"


# ----------------------------------------------------------------------------- routes
def route_tables_from_trace(trace: Any) -> dict[str, dict[str, np.ndarray]]:
    """Route profile tables (columns of :data:`ROUTE_COLUMNS`) from a ``TraceResult``."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for route in trace.routes:
        p = route.profile
        pts = np.asarray(p.points_lps_mm, dtype=float).reshape(-1, 3)
        out[route.name] = {
            "s_mm": np.asarray(p.s_mm, float),
            "x_mm": pts[:, 0], "y_mm": pts[:, 1], "z_mm": pts[:, 2],
            "segment": np.asarray(p.segment).astype(str),
            **{k: np.asarray(getattr(p, k), float) for k in ROUTE_COLUMNS[5:]},
        }
    return out


def read_route_csvs(routes_dir: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Read every ``routes/<route>.csv`` of a run into column arrays (empty dict if none)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    d = Path(routes_dir)
    if not d.is_dir():
        return out
    files = sorted(d.glob("*.csv"))
    if not files and (d / "routes").is_dir():  # tolerate routes/routes/*.csv (older writers)
        files = sorted((d / "routes").glob("*.csv"))
    for f in files:
        with f.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        cols: dict[str, np.ndarray] = {}
        for col in ROUTE_COLUMNS:
            vals = [r.get(col, "") for r in rows]
            if col == "segment":
                cols[col] = np.asarray(vals, dtype=str)
            else:
                cols[col] = np.asarray([float(v) if v not in ("", None) else np.nan for v in vals], float)
        out[f.stem] = cols
    return out


def route_points_layer(name: str, table: Mapping[str, np.ndarray], grid: Volume, *,
                       size: float = 2.0) -> LayerData:
    """Centreline samples of one route as a Points layer; features hold the profile.

    Points are filled with their segment's colour and outlined in the defect colour
    where the section's occlusion exceeds :data:`OCCLUDED_PCT`.
    """
    pts = np.stack([table["x_mm"], table["y_mm"], table["z_mm"]], axis=1) if len(table["s_mm"]) else np.zeros((0, 3))
    data = grid.lps_to_index(pts).reshape(-1, 3)
    seg = np.asarray(table["segment"]).astype(str)
    occ = np.nan_to_num(np.asarray(table["occlusion_pct"], float), nan=0.0)
    face = np.array([_rgba(COLOURS.get(s, (255, 255, 255))) for s in seg]).reshape(-1, 4)
    border = np.where((occ > OCCLUDED_PCT)[:, None], _rgba(DEFECT_COLOUR), (1.0, 1.0, 1.0, 1.0)).reshape(-1, 4)
    features = {k: np.asarray(table[k]) for k in ROUTE_COLUMNS if k in table}
    kwargs = {
        "name": f"route {name}",
        "features": features,
        "face_color": face,
        "border_color": border,
        "border_width": 0.25,
        "size": size,
        "metadata": grid_metadata(grid, "route", route=name),
        **grid_transform(grid),
    }
    return data, kwargs, "points"


def route_layers(tables: Mapping[str, Mapping[str, np.ndarray]], grid: Volume) -> list[LayerData]:
    """One Points layer per route with at least one centreline sample."""
    return [route_points_layer(n, t, grid) for n, t in tables.items() if len(t["s_mm"])]


def _segment_at(table: Mapping[str, np.ndarray] | None, s_mm: float) -> str | None:
    if table is None or not len(table["s_mm"]):
        return None
    i = int(np.argmin(np.abs(np.asarray(table["s_mm"], float) - s_mm)))
    return str(table["segment"][i])


def lesion_ends(report: Mapping[str, Any], tables: Mapping[str, Mapping[str, np.ndarray]] | None = None,
                *, merge_mm: float = 0.5) -> list[dict[str, Any]]:
    """Caudal and cranial end of every lesion in ``report`` (ends shared by routes merged).

    Each item: ``end`` ("caudal"/"cranial"), ``routes`` (list), ``lesion`` (1-based index on
    its first route), ``segment``, ``lps_mm`` (x, y, z), ``z_mm``, ``s_mm``.
    """
    ends: list[dict[str, Any]] = []
    for route in report.get("routes", []):
        table = (tables or {}).get(route["name"])
        for k, les in enumerate(route.get("lesions") or [], start=1):
            segs = list(les.get("segments") or [])
            for end, key, s_key, fallback in (("caudal", "caudal_end_lps_mm", "start_mm", segs[:1]),
                                              ("cranial", "cranial_end_lps_mm", "end_mm", segs[-1:])):
                lps = les.get(key)
                if lps is None:
                    continue
                lps = np.asarray(lps, float)
                seg = _segment_at(table, float(les[s_key])) or (fallback[0] if fallback else "?")
                for e in ends:
                    if e["end"] == end and np.linalg.norm(e["lps_mm"] - lps) <= merge_mm:
                        e["routes"].append(route["name"])
                        break
                else:
                    ends.append({"end": end, "routes": [route["name"]], "lesion": k, "segment": seg,
                                 "lps_mm": lps, "z_mm": float(lps[2]), "s_mm": float(les[s_key])})
    return ends


def lesion_text(end: Mapping[str, Any]) -> str:
    """Label of a lesion end, e.g. ``"cranial end, ivc, z=-93.4 mm, s=236.5 mm"``."""
    return f"{end['end']} end, {end['segment']}, z={end['z_mm']:.1f} mm, s={end['s_mm']:.1f} mm"


def lesion_layer(report: Mapping[str, Any], grid: Volume,
                 tables: Mapping[str, Mapping[str, np.ndarray]] | None = None, *,
                 name: str = "lesion extent", size: float = 6.0) -> LayerData:
    """Points at each lesion's caudal and cranial end, labelled with segment and z."""
    ends = lesion_ends(report, tables)
    lps = np.array([e["lps_mm"] for e in ends], float).reshape(-1, 3)
    features = {
        "end": np.asarray([e["end"] for e in ends], dtype=object),
        "route": np.asarray([", ".join(e["routes"]) for e in ends], dtype=object),
        "lesion": np.asarray([e["lesion"] for e in ends], dtype=int),
        "segment": np.asarray([e["segment"] for e in ends], dtype=object),
        "z_mm": np.asarray([e["z_mm"] for e in ends], dtype=float),
        "s_mm": np.asarray([e["s_mm"] for e in ends], dtype=float),
        "label": np.asarray([lesion_text(e) for e in ends], dtype=object),
    }
    kwargs = {
        "name": name,
        "features": features,
        "text": {"string": "{label}", "color": "yellow", "size": 10, "anchor": "upper_left"},
        "symbol": "cross",
        "face_color": np.asarray(_rgba(DEFECT_COLOUR)),
        "border_color": np.asarray([1.0, 1.0, 0.0, 1.0]),
        "size": size,
        "metadata": grid_metadata(grid, "lesions"),
        **grid_transform(grid),
    }
    return grid.lps_to_index(lps).reshape(-1, 3), kwargs, "points"


def landmarks_layer(grid: Volume, landmarks: Iterable[Any] = (), *, default_name: str = "ivc",
                    name: str = "landmarks") -> LayerData:
    """Editable Points layer of landmarks; the ``name`` feature holds each point's vein.

    ``landmarks`` are objects with ``name`` and ``lps_mm`` (``vascseg.io.Landmark``) or
    dicts with the same keys.
    """
    names, pts = [], []
    for lm in landmarks:
        get = lm.get if isinstance(lm, Mapping) else lambda k, _lm=lm: getattr(_lm, k)
        names.append(str(get("name")))
        pts.append([float(v) for v in get("lps_mm")])
    data = grid.lps_to_index(np.asarray(pts, float).reshape(-1, 3)).reshape(-1, 3)
    kwargs = {
        "name": name,
        "features": {"name": np.asarray(names, dtype=object)},
        "feature_defaults": {"name": default_name},
        "text": {"string": "{name}", "color": "white", "size": 9, "anchor": "upper_left"},
        "face_color": np.asarray([1.0, 1.0, 1.0, 1.0]),
        "size": 4.0,
        "metadata": grid_metadata(grid, "landmarks"),
        **grid_transform(grid),
    }
    return data, kwargs, "points"
