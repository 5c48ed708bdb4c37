"""Result types of :func:`vascseg.trace.trace_routes` (frozen dataclasses).

All coordinates are patient LPS in mm, all lengths mm, areas mm², volumes mL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from ..anatomy import RouteDef

PROFILE_FIELDS: tuple[str, ...] = (
    "lumen_area_mm2",
    "equivalent_diameter_mm",
    "min_diameter_mm",
    "max_diameter_mm",
    "defect_area_mm2",
    "occlusion_pct",
)
"""Per-section measurements, in the column order of ``routes/<route>.csv``."""


@dataclass(frozen=True, eq=False)
class Profile:
    """Centreline samples every ``step_mm`` of arc length and their cross-sections.

    Every array has length ``N`` (the number of samples), ``points_lps_mm`` and
    ``tangents_lps`` have shape ``(N, 3)``.

    Diameters and areas describe the **vessel** section (patent lumen plus filling
    defect, i.e. the whole vessel interior as segmented), except ``lumen_area_mm2``
    which is the patent lumen only (vessel minus defect). A section in which no vessel
    was found has zero areas and NaN diameters / occlusion.

    Attributes
    ----------
    s_mm : (N,) arc length from the pelvic end (0) towards the heart, mm.
    points_lps_mm : (N, 3) centreline points (x, y, z), LPS mm.
    tangents_lps : (N, 3) unit tangents (towards increasing s).
    segment : (N,) str, segment name at each centreline point.
    lumen_area_mm2 : (N,) patent lumen area (vessel minus defect), mm².
    equivalent_diameter_mm : (N,) ``2 * sqrt(vessel area / pi)``, mm.
    min_diameter_mm, max_diameter_mm : (N,) min / max Feret (caliper) diameter of the vessel.
    defect_area_mm2 : (N,) filling-defect area inside the vessel section, mm².
    occlusion_pct : (N,) ``100 * defect / (lumen + defect)``.
    dist_to_confluence_mm : (N,) arc-length distance to the nearest confluence on this
        centreline (for routes: to the nearest confluence zone, 0 inside one; ``inf``
        when the centreline has none).
    defect_at_centre : (N,) bool, the filling defect reaches the centreline point (None:
        not measured, taken as True).
    """

    s_mm: np.ndarray
    points_lps_mm: np.ndarray
    tangents_lps: np.ndarray
    segment: np.ndarray
    lumen_area_mm2: np.ndarray
    equivalent_diameter_mm: np.ndarray
    min_diameter_mm: np.ndarray
    max_diameter_mm: np.ndarray
    defect_area_mm2: np.ndarray
    occlusion_pct: np.ndarray
    dist_to_confluence_mm: np.ndarray
    defect_at_centre: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.s_mm.shape[0])

    @classmethod
    def empty(cls) -> Profile:
        """A profile without samples (route not traceable)."""
        z = np.zeros(0)
        return cls(z, np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, dtype="<U32"),
                   z, z, z, z, z, z, z)


@dataclass(frozen=True, eq=False)
class RouteTrace:
    """One pelvic-to-caval route traced through the label map.

    Attributes
    ----------
    name : route name (``config.routes[].name``).
    definition : the :class:`~vascseg.anatomy.RouteDef` traced.
    complete : True when every segment of the route was found and traced.
    missing_segments : segments absent from the label map or not touching the next
        segment towards the heart. Never bridged.
    traced_segments : the segments actually traced (a suffix of ``definition.segments``
        ending at the IVC), pelvic first; empty when nothing could be traced.
    length_mm : arc length of the smoothed centreline (the last sample may be up to one
        step short of it).
    profile : centreline samples and cross-sections (empty when not traced).
    confluences_s_mm : arc-length positions where the route passes from one segment into
        the next: where it crosses from the one's label into the other's, near the junction
        on the parent's centreline.
    confluence_zones_mm : ``(start, end)`` arc-length intervals where a vein joins the route
        (its own confluences, from where the tributary's centreline enters the parent to
        the junction, and veins joining from outside); sections there are cut by the joining
        vein. ``profile.dist_to_confluence_mm`` is the distance to the nearest zone.
    bbox_zyx : ``((z0, z1), (y0, y1), (x0, x1))`` half-open index box holding the traced
        segments (used to look up voxels of the route).
    """

    name: str
    definition: RouteDef
    complete: bool
    missing_segments: tuple[str, ...]
    traced_segments: tuple[str, ...]
    length_mm: float
    profile: Profile
    confluences_s_mm: tuple[float, ...] = ()
    confluence_zones_mm: tuple[tuple[float, float], ...] = ()
    bbox_zyx: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, eq=False)
class SegmentTrace:
    """The centreline and summary measurements of one vein segment.

    The centreline runs from the segment's confluence with the vein it drains into (or,
    for the IVC, from its cranial end) to its free end.

    Attributes
    ----------
    name, label : segment name and label value.
    volume_ml : voxel count x voxel volume, mL.
    length_mm : arc length of the segment's own centreline, mm.
    mean_diameter_mm : mean vessel equivalent diameter over the segment's own sections,
        leaving out sections closer to either end than the local radius (end caps and
        the confluence cut the section); NaN when there is none.
    profile : the segment's own centreline and sections (``dist_to_confluence_mm``
        counts confluences at both its parent and its tributaries).
    drains_into : the segment it touches towards the heart, None if none.
    confluence_lps_mm : centre of the contact with ``drains_into`` (None without one).
    """

    name: str
    label: int
    volume_ml: float
    length_mm: float
    mean_diameter_mm: float
    profile: Profile
    drains_into: str | None = None
    confluence_lps_mm: tuple[float, float, float] | None = None


@dataclass(frozen=True, eq=False)
class TraceResult:
    """Everything :func:`~vascseg.trace.trace_routes` found.

    Attributes
    ----------
    routes : one :class:`RouteTrace` per configured route, in config order.
    segments : one :class:`SegmentTrace` per segment present, in label order.
    graph : undirected segment graph; nodes are segment names (attributes ``label``,
        ``length_mm``, ``centreline_lps_mm``), edges join segments at confluences
        (attribute ``confluence_lps_mm``).
    veins : (Z, Y, X) the label map traced (a reference, not a copy).
    spacing_mm : (dz, dy, dx) of the grid traced.
    warnings : what could not be traced and why.
    """

    routes: tuple[RouteTrace, ...]
    segments: tuple[SegmentTrace, ...]
    graph: nx.Graph
    veins: np.ndarray
    spacing_mm: tuple[float, float, float]
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def route(self, name: str) -> RouteTrace:
        """The traced route called ``name`` (KeyError listing the names otherwise)."""
        for r in self.routes:
            if r.name == name:
                return r
        raise KeyError(f"no route {name!r}; traced: {[r.name for r in self.routes]}")

    def segment(self, name: str) -> SegmentTrace | None:
        """The traced segment called ``name``, or None when it is absent."""
        for s in self.segments:
            if s.name == name:
                return s
        return None
