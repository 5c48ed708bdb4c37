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
from ._distance import edt_mm
from ._junctions import redraw_junction

_JUNCTIONS = (
    ("ivc", ("common_iliac_vein_left", "common_iliac_vein_right")),
    ("common_iliac_vein_left", ("external_iliac_vein_left", "internal_iliac_vein_left")),
    ("common_iliac_vein_right", ("external_iliac_vein_right", "internal_iliac_vein_right")),
)
"""Junctions re-drawn from the veins' axes: (parent, its branches)."""

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
    conf, eiv_leaf = _iliac_confluence(t, root, midline_x)
    if conf is None:
        ivc = _main_path(t, root)
        pair = None
        notes.append("common_iliac_vein_left/right: no iliac confluence found below the IVC "
                     "(no caudal vein reaching the pelvis on both sides)")
    else:
        ivc = _path(t, conf)
        pair = (eiv_leaf["left"], eiv_leaf["right"])
    names["ivc"] = ivc
    # --- branches of the IVC: renal (lateral, ending near their own level) and right
    # gonadal (ending far below where it joins, on the right).
    iliac_nodes: set[int] = set()
    if pair:
        for leaf in pair:
            iliac_nodes.update(_path(t, leaf))
    renal: dict[str, tuple[float, int, int]] = {}
    gon_r: tuple[float, int, int] | None = None
    for k, c in _side_branches(t, ivc):
        if c in iliac_nodes:
            continue
        b = ivc[k]
        ends = _leaves(t, _subtree(t, c))
        for side, sign in (("left", 1.0), ("right", -1.0)):
            level = [e for e in ends if abs(t.pos[e][2] - t.pos[b][2]) <= RENAL_LEVEL_MM]
            if level:
                e = max(level, key=lambda e: sign * (t.pos[e][0] - t.pos[b][0]))
                reach = sign * (t.pos[e][0] - t.pos[b][0])
                if reach >= RENAL_REACH_MM and (side not in renal or reach > renal[side][0]):
                    renal[side] = (reach, c, e)
        low = min(ends, key=lambda e: t.pos[e][2])
        drop = t.pos[b][2] - t.pos[low][2]
        if drop >= GONADAL_DROP_MM and t.pos[low][0] < midline_x and (gon_r is None or drop > gon_r[0]):
            gon_r = (drop, c, low)
    for side in ("left", "right"):
        if side in renal:
            _, c, e = renal[side]
            full = _path(t, e)
            names[f"renal_vein_{side}"] = full[full.index(c):]
        else:
            notes.append(f"renal_vein_{side}: no branch of the IVC reaching laterally at its own level")
    if gon_r is not None and not (renal.get("right") and renal["right"][1] == gon_r[1]):
        full = _path(t, gon_r[2])
        names["gonadal_vein_right"] = full[full.index(gon_r[1]):]
    elif gon_r is not None:
        # the right gonadal joins the right renal vein's subtree: take its own branch
        _add_caudal_branch(t, names, notes, "renal_vein_right", "gonadal_vein_right")
    else:
        notes.append("gonadal_vein_right: no branch of the IVC descending into the pelvis")
    if "renal_vein_left" in names:
        _add_caudal_branch(t, names, notes, "renal_vein_left", "gonadal_vein_left")
    else:
        notes.append("gonadal_vein_left: the left renal vein was not found")

    # --- iliac systems
    if pair:
        for side, leaf in (("left", pair[0]), ("right", pair[1])):
            full = _path(t, leaf)
            ipath = full[full.index(conf) + 1:]
            _name_iliac(t, ipath, side, midline_x, names, notes, undivided_iliac_split)
    else:
        for side in ("left", "right"):
            for s in ("common", "external", "internal"):
                notes.append(f"{s}_iliac_vein_{side}: iliac confluence not found")
            notes.append(f"uterine_vein_{side}: iliac confluence not found")
    return names, notes


RENAL_LEVEL_MM = 40.0
"""A renal vein's lateral end lies within this distance (patient z) of where it joins."""
RENAL_REACH_MM = 15.0
"""...and at least this far lateral of it."""
GONADAL_DROP_MM = 60.0
"""A gonadal vein's pelvic end lies at least this far below where it joins."""


def _add_caudal_branch(t: _Tree, names: dict, notes: list[str], parent: str, name: str) -> None:
    """Name the branch of ``parent`` whose end lies lowest (>= GONADAL_DROP_MM below)."""
    best = None
    for k, c in _side_branches(t, names[parent]):
        b = names[parent][k]
        low = min(_leaves(t, _subtree(t, c)), key=lambda e: t.pos[e][2])
        drop = t.pos[b][2] - t.pos[low][2]
        if drop >= GONADAL_DROP_MM and (best is None or drop > best[0]):
            best = (drop, c, low)
    if best is None:
        notes.append(f"{name}: no branch of the {parent.replace('_', ' ')} descending into the pelvis")
        return
    full = _path(t, best[2])
    names[name] = full[full.index(best[1]):]


def _path(t: _Tree, node: int) -> list[int]:
    """Nodes from the root down to ``node``."""
    out = [node]
    while t.parent[out[-1]] >= 0:
        out.append(int(t.parent[out[-1]]))
    return out[::-1]


def _leaves(t: _Tree, nodes=None) -> list[int]:
    idx = range(len(t.pos)) if nodes is None else nodes
    return [i for i in idx if np.isfinite(t.dist[i]) and not t.children[i]]


def _subtree(t: _Tree, start: int) -> list[int]:
    out, stack = [], [start]
    while stack:
        i = stack.pop()
        out.append(i)
        stack.extend(t.children[i])
    return out


MIN_STUB_MM = 8.0
"""Without a substantial branch, a side branch at least this long still marks the division
of the common iliac vein (an internal iliac vein cut short by a defect)."""

MIN_COMMON_MM = 15.0
"""...provided it leaves the iliac vein at least this far from the confluence."""

MIN_ILIAC_DROP_MM = 60.0
"""An external iliac vein's end lies at least this far below the IVC root (patient z)."""


def _iliac_confluence(t: _Tree, root: int, midline_x: float):
    """Confluence node and the lowest leaf per side (the external iliac veins' ends).

    The vein reaching lowest on each side of the midline is the external iliac vein (it
    leaves towards the groin); the deepest node the two share is the iliac confluence.
    """
    z_root = t.pos[root][2]
    leaf_by_side = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        cands = [i for i in _leaves(t) if sign * (t.pos[i][0] - midline_x) > 10.0
                 and t.pos[i][2] < z_root - MIN_ILIAC_DROP_MM]
        if not cands:
            return None, {}
        leaf_by_side[side] = min(cands, key=lambda i: t.pos[i][2])
    pl = _path(t, leaf_by_side["left"])
    pr = set(_path(t, leaf_by_side["right"]))
    shared = [i for i in pl if i in pr]
    if not shared:
        return None, {}
    return shared[-1], leaf_by_side


def _name_iliac(t: _Tree, ipath: list[int], side: str, midline_x: float,
                names: dict[str, list[int]], notes: list[str], split: float | None) -> None:
    """Common/external/internal iliac and uterine veins of one side.

    ``ipath``: nodes from just below the confluence to the external iliac vein's end. The
    largest side subtree leaving it is the internal iliac vein (its branch point ends the
    common iliac vein); in that subtree the most posterior end is the internal iliac vein's
    and the end nearest the midline, branching off it, the uterine vein's.
    """
    path = ipath
    branches = _side_branches(t, path)
    if not path:
        notes.append(f"common_iliac_vein_{side}: not found")
        return
    if not branches:
        # the internal iliac vein may be cut short by a filling defect: its enhanced stump
        # still marks where the common iliac vein divides
        d0 = t.dist[path[0]]
        branches = [(k, c) for k, c in _side_branches(t, path, min_len=MIN_STUB_MM)
                    if t.dist[path[k]] - d0 >= MIN_COMMON_MM]
        if branches:
            notes.append(f"internal_iliac_vein_{side}: only a stump found (a defect may interrupt it)")
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
    k, c = max(branches, key=lambda b: t.sub_vol[b[1]])
    names[f"common_iliac_vein_{side}"] = path[: k + 1]
    names[f"external_iliac_vein_{side}"] = path[k + 1:]
    sub = _subtree(t, c)
    ends = [i for i in _leaves(t, sub) if t.dist[i] - t.dist[c] >= 10.0] or [max(sub, key=lambda i: t.dist[i])]
    iiv_leaf = max(ends, key=lambda i: t.pos[i][1])
    ipath_full = _path(t, iiv_leaf)
    iiv = ipath_full[ipath_full.index(c):]
    on_iiv = set(ipath_full)
    best = None
    for leaf in ends:
        if leaf == iiv_leaf:
            continue
        lp = _path(t, leaf)
        j = next(n for n in range(len(lp)) if lp[n] not in on_iiv)
        branch = lp[j:]
        if t.dist[leaf] - t.dist[lp[j - 1]] < 15.0:
            continue
        medial = abs(t.pos[leaf][0] - midline_x)
        if best is None or medial < best[0]:
            best = (medial, branch)
    names[f"internal_iliac_vein_{side}"] = iiv
    if best is None:
        notes.append(f"uterine_vein_{side}: no branch of the internal iliac vein towards the midline found")
        return
    names[f"uterine_vein_{side}"] = best[1]


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
    radius_map = edt_mm(env, grid.spacing_mm)
    radius = radius_map[tuple(coords.T)]
    pos = grid.index_to_lps(coords + offset)
    # root: most superior skeleton point inside the IVC seed (else the most superior overall)
    if ivc_seed is not None and ivc_seed[sl][tuple(coords.T)].any():
        cand = np.nonzero(ivc_seed[sl][tuple(coords.T)])[0]
    else:
        cand = np.arange(len(coords))
    root = int(cand[np.argmax(pos[cand, 2])])
    if ivc_seed is not None and len(cand) > 1:
        root = _climb_ivc(pos, radius, graph, cand, root)
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
    # junctions re-drawn from the veins' axes (the skeleton branches too early)
    extra_pts, extra_rad, extra_lab = [], [], []
    for par, kids in _JUNCTIONS:
        if par not in names or not all(k in names for k in kids):
            continue
        res = redraw_junction(pos, radius, tree.dist, names[par], [names[k] for k in kids])
        if res is None:
            continue
        drops, samples = res
        for name, drop, (pts, rad) in zip((par, *kids), drops, samples, strict=True):
            node_label[drop] = 0
            extra_pts.append(pts)
            extra_rad.append(rad)
            extra_lab.append(np.full(len(pts), LABELS[name], np.uint8))
    named = node_label > 0
    if not named.any():
        return labels, notes + ["no vein segment could be named"]
    sp = np.asarray(grid.spacing_mm)
    pts_idx = coords[named].astype(float)
    pt_rad = radius[named]
    pt_lab = node_label[named]
    if extra_pts:
        pts_idx = np.concatenate([pts_idx, grid.lps_to_index(np.concatenate(extra_pts)) - offset])
        pt_rad = np.concatenate([pt_rad, *extra_rad])
        pt_lab = np.concatenate([pt_lab, *extra_lab])
    kd = cKDTree(pts_idx * sp)
    vox = np.argwhere(env)
    d, j = kd.query(vox * sp, distance_upper_bound=60.0)
    ok = np.isfinite(d)
    # a voxel must be within the local radius (+ margin) of its skeleton point
    rad = np.where(ok, pt_rad[np.minimum(j, len(pt_rad) - 1)], 0)
    ok &= d <= rad + max_gap_mm
    sub = np.zeros(env.shape, np.uint8)
    sub[tuple(vox[ok].T)] = pt_lab[j[ok]]
    labels[sl] = sub
    return labels, notes


CLIMB_CALIBRE = 0.6
"""The root climbs from the IVC seed's top through skeleton nodes at least this fraction of
the seed's median radius (the seed may stop at the renal veins)..."""

CLIMB_CORRIDOR_RADII = 1.5
"""...or through nodes within this many seed radii (+ 5 mm) of the seed's axis, extended
upwards: a filling defect can thin the IVC's lumen to a crescent whose skeleton is narrow."""


def _climb_ivc(pos, radius, graph, seed_nodes, start: int) -> int:
    """Most superior skeleton node reachable from ``start`` through nodes of IVC calibre or
    along the IVC's axis (see :data:`CLIMB_CALIBRE`, :data:`CLIMB_CORRIDOR_RADII`)."""
    r_seed = float(np.median(radius[seed_nodes]))
    ok = radius >= CLIMB_CALIBRE * r_seed
    if len(seed_nodes) >= 3 and np.ptp(pos[seed_nodes, 2]) > 0:
        # the seed's axis: x and y as linear functions of z
        z = pos[seed_nodes, 2]
        fx = np.polyfit(z, pos[seed_nodes, 0], 1)
        fy = np.polyfit(z, pos[seed_nodes, 1], 1)
        off = np.hypot(pos[:, 0] - np.polyval(fx, pos[:, 2]), pos[:, 1] - np.polyval(fy, pos[:, 2]))
        ok |= (off <= CLIMB_CORRIDOR_RADII * r_seed + 5.0) & (pos[:, 2] >= pos[start, 2])
    ok[start] = True
    idx = np.flatnonzero(ok)
    sub = graph[idx][:, idx]
    _, lab = csgraph.connected_components(sub, directed=False)
    k = int(np.searchsorted(idx, start))
    comp = idx[lab == lab[k]]
    return int(comp[np.argmax(pos[comp, 2])])


def _branch_len_from(t: _Tree, i: int, node_label: np.ndarray) -> float:
    """Length of the unnamed subtree hanging at ``i`` (its longest path)."""
    return float(t.sub_len[i])
