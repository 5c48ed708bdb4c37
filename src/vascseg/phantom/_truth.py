"""The phantom's ground truth as a JSON-ready dict (written as ``truth.json``).

Everything is in physical units: arc lengths and diameters in mm, points in LPS mm. Per
route: the centreline every 1 mm from the pelvic end to the cranial end, the nominal
vessel diameter there (equivalent diameter of the painted cross-section, lumen + defect),
the lesion foci as arc-length intervals with their z extent and segments, the continuity
pattern seen *on that route*, and for iliac routes the May-Thurner stenosis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..anatomy import DEFAULT_ROUTES, LABELS
from ._curves import Tube
from ._lesions import RouteGeom, defect_runs
from ._paint import Grid
from ._vessels import VesselTree

TRUTH_VERSION = "1"
PROFILE_STEP_MM = 1.0
MIN_SEGMENT_OVERLAP_MM = 5.0
"""A lesion involves a segment when it covers at least this much of it along the route
(shorter overlaps are the confluence itself; ``MeasureConfig.min_segment_overlap_mm``); one
that covers no segment this much involves the one it overlaps most, as in the report."""
MIN_LESION_MM = 3.0
"""Runs shorter than this are not lesions (``MeasureConfig.min_lesion_length_mm``)."""
GAP_TOLERANCE_MM = 10.0
"""Runs closer than this are one focus (``MeasureConfig.gap_tolerance_mm``): where a cord
passes a confluence the route's centreline can leave its tube for a millimetre or two (the
tube follows the lesioned route's radius, which jumps there), which is not a second focus.
Foci are placed at least 25 mm apart."""
END_MARGIN_MM = 8.0
"""Reference and stenosis diameters ignore this much of each segment end (confluences)."""


def series_description(spec) -> str:
    """SeriesDescription of a phantom: modality, pattern, route and seed; no patient data."""
    extra = []
    if spec.occlusion:
        extra.append("occlusion")
    if spec.stenosis_pct:
        extra.append(f"MT{spec.stenosis_pct:g}")
    return " ".join(["vascseg phantom", spec.modality, spec.pattern, spec.route, f"seed{spec.seed}",
                     *extra])[:64]


def _r(x: float, nd: int = 3) -> float:
    return round(float(x), nd)


def _segment_diameters(t: Tube) -> tuple[np.ndarray, np.ndarray]:
    """Equivalent (area) and minimal (minor axis) diameter per centreline sample (mm)."""
    return 2.0 * t.radius * np.sqrt(t.flatten), 2.0 * t.radius * t.flatten


def _inner(t: Tube) -> np.ndarray:
    s = t.s
    keep = (s >= END_MARGIN_MM) & (s <= s[-1] - END_MARGIN_MM)
    return keep if keep.any() else np.ones_like(s, dtype=bool)


def _route_diameter(tree: VesselTree, geom: RouteGeom, s_mm: np.ndarray) -> np.ndarray:
    out = np.empty(len(s_mm))
    for i, s in enumerate(s_mm):
        seg, u = geom.seg_arc(float(s))
        t = tree.veins[seg]
        eq, _ = _segment_diameters(t)
        out[i] = np.interp(u, t.s, eq)
    return out


def _lesion(geom: RouteGeom, lo: float, hi: float) -> dict[str, Any]:
    s = np.linspace(lo, hi, max(int(np.ceil((hi - lo) / 0.25)), 1) + 1)
    pts = geom.sample(s)
    over = [(min(hi, p.route_s1) - max(lo, p.route_s0), p.segment) for p in geom.pieces]
    segs = []
    for o, seg in over:
        if o >= MIN_SEGMENT_OVERLAP_MM and seg not in segs:
            segs.append(seg)
    if not segs:  # a focus within a confluence: the segment it overlaps most (never none)
        segs = [max(over)[1]]
    caudal = pts[int(np.argmin(pts[:, 2]))]
    cranial = pts[int(np.argmax(pts[:, 2]))]
    return {
        "start_mm": _r(lo, 2), "end_mm": _r(hi, 2), "length_mm": _r(hi - lo, 2),
        "z_min_mm": _r(pts[:, 2].min(), 2), "z_max_mm": _r(pts[:, 2].max(), 2),
        "caudal_point_lps_mm": [_r(v, 2) for v in caudal],
        "cranial_point_lps_mm": [_r(v, 2) for v in cranial],
        "segments": segs,
    }


def _stenosis(tree: VesselTree, route) -> dict[str, Any] | None:
    if not route.reference_segment or not route.stenosis_segments:
        return None
    ref = tree.veins[route.reference_segment]
    eq, _ = _segment_diameters(ref)
    ref_d = float(np.median(eq[_inner(ref)]))
    mins = []
    for seg in route.stenosis_segments:
        t = tree.veins[seg]
        _, minor = _segment_diameters(t)
        keep = _inner(t)
        i = int(np.argmin(np.where(keep, minor, np.inf)))
        mins.append((float(minor[i]), seg, t.points[i]))
    d_min, seg, point = min(mins, key=lambda m: m[0])
    return {
        "segment": seg, "reference_segment": route.reference_segment,
        "reference_diameter_mm": _r(ref_d), "min_diameter_mm": _r(d_min),
        "diameter_stenosis_pct": _r(100.0 * (1.0 - d_min / ref_d), 2),
        "point_lps_mm": [_r(v, 2) for v in point],
    }


def build_truth(spec, grid: Grid, tree: VesselTree, geoms: dict[str, RouteGeom],
                defects: list[Tube], foci: list[tuple[float, float]], tissues: dict[str, float],
                *, extra: dict[str, Any]) -> dict[str, Any]:
    """Ground truth of every default route for the lesions placed on ``spec.route``."""
    routes: dict[str, Any] = {}
    clip = [tree.veins[s] for s in geoms[spec.route].segments]
    for route in DEFAULT_ROUTES:
        geom = geoms[route.name]
        s = np.arange(0.0, geom.length_mm + 1e-9, PROFILE_STEP_MM)
        pts = geom.sample(s)
        runs = defect_runs(geom, defects, clip, MIN_LESION_MM, GAP_TOLERANCE_MM)
        lesions = [_lesion(geom, lo, hi) for lo, hi in runs]
        pattern = "none" if not lesions else ("continuous" if len(lesions) == 1 else "discontinuous")
        gaps = [_r(b["start_mm"] - a["end_mm"], 2) for a, b in zip(lesions, lesions[1:], strict=False)]
        routes[route.name] = {
            "segments": list(route.segments),
            "segment_start_mm": {p.segment: _r(p.route_s0, 2) for p in geom.pieces},
            "length_mm": _r(geom.length_mm, 2),
            "pattern": pattern,
            "lesions": lesions,
            "gaps_mm": gaps,
            "cranial_z_mm": max((x["z_max_mm"] for x in lesions), default=None),
            "caudal_z_mm": min((x["z_min_mm"] for x in lesions), default=None),
            "s_mm": [_r(v, 2) for v in s],
            "points_lps_mm": [[_r(v, 2) for v in p] for p in pts],
            "diameter_mm": [_r(v) for v in _route_diameter(tree, geom, s)],
            "stenosis": _stenosis(tree, route),
        }
    segments = {}
    for name, t in tree.veins.items():
        eq, minor = _segment_diameters(t)
        inner = _inner(t)
        segments[name] = {
            "label": LABELS[name], "length_mm": _r(t.length_mm, 2),
            "mean_diameter_mm": _r(eq[inner].mean()), "min_diameter_mm": _r(minor[inner].min()),
            "z_range_mm": [_r(t.points[:, 2].min(), 2), _r(t.points[:, 2].max(), 2)],
        }
    return {
        "truth_version": TRUTH_VERSION,
        "generator": "vascseg.phantom",
        "pattern": spec.pattern, "route": spec.route, "modality": spec.modality, "seed": spec.seed,
        "occlusion": bool(spec.occlusion), "stenosis_pct_requested": float(spec.stenosis_pct),
        "grid": {"shape_zyx": list(grid.shape), "spacing_zyx_mm": list(grid.spacing),
                 "origin_lps_mm": list(grid.origin)},
        "foci_on_route_mm": [[_r(a, 2), _r(b, 2)] for a, b in foci],
        "routes": routes,
        "segments": segments,
        "tissues": {k: _r(v, 1) for k, v in tissues.items()},
        "mt_crossing": {k: (_r(v) if isinstance(v, float) else v) for k, v in tree.mt_crossing.items()},
        **extra,
    }
