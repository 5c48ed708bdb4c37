"""The vein envelope's skeleton as a tree in patient space, with the lumen radius per node.

:func:`skeleton_graph` links 26-neighbour skeleton voxels into a graph weighted by their
distance in mm; :func:`build_tree` reduces it to the shortest-path tree from a root. Each
node carries its LPS position (mm) and the distance-transform radius (mm) of the mask
there. The helpers walk that tree: the widest course down (:func:`wide_path`, continuity
of calibre), side branches, directions over a given length and the calibre (median
radius) of a branch beyond its parent's lumen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

DIRECTION_SPAN_MM = 25.0
"""A branch's direction is measured over its first this many mm."""

MIN_BRANCH_MM = 25.0
"""A side subtree shorter than this is a spur or small tributary, not a named branch."""

CAUDAL = np.array([0.0, 0.0, -1.0])
"""Unit LPS vector towards the feet."""

SPUR_MM = 25.0
"""Side subtrees reaching less than this beyond the lumen they leave are skeleton spurs
(surface bumps, blunt ends), never a vessel's course."""

STEP_SPAN_MM = 15.0
""":func:`wide_path` compares children's median radii over this length."""

CALIBRE_SPAN_MM = 20.0
"""A branch's calibre is the median radius over this length of it, beyond its parent's
lumen (where the distance transform still measures the parent)."""


@dataclass
class Tree:
    """Shortest-path tree of a skeleton graph.

    Attributes
    ----------
    pos : (N, 3) float
        Node positions, LPS mm.
    radius : (N,) float
        Distance from the node to the mask's boundary, mm.
    parent : (N,) int
        Parent node, -1 at the root and at nodes not reachable from it.
    dist : (N,) float
        Geodesic distance from the root along the skeleton, mm (inf when unreachable).
    children : list of list of int
    sub_len : (N,) float
        Longest path below the node, mm.
    sub_vol : (N,) float
        Summed cross-section x length of the subtree below the node, mm^3.
    """

    pos: np.ndarray
    radius: np.ndarray
    parent: np.ndarray
    dist: np.ndarray
    children: list[list[int]]
    sub_len: np.ndarray
    sub_vol: np.ndarray


def skeleton_graph(skel: np.ndarray, spacing_mm) -> tuple[np.ndarray, sparse.csr_matrix]:
    """Skeleton voxel indices (K, 3) and their 26-neighbour graph, edges weighted in mm."""
    coords = np.argwhere(skel)
    index = -np.ones(skel.shape, np.int64)
    index[tuple(coords.T)] = np.arange(len(coords))
    rows, cols, w = [], [], []
    sp = np.asarray(spacing_mm, float)
    offsets = [o for o in np.ndindex(3, 3, 3) if o > (1, 1, 1)]
    for o in offsets:
        d = np.asarray(o) - 1
        nb = coords + d
        ok = np.all((nb >= 0) & (nb < skel.shape), axis=1)
        j = np.full(len(coords), -1)
        j[ok] = index[tuple(nb[ok].T)]
        m = j >= 0
        rows.append(np.nonzero(m)[0])
        cols.append(j[m])
        w.append(np.full(m.sum(), float(np.linalg.norm(d * sp))))
    r, c, ww = (np.concatenate(x) for x in (rows, cols, w))
    g = sparse.coo_matrix((ww, (r, c)), shape=(len(coords), len(coords))).tocsr()
    return coords, g.maximum(g.T)


def build_tree(pos: np.ndarray, radius: np.ndarray, graph, root: int) -> Tree:
    """Shortest-path tree of ``graph`` from ``root`` (see :class:`Tree`)."""
    dist, pred = csgraph.dijkstra(graph, directed=False, indices=root, return_predecessors=True)
    n = len(pos)
    parent = np.where(pred < 0, -1, pred)
    children: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        if parent[i] >= 0:
            children[parent[i]].append(i)
    sub_len = np.zeros(n)
    sub_vol = np.zeros(n)
    reach = np.isfinite(dist)
    for i in np.argsort(-np.where(reach, dist, -1)):
        if not reach[i]:
            continue
        p = parent[i]
        if p >= 0:
            step = dist[i] - dist[p]
            sub_len[p] = max(sub_len[p], sub_len[i] + step)
            sub_vol[p] += sub_vol[i] + step * np.pi * radius[i] ** 2
    return Tree(pos, radius, parent, dist, children, sub_len, sub_vol)


def main_path(t: Tree, start: int, length_mm: float = np.inf) -> list[int]:
    """From ``start`` down the child with the largest subtree volume, to a leaf (or for at
    most ``length_mm``)."""
    path = [start]
    d0 = t.dist[start]
    while t.children[path[-1]] and t.dist[path[-1]] - d0 < length_mm:
        ch = t.children[path[-1]]
        path.append(max(ch, key=lambda c: t.sub_vol[c] + 1e-6 * t.sub_len[c]))
    return path


def wide_path(t: Tree, start: int, length_mm: float = np.inf, *, heading=None,
              heading_min: float = 0.3) -> list[int]:
    """From ``start`` down the widest child at every division (at most ``length_mm``).

    Continuity of calibre: a child's width is the largest median radius over two
    :data:`STEP_SPAN_MM` stretches beyond the parent's lumen (a short narrowing, such as a
    filling defect, does not end a vein's course); spurs, reaching less than
    :data:`SPUR_MM` beyond that lumen, are passed by. ``heading`` (a unit LPS vector):
    children whose direction has at least ``heading_min`` along it come first; when none
    sets off that way, the one whose subtree reaches farthest along it is taken (the IVC's
    skeleton may leave a division along a tributary's junction, beside a wider branch into
    a kidney). Unlike
    :func:`main_path`, a blob hanging on a vein (more volume, less calibre at the
    junction) does not divert it.
    """
    path = [start]
    d0 = t.dist[start]
    while t.children[path[-1]] and t.dist[path[-1]] - d0 < length_mm:
        i = path[-1]
        ch = t.children[i]
        if len(ch) > 1:
            # reach beyond the lumen around the division, where spurs stay
            beyond = {c: branch_length(t, c) - t.radius[i] for c in ch}
            far = max(beyond.values())
            ch = [c for c in ch if beyond[c] >= min(SPUR_MM, far)]
            reach = t.radius[i] + 2 * STEP_SPAN_MM
            first = {c: main_path(t, c, reach) for c in ch}
            if heading is not None:
                ahead = [c for c in ch if direction(t, i, first[c]) @ np.asarray(heading) >= heading_min]
                if not ahead:
                    reach_along = {c: max(t.pos[subtree(t, c)] @ np.asarray(heading)) for c in ch}
                    ahead = [max(ch, key=reach_along.get)]
                ch = ahead
            width = {c: calibre(t, i, first[c], STEP_SPAN_MM, windows=2) for c in ch}
            ch = sorted(ch, key=lambda c: -width[c] if np.isfinite(width[c]) else np.inf)
        path.append(ch[0])
    return path


def path_to(t: Tree, node: int) -> list[int]:
    """Nodes from the root down to ``node``."""
    out = [node]
    while t.parent[out[-1]] >= 0:
        out.append(int(t.parent[out[-1]]))
    return out[::-1]


def subtree(t: Tree, start: int) -> list[int]:
    """``start`` and every node below it."""
    out, stack = [], [start]
    while stack:
        i = stack.pop()
        out.append(i)
        stack.extend(t.children[i])
    return out


def leaves(t: Tree, nodes=None) -> list[int]:
    """The ends (nodes without children, reachable from the root) among ``nodes`` (all)."""
    idx = range(len(t.pos)) if nodes is None else nodes
    return [i for i in idx if np.isfinite(t.dist[i]) and not t.children[i]]


def lowest_path(t: Tree, start: int) -> list[int]:
    """From ``start`` to the lowest (most inferior) end of its subtree."""
    low = min(leaves(t, subtree(t, start)), key=lambda e: t.pos[e][2])
    full = path_to(t, low)
    return full[full.index(start):]


def branch_length(t: Tree, node: int) -> float:
    """Length (mm) of the longest path from ``node``'s parent down through ``node``."""
    p = t.parent[node]
    return float(t.sub_len[node] + (t.dist[node] - t.dist[p] if p >= 0 else 0.0))


def side_branches(t: Tree, path: list[int], min_len: float) -> list[tuple[int, int]]:
    """(index on ``path``, child) for subtrees at least ``min_len`` mm long leaving it."""
    on = set(path)
    return [(k, c) for k, i in enumerate(path) for c in t.children[i]
            if c not in on and branch_length(t, c) >= min_len]


def direction(t: Tree, origin: int, path: list[int], span_mm: float = DIRECTION_SPAN_MM) -> np.ndarray:
    """Unit LPS direction from node ``origin`` to the first node of ``path`` (a path leaving
    it) at least ``span_mm`` away along the skeleton (or the path's end)."""
    d0 = t.dist[origin]
    end = path[-1]
    for i in path:
        if abs(t.dist[i] - d0) >= span_mm:
            end = i
            break
    v = t.pos[end] - t.pos[origin]
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def calibre(t: Tree, origin: int, path: list[int], span_mm: float = CALIBRE_SPAN_MM, *,
            windows: int = 1) -> float:
    """Median radius (mm) of ``path`` (leaving node ``origin``) over ``span_mm`` beyond the
    lumen around ``origin``; NaN when it never leaves that lumen (a spur).

    ``windows`` > 1: the largest median over that many consecutive ``span_mm`` windows, the
    calibre of a vein that may be compressed or narrowed by a defect somewhere along it.
    """
    if not path:
        return float("nan")
    nodes = np.asarray(path)
    r0 = t.radius[origin]
    d = np.abs(t.dist[nodes] - t.dist[origin])
    outside = np.linalg.norm(t.pos[nodes] - t.pos[origin], axis=1) > r0
    if not outside.any():
        return float("nan")  # a spur inside the lumen around ``origin``
    start = float(d[outside].min())
    best = float("nan")
    for w in range(windows):
        pick = (d >= start + w * span_mm) & (d <= start + (w + 1) * span_mm)
        if pick.any():
            m = float(np.median(t.radius[nodes[pick]]))
            best = m if not np.isfinite(best) or m > best else best
    return best


def smooth_radius(t: Tree, path: list[int], span_mm: float) -> np.ndarray:
    """Median radius (mm) along ``path`` over ``span_mm`` of skeleton length around each node."""
    d = t.dist[path]
    r = t.radius[path]
    lo = np.searchsorted(d, d - span_mm / 2)
    hi = np.searchsorted(d, d + span_mm / 2, side="right")
    return np.array([np.median(r[a:b]) for a, b in zip(lo, hi, strict=True)])
