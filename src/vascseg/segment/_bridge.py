"""Reconnect vein stumps cut off from the tree by a complete occlusion.

Where a filling defect fills the whole cross-section for a stretch, the enhanced lumen
stops and starts again further on: the far stump is a lumen piece not connected to the
tree. Between the stumps the occluded vein is a tube of hypodense tissue whose wall
continues the stumps' wall. A minimal path (Dijkstra in mm, anisotropic voxels honoured)
from the pieces to the tree, cheap through hypodense tissue at least as thick as a small
vein and dear elsewhere (fat), finds that tube (tissue wider than any vein, a muscle the
occluded vein runs against, is taken out of the hypodense window first); the bridge is
accepted when it runs through such tissue almost all the way and is no longer than
``max_bridge_mm``. The bridge's interior (hypodense voxels within the tube's radius of the
path) becomes vein (defect).

Bridges are accepted one at a time, shortest first; a piece joined to the tree becomes a
start for the next search, so a chain of pieces along an interrupted vein is followed.
Arrays are (z, y, x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ._distance import edt_mm, elongated, within_mm
from ._paths import MinimalPaths
from .lumen import thick_regions

OFF_TISSUE_COST = 25.0
"""Cost per mm of a path outside hypodense vessel-calibre tissue (inside it: at most 1,
less towards the tube's axis)."""

MIN_TUBE_RADIUS_MM = 2.0
"""Hypodense tissue thinner than this (distance to its edge) is a partial-volume rim, not an
occluded vein: the path pays :data:`OFF_TISSUE_COST` there."""

MIN_INSIDE_FRACTION = 0.85
"""A bridge runs through hypodense vessel-calibre tissue along at least this fraction of
its length (the rest: partial-volume voxels at the stumps)."""

MIN_PIECE_ML = 0.05
"""Lumen pieces smaller than this are not stumps worth joining."""

COMPACT_PIECE_ML = 10.0
MIN_ELONGATION = 3.5
"""A piece larger than COMPACT_PIECE_ML must be elongated like a vein tree (diagonal of its
bounding box at least MIN_ELONGATION times the cube root of its volume): a compact bright
mass (kidney) is an organ, not a stump."""

PIECE_LEVEL_MAX = 1.3
"""A stump's 90th intensity percentile lies between the lumen threshold/level midpoint and
this multiple of the tree's lumen level (brighter: marrow; darker: a noisy organ). CT only
(``piece_level_max``): on T1 MR marrow is no brighter than fat, and nothing but vessels is as
bright as the lumen, whose level varies more from vein to vein (a bias field's remnant)."""

MAX_CONTACT_GAP_MM = 3.0
CONTACT_MIN_ML = 5.0
"""A piece of at least CONTACT_MIN_ML separated from the tree by at most MAX_CONTACT_GAP_MM
(partial volume at a tight stenosis) is joined without a tube check. Smaller pieces that
close are artery fragments cut off by the vein/artery split more often than veins."""

MASS_MARGIN_MM = 1.0
"""Hypodense tissue a ball this much wider than the largest vein fits in (an opening) is a
mass, not an occluded vein. A cord as dense as muscle, filling a vein that runs against a
muscle, merges with it in the hypodense window; the cheapest path ran through the muscle's
middle, far wider than the vein, and the bridge was refused. What the opening leaves of
the vein carries the bridge."""

STUMP_REACH_MM = 15.0
"""A stump's radius is measured over its voxels within this distance of the bridge's end: a
piece may be a whole vein system (the iliac veins cut off at a compression), far wider than
the small vein the bridge leaves from."""

RADIUS_RATIO = (0.5, 1.6)
"""The occluded tube's radius (median along the bridge) lies within these fractions of the
stump's radius where the bridge reaches it (its lumen's +1 mm, or its interior's): thicker
hypodense tissue is muscle, bowel or an ovary, thinner a rim. The upper bound also holds for
the tissue the bridge would fill (90th percentile of its depth): a path may skirt the edge of
a wider mass, shallow all along it."""


@dataclass(frozen=True)
class Bridge:
    """One accepted bridge: its path (voxel indices, (M, 3)), length and tube radius."""

    path: np.ndarray
    length_mm: float
    radius_mm: float


def _path_length_mm(path: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Cumulative length (mm) along a voxel path."""
    if len(path) < 2:
        return np.zeros(len(path))
    step = np.linalg.norm(np.diff(path, axis=0) * spacing, axis=1)
    return np.concatenate([[0.0], np.cumsum(step)])


def bridge_pieces(tree: np.ndarray, pieces: np.ndarray, hypo: np.ndarray, spacing_mm, *,
                  max_bridge_mm: float, max_radius_mm: float, image: np.ndarray | None = None,
                  lumen_level: float | None = None, lumen_min: float = 0.0,
                  stump_interior: np.ndarray | None = None, tissue_max: float | None = None,
                  piece_level_max: float | None = PIECE_LEVEL_MAX,
                  max_rounds: int = 3) -> tuple[np.ndarray, np.ndarray, list[Bridge]]:
    """Join lumen ``pieces`` to ``tree`` through hypodense tubes.

    Parameters
    ----------
    tree : (Z, Y, X) bool
        Vein interior connected to the IVC.
    pieces : (Z, Y, X) bool
        Enhanced lumen not in the tree (candidate stumps; disjoint from ``tree``).
    hypo : (Z, Y, X) bool
        Voxels an occluded vein may consist of (filling-defect intensities).
    max_bridge_mm : float
        Longest occluded stretch joined.
    max_radius_mm : float
        Largest vein radius expected; hypodense tissue thicker than this is not a vein.
    stump_interior : (Z, Y, X) bool, optional
        The stumps' vein interior (lumen and the tissue in its concavities): a stump's
        radius is measured in it. The lumen of a stump holding the start of a cord is a
        crescent, far thinner than the vein the cord fills.
    tissue_max : float, optional
        A bridge's tissue (median of ``image`` along its path in hypodense tubes) is no
        brighter than this: an organ's parenchyma (the liver, enhancing to just under the
        lumen threshold on CT) is not a cord.
    piece_level_max : float or None
        A stump brighter than this multiple of ``lumen_level`` is not a vein (CT: marrow);
        None: no upper bound (T1 MR).

    Returns
    -------
    (joined, interior, bridges) : the pieces joined (bool), the bridges' hypodense interior
    (bool), and the accepted bridges.
    """
    sp = np.asarray(spacing_mm, float)
    joined = np.zeros_like(tree)
    interior = np.zeros_like(tree)
    bridges: list[Bridge] = []
    full = np.ones((3, 3, 3), bool)
    lab, n = ndi.label(pieces, structure=full)
    if n == 0 or not tree.any():
        return joined, interior, bridges
    vox_ml = float(np.prod(sp)) / 1000.0
    sizes = np.bincount(lab.ravel(), minlength=n + 1) * vox_ml
    boxes = ndi.find_objects(lab)

    def own(i: int) -> tuple[tuple[slice, ...], np.ndarray]:
        """Piece ``i``'s bounding box and its voxels there (no whole-volume pass per piece)."""
        return boxes[i - 1], lab[boxes[i - 1]] == i

    candidates = [i for i in range(1, n + 1) if sizes[i] >= MIN_PIECE_ML
                  and (sizes[i] <= COMPACT_PIECE_ML or elongated(boxes[i - 1], sizes[i], sp, MIN_ELONGATION))]
    if image is not None and lumen_level is not None:
        lo = 0.5 * (lumen_min + lumen_level)
        hi = np.inf if piece_level_max is None else piece_level_max * lumen_level
        # a thin vein is mostly partial volume: judge a piece by its brightest tenth
        top = [np.percentile(image[box][m], 90) for box, m in map(own, candidates)]
        candidates = [i for i, m in zip(candidates, top, strict=True) if lo <= m <= hi]
    if not candidates:
        return joined, interior, bridges
    # a stump's lumen radius (+1 mm: it comes short of the vein's by its partial-volume edge)
    # bounds the occluded tube's; so does, with no allowance, the radius of the stump's
    # interior (lumen and cord) where that is wider. A crescent lies at the wall, so its own
    # voxels are near the interior's edge: the interior is measured over its component.
    piece_r = edt_mm(pieces, sp)
    if stump_interior is not None:
        whole = pieces | stump_interior
        whole_r = edt_mm(whole, sp)
        comp, _ = ndi.label(whole, structure=full)

    def near_end(mask_box: np.ndarray, box: tuple[slice, ...], end) -> tuple[np.ndarray, ...]:
        """Indices of ``mask_box``'s voxels (``mask_box`` spans ``box``) within
        :data:`STUMP_REACH_MM` of voxel ``end``."""
        pts = np.argwhere(mask_box) + np.array([b.start for b in box])
        return tuple(pts[np.linalg.norm((pts - np.asarray(end)) * sp, axis=1) <= STUMP_REACH_MM].T)

    def stump_radii(i: int, end) -> tuple[float, float]:
        """Piece ``i``'s lumen radius near ``end`` (where a bridge reaches it) and the widest
        occluded tube it allows there."""
        box, m = own(i)
        radius = float(np.percentile(piece_r[near_end(m, box, end)], 90))
        widest = RADIUS_RATIO[1] * radius + 1.0
        if stump_interior is not None:
            ids = np.unique(comp[box][m])
            reach = [int(np.ceil(STUMP_REACH_MM / v)) + 1 for v in sp]
            lb = tuple(slice(max(e - g, 0), e + g + 1) for e, g in zip(end, reach, strict=True))
            mine = near_end(np.isin(comp[lb], ids), lb, end)
            widest = max(widest, RADIUS_RATIO[1] * float(np.percentile(whole_r[mine], 90)))
        return radius, widest

    # hypodense tissue a ball wider than any vein fits in (muscle, bowel, an organ) is no
    # occluded vein: an occluded vein against it is followed along what is left of the tissue
    hypo = hypo & ~thick_regions(hypo, sp, max_radius_mm + MASS_MARGIN_MM)
    thick = edt_mm(hypo, sp)
    tube = hypo & (thick >= MIN_TUBE_RADIUS_MM) & (thick <= max_radius_mm)
    lumen = tree | pieces
    gap = ndi.binary_dilation(lumen, full) & ~lumen & ~tube
    # cheaper towards the middle of a tube (the path follows its axis, not its edge); at
    # most 1 per mm, so the cumulative cost bounds the length in tissue
    cost = np.full(tree.shape, np.inf)
    cost[pieces] = 1.0
    cost[tube] = MIN_TUBE_RADIUS_MM / thick[tube]
    cost[gap] = OFF_TISSUE_COST
    current = tree.copy()
    done: set[int] = set()
    for _ in range(max_rounds):
        surface = current & ~ndi.binary_erosion(current, full)
        c = cost.copy()
        c[surface] = 1.0
        c[current & ~surface] = np.inf
        paths = MinimalPaths(c, surface, sp, limit=max_bridge_mm * 1.5)
        cum = paths.costs
        found = []
        for i in candidates:
            if i in done:
                continue
            box, m = own(i)
            costs = np.where(m, cum[box], np.inf)
            k = np.unravel_index(int(np.argmin(costs)), costs.shape)
            if np.isfinite(costs[k]) and costs[k] <= max_bridge_mm * 1.5:
                found.append((float(costs[k]), i, tuple(int(b.start + j) for b, j in zip(box, k, strict=True))))
        accepted = False
        for _, i, end in sorted(found):
            path = paths.traceback(end)
            on_path = tuple(path.T)
            out = ~current[on_path] & (lab[on_path] != i)
            done.add(i)
            if not out.any():
                seg, length, r = path[:0], 0.0, 0.0
            else:
                idx = np.flatnonzero(out)
                seg = path[idx[0]: idx[-1] + 1]
                length = float(_path_length_mm(seg, sp)[-1])
                on_tube = tube[tuple(seg.T)]
                inside = on_tube.mean()
                too_bright = (tissue_max is not None and image is not None and on_tube.any()
                              and float(np.median(image[tuple(seg[on_tube].T)])) > tissue_max)
                r = float(np.median(thick[tuple(seg.T)]))
                rp, widest = stump_radii(i, end)
                mark = np.zeros_like(tree)
                mark[tuple(seg.T)] = True
                if length <= MAX_CONTACT_GAP_MM:
                    if sizes[i] < CONTACT_MIN_ML:
                        continue
                    near = mark  # a partial-volume gap (stenosis, contact): no tube to check
                elif (length > max_bridge_mm or inside < MIN_INSIDE_FRACTION or too_bright
                        or not RADIUS_RATIO[0] * rp <= r <= widest):
                    continue
                else:
                    near = (within_mm(mark, r, sp) & hypo) | mark  # the path itself keeps it connected
                    if float(np.percentile(thick[near], 90)) > widest:
                        continue  # the path skirts the edge of a wider mass (an ovary, muscle)
                interior |= near
                current |= near
            box, m = own(i)
            joined[box] |= m
            current[box] |= m
            bridges.append(Bridge(seg, length, r))
            accepted = True
        if not accepted:
            break
    return joined, interior, bridges
