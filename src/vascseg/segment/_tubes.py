"""Vessel interior from the lumen wall by radial voting (a Hough transform for tubes).

A vein's wall is round in cross-section. Where a filling defect lies against the wall, the
enhanced lumen is a crescent and the defect's far side borders fat or muscle directly, so no
closing of the lumen can reach it. The crescent's *outer* edge still lies on the vessel wall:
every lumen-edge voxel casts a ray along the image gradient (from dark into bright, i.e.
towards the vessel centre) and votes at each distance; votes pile up on the centreline of
the tube the wall belongs to, wherever the centre lies (in the lumen or in the defect).
Each wall voxel then takes the best-supported point on its own ray as its centre, and its
distance to it as the local radius.

The vessel interior is the union of *diameters*: from each consistent wall voxel through its
centre to the antipodal wall (twice the radius). On a lesion-free vessel that is the lumen;
an elliptical vessel is filled exactly (each diameter is its own); around a defect the
diameters from the crescent cross the defect to the invisible wall opposite. A diameter
that runs through lumen past the centre ends where it leaves the lumen (the far wall is
seen there), so the model never overshoots a visible wall.

Diameters from a crescent cover the sectors facing it and the opposite ones only. Where the
axis lies in the defect (a *core*, voted for by walls from around the axis), rays cast from
it in every direction up to the radius fill the sectors beside the crescent too
(:func:`fill_cores`).

Arrays are (z, y, x); directions and distances are in mm (anisotropic voxels honoured).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ._distance import IN_PLANE_4

RAY_STEP_MM = 0.5
"""Sampling step along a wall voxel's ray."""

GRADIENT_SIGMA_MM = 1.0
"""Scale of the Gaussian smoothing before the central differences that give each wall voxel
its inward direction (:func:`gradient_mm`)."""

VOTE_SIGMA_MM = 0.6
"""The vote accumulator is smoothed by this much (votes of one circle land in a few voxels)."""

RAY_GAP_MM = 1.0
"""A ray may cross this much tissue that cannot be vessel interior (partial-volume voxels
between lumen and defect) before it stops."""

RADIUS_TOLERANCE = 0.2
RADIUS_TOLERANCE_MM = 1.5
"""A wall voxel is consistent when its radius is within this fraction (or this many mm,
whichever is larger) of the mean radius of all votes at its centre: a ray that runs along a
branch into a bigger vessel's centre is not that vessel's wall."""

CHUNK = 20000
"""Wall voxels processed at once (bounds the memory of the ray arrays)."""


@dataclass(frozen=True)
class WallVotes:
    """Result of :func:`vote_centres` (N wall voxels).

    Attributes
    ----------
    voxel : (N, 3) int
        Wall voxel index (z, y, x).
    direction : (N, 3) float
        Unit inward direction in mm space (z, y, x components).
    radius_mm : (N,) float
        Distance from the wall voxel to its centre (mm).
    consistent : (N,) bool
        The radius agrees with the other votes at the centre (see :data:`RADIUS_TOLERANCE`).
    """

    voxel: np.ndarray
    direction: np.ndarray
    radius_mm: np.ndarray
    consistent: np.ndarray


def _rays(vox: np.ndarray, u: np.ndarray, ts: np.ndarray, spacing: np.ndarray, shape) -> tuple:
    """Voxel indices (clipped) and in-bounds flags of points ``vox + t u`` (t in mm)."""
    pos = np.rint(vox[:, None, :] + ts[None, :, None] * (u / spacing)[:, None, :]).astype(np.int64)
    hi = np.asarray(shape) - 1
    inb = np.all((pos >= 0) & (pos <= hi), axis=2)
    return np.clip(pos, 0, hi), inb


def _flat(pos: np.ndarray, shape) -> np.ndarray:
    return np.ravel_multi_index(tuple(np.moveaxis(pos, -1, 0)), shape)


def _once_per_row(flat: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """The distinct voxels of each row of ``flat`` (2-D, flat voxel indices) where ``ok``,
    all rows together: a voxel a row samples several times is listed once for it."""
    f = np.where(ok, flat, -1)
    f.sort(axis=1)
    first = np.ones_like(f, bool)
    first[:, 1:] = f[:, 1:] != f[:, :-1]
    return f[first & (f >= 0)]


def gradient_mm(image: np.ndarray, spacing_mm, sigma_mm: float = GRADIENT_SIGMA_MM) -> list[np.ndarray]:
    """Image gradient per mm along (z, y, x): Gaussian smoothing (``sigma_mm`` on every
    axis), then central differences divided by the voxel spacing.

    A sampled Gaussian-derivative kernel narrower than a voxel (1 mm on 2.5 mm slices) reads
    only part of a slope: its weights do not sum to the derivative of a ramp. Central
    differences of the smoothed image do, on any spacing, so an oblique wall keeps its
    direction.
    """
    sp = np.asarray(spacing_mm, float)
    smooth = ndi.gaussian_filter(image.astype(np.float32, copy=False), sigma_mm / sp)
    return [g.astype(np.float32, copy=False) for g in np.gradient(smooth, *sp)]


def wall_voxels(lumen: np.ndarray, image: np.ndarray, spacing_mm, *,
                exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lumen edge voxels on a convex wall and their unit inward directions (mm space).

    The direction is the image gradient (towards brighter). Edge voxels where the isophote
    is concave (curvature ``div(g / |g|) > 0``: the inner edge of a crescent, which wraps
    around a defect) do not face a vessel wall and are left out, as are those with a voxel
    of ``exclude`` just behind them (1.5 mm against their direction).
    """
    sp = np.asarray(spacing_mm, float)
    edge = lumen & ~ndi.binary_erosion(lumen)
    vox = np.argwhere(edge)
    if not len(vox):
        return vox, np.zeros((0, 3))
    grads = gradient_mm(image, sp)
    hi = np.asarray(lumen.shape) - 1

    def sample(field, idx):
        return field[tuple(np.clip(idx, 0, hi).T)]

    g = np.stack([sample(f, vox) for f in grads], axis=1)
    n = np.linalg.norm(g, axis=1)
    ok = n > 1e-6
    vox, g, n = vox[ok], g[ok], n[ok]
    u = g / n[:, None]
    # isophote curvature div(g/|g|) = (trace H - u'Hu) / |g|, H by central differences of g
    hess = np.empty((len(vox), 3, 3))
    for j in range(3):
        step = np.zeros(3, int)
        step[j] = 1
        for i in range(3):
            hess[:, i, j] = (sample(grads[i], vox + step) - sample(grads[i], vox - step)) / (2 * sp[j])
    hess = 0.5 * (hess + hess.transpose(0, 2, 1))
    curv = (np.trace(hess, axis1=1, axis2=2) - np.einsum("ni,nij,nj->n", u, hess, u)) / n
    keep = curv < 0
    if exclude is not None and exclude.any():
        back, _ = _rays(vox, u, np.array([-1.5]), sp, lumen.shape)
        keep &= ~exclude.ravel()[_flat(back[:, 0], lumen.shape)]
    return vox[keep], u[keep]


def vote_centres(lumen: np.ndarray, image: np.ndarray, spacing_mm, *, passable: np.ndarray,
                 r_max_mm: float, exclude: np.ndarray | None = None) -> WallVotes:
    """Radial votes of the lumen wall (see the module docstring).

    Parameters
    ----------
    lumen : (Z, Y, X) bool
        Enhanced lumen of the vessels to model.
    image : (Z, Y, X) float
        Smoothed image (pseudo-HU).
    passable : (Z, Y, X) bool
        Voxels a vessel interior may hold (lumen and defect intensities); rays stop after
        :data:`RAY_GAP_MM` outside it.
    r_max_mm : float
        Largest vessel radius looked for.
    exclude : (Z, Y, X) bool, optional
        See :func:`wall_voxels`.
    """
    sp = np.asarray(spacing_mm, float)
    shape = lumen.shape
    vox, u = wall_voxels(lumen, image, sp, exclude=exclude)
    empty = WallVotes(vox, u, np.zeros(len(vox)), np.zeros(len(vox), bool))
    if not len(vox):
        return empty
    ts = np.arange(RAY_STEP_MM, r_max_mm + 1e-9, RAY_STEP_MM)
    pas = passable.ravel()
    count = np.zeros(lumen.size, np.float64)
    total = np.zeros(lumen.size, np.float64)

    def chunk_rays(a):
        pos, inb = _rays(vox[a:a + CHUNK], u[a:a + CHUNK], ts, sp, shape)
        flat = _flat(pos, shape)
        blocked = ~pas[flat] | ~inb
        valid = np.cumsum(blocked, axis=1) * RAY_STEP_MM <= RAY_GAP_MM
        return flat, valid

    for a in range(0, len(vox), CHUNK):
        flat, valid = chunk_rays(a)
        count += np.bincount(flat[valid], minlength=lumen.size)
        total += np.bincount(flat[valid], weights=np.broadcast_to(ts, flat.shape)[valid], minlength=lumen.size)
    sig = VOTE_SIGMA_MM / sp
    count_s = ndi.gaussian_filter(count.reshape(shape).astype(np.float32), sig).ravel()
    mean_t = (ndi.gaussian_filter(total.reshape(shape).astype(np.float32), sig).ravel()
              / np.maximum(count_s, 1e-6))
    radius = np.zeros(len(vox))
    consistent = np.zeros(len(vox), bool)
    for a in range(0, len(vox), CHUNK):
        flat, valid = chunk_rays(a)
        support = np.where(valid, count_s[flat], -1.0)
        j = np.argmax(support, axis=1)
        rows = np.arange(len(j))
        # a ray samples a voxel several times: the centre is the middle of the run of
        # samples at the peak, not its first sample (which reads the radius short)
        step = np.arange(len(ts))[None, :]
        below_peak = (step >= j[:, None]) & (support < support[rows, j][:, None])
        run_end = np.where(below_peak, step, len(ts)).min(axis=1)
        t = ts[j] + 0.5 * (run_end - 1 - j) * RAY_STEP_MM
        m = mean_t[flat[rows, j]]
        radius[a:a + CHUNK] = t
        consistent[a:a + CHUNK] = (support[rows, j] > 0) & (
            np.abs(t - m) <= np.maximum(RADIUS_TOLERANCE_MM, RADIUS_TOLERANCE * m))
    return WallVotes(vox, u, radius, consistent)


def fill_tubes(votes: WallVotes, lumen: np.ndarray, spacing_mm, *, passable: np.ndarray,
               margin_mm: float = 0.0, min_cover: int = 1) -> np.ndarray:
    """Vessel interior: union of the consistent wall voxels' diameters, within ``passable``.

    A diameter runs from the wall voxel through its centre to twice its radius
    (+ ``margin_mm``), and ends early where, past the centre, it leaves the lumen.
    Outside the lumen a voxel must lie on at least ``min_cover`` diameters: a lone stray
    diameter (a wall voxel whose centre is wrong) is noise. A one-voxel in-plane closing fills the gaps between neighbouring
    diameters.
    """
    sp = np.asarray(spacing_mm, float)
    shape = lumen.shape
    out = np.zeros(shape, bool)
    keep = votes.consistent
    if not keep.any():
        return out
    vox, u, r = votes.voxel[keep], votes.direction[keep], votes.radius_mm[keep]
    ts = np.arange(0.0, 2.0 * float(r.max()) + margin_mm + 1e-9, RAY_STEP_MM)
    lum = lumen.ravel()
    cover = np.zeros(lumen.size, np.int32)
    for a in range(0, len(vox), CHUNK):
        pos, inb = _rays(vox[a:a + CHUNK], u[a:a + CHUNK], ts, sp, shape)
        flat = _flat(pos, shape)
        rr = r[a:a + CHUNK, None]
        inside = lum[flat] & inb
        past = ts[None, :] > rr
        left = past & ~inside & np.roll(inside, 1, axis=1)
        stop = np.cumsum(left, axis=1) > 0
        ok = inb & ~stop & (ts[None, :] <= 2.0 * rr + margin_mm)
        # one count per diameter and voxel (a diameter samples a voxel several times)
        cover += np.bincount(_once_per_row(flat, ok), minlength=lumen.size).astype(np.int32)
    out = (cover >= min_cover).reshape(shape) | lumen
    out = ndi.binary_closing(out, IN_PLANE_4) | out
    return out & passable


CORE_POOL_MM = 1.5
"""Votes centred this close to a voxel along each axis, and at least one voxel away (the
next slice), are pooled when judging it (a vessel's votes spread over a voxel or two around
its axis)."""

CORE_MIN_VOTES = 4
"""A defect's core is voted for by at least this many wall voxels (pooled)..."""

CORE_MAX_RESULTANT = 0.75
"""...facing it from around much of the circumference: the mean of their unit inward
directions is at most this long (walls all round: 0; a half circle: 2/pi = 0.64; an arc of
150 degrees: 0.74; one patch of wall, such as an organ's edge: about 1)."""

CORE_OWN_VOTES = 2
"""A core voxel holds at least this many votes itself (a lone vote's centre is noise)."""

CORE_RAY_SPACING_MM = 1.0
"""Rays from a core are spread so that neighbouring ones end this far apart at its radius
(the cores along a vessel are a voxel apart, so their rays interleave)."""

CORE_SAMPLES = 2_000_000
"""Ray samples held at once (bounds the memory of :func:`fill_cores`)."""


def _sphere(n: int) -> np.ndarray:
    """``n`` unit vectors spread evenly over the sphere (a Fibonacci lattice), (n, 3)."""
    i = np.arange(n) + 0.5
    polar = np.arccos(1.0 - 2.0 * i / n)
    azimuth = np.pi * (1.0 + 5.0 ** 0.5) * i
    return np.stack([np.cos(polar), np.sin(polar) * np.sin(azimuth), np.sin(polar) * np.cos(azimuth)], axis=1)


def core_centres(votes: WallVotes, lumen: np.ndarray, spacing_mm, *, passable: np.ndarray,
                 margin_mm: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Centres the lumen wraps without holding them: the cores of wall-adherent defects.

    The consistent wall voxels' centres (wall voxel + radius x inward direction) that fall
    in voxels outside the lumen, in ``passable``, holding :data:`CORE_OWN_VOTES` of them. The
    votes centred in a box around such a voxel (:data:`CORE_POOL_MM`) are its pool: at least
    :data:`CORE_MIN_VOTES`, from walls facing it from around the axis
    (:data:`CORE_MAX_RESULTANT`).

    Returns, per core, its pool's mean centre (K, 3; voxel units, fractional: the axis runs
    between voxels) and median radius (mm) + ``margin_mm``.
    """
    from scipy.spatial import cKDTree

    sp = np.asarray(spacing_mm, float)
    shape = lumen.shape
    none = np.zeros((0, 3)), np.zeros(0)
    keep = votes.consistent
    if not keep.any():
        return none
    u, r = votes.direction[keep], votes.radius_mm[keep]
    centre_mm = votes.voxel[keep] * sp + r[:, None] * u
    c = np.rint(centre_mm / sp).astype(np.int64)
    inb = np.all((c >= 0) & (c < np.asarray(shape)), axis=1)
    c, u, r, centre_mm = c[inb], u[inb], r[inb], centre_mm[inb]
    flat = np.ravel_multi_index(tuple(c.T), shape)
    out = ~lumen.ravel()[flat] & passable.ravel()[flat]
    if not out.any():
        return none
    uniq, n = np.unique(flat[out], return_counts=True)
    cand = np.stack(np.unravel_index(uniq[n >= CORE_OWN_VOTES], shape), axis=1)
    if not len(cand):
        return none
    # the pool: a box reaching CORE_POOL_MM and at least one voxel along each axis
    half = (np.ceil(CORE_POOL_MM / sp) + 0.5) * sp
    pools = cKDTree(centre_mm / half).query_ball_point(cand * sp / half, 1.0, p=np.inf)
    cores, radius = [], []
    for pool in pools:
        if len(pool) < CORE_MIN_VOTES or np.linalg.norm(u[pool].mean(axis=0)) > CORE_MAX_RESULTANT:
            continue
        cores.append(centre_mm[pool].mean(axis=0) / sp)
        radius.append(float(np.median(r[pool])) + margin_mm)
    if not cores:
        return none
    return np.asarray(cores), np.asarray(radius)


def fill_cores(votes: WallVotes, lumen: np.ndarray, spacing_mm, *, passable: np.ndarray,
               margin_mm: float = 0.0, min_cover: int = 1) -> np.ndarray:
    """Vessel interior around the cores of wall-adherent defects (:func:`core_centres`).

    Around a defect whose crescent covers only part of the circumference, the diameters of
    :func:`fill_tubes` cover the sectors facing the crescent and the opposite ones, not
    those beside them, where the defect borders muscle as dense as itself. The vessel's
    axis runs through the defect there, and its walls vote for it from around the crescent:
    each such core casts rays in all directions up to its radius (+ ``margin_mm``: a wall
    voxel lies about half a voxel inside the wall), stopping at the lumen
    (the crescent seen from inside: beyond it lies outside the vessel) and on leaving
    ``passable`` (fat). A voxel is interior when at least ``min_cover`` cores see it.
    """
    sp = np.asarray(spacing_mm, float)
    shape = lumen.shape
    centres, radius = core_centres(votes, lumen, sp, passable=passable, margin_mm=margin_mm)
    out = np.zeros(shape, bool)
    if not len(centres):
        return out
    lum, pas = lumen.ravel(), passable.ravel()
    cover = np.zeros(lumen.size, np.int32)
    bins = np.round(radius / RAY_STEP_MM) * RAY_STEP_MM
    for b in np.unique(bins):
        cs = centres[bins == b]
        dirs = _sphere(int(np.ceil(4.0 * np.pi * (b / CORE_RAY_SPACING_MM) ** 2)) + 8)
        ts = np.arange(0.0, b + 1e-9, RAY_STEP_MM)
        step = max(1, CORE_SAMPLES // (len(dirs) * len(ts)))
        for a in range(0, len(cs), step):
            ch = cs[a:a + step]
            pos, inb = _rays(np.repeat(ch, len(dirs), axis=0), np.tile(dirs, (len(ch), 1)), ts, sp, shape)
            f = _flat(pos, shape)
            seen = np.cumsum(lum[f] | ~pas[f] | ~inb, axis=1) == 0
            # one count per core and voxel (its rays sample a voxel many times)
            per_core = (len(ch), len(dirs) * len(ts))
            vox, n = np.unique(_once_per_row(f.reshape(per_core), seen.reshape(per_core)), return_counts=True)
            cover[vox] += n.astype(np.int32)
    return (cover >= min_cover).reshape(shape)
