"""Filling-defect lesions along a route: runs of defect sections, merged and filtered."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import map_coordinates
from scipy.spatial import cKDTree

from ..anatomy import LABELS
from ..config import Config
from ..geometry import Volume
from ..trace import RouteTrace, TraceResult
from .result import Lesion


def defect_flags(occlusion_pct: np.ndarray, min_occlusion_pct: float) -> np.ndarray:
    """Sections whose occlusion exceeds the threshold (NaN: no vessel found, not a defect)."""
    return np.nan_to_num(np.asarray(occlusion_pct, float), nan=0.0) > min_occlusion_pct


def defect_runs(occlusion_pct: np.ndarray, min_occlusion_pct: float,
                at_centre: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Inclusive index ranges ``(first, last)`` of consecutive sections above the threshold.

    With ``at_centre`` (bool per section), a section counts only where the defect reaches
    the centreline point as well (the route runs inside the defect).
    """
    flag = defect_flags(occlusion_pct, min_occlusion_pct)
    if at_centre is not None:
        flag &= np.asarray(at_centre, dtype=bool)
    edges = np.diff(np.r_[0, flag.astype(np.int8), 0])
    starts = np.nonzero(edges == 1)[0]
    stops = np.nonzero(edges == -1)[0] - 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def merge_runs(runs, s_mm: np.ndarray, *, step_mm: float, length_mm: float, gap_tolerance_mm: float,
               min_length_mm: float, clear: np.ndarray | None = None) -> list[tuple[int, int, float, float]]:
    """Merge runs closer than ``gap_tolerance_mm``, then drop those shorter than ``min_length_mm``.

    A section stands for ``step_mm`` of route, so a run ``(a, b)`` spans
    ``[s[a] - step/2, s[b] + step/2]`` (clipped to ``[0, length_mm]``). With ``clear``
    (bool per section: no defect in the section at all), the gap between two runs is the
    route length of the clear sections between them: sections whose defect lies off the
    centreline (where the route passes a confluence beside a cord) do not part a lesion.

    Returns
    -------
    list of ``(first, last, start_mm, end_mm)``.
    """
    spans: list[list] = []
    for a, b in runs:
        start = max(float(s_mm[a]) - step_mm / 2, 0.0)
        end = min(float(s_mm[b]) + step_mm / 2, length_mm)
        if spans:
            gap = (start - spans[-1][3] if clear is None
                   else float(np.count_nonzero(clear[spans[-1][1] + 1:a])) * step_mm)
        if spans and gap < gap_tolerance_mm:
            spans[-1][1], spans[-1][3] = b, end
        else:
            spans.append([a, b, start, end])
    return [tuple(x) for x in spans if x[3] - x[2] >= min_length_mm]  # type: ignore[misc]


def route_defect_voxels(route: RouteTrace, trace: TraceResult, defects: np.ndarray, grid: Volume,
                        max_dist_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Defect voxels of the route's traced segments and their nearest centreline sample.

    Returns
    -------
    lps : (K, 3) voxel centres, LPS mm.
    sample : (K,) index of the nearest profile sample (voxels farther than
        ``max_dist_mm`` from the centreline are left out).
    """
    prof = route.profile
    if not len(prof) or not route.bbox_zyx:
        return np.zeros((0, 3)), np.zeros(0, int)
    box = tuple(slice(a, b) for a, b in route.bbox_zyx)
    labels = [LABELS[s] for s in route.traced_segments]
    sel = defects[box] & np.isin(trace.veins[box], labels)
    idx = np.argwhere(sel) + np.array([b.start for b in box])
    if not len(idx):
        return np.zeros((0, 3)), np.zeros(0, int)
    lps = grid.index_to_lps(idx)
    dist, near = cKDTree(prof.points_lps_mm).query(lps, distance_upper_bound=max_dist_mm)
    ok = np.isfinite(dist)
    return lps[ok], near[ok]


def lesion_segments(route: RouteTrace, start_mm: float, end_mm: float, min_overlap_mm: float
                    ) -> list[str]:
    """Segments a lesion ``[start_mm, end_mm]`` covers at least ``min_overlap_mm`` of.

    Each traced segment spans the route between its confluences
    (:attr:`~vascseg.trace.RouteTrace.confluences_s_mm`); a shorter overlap is the
    confluence itself. Without any long enough: the segment it overlaps most.
    """
    bounds = np.r_[0.0, np.asarray(route.confluences_s_mm, float), route.length_mm]
    over = np.minimum(end_mm, bounds[1:]) - np.maximum(start_mm, bounds[:-1])
    names = list(route.traced_segments)[:len(over)]
    keep = [n for n, o in zip(names, over, strict=False) if o >= min_overlap_mm]
    return keep or [names[int(np.argmax(over[:len(names)]))]]


REFINE_STEP_MM = 0.1
"""Arc-length step (mm) at which a lesion end is looked for between two sections."""


def _point_at(prof, s_mm: float) -> np.ndarray:
    """(1, 3) route centreline point at arc length ``s_mm`` (linear between samples)."""
    return np.stack([np.interp(s_mm, prof.s_mm, prof.points_lps_mm[:, k]) for k in range(3)])[None]


def refine_end(prof, defects: np.ndarray, grid: Volume, s_out: float, s_in: float,
               default: float) -> float:
    """Where the route centreline enters the defect between ``s_out`` and ``s_in`` (mm).

    The defect mask is interpolated (trilinear, inside where > 0.5) at centreline points
    every :data:`REFINE_STEP_MM` from ``s_out`` (outside the lesion) towards ``s_in``: the
    lesion's end is the first point inside, to a fraction of a section step instead of
    half a step. ``default`` when the centreline is inside at ``s_out`` already or never
    enters the defect there (the section saw the defect beside the centreline).
    """
    n = max(int(np.ceil(abs(s_in - s_out) / REFINE_STEP_MM)), 1) + 1
    s = np.linspace(s_out, s_in, n)
    pts = np.concatenate([_point_at(prof, v) for v in s])
    idx = grid.lps_to_index(pts)
    lo = np.clip(np.floor(idx.min(axis=0)).astype(int) - 1, 0, np.array(defects.shape) - 1)
    hi = np.clip(np.ceil(idx.max(axis=0)).astype(int) + 2, 1, np.array(defects.shape))
    crop = defects[tuple(slice(int(x), int(y)) for x, y in zip(lo, hi, strict=True))].astype(np.float32)
    val = map_coordinates(crop, (idx - lo).T, order=1, mode="constant", cval=0.0, prefilter=False)
    hit = np.nonzero(val > 0.5)[0]
    if not len(hit) or hit[0] == 0:
        return default
    return float(0.5 * (s[hit[0] - 1] + s[hit[0]]))


def find_lesions(route: RouteTrace, trace: TraceResult, defects: np.ndarray, grid: Volume,
                 config: Config) -> list[Lesion]:
    """Lesions of one route, pelvic first."""
    prof = route.profile
    mc = config.measure
    if not len(prof):
        return []
    # A lesion runs from the first to the last section where the route lies inside the
    # defect; a stretch where the defect is only beside the centreline (a confluence the cord
    # passes through off the route's path) does not count as a gap between two foci.
    runs = defect_runs(prof.occlusion_pct, mc.min_occlusion_pct, prof.defect_at_centre)
    clear = ~defect_flags(prof.occlusion_pct, mc.min_occlusion_pct)
    spans = merge_runs(runs, prof.s_mm, step_mm=config.trace.step_mm, length_mm=route.length_mm,
                       gap_tolerance_mm=mc.gap_tolerance_mm, min_length_mm=mc.min_lesion_length_mm,
                       clear=clear)
    if not spans:
        return []
    lps, near = route_defect_voxels(route, trace, defects, grid, config.trace.section_radius_mm)
    order = {s: k for k, s in enumerate(route.definition.segments)}
    step = config.trace.step_mm
    out = []
    for a, b, start, end in spans:
        start = refine_end(prof, defects, grid, prof.s_mm[a] - step, prof.s_mm[a] + step, start)
        end = refine_end(prof, defects, grid, prof.s_mm[b] + step, prof.s_mm[b] - step, end)
        start, end = max(start, 0.0), min(end, route.length_mm)
        inside = (near >= a) & (near <= b)
        # the extent is that of the route centreline inside the lesion: defect voxels of an
        # oblique vein reach a radius beyond it in z, and those of a neighbouring vein's
        # defect labelled into this route's segments at a confluence even farther.
        pts = np.concatenate([_point_at(prof, start), prof.points_lps_mm[a:b + 1], _point_at(prof, end)])
        z = pts[:, 2]
        zmax, zmin = float(z.max()), float(z.min())
        cranial = pts[z >= zmax - 1e-6].mean(axis=0)
        caudal = pts[z <= zmin + 1e-6].mean(axis=0)
        segs = lesion_segments(route, start, end, mc.min_segment_overlap_mm)
        segs = sorted(segs, key=lambda s: order.get(s, 99))
        occ = prof.occlusion_pct[a:b + 1]
        out.append(Lesion(
            start_mm=start, end_mm=end, length_mm=end - start, segments=tuple(segs),
            z_min_mm=zmin, z_max_mm=zmax,
            cranial_end_lps_mm=tuple(float(v) for v in cranial),  # type: ignore[arg-type]
            caudal_end_lps_mm=tuple(float(v) for v in caudal),  # type: ignore[arg-type]
            volume_ml=float(inside.sum()) * grid.voxel_volume_ml,
            max_occlusion_pct=float(np.nanmax(occ)) if np.isfinite(occ).any() else 0.0,
        ))
    return out
