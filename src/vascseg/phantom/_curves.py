"""Smooth centrelines with a radius per point: the building block of every tube in a phantom.

A :class:`Tube` holds points sampled every ~:data:`STEP_MM` along a curve in LPS mm, ordered
from its distal (free) end to its proximal end, a radius per point and an optional
elliptical flattening (minor/major axis ratio and the direction of the minor axis).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import CubicSpline

STEP_MM = 0.5
"""Arc-length spacing (mm) of the dense centreline samples used for painting."""


@dataclass
class Tube:
    """A tube around a centreline (mutable while the anatomy is being assembled).

    Attributes
    ----------
    name : str
    points : (N, 3) float64
        Centreline in LPS mm, first point = distal/free end.
    radius : (N,) float64
        Radius in mm (the major semi-axis where flattened).
    flatten : (N,) float64
        Minor/major semi-axis ratio (1 = round).
    minor_dir : (N, 3) float64
        Unit LPS direction of the minor axis (unused where ``flatten == 1``).
    flat_start, flat_end : bool
        Cut the tube flat (perpendicular to the tangent) at that end instead of a round cap.
    """

    name: str
    points: np.ndarray
    radius: np.ndarray
    flatten: np.ndarray = field(default=None)  # type: ignore[assignment]
    minor_dir: np.ndarray = field(default=None)  # type: ignore[assignment]
    flat_start: bool = False
    flat_end: bool = False

    def __post_init__(self) -> None:
        n = len(self.points)
        self.points = np.asarray(self.points, dtype=np.float64)
        self.radius = np.broadcast_to(np.asarray(self.radius, dtype=np.float64), (n,)).copy()
        if self.flatten is None:
            self.flatten = np.ones(n)
        if self.minor_dir is None:
            self.minor_dir = np.zeros((n, 3))

    @property
    def s(self) -> np.ndarray:
        """Arc length (mm) of each point from the first point."""
        return arc_length(self.points)

    @property
    def length_mm(self) -> float:
        return float(self.s[-1])

    @property
    def tangents(self) -> np.ndarray:
        """(N, 3) unit tangents pointing from the first towards the last point."""
        return tangents(self.points)

    @property
    def flattened(self) -> bool:
        return bool(np.any(self.flatten < 0.999))

    def point_at(self, s_mm: float) -> np.ndarray:
        s = self.s
        return np.array([np.interp(s_mm, s, self.points[:, k]) for k in range(3)])

    def radius_at(self, s_mm: float) -> float:
        return float(np.interp(s_mm, self.s, self.radius))

    def s_nearest(self, point: np.ndarray) -> float:
        """Arc length of the centreline sample nearest to ``point``."""
        i = int(np.argmin(np.linalg.norm(self.points - np.asarray(point), axis=1)))
        return float(self.s[i])

    def clip_z(self, z_lo: float, z_hi: float, *, keep: str) -> None:
        """Cut the tube where it leaves ``z_lo <= z <= z_hi``; ``keep`` = 'first'|'last' end.

        The cut end becomes flat (the vessel runs on out of the field of view).
        """
        inside = (self.points[:, 2] >= z_lo) & (self.points[:, 2] <= z_hi)
        if inside.all():
            return
        idx = np.flatnonzero(~inside)
        if keep == "first":
            stop = int(idx[0])
            sel = slice(0, stop)
            self.flat_end = True
        else:
            start = int(idx[-1]) + 1
            sel = slice(start, len(self.points))
            self.flat_start = True
        self.points = self.points[sel]
        self.radius = self.radius[sel]
        self.flatten = self.flatten[sel]
        self.minor_dir = self.minor_dir[sel]


def arc_length(points: np.ndarray) -> np.ndarray:
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)])


def tangents(points: np.ndarray) -> np.ndarray:
    t = np.gradient(points, axis=0)
    return t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)


def resample(points: np.ndarray, step_mm: float, *, values: np.ndarray | None = None):
    """Resample a polyline at (almost) uniform arc length, keeping both end points exactly.

    Returns the new points (and the linearly interpolated ``values`` if given).
    """
    s = arc_length(points)
    n = max(int(np.ceil(s[-1] / step_mm)), 1)
    s_new = np.linspace(0.0, s[-1], n + 1)
    out = np.stack([np.interp(s_new, s, points[:, k]) for k in range(3)], axis=1)
    if values is None:
        return out
    return out, np.interp(s_new, s, values)


def spline_tube(name: str, ctrl: np.ndarray, radii, *, step_mm: float = STEP_MM) -> Tube:
    """A tube along a C2 spline through control points (chord-length parameterised).

    ``radii`` is a scalar or one radius per control point (interpolated along the curve).
    """
    ctrl = np.asarray(ctrl, dtype=np.float64)
    chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(ctrl, axis=0), axis=1))])
    radii = np.broadcast_to(np.asarray(radii, dtype=np.float64), (len(ctrl),))
    if len(ctrl) == 2:
        dense_t = np.linspace(0, chord[-1], 400)
        dense = ctrl[0] + (ctrl[1] - ctrl[0]) * (dense_t / chord[-1])[:, None]
    else:
        cs = CubicSpline(chord, ctrl, axis=0, bc_type="natural")
        dense_t = np.linspace(0, chord[-1], max(int(chord[-1] * 8), 50))
        dense = cs(dense_t)
    dense_r = np.interp(dense_t, chord, radii)
    pts, r = resample(dense, step_mm, values=dense_r)
    return Tube(name, pts, r)


def perpendicular(vectors: np.ndarray, tang: np.ndarray) -> np.ndarray:
    """Component of ``vectors`` (N, 3) perpendicular to unit ``tang`` (N, 3), normalised."""
    v = vectors - np.sum(vectors * tang, axis=1, keepdims=True) * tang
    n = np.linalg.norm(v, axis=1, keepdims=True)
    fallback = np.cross(tang, [0.0, 0.0, 1.0])
    fallback /= np.maximum(np.linalg.norm(fallback, axis=1, keepdims=True), 1e-9)
    return np.where(n > 1e-6, v / np.maximum(n, 1e-12), fallback)
