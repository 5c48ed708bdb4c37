"""Routes through the phantom's vein tree, lesion placement and the per-route ground truth.

Lesions are placed along one route (the spec's) as arc-length intervals; each becomes a
defect :class:`Tube` around that route's centreline (eccentric for partial defects, filling
the lumen for occlusions) with flat ends. The truth of *every* route is then derived from
that geometry: the route's centreline is sampled every 0.25 mm and the runs lying inside a
defect tube are its lesions, so a cord defined on one route is correctly found on the
routes that share its segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..anatomy import RouteDef
from ._curves import Tube, arc_length, perpendicular, resample
from ._paint import signed_distance
from ._vessels import VesselTree

JUNCTION_CLEARANCE_MM = 6.0
"""Lesion ends are kept at least this far (arc length) from a confluence."""

FINE_STEP_MM = 0.25
"""Sampling of route centrelines when deriving the lesion truth."""


@dataclass
class RoutePiece:
    segment: str
    seg_s0: float
    seg_s1: float
    route_s0: float

    @property
    def route_s1(self) -> float:
        return self.route_s0 + self.seg_s1 - self.seg_s0


@dataclass
class RouteGeom:
    """A route's concatenated centreline (pelvic end first) and its segment pieces."""

    name: str
    segments: tuple[str, ...]
    pieces: list[RoutePiece]
    points: np.ndarray  # (M, 3) ~0.5 mm apart
    s: np.ndarray  # (M,) mm

    @property
    def length_mm(self) -> float:
        return float(self.s[-1])

    def piece_at(self, s_mm: float) -> RoutePiece:
        for p in self.pieces:
            if s_mm <= p.route_s1 + 1e-6:
                return p
        return self.pieces[-1]

    def sample(self, s_mm: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(s_mm, self.s, self.points[:, k]) for k in range(3)], axis=1)

    def seg_arc(self, s_mm: float) -> tuple[str, float]:
        p = self.piece_at(s_mm)
        return p.segment, p.seg_s0 + (s_mm - p.route_s0)

    def radius(self, tree: VesselTree, s_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Major radius and minor/major ratio of the vessel at route arc lengths ``s_mm``."""
        r = np.empty(len(s_mm))
        f = np.empty(len(s_mm))
        for i, s in enumerate(s_mm):
            seg, u = self.seg_arc(float(s))
            t = tree.veins[seg]
            r[i] = np.interp(u, t.s, t.radius)
            f[i] = np.interp(u, t.s, t.flatten)
        return r, f


def route_geometry(tree: VesselTree, route: RouteDef) -> RouteGeom:
    pieces: list[RoutePiece] = []
    chunks = []
    route_s = 0.0
    for k, seg in enumerate(route.segments):
        tube = tree.veins[seg]
        s0 = 0.0 if k == 0 else tree.junction_s[route.segments[k - 1]]
        s1 = tube.length_mm
        ts = tube.s
        inner = (ts > s0 + 1e-6) & (ts < s1 - 1e-6)
        pts = np.concatenate([tube.point_at(s0)[None], tube.points[inner], tube.point_at(s1)[None]])
        if k < len(route.segments) - 1:
            pts = pts[:-1]  # the next piece starts on this segment's end point... kept there
        pieces.append(RoutePiece(seg, s0, s1, route_s))
        chunks.append(pts if k == 0 else pts)
        route_s += s1 - s0
    # the next segment's first route point is the junction (last point of the previous tube)
    points = np.concatenate(chunks)
    s = arc_length(points)
    # re-register piece offsets on the concatenated arc length (junction kinks are tiny)
    scale = s[-1] / max(route_s, 1e-9)
    for p in pieces:
        p.route_s0 *= scale
    return RouteGeom(route.name, route.segments, pieces, points, s)


# ---------------------------------------------------------------------------- placement
def _junctions(geom: RouteGeom) -> np.ndarray:
    return np.array([p.route_s0 for p in geom.pieces[1:]])


def _away_from_junctions(geom: RouteGeom, a: float, b: float) -> tuple[float, float]:
    j = _junctions(geom)
    for _ in range(4):
        moved = False
        for end in (a, b):
            near = j[np.abs(j - end) < JUNCTION_CLEARANCE_MM]
            if near.size:
                delta = (near[0] + JUNCTION_CLEARANCE_MM + 0.5) - end
                a, b = a + delta, b + delta
                moved = True
        if not moved:
            break
    return a, b


def place_lesions(geom: RouteGeom, pattern: str, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Arc-length intervals (mm, on ``geom``) of the lesion foci for ``pattern``."""
    if pattern == "none":
        return []
    total = geom.length_mm
    first = geom.pieces[0]
    last = geom.pieces[-1]
    l0 = first.route_s1
    a = float(rng.uniform(3.0, max(4.0, min(0.5 * l0, l0 - JUNCTION_CLEARANCE_MM - 2.0))))
    if pattern == "continuous":
        inner = geom.pieces[1:-1]
        if rng.random() < 0.65 or not inner:
            lo = last.route_s0 + 10.0
            b = float(rng.uniform(lo, max(lo + 1.0, min(last.route_s0 + 90.0, total - 12.0))))
        else:
            p = inner[int(rng.integers(len(inner)))]
            b = float(rng.uniform(p.route_s0 + 0.4 * (p.route_s1 - p.route_s0),
                                  p.route_s0 + 0.8 * (p.route_s1 - p.route_s0)))
        b = max(b, a + 20.0)
        a, b = _away_from_junctions(geom, a, min(b, total - 12.0))
        return [(a, min(b, total - 8.0))]
    if pattern != "discontinuous":
        raise ValueError(f"unknown lesion pattern {pattern!r}; use continuous, discontinuous or none")
    n = int(rng.integers(2, 4))
    lengths = rng.uniform(12.0, 35.0, n)
    gaps = rng.uniform(27.0, 45.0, n - 1)
    while a + lengths.sum() + gaps.sum() > total - 15.0 and n > 2:
        n -= 1
        lengths, gaps = lengths[:n], gaps[: n - 1]
    room = total - 15.0 - a
    need = lengths.sum() + gaps.sum()
    if need > room:
        lengths = lengths * max((room - gaps.sum()) / lengths.sum(), 0.3)
    out = []
    s = a
    for i in range(n):
        lo, hi = _away_from_junctions(geom, s, s + float(lengths[i]))
        if out and lo - out[-1][1] < 25.0:
            lo, hi = out[-1][1] + 25.5, out[-1][1] + 25.5 + (hi - lo)
        out.append((lo, hi))
        if i < n - 1:
            s = hi + float(gaps[i])
    return out


def segment_intervals(geom: RouteGeom, foci: list[tuple[float, float]]) -> list[tuple[str, float, float]]:
    """(segment, u0, u1) segment arc-length intervals covered by the foci."""
    out = []
    for a, b in foci:
        for p in geom.pieces:
            lo, hi = max(a, p.route_s0), min(b, p.route_s1)
            if hi > lo:
                out.append((p.segment, p.seg_s0 + lo - p.route_s0, p.seg_s0 + hi - p.route_s0))
    return out


def dilate(tree: VesselTree, intervals: list[tuple[str, float, float]], factor: float,
           *, taper_mm: float = 8.0) -> None:
    """Widen veins over their lesion intervals (IVL-bearing veins are dilated)."""
    for seg, u0, u1 in intervals:
        t = tree.veins[seg]
        s = t.s
        w = np.clip(np.minimum(s - (u0 - taper_mm), (u1 + taper_mm) - s) / taper_mm, 0.0, 1.0)
        w = w * w * (3 - 2 * w)
        t.radius = t.radius * (1.0 + (factor - 1.0) * w)


def defect_tubes(tree: VesselTree, geom: RouteGeom, foci: list[tuple[float, float]], *,
                 occlusion: bool, rng: np.random.Generator) -> list[Tube]:
    """One defect tube per focus, around the route centreline, flat at both ends."""
    tubes = []
    for i, (a, b) in enumerate(foci):
        s = np.linspace(a, b, max(int(np.ceil((b - a) / 0.5)), 2) + 1)
        pts = geom.sample(s)
        r, _ = geom.radius(tree, s)
        if occlusion:
            rad = r + 0.6  # fills the lumen; the truth is the intersection with the vein
            off = np.zeros_like(pts)
        else:
            k = float(rng.uniform(0.6, 0.8))
            direction = rng.normal(size=3)
            tang = np.gradient(pts, axis=0)
            tang /= np.maximum(np.linalg.norm(tang, axis=1, keepdims=True), 1e-9)
            e = perpendicular(np.tile(direction, (len(pts), 1)), tang)
            rad = k * r
            off = (1.0 - k) * r[:, None] * e
        t = Tube(f"defect_{i}", pts + off, rad, flat_start=True, flat_end=True)
        t.points, t.radius = resample(t.points, 0.5, values=t.radius)
        tubes.append(t)
    return tubes


# ---------------------------------------------------------------------------- truth
def defect_runs(geom: RouteGeom, defects: list[Tube], clip: list[Tube] | None = None,
                min_run_mm: float = 0.5, merge_mm: float = 1.0) -> list[tuple[float, float]]:
    """Arc-length runs (mm) of the route centreline inside the painted defect.

    Runs less than ``merge_mm`` apart are one; runs shorter than ``min_run_mm`` are dropped.

    The painted defect is the union of the defect tubes intersected with the union of the
    ``clip`` tubes (the veins of the route the lesion was placed on), as in the image.
    """
    if not defects:
        return []
    s = np.arange(0.0, geom.length_mm + 1e-9, FINE_STEP_MM)
    pts = geom.sample(s)
    sd = np.full(len(s), np.inf)
    for t in defects:
        sd = np.minimum(sd, signed_distance(t, pts, cutoff=float(t.radius.max()) + 5.0)[2])
    if clip:
        sd_v = np.full(len(s), np.inf)
        for t in clip:
            sd_v = np.minimum(sd_v, signed_distance(t, pts, cutoff=float(t.radius.max()) + 5.0)[2])
        sd = np.maximum(sd, sd_v)
    inside = sd <= 0
    runs = []
    idx = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(int), [0]])))
    for i0, i1 in zip(idx[::2], idx[1::2], strict=True):
        lo = s[i0] if i0 == 0 else _zero(s[i0 - 1], s[i0], sd[i0 - 1], sd[i0])
        hi = s[i1 - 1] if i1 == len(s) else _zero(s[i1 - 1], s[i1], sd[i1 - 1], sd[i1])
        runs.append((float(lo), float(hi)))
    merged: list[tuple[float, float]] = []
    for lo, hi in runs:
        if merged and lo - merged[-1][1] < merge_mm:
            merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return [r for r in merged if r[1] - r[0] >= min_run_mm]


def _zero(s0: float, s1: float, v0: float, v1: float) -> float:
    if not (np.isfinite(v0) and np.isfinite(v1)) or v0 == v1:
        return 0.5 * (s0 + s1)
    return float(s0 + (s1 - s0) * v0 / (v0 - v1))
