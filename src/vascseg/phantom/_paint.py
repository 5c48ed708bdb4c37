"""Signed-distance fields of tubes and simple solids, evaluated only inside their bounding box.

Every field is computed in z-slabs of at most :data:`CHUNK_VOXELS` voxels (float32 results),
so painting a 512x512x400 grid never allocates a whole-volume float64 temporary. The grid is
a plain axial stack (direction = identity in LPS), which is what the phantom writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ._curves import Tube

CHUNK_VOXELS = 1_500_000
"""Largest number of voxels evaluated at once."""

SLAB_MM = 8.0
"""Tubes are evaluated in z-slabs this thick, each in the in-plane box of the centreline
samples that can reach it (a long oblique tube never fills its whole bounding box)."""

PARALLEL_QUERY_POINTS = 200_000
"""Nearest-neighbour queries with fewer points run on one thread (thread start-up costs more)."""

Slices = tuple[slice, slice, slice]


@dataclass(frozen=True)
class Grid:
    """An axial grid: ``shape`` (Z, Y, X), ``spacing`` (dz, dy, dx) mm, ``origin`` LPS (x, y, z)."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]

    def axis_mm(self, axis: int, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """LPS coordinate (mm) of voxel centres along array axis 0 (z), 1 (y) or 2 (x)."""
        hi = self.shape[axis] if hi is None else hi
        o = self.origin[2 - axis]
        return o + self.spacing[axis] * np.arange(lo, hi, dtype=np.float64)

    @property
    def lo_lps(self) -> np.ndarray:
        return np.array(self.origin, dtype=np.float64)

    @property
    def hi_lps(self) -> np.ndarray:
        n = np.array(self.shape[::-1]) - 1
        return self.lo_lps + n * np.array(self.spacing[::-1])

    def box(self, lo_lps, hi_lps) -> tuple[tuple[int, int], ...] | None:
        """Index ranges ((z0, z1), (y0, y1), (x0, x1)) of voxels inside an LPS box, or None."""
        ranges = []
        for axis in range(3):
            k = 2 - axis
            a = (lo_lps[k] - self.origin[k]) / self.spacing[axis]
            b = (hi_lps[k] - self.origin[k]) / self.spacing[axis]
            i0 = max(int(np.floor(a)), 0)
            i1 = min(int(np.ceil(b)) + 1, self.shape[axis])
            if i1 <= i0:
                return None
            ranges.append((i0, i1))
        return tuple(ranges)

    def chunks(self, lo_lps, hi_lps) -> Iterator[tuple[Slices, np.ndarray]]:
        """Yield (slices, points (n, 3) LPS float64) over the box, in z-slabs."""
        box = self.box(lo_lps, hi_lps)
        if box is None:
            return
        yield from self.box_chunks(box)

    def box_chunks(self, box) -> Iterator[tuple[Slices, np.ndarray]]:
        """Yield (slices, points (n, 3) LPS float64) over index ranges ((z0, z1), ...)."""
        (z0, z1), (y0, y1), (x0, x1) = box
        plane = (y1 - y0) * (x1 - x0)
        nz = max(CHUNK_VOXELS // max(plane, 1), 1)
        ys = self.axis_mm(1, y0, y1)
        xs = self.axis_mm(2, x0, x1)
        for za in range(z0, z1, nz):
            zb = min(za + nz, z1)
            zs = self.axis_mm(0, za, zb)
            zz, yy, xx = np.meshgrid(zs, ys, xs, indexing="ij")
            pts = np.stack([xx.ravel(), yy.ravel(), zz.ravel()], axis=1)
            yield (slice(za, zb), slice(y0, y1), slice(x0, x1)), pts

    def axes_mm(self, sl: Slices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """LPS z (Z', 1, 1), y (1, Y', 1) and x (1, 1, X') mm (float64) of the voxels in ``sl``."""
        zs = self.axis_mm(0, sl[0].start, sl[0].stop)[:, None, None]
        ys = self.axis_mm(1, sl[1].start, sl[1].stop)[None, :, None]
        xs = self.axis_mm(2, sl[2].start, sl[2].stop)[None, None, :]
        return zs, ys, xs

    def slab_boxes(self, lo_lps, hi_lps) -> Iterator[Slices]:
        """Slices of a box in z-slabs of at most :data:`CHUNK_VOXELS` voxels (no points)."""
        box = self.box(lo_lps, hi_lps)
        if box is None:
            return
        (z0, z1), (y0, y1), (x0, x1) = box
        nz = max(CHUNK_VOXELS // max((y1 - y0) * (x1 - x0), 1), 1)
        for za in range(z0, z1, nz):
            yield (slice(za, min(za + nz, z1)), slice(y0, y1), slice(x0, x1))


@dataclass
class TubeField:
    """Distance data of one chunk: slices, distance to the centreline, nearest sample, sd."""

    sl: Slices
    points: np.ndarray  # (n, 3) LPS
    dist: np.ndarray  # (Z', Y', X') float32, distance to the nearest centreline sample
    nearest: np.ndarray  # (Z', Y', X') int, index of that sample
    sd: np.ndarray  # (Z', Y', X') float32, signed distance to the tube surface (mm)


def tube_fields(grid: Grid, tube: Tube, *, pad_mm: float = 3.0, shrink_mm: float = 0.0,
                offset: np.ndarray | None = None, radius: np.ndarray | None = None
                ) -> Iterator[TubeField]:
    """Signed distance to a tube's surface in every chunk of its bounding box.

    ``offset`` (N, 3) moves the centreline (eccentric defects), ``radius`` overrides the
    tube's radius, ``shrink_mm`` moves the surface inwards (shells, walls).
    """
    pts_c = tube.points if offset is None else tube.points + offset
    rad = (tube.radius if radius is None else radius) - shrink_mm
    rmax = float(rad.max())
    reach = rad + pad_mm
    box = grid.box(pts_c.min(axis=0) - rmax - pad_mm, pts_c.max(axis=0) + rmax + pad_mm)
    if box is None:
        return
    tree = cKDTree(pts_c)
    (z0, z1), (y_lo, y_hi), (x_lo, x_hi) = box
    zs = grid.axis_mm(0)
    step = max(int(SLAB_MM / grid.spacing[0]), 1)
    for za in range(z0, z1, step):
        zb = min(za + step, z1)
        # only centreline samples that can reach this slab decide its in-plane box
        near = (pts_c[:, 2] + reach >= zs[za]) & (pts_c[:, 2] - reach <= zs[zb - 1])
        if not near.any():
            continue
        q, r = pts_c[near], reach[near, None]
        sub = grid.box(np.min(q - r, axis=0), np.max(q + r, axis=0))
        if sub is None:
            continue
        (y0, y1), (x0, x1) = (max(sub[1][0], y_lo), min(sub[1][1], y_hi)), \
            (max(sub[2][0], x_lo), min(sub[2][1], x_hi))
        if y1 <= y0 or x1 <= x0:
            continue
        for sl, pts in grid.box_chunks(((za, zb), (y0, y1), (x0, x1))):
            shape = tuple(s.stop - s.start for s in sl)
            d, idx, sd = signed_distance(tube, pts, tree=tree, centre=pts_c, radius=rad,
                                         cutoff=rmax + pad_mm)
            yield TubeField(sl, pts, d.astype(np.float32).reshape(shape), idx.reshape(shape),
                            sd.astype(np.float32).reshape(shape))


def signed_distance(tube: Tube, pts: np.ndarray, *, tree: cKDTree | None = None,
                    centre: np.ndarray | None = None, radius: np.ndarray | None = None,
                    cutoff: float = np.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance to the centreline, nearest sample index and signed distance (mm) to the surface.

    Points farther than ``cutoff`` from the centreline get ``inf`` distances (index 0).
    The elliptical case uses the first-order distance ``(g - r) / |grad g|``.
    """
    pts_c = tube.points if centre is None else centre
    rad = tube.radius if radius is None else radius
    tree = cKDTree(pts_c) if tree is None else tree
    n = len(pts_c)
    workers = -1 if len(pts) >= PARALLEL_QUERY_POINTS else 1
    d, idx = tree.query(pts, distance_upper_bound=cutoff, workers=workers)
    far = idx >= n
    idx[far] = 0
    if tube.flattened:
        v = pts - pts_c[idx]
        nvec = tube.minor_dir[idx]
        vn = np.sum(v * nvec, axis=1)
        dd = np.where(far, 0.0, d)
        vp2 = np.maximum(dd * dd - vn * vn, 0.0)
        f = tube.flatten[idx]
        g = np.sqrt(vp2 + (vn / f) ** 2)
        grad = np.sqrt(vp2 + vn * vn / f**4) / np.maximum(g, 1e-9)
        sd = np.where(g > 1e-9, (g - rad[idx]) / np.maximum(grad, 1e-9), -rad[idx] * f)
    else:
        sd = d - rad[idx]
    if tube.flat_end or tube.flat_start:
        tang = tube.tangents
        for flag, k, sign in ((tube.flat_end, n - 1, 1.0), (tube.flat_start, 0, -1.0)):
            if not flag:
                continue
            m = (idx == k) & ~far
            if m.any():
                proj = sign * ((pts[m] - pts_c[k]) @ tang[k])
                sd[m] = np.maximum(sd[m], proj)
    sd[far] = np.inf
    d = np.where(far, np.inf, d)
    return d, idx, sd


@dataclass(frozen=True)
class Ellipsoid:
    """An ellipsoid: centre LPS (3,), semi-axes (3,) mm along the columns of ``rot`` (3, 3)."""

    centre: np.ndarray
    semi: np.ndarray
    rot: np.ndarray

    def fields(self, grid: Grid, *, shrink_mm: float = 0.0, pad_mm: float = 3.0
               ) -> Iterator[tuple[Slices, np.ndarray]]:
        """Yield (slices, signed distance (Z', Y', X') float32 mm) over the bounding box."""
        semi = np.maximum(np.asarray(self.semi, dtype=np.float64) - shrink_mm, 0.5)
        ext = np.abs(self.rot) @ semi + pad_mm
        scaled = self.rot / semi[None, :]  # LPS offset -> unit-sphere coordinates
        f32 = np.float32
        for sl in grid.slab_boxes(self.centre - ext, self.centre + ext):
            zs, ys, xs = grid.axes_mm(sl)
            off = ((xs - self.centre[0]).astype(f32), (ys - self.centre[1]).astype(f32),
                   (zs - self.centre[2]).astype(f32))
            q2 = np.zeros(tuple(s.stop - s.start for s in sl), dtype=f32)
            g2 = np.zeros_like(q2)
            for k in range(3):  # w_k = u_k / semi_k, separable in x, y, z
                w = off[0] * f32(scaled[0, k]) + off[1] * f32(scaled[1, k]) + off[2] * f32(scaled[2, k])
                w2 = w * w
                q2 += w2
                g2 += w2 * f32(1.0 / semi[k] ** 2)
            q = np.sqrt(q2)
            gn = np.sqrt(g2) / np.maximum(q, f32(1e-9))
            sd = np.where(q > 1e-9, (q - f32(1.0)) / np.maximum(gn, f32(1e-9)), f32(-semi.min()))
            yield sl, sd.astype(f32, copy=False)


@dataclass(frozen=True)
class Cylinder:
    """A vertical elliptic cylinder: centre LPS, semi-axes (ax, ay) mm, half-height mm."""

    centre: np.ndarray
    ax: float
    ay: float
    half_height: float

    def fields(self, grid: Grid, *, shrink_mm: float = 0.0, pad_mm: float = 3.0
               ) -> Iterator[tuple[Slices, np.ndarray]]:
        """Yield (slices, signed distance (Z', Y', X') float32 mm) over the bounding box."""
        ax, ay = max(self.ax - shrink_mm, 0.5), max(self.ay - shrink_mm, 0.5)
        hh = max(self.half_height - shrink_mm, 0.5)
        ext = np.array([ax, ay, hh]) + pad_mm
        f32 = np.float32
        for sl in grid.slab_boxes(self.centre - ext, self.centre + ext):
            zs, ys, xs = grid.axes_mm(sl)
            wx = ((xs - self.centre[0]) / ax).astype(f32)
            wy = ((ys - self.centre[1]) / ay).astype(f32)
            q = np.sqrt(wx * wx + wy * wy)
            gn = np.sqrt((wx / f32(ax)) ** 2 + (wy / f32(ay)) ** 2) / np.maximum(q, f32(1e-9))
            sd_xy = np.where(q > 1e-9, (q - f32(1.0)) / np.maximum(gn, f32(1e-9)), f32(-min(ax, ay)))
            sd_z = (np.abs(zs - self.centre[2]) - hh).astype(f32)
            yield sl, np.maximum(sd_xy, sd_z).astype(f32, copy=False)


def rotation(axis_a: np.ndarray, axis_b: np.ndarray) -> np.ndarray:
    """Orthonormal matrix whose columns are ``axis_a``, the part of ``axis_b`` normal to it, and
    their cross product."""
    a = np.asarray(axis_a, dtype=np.float64)
    a = a / np.linalg.norm(a)
    b = np.asarray(axis_b, dtype=np.float64)
    b = b - (b @ a) * a
    b = b / np.linalg.norm(b)
    return np.stack([a, b, np.cross(a, b)], axis=1)
