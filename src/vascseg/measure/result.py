"""Result types of :func:`vascseg.measure.measure_routes` (frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Continuity(str, Enum):
    """Number of filling-defect foci along a route (or over all routes)."""

    NONE = "none"
    CONTINUOUS = "continuous"
    DISCONTINUOUS = "discontinuous"


@dataclass(frozen=True)
class Lesion:
    """One focus of filling defect along a route.

    Attributes
    ----------
    start_mm, end_mm, length_mm : extent along the route's arc length (s = 0 at the
        pelvic end): where the route centreline enters / leaves the defect, found between
        the sections (half a step beyond the first and last defect sections when the
        defect there lies beside the centreline); clipped to the route.
    segments : segments the lesion covers at least ``min_segment_overlap_mm`` of, in route
        order (pelvic first); the one it overlaps most when none is covered that much.
    z_min_mm, z_max_mm : caudal / cranial patient z (LPS) of the route centreline within
        the lesion (its sections, every ``step_mm``, and its two ends).
    cranial_end_lps_mm, caudal_end_lps_mm : (x, y, z) of the most superior / inferior
        centreline point(s) of the lesion (mean of ties).
    volume_ml : defect voxels of the route's segments whose nearest centreline sample
        lies within the lesion, mL.
    max_occlusion_pct : largest section occlusion within the lesion.
    """

    start_mm: float
    end_mm: float
    length_mm: float
    segments: tuple[str, ...]
    z_min_mm: float
    z_max_mm: float
    cranial_end_lps_mm: tuple[float, float, float]
    caudal_end_lps_mm: tuple[float, float, float]
    volume_ml: float
    max_occlusion_pct: float


@dataclass(frozen=True)
class Stenosis:
    """Narrowest vessel diameter on a route's stenosis segments against a reference.

    ``diameter_stenosis_pct = 100 * (1 - min_diameter_mm / reference_diameter_mm)``.
    Sections within ``confluence_margin_mm`` of a confluence are not used, neither for
    the minimum nor for the reference (median equivalent diameter of the reference
    segment along its own centreline).
    """

    min_diameter_mm: float
    at_mm: float
    segment: str
    reference_diameter_mm: float
    reference_segment: str
    diameter_stenosis_pct: float
    threshold_pct: float
    exceeds_threshold: bool


@dataclass(frozen=True)
class RouteMeasure:
    """Lesions, continuity and stenosis of one route."""

    name: str
    continuity: Continuity
    lesions: tuple[Lesion, ...]
    gaps_mm: tuple[float, ...]
    """Arc-length gaps between consecutive lesions (len = number of lesions - 1)."""
    stenosis: Stenosis | None
    """None when the route has no reference segment or it/the stenosis segments are missing."""


@dataclass(frozen=True)
class CranialExtent:
    """The most superior lesion point over all routes and the segment it lies in."""

    segment: str
    z_mm: float


@dataclass(frozen=True)
class LesionSummary:
    """Lesions over all routes.

    ``pattern`` is ``discontinuous`` when any route has two or more foci, else
    ``continuous`` when any route has one, else ``none``.
    """

    pattern: Continuity
    routes_involved: tuple[str, ...]
    cranial_extent: CranialExtent | None


@dataclass(frozen=True)
class MeasureResult:
    """Everything :func:`~vascseg.measure.measure_routes` found."""

    routes: tuple[RouteMeasure, ...]
    lesion_summary: LesionSummary
    warnings: tuple[str, ...] = ()

    def route(self, name: str) -> RouteMeasure:
        """The measured route called ``name`` (KeyError listing the names otherwise)."""
        for r in self.routes:
            if r.name == name:
                return r
        raise KeyError(f"no route {name!r}; measured: {[r.name for r in self.routes]}")
