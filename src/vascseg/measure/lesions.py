"""Filling-defect lesions along a route: runs of defect sections, merged and filtered."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..anatomy import LABELS
from ..config import Config
from ..geometry import Volume
from ..trace import RouteTrace, TraceResult
from .result import Lesion


def defect_runs(occlusion_pct: np.ndarray, min_occlusion_pct: float,
                at_centre: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Inclusive index ranges ``(first, last)`` of consecutive sections above the threshold.

    With ``at_centre`` (bool per section), a section counts only where the defect reaches
    the centreline point as well (the route runs inside the defect).
    """
    flag = np.nan_to_num(np.asarray(occlusion_pct, float), nan=0.0) > min_occlusion_pct
    if at_centre is not None:
        flag &= np.asarray(at_centre, dtype=bool)
    edges = np.diff(np.r_[0, flag.astype(np.int8), 0])
    starts = np.nonzero(edges == 1)[0]
    stops = np.nonzero(edges == -1)[0] - 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def merge_runs(runs, s_mm: np.ndarray, *, step_mm: float, length_mm: float, gap_tolerance_mm: float,
               min_length_mm: float) -> list[tuple[int, int, float, float]]:
    """Merge runs closer than ``gap_tolerance_mm``, then drop those shorter than ``min_length_mm``.

    A section stands for ``step_mm`` of route, so a run ``(a, b)`` spans
    ``[s[a] - step/2, s[b] + step/2]`` (clipped to ``[0, length_mm]``).

    Returns
    -------
    list of ``(first, last, start_mm, end_mm)``.
    """
    spans: list[list] = []
    for a, b in runs:
        start = max(float(s_mm[a]) - step_mm / 2, 0.0)
        end = min(float(s_mm[b]) + step_mm / 2, length_mm)
        if spans and start - spans[-1][3] < gap_tolerance_mm:
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


def find_lesions(route: RouteTrace, trace: TraceResult, defects: np.ndarray, grid: Volume,
                 config: Config) -> list[Lesion]:
    """Lesions of one route, pelvic first."""
    prof = route.profile
    mc = config.measure
    if not len(prof):
        return []
    runs = defect_runs(prof.occlusion_pct, mc.min_occlusion_pct, prof.defect_at_centre)
    spans = merge_runs(runs, prof.s_mm, step_mm=config.trace.step_mm, length_mm=route.length_mm,
                       gap_tolerance_mm=mc.gap_tolerance_mm, min_length_mm=mc.min_lesion_length_mm)
    if not spans:
        return []
    lps, near = route_defect_voxels(route, trace, defects, grid, config.trace.section_radius_mm)
    order = {s: k for k, s in enumerate(route.definition.segments)}
    out = []
    for a, b, start, end in spans:
        inside = (near >= a) & (near <= b)
        # the extent is that of the route centreline inside the lesion: defect voxels of an
        # oblique vein reach a radius beyond it in z, and those of a neighbouring vein's
        # defect labelled into this route's segments at a confluence even farther.
        pts = prof.points_lps_mm[a:b + 1]
        z = pts[:, 2]
        zmax, zmin = float(z.max()), float(z.min())
        cranial = pts[z >= zmax - 1e-6].mean(axis=0)
        caudal = pts[z <= zmin + 1e-6].mean(axis=0)
        names, counts = np.unique(prof.segment[a:b + 1], return_counts=True)
        long_enough = [str(n) for n, c in zip(names, counts, strict=True)
                       if c * config.trace.step_mm >= mc.min_segment_overlap_mm]
        segs = sorted(long_enough or [str(names[int(np.argmax(counts))])], key=lambda s: order.get(s, 99))
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
