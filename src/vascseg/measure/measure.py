"""Measure every traced route: lesions, continuity, gaps, stenosis, and a summary."""

from __future__ import annotations

import numpy as np

from ..config import Config
from ..geometry import Volume
from ..trace import TraceResult
from .lesions import find_lesions
from .result import Continuity, CranialExtent, LesionSummary, MeasureResult, RouteMeasure
from .stenosis import measure_stenosis


def continuity_of(n_lesions: int) -> Continuity:
    """``none`` without lesion, ``continuous`` with one focus, ``discontinuous`` with more."""
    if n_lesions == 0:
        return Continuity.NONE
    return Continuity.CONTINUOUS if n_lesions == 1 else Continuity.DISCONTINUOUS


def measure_routes(trace: TraceResult, defects: np.ndarray, grid: Volume, config: Config) -> MeasureResult:
    """Lesions, continuity, gaps and stenosis of every traced route.

    Parameters
    ----------
    trace : TraceResult
        From :func:`vascseg.trace.trace_routes` on the same grid.
    defects : (Z, Y, X) bool
        Filling-defect mask (voxels give lesion volume and z extent).
    grid : Volume
        Geometry of ``defects``.
    config : Config
        ``config.measure`` holds the thresholds.
    """
    defects = np.asarray(defects, dtype=bool)
    if defects.shape != grid.shape:
        raise ValueError(f"defects {defects.shape} must have the grid's shape {grid.shape}")
    warnings: list[str] = []
    routes = []
    best: tuple[float, str] | None = None
    for rt in trace.routes:
        lesions = find_lesions(rt, trace, defects, grid, config)
        gaps = tuple(b.start_mm - a.end_mm for a, b in zip(lesions, lesions[1:], strict=False))
        routes.append(RouteMeasure(name=rt.name, continuity=continuity_of(len(lesions)),
                                   lesions=tuple(lesions), gaps_mm=gaps,
                                   stenosis=measure_stenosis(rt, trace, config, warnings)))
        prof = rt.profile
        for les in lesions:
            if best is None or les.z_max_mm > best[0]:
                a = int(np.searchsorted(prof.s_mm, les.start_mm))
                b = int(np.searchsorted(prof.s_mm, les.end_mm, side="right"))
                pts = prof.points_lps_mm[a:b]
                k = int(np.argmin(np.linalg.norm(pts - np.asarray(les.cranial_end_lps_mm), axis=1)))
                best = (les.z_max_mm, str(prof.segment[a + k]))
    involved = tuple(r.name for r in routes if r.lesions)
    kinds = {r.continuity for r in routes}
    pattern = (Continuity.DISCONTINUOUS if Continuity.DISCONTINUOUS in kinds
               else Continuity.CONTINUOUS if Continuity.CONTINUOUS in kinds else Continuity.NONE)
    extent = CranialExtent(segment=best[1], z_mm=best[0]) if best else None
    return MeasureResult(routes=tuple(routes),
                         lesion_summary=LesionSummary(pattern, involved, extent),
                         warnings=tuple(warnings))
