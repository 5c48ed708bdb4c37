"""Anatomical names for the vein tree, from its skeleton graph and directions in LPS.

The vein envelope is skeletonised; the skeleton becomes a graph rooted at the cranial end
of the IVC and reduced to a shortest-path tree. Rules in patient space then name paths:

* IVC: from the root down the largest subtree to the iliac confluence, the first node
  where two substantial branches both head caudally to opposite sides.
* renal veins: substantial branches leaving the IVC laterally (+x patient left);
  left gonadal: a caudal branch of the left renal vein; right gonadal: a caudal branch of
  the IVC on the right.
* common iliac veins: from the confluence to their first substantial bifurcation, where
  the more anterior branch is the external iliac vein and the other the internal iliac;
  uterine vein: the substantial branch of the internal iliac vein heading to the midline.

Landmarks override: the path holding the skeleton point nearest a landmark takes its name.
Voxels take the label of the nearest named skeleton point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from ..anatomy import LABELS
from ..geometry import Volume

MIN_BRANCH_MM = 25.0
"""A side subtree shorter than this is a spur or small tributary, not a named branch."""

DIRECTION_SPAN_MM = 25.0
"""A branch's direction is measured over its first this many mm."""


@dataclass
class _Tree:
    pos: np.ndarray          # (N, 3) LPS mm
    radius: np.ndarray       # (N,) mm
    parent: np.ndarray       # (N,) int, -1 at root / unreachable
    dist: np.ndarray         # (N,) geodesic mm from root
    children: list[list[int]]
    sub_len: np.ndarray      # (N,) longest path below node, mm
    sub_vol: np.ndarray      # (N,) summed cross-section x length below node


def _skeleton_graph(skel: np.ndarray, spacing_mm) -> tuple[np.ndarray, sparse.csr_matrix]:
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


def _build_tree(pos, radius, graph, root) -> _Tree:
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
    return _Tree(pos, radius, parent, dist, children, sub_len, sub_vol)


def _main_path(t: _Tree, start: int) -> list[int]:
    path = [start]
    while t.children[path[-1]]:
        ch = t.children[path[-1]]
        path.append(max(ch, key=lambda c: t.sub_vol[c] + 1e-6 * t.sub_len[c]))
    return path


def _direction(t: _Tree, start: int, span_mm: float = DIRECTION_SPAN_MM) -> np.ndarray:
    """Unit LPS direction from ``start``'s parent along the main path below it."""
    path = _main_path(t, start)
    origin = t.pos[t.parent[start]] if t.parent[start] >= 0 else t.pos[start]
    d0 = t.dist[start]
    end = path[-1]
    for i in path:
        if t.dist[i] - d0 >= span_mm:
            end = i
            break
    v = t.pos[end] - origin
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def _side_branches(t: _Tree, path: list[int], min_len: float = MIN_BRANCH_MM):
    """(index on path, child) for substantial subtrees leaving ``path``."""
    on = set(path)
    out = []
    for k, i in enumerate(path):
        for c in t.children[i]:
            if c not in on and t.sub_len[c] + (t.dist[c] - t.dist[i]) >= min_len:
                out.append((k, c))
    return out


def name_tree(t: _Tree, root: int, midline_x: float, *,
              undivided_iliac_split: float | None = None) -> tuple[dict[str, list[int]], list[str]]:
    """Name paths of the tree; returns {segment: node list} and notes on what is missing.

    ``undivided_iliac_split``: when an iliac vein shows no internal iliac branch (e.g. a
    prior that merges common and external iliac veins), put the common/external boundary
    at this fraction of its length instead of calling it all common iliac (noted).
    """
    names: dict[str, list[int]] = {}
    notes: list[str] = []
    trunk = _main_path(t, root)

    # --- iliac confluence: first trunk node with two caudal branches to opposite sides.
    conf_k, pair = None, None
    for k, i in enumerate(trunk[:-1]):
        cands = [c for c in t.children[i] if t.sub_len[c] + (t.dist[c] - t.dist[i]) >= MIN_BRANCH_MM]
        if len(cands) < 2:
            continue
        dirs = {c: _direction(t, c) for c in cands}
        caudal = [c for c in cands if dirs[c][2] < -0.35]
        left = [c for c in caudal if dirs[c][0] > 0.15]
        right = [c for c in caudal if dirs[c][0] < -0.15]
        if left and right:
            conf_k = k
            pair = (max(left, key=lambda c: t.sub_vol[c]), max(right, key=lambda c: t.sub_vol[c]))
            break
    ivc = trunk if conf_k is None else trunk[: conf_k + 1]
    names["ivc"] = ivc
    if conf_k is None:
        notes.append("common_iliac_vein_left/right: no iliac confluence found below the IVC")

    # --- branches of the IVC: renal (lateral) and right gonadal (caudal, right).
    ivc_set = set(ivc)
    renal: dict[str, tuple[float, int]] = {}
    gon_r: tuple[float, int] | None = None
    for _k, c in _side_branches(t, ivc):
        if pair and c in pair:
            continue
        d = _direction(t, c)
        if abs(d[0]) >= abs(d[2]) * 0.8:
            side = "left" if d[0] > 0 else "right"
            score = t.sub_vol[c]
            if side not in renal or score > renal[side][0]:
                renal[side] = (score, c)
        elif d[2] < 0 and t.pos[c][0] < midline_x + 30:
            if gon_r is None or t.sub_len[c] > gon_r[0]:
                gon_r = (t.sub_len[c], c)
    for side in ("left", "right"):
        if side in renal:
            path = _main_path(t, renal[side][1])
            names[f"renal_vein_{side}"] = path
        else:
            notes.append(f"renal_vein_{side}: no lateral branch of the IVC found")
    if gon_r is not None:
        names["gonadal_vein_right"] = _main_path(t, gon_r[1])
    else:
        notes.append("gonadal_vein_right: no caudal branch of the IVC found")
    # left gonadal: the longest caudal branch of the left renal vein
    if "renal_vein_left" in names:
        best = None
        for _k, c in _side_branches(t, names["renal_vein_left"]):
            d = _direction(t, c)
            if d[2] < -0.5 and (best is None or t.sub_len[c] > t.sub_len[best]):
                best = c
        if best is not None:
            names["gonadal_vein_left"] = _main_path(t, best)
        else:
            notes.append("gonadal_vein_left: no caudal branch of the left renal vein found")
    else:
        notes.append("gonadal_vein_left: the left renal vein was not found")

    # --- iliac systems
    if pair:
        for side, c in (("left", pair[0]), ("right", pair[1])):
            _name_iliac(t, c, side, midline_x, names, notes, undivided_iliac_split)
    else:
        for side in ("left", "right"):
            for s in ("common", "external", "internal"):
                notes.append(f"{s}_iliac_vein_{side}: iliac confluence not found")
            notes.append(f"uterine_vein_{side}: iliac confluence not found")
    del ivc_set
    return names, notes


def _name_iliac(t: _Tree, start: int, side: str, midline_x: float,
                names: dict[str, list[int]], notes: list[str], split: float | None) -> None:
    path = _main_path(t, start)
    branches = _side_branches(t, path)
    if not branches:
        if split is None:
            names[f"common_iliac_vein_{side}"] = path
            notes.append(f"external_iliac_vein_{side}: the common iliac vein does not divide")
        else:
            d = t.dist[path] - t.dist[path[0]]
            k = int(np.searchsorted(d, split * d[-1]))
            names[f"common_iliac_vein_{side}"] = path[:k]
            names[f"external_iliac_vein_{side}"] = path[k:]
            notes.append(f"common/external_iliac_vein_{side}: no internal iliac vein marks their "
                         f"boundary; placed at {split:.0%} of the iliac vein's length")
        notes.append(f"internal_iliac_vein_{side}: not found")
        notes.append(f"uterine_vein_{side}: not found (no internal iliac vein)")
        return
    k, side_child = branches[0]
    node = path[k]
    main_child = path[k + 1] if k + 1 < len(path) else None
    names[f"common_iliac_vein_{side}"] = path[: k + 1]
    cands = [c for c in (main_child, side_child) if c is not None]
    # external = the more anterior (smaller LPS y) direction
    dirs = {c: _direction(t, c) for c in cands}
    ext = min(cands, key=lambda c: dirs[c][1])
    intl = [c for c in cands if c != ext]
    names[f"external_iliac_vein_{side}"] = _main_path(t, ext)
    if not intl:
        notes.append(f"internal_iliac_vein_{side}: not found")
        return
    ipath = _main_path(t, intl[0])
    # uterine: substantial branch of the internal iliac heading towards the midline
    sign = 1.0 if side == "left" else -1.0
    best = None
    for kk, c in _side_branches(t, ipath, min_len=15.0):
        d = _direction(t, c)
        medial = -sign * d[0]
        # compare with the continuation of the internal iliac at the same node
        cont = ipath[kk + 1] if kk + 1 < len(ipath) else None
        cont_medial = -sign * _direction(t, cont)[0] if cont is not None else -1.0
        if medial > 0.3 and (best is None or medial > best[0]):
            best = (medial, c, kk, cont, cont_medial)
    if best is None:
        names[f"internal_iliac_vein_{side}"] = ipath
        notes.append(f"uterine_vein_{side}: no medial branch of the internal iliac vein found")
        return
    _, c, kk, cont, cont_medial = best
    if cont is not None and cont_medial > best[0]:
        # the main path itself turns medially: it is the uterine vein, the branch is the IIV
        names[f"internal_iliac_vein_{side}"] = ipath[: kk + 1] + _main_path(t, c)
        names[f"uterine_vein_{side}"] = ipath[kk + 1:]
    else:
        names[f"internal_iliac_vein_{side}"] = ipath
        names[f"uterine_vein_{side}"] = _main_path(t, c)
    del node


def label_veins(envelope: np.ndarray, grid: Volume, ivc_seed: np.ndarray | None, *,
                landmarks=None, max_gap_mm: float = 3.0,
                undivided_iliac_split: float | None = None) -> tuple[np.ndarray, list[str]]:
    """Name every voxel of the vein envelope.

    Parameters
    ----------
    envelope : (Z, Y, X) bool
        Vein interior (lumen + defects) on ``grid``.
    grid : Volume
        Geometry (spacing, LPS affine).
    ivc_seed : (Z, Y, X) bool or None
        Voxels known to be IVC (the root is its most superior skeleton point).
    landmarks : list of (name, index_zyx) or None
        Points known to lie in named veins; they override the rules.

    Returns
    -------
    labels : (Z, Y, X) uint8 with :data:`vascseg.anatomy.LABELS`, and notes on missing segments.
    """
    from skimage.morphology import skeletonize

    labels = np.zeros(envelope.shape, np.uint8)
    if not envelope.any():
        return labels, ["no vein envelope"]
    sl = ndi.find_objects(envelope.astype(np.uint8))[0]
    sl = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(sl, envelope.shape, strict=True))
    env = envelope[sl]
    offset = np.array([s.start for s in sl])
    skel = skeletonize(env).astype(bool)
    coords, graph = _skeleton_graph(skel, grid.spacing_mm)
    if len(coords) == 0:
        return labels, ["vein envelope has no skeleton"]
    import edt

    radius_map = edt.edt(env, anisotropy=tuple(float(s) for s in grid.spacing_mm), parallel=2)
    radius = radius_map[tuple(coords.T)]
    pos = grid.index_to_lps(coords + offset)
    # root: most superior skeleton point inside the IVC seed (else the most superior overall)
    if ivc_seed is not None and ivc_seed[sl][tuple(coords.T)].any():
        cand = np.nonzero(ivc_seed[sl][tuple(coords.T)])[0]
    else:
        cand = np.arange(len(coords))
    root = int(cand[np.argmax(pos[cand, 2])])
    tree = _build_tree(pos, radius, graph, root)
    # body midline: use the IVC trunk x + 25 mm as a robust proxy when unknown
    midline_x = float(np.median(pos[cand, 0])) + 25.0
    names, notes = name_tree(tree, root, midline_x, undivided_iliac_split=undivided_iliac_split)
    if landmarks:
        kd = cKDTree(pos)
        for name, idx in landmarks:
            p = grid.index_to_lps(np.asarray(idx, float))
            _, j = kd.query(p)
            for other, nodes in list(names.items()):
                if j in nodes and other != name:
                    names[name] = nodes
                    del names[other]
                    notes.append(f"{name}: named from a landmark (automatic name was {other})")
                    break
            else:
                if not any(j in n for n in names.values()):
                    names[name] = _main_path(tree, j)
                    notes.append(f"{name}: path from the landmark added")
    node_label = np.zeros(len(coords), np.uint8)
    for name, nodes in names.items():
        node_label[nodes] = LABELS[name]
    # unnamed short spurs inherit their nearest named ancestor's label
    for i in np.argsort(np.where(np.isfinite(tree.dist), tree.dist, np.inf)):
        if node_label[i] == 0 and tree.parent[i] >= 0 and np.isfinite(tree.dist[i]):
            p = tree.parent[i]
            if node_label[p] and _branch_len_from(tree, i, node_label) < MIN_BRANCH_MM:
                node_label[i] = node_label[p]
    named = node_label > 0
    if not named.any():
        return labels, notes + ["no vein segment could be named"]
    kd = cKDTree(coords[named] * np.asarray(grid.spacing_mm))
    vox = np.argwhere(env)
    d, j = kd.query(vox * np.asarray(grid.spacing_mm), distance_upper_bound=60.0)
    ok = np.isfinite(d)
    # a voxel must be within the local radius (+ margin) of its skeleton point
    rad = np.where(ok, radius[np.nonzero(named)[0][np.minimum(j, named.sum() - 1)]], 0)
    ok &= d <= rad + max_gap_mm
    sub = np.zeros(env.shape, np.uint8)
    sub[tuple(vox[ok].T)] = node_label[named][j[ok]]
    labels[sl] = sub
    return labels, notes


def _branch_len_from(t: _Tree, i: int, node_label: np.ndarray) -> float:
    """Length of the unnamed subtree hanging at ``i`` (its longest path)."""
    return float(t.sub_len[i])
