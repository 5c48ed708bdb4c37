"""Anatomical names for the vein tree, from its skeleton, lumen radii and directions in LPS.

The vein envelope is skeletonised into a tree rooted at the cranial end of the IVC; every
node knows the lumen radius there (:mod:`vascseg.segment._skeleton`). Rules in patient
space, on calibre (radius along the skeleton), direction and where branches join, name
paths of the tree:

* the caval trunk, the iliac confluence, the renal and gonadal veins
  (:mod:`vascseg.segment._caval`): the confluence is where the single caval trunk splits
  into two branches of like calibre heading caudally to opposite sides;
* per side, the common, external and internal iliac and uterine veins
  (:mod:`vascseg.segment._pelvic`): the common iliac vein ends where it divides into a
  vein heading forward (external iliac) and one heading back (internal iliac).

A named vein stops where it widens into an organ (a renal vein into the kidney) or, at its
far end, past a neck into another vessel touching it. Landmarks override: the path holding
the skeleton point nearest a landmark takes its name. Each voxel takes the label of the
nearest named skeleton point within that point's lumen radius. The skeleton of a
tributary inside its wider parent's lumen bends into the parent's medial axis and names no
voxel; the tributary's centreline continued straight to the parent's axis names the
parent's voxels nearer it than the parent's axis, within the tributary's radius.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from ..anatomy import LABELS
from ..geometry import Volume
from ._caval import (
    IVC_CALIBRE_OF_SEED,
    caval_end,
    climb_ivc,
    cranial_ivc,
    name_ivc_branches,
    until_organ,
)
from ._distance import edt_mm
from ._pelvic import gonadal_from_pelvis, name_iliacs
from ._skeleton import (
    CAUDAL,
    MIN_BRANCH_MM,
    Tree,
    build_tree,
    calibre,
    main_path,
    skeleton_graph,
    subtree,
    wide_path,
)

ORGAN_TRIBUTARIES = ("renal_vein_left", "renal_vein_right")
"""Veins draining an organ that may merge with them in the envelope (the enhancing kidney)."""

NECK_TAIL_MM = 30.0
"""A vein's last this many mm are checked for a neck..."""

NECK_FRACTION = 0.35
"""...a node narrower than this fraction of the vein's median radius: beyond it lies another
vessel touching the vein's end (an artery beside it at the groin), not the vein."""

END_REACH = 1.0
"""Voxels beyond a vessel's skeleton end (root or leaf) are named up to this many radii
farther than elsewhere: the skeleton of a blunt end stops about one radius short of it."""

SPUR_WIDENING = 1.2
"""A short unnamed spur takes its parent's name unless it widens beyond this many times the
parent's radius (then it is a blob, such as an organ, merged into the envelope)."""

JUNCTION_FRACTION = 1.0
"""A branch's skeleton nodes closer to its junction than this fraction of the parent's
radius there do not name voxels (the medial axis of a junction bends into the parent)..."""

WIDER_PARENT = 1.25
"""...when the parent is at least this much wider than the branch (a tributary entering a
larger vein; where a vein divides into two of like calibre the medial axis is faithful)."""


def name_tree(t: Tree, root: int, midline_x: float, *, ivc_above: list[int] | None = None,
              undivided_iliac_split: float | None = None) -> tuple[dict[str, list[int]], list[str]]:
    """Name paths of the tree; returns {segment: node list} and notes on what is missing.

    ``ivc_above``: nodes of the IVC above the root (past a narrowing, see
    :func:`vascseg.segment._caval.cranial_ivc`); the renal veins may join there.
    ``undivided_iliac_split``: when an iliac vein shows no internal iliac branch (e.g. a
    prior that merges common and external iliac veins) on either side, put the
    common/external boundary at this fraction of its length instead of calling it all
    common iliac (noted).
    """
    names: dict[str, list[int]] = {}
    notes: list[str] = []
    trunk = wide_path(t, root, heading=CAUDAL)
    ivc, heads = caval_end(t, trunk, midline_x, notes)
    names["ivc"] = ivc + list(ivc_above or [])
    exclude = set(heads.values())
    name_ivc_branches(t, names["ivc"], exclude, midline_x, names, notes)
    name_iliacs(t, heads, midline_x, names, notes, undivided_iliac_split)
    for side in ("left", "right"):
        gonadal_from_pelvis(t, side, midline_x, names, notes)
    return names, notes


def _before_neck(t: Tree, path: list[int]) -> list[int]:
    """``path`` (a vein, from where it joins outwards) up to a neck in its last
    :data:`NECK_TAIL_MM` (:data:`NECK_FRACTION`)."""
    if len(path) < 3:
        return path
    ref = float(np.median(t.radius[path]))
    d = t.dist[path] - t.dist[path[-1]]
    tail = np.nonzero((d >= -NECK_TAIL_MM) & (t.radius[path] < NECK_FRACTION * ref))[0]
    return path[: int(tail[0])] if len(tail) and tail[0] > 0 else path


def _trim_organs(t: Tree, names: dict[str, list[int]], voxel_mm: float) -> set[int]:
    """Cut the veins of :data:`ORGAN_TRIBUTARIES` where they widen into their organ
    and back to its surface (:func:`until_organ`); returns the organ's nodes (the subtree
    beyond the cut)."""
    organ: set[int] = set()
    for name in ORGAN_TRIBUTARIES:
        if name in names:
            kept = until_organ(t, names[name], voxel_mm)
            if len(kept) < len(names[name]):
                organ.update(subtree(t, names[name][len(kept)]))
            names[name] = kept
    return organ


# ----------------------------------------------------------------------------- voxels
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
        Voxels known to be IVC (the root is the top of the IVC holding it).
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
    skel = skeletonize(env).astype(bool)
    coords, graph = skeleton_graph(skel, grid.spacing_mm)
    if len(coords) == 0:
        return labels, ["vein envelope has no skeleton"]
    offset = np.array([s.start for s in sl])
    radius = edt_mm(env, grid.spacing_mm)[tuple(coords.T)]
    pos = grid.index_to_lps(coords + offset)
    seed = None
    if ivc_seed is not None and ivc_seed[sl][tuple(coords.T)].any():
        seed = np.nonzero(ivc_seed[sl][tuple(coords.T)])[0]
    tree, root, above = _rooted_tree(pos, radius, graph, seed)
    # body midline: the IVC's x + 25 mm as a robust proxy
    midline_x = float(np.median(pos[seed if seed is not None else [root], 0])) + 25.0
    names, notes = name_tree(tree, root, midline_x, ivc_above=above,
                             undivided_iliac_split=undivided_iliac_split)
    organ = _trim_organs(tree, names, float(max(grid.spacing_mm[1:])))
    for name in names:
        if name != "ivc":
            names[name] = _before_neck(tree, names[name])
    if landmarks:
        _apply_landmarks(tree, grid, names, notes, landmarks)
    node_label, named = _node_labels(tree, names, organ)
    if not named.any():
        return labels, notes + ["no vein segment could be named"]
    # a voxel must be within the local radius (+ margin) of its skeleton point; a skeleton
    # stops about one radius short of a vessel's blunt end, so ends reach twice as far
    reach = radius + max_gap_mm
    ends = np.array([not ch for ch in tree.children]) | (np.arange(len(coords)) == root)
    reach[ends] += END_REACH * radius[ends]
    sp = np.asarray(grid.spacing_mm)
    vox = np.argwhere(env)
    pts = vox * sp
    v_pts, v_label, v_parent, v_reach, bent = _junction_axes(tree, names, named, coords * sp, float(min(sp)))
    named[bent] = False
    d_pts, d_label, d_reach, d_bent = _division_axes(tree, names, coords * sp, float(min(sp)), max_gap_mm)
    named[d_bent] = False
    lab, dist, _ = _nearest_labels(pts, np.concatenate([coords[named] * sp, d_pts]),
                                   np.concatenate([node_label[named], d_label]),
                                   np.concatenate([reach[named], d_reach]))
    if len(v_pts):
        # a tributary's centreline runs on into its wider parent up to the parent's axis:
        # the parent's voxels nearer that stretch than the parent's own axis, within the
        # tributary's radius of it, are the tributary's
        v_lab, dv, jv = _nearest_labels(pts, v_pts, v_label, v_reach)
        take = (v_lab > 0) & (dv < dist) & (lab == v_parent[jv])
        lab[take] = v_lab[take]
    sub = np.zeros(env.shape, np.uint8)
    sub[tuple(vox.T)] = lab
    labels[sl] = sub
    return labels, notes


JUNCTION_SPAN_MM = 6.0
"""A tributary's direction where it enters its parent: over its first this many mm outside."""


def _junction_axes(tree: Tree, names: dict[str, list[int]], named: np.ndarray, nodes_mm: np.ndarray,
                   step_mm: float):
    """Points on each tributary's centreline continued straight into its wider parent.

    A tributary (a vein leaving its parent's path short of the parent's end, the parent at
    least :data:`WIDER_PARENT` times wider there) runs on, straight, to the parent's axis;
    the skeleton between the two bends into the parent's medial axis instead. From the
    tributary's first naming node, along its direction over :data:`JUNCTION_SPAN_MM`, the
    line is followed while it nears the parent's naming nodes.

    Returns (points (K, 3) in the ``nodes_mm`` frame, their label, their parent's label,
    their reach: the tributary's radius there plus half a step, and the bent skeleton nodes
    between the tributary and its parent's path, which name no voxel).
    """
    pts: list[np.ndarray] = []
    out_label: list[int] = []
    out_parent: list[int] = []
    out_reach: list[float] = []
    bent: list[int] = []
    path_of = {LABELS[name]: nodes for name, nodes in names.items()}
    on_path = {n: LABELS[name] for name, nodes in names.items() for n in nodes}
    for name, nodes in names.items():
        own = [n for n in nodes if named[n]]
        if len(own) < 2:
            continue
        # up the skeleton to the parent's path
        chain, j = [], int(tree.parent[nodes[0]])
        while j >= 0 and on_path.get(j, LABELS[name]) == LABELS[name]:
            chain.append(j)
            j = int(tree.parent[j])
        if j < 0:
            continue
        parent_label = on_path[j]
        parent_path = path_of[parent_label]
        near = [n for n in parent_path if abs(tree.dist[n] - tree.dist[j]) <= JUNCTION_SPAN_MM * 2.5]
        r_parent = float(np.median(tree.radius[near]))
        if r_parent < WIDER_PARENT * calibre(tree, own[0], own):
            continue
        if float(np.max(tree.dist[parent_path])) - tree.dist[j] < r_parent:
            continue  # the parent ends here: a division, not a tributary
        parent_nodes = np.asarray([n for n in parent_path if named[n]])
        if not len(parent_nodes):
            continue
        a = own[0]
        b = next((n for n in own if tree.dist[n] - tree.dist[a] >= JUNCTION_SPAN_MM), own[-1])
        u = nodes_mm[a] - nodes_mm[b]
        if not np.linalg.norm(u):
            continue
        u /= np.linalg.norm(u)
        bent.extend(chain)
        kd = cKDTree(nodes_mm[parent_nodes])
        last, _ = kd.query(nodes_mm[a])
        t, t_max = step_mm, 2.0 * last + step_mm
        while t <= t_max:
            q = nodes_mm[a] + t * u
            d, _ = kd.query(q)
            if d >= last:
                break
            pts.append(q)
            out_label.append(LABELS[name])
            out_parent.append(parent_label)
            out_reach.append(float(tree.radius[a]) + 0.5 * step_mm)
            last = d
            t += step_mm
    bent_idx = np.asarray(bent, int)
    if not pts:
        return np.zeros((0, 3)), np.zeros(0, np.uint8), np.zeros(0, np.uint8), np.zeros(0), bent_idx
    return (np.asarray(pts), np.asarray(out_label, np.uint8), np.asarray(out_parent, np.uint8),
            np.asarray(out_reach), bent_idx)


DIVISIONS = (("common_iliac_vein_right", "external_iliac_vein_right", "internal_iliac_vein_right"),
             ("common_iliac_vein_left", "external_iliac_vein_left", "internal_iliac_vein_left"))
"""Where a vein divides into two (parent, child, child): :func:`_division_axes`. (At the iliac
confluence the same construction moved the IVC / common iliac boundary as often away from
the truth as towards it on the tuning phantoms: the common iliac veins curve into it.)"""

DIVISION_START = 2.0
"""Each vein's axis at a division is fitted to its skeleton nodes from this many radii (the
division node's) away from the division node, where the skeleton is off the merged lumen's
bend..."""

DIVISION_FIT_MM = 20.0
"""...over this length of skeleton."""

DIVISION_REACH = 2.0
"""The three axes must meet within this many radii of the division node (else the skeleton
is left as it is)."""


def _fit_line(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroid and unit direction (principal axis) of ``points``."""
    m = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - m, full_matrices=False)
    return m, vt[0]


def _meeting_point(lines: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The point nearest (least squares) to all the lines (centroid, unit direction)."""
    a = np.zeros((3, 3))
    b = np.zeros(3)
    for m, u in lines:
        proj = np.eye(3) - np.outer(u, u)
        a += proj
        b += proj @ m
    return np.linalg.lstsq(a, b, rcond=None)[0]


def _division_axes(tree: Tree, names: dict[str, list[int]], nodes_mm: np.ndarray, step_mm: float,
                   gap_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Points on the three axes of each division in :data:`DIVISIONS`, run straight to where
    they meet.

    The skeleton of a merged lumen branches away from the point where the three centrelines
    meet: where two veins part at a narrow angle (the external and internal iliac veins),
    the lumen below that point is wider than either, and the skeleton runs on down it as one
    branch, so the parent's name reaches into both children. Each axis is the line through
    its skeleton nodes over :data:`DIVISION_FIT_MM`, starting :data:`DIVISION_START` radii
    from the division node; the point nearest the three lines (least squares) is where they
    meet. Points every ``step_mm`` from there to each axis's first fitted node name voxels
    (reach: that node's radius plus ``gap_mm``); the skeleton nodes in between name none, so
    a voxel there takes the name of the axis nearest to it.

    Returns (points (K, 3) in the ``nodes_mm`` frame, their labels, their reach, the nodes
    that name no voxel).
    """
    pts: list[np.ndarray] = []
    labels: list[int] = []
    reach: list[float] = []
    bent: list[int] = []
    for parent, *children in DIVISIONS:
        paths = [names.get(n) for n in (parent, *children)]
        if not all(paths):
            continue
        on_parent = set(paths[0])
        if not all(int(tree.parent[c[0]]) in on_parent for c in paths[1:]):
            continue
        b = max((int(tree.parent[c[0]]) for c in paths[1:]), key=lambda n: tree.dist[n])
        r = float(tree.radius[b])
        r0 = DIVISION_START * r
        lines, starts, inner = [], [], []
        for k, path in enumerate(paths):
            nodes = np.asarray(path)
            arc = np.abs(tree.dist[nodes] - tree.dist[b])
            if k == 0:
                arc = np.where(tree.dist[nodes] <= tree.dist[b], arc, np.inf)
            fit = nodes[(arc >= r0) & (arc <= r0 + DIVISION_FIT_MM)]
            if len(fit) < 3:
                break
            lines.append(_fit_line(nodes_mm[fit]))
            starts.append(int(fit[np.argmin(np.abs(tree.dist[fit] - tree.dist[b]))]))
            inner.append(nodes[(arc < r0) & (nodes != b)])
        else:
            c = _meeting_point(lines)
            if np.linalg.norm(c - nodes_mm[b]) > DIVISION_REACH * r:
                continue
            for name, start, skip in zip((parent, *children), starts, inner, strict=True):
                seg = nodes_mm[start] - c
                n = max(int(np.linalg.norm(seg) / step_mm), 1)
                pts.extend(c + seg * (np.arange(n) / n)[:, None])
                labels.extend([LABELS[name]] * n)
                reach.extend([float(tree.radius[start]) + gap_mm] * n)
                bent.extend(skip.tolist())
    if not pts:
        return np.zeros((0, 3)), np.zeros(0, np.uint8), np.zeros(0), np.asarray(bent, int)
    return np.asarray(pts), np.asarray(labels, np.uint8), np.asarray(reach), np.asarray(bent, int)


def _rooted_tree(pos: np.ndarray, radius: np.ndarray, graph,
                 seed: np.ndarray | None) -> tuple[Tree, int, list[int]]:
    """The skeleton's tree, its root and the IVC's nodes above the root.

    Without a seed the root is the most superior skeleton node. With one, it is the top of
    the IVC-calibre part of the skeleton holding most of the seed (:func:`climb_ivc`); when
    the IVC continues higher past a narrowing, its nodes there are returned
    (:func:`cranial_ivc`).
    """
    if seed is None or len(seed) < 2:
        cand = np.arange(len(pos)) if seed is None else seed
        root = int(cand[np.argmax(pos[cand, 2])])
        return build_tree(pos, radius, graph, root), root, []
    root = climb_ivc(pos, radius, graph, seed, int(seed[np.argmax(pos[seed, 2])]))
    tree = build_tree(pos, radius, graph, root)
    return tree, root, cranial_ivc(tree, root, IVC_CALIBRE_OF_SEED * float(np.median(radius[seed])))


def _node_labels(tree: Tree, names: dict[str, list[int]], organ: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """Label per skeleton node, and which nodes name voxels.

    Unnamed short spurs (under :data:`MIN_BRANCH_MM`, no wider than
    :data:`SPUR_WIDENING` of their parent, not in ``organ``) take their named parent's label. A
    tributary's nodes within its wider parent's lumen (:data:`JUNCTION_FRACTION` of the
    parent's radius at the junction) are the junction's medial axis bending into the
    parent, not the tributary's centreline: they name no voxel.
    """
    n = len(tree.pos)
    node_label = np.zeros(n, np.uint8)
    for name, nodes in names.items():
        node_label[nodes] = LABELS[name]
    first_of = {nodes[0]: nodes for nodes in names.values() if nodes}
    for i in np.argsort(np.where(np.isfinite(tree.dist), tree.dist, np.inf)):
        if node_label[i] == 0 and tree.parent[i] >= 0 and np.isfinite(tree.dist[i]) and i not in organ:
            p = tree.parent[i]
            # a spur of the vein's surface, not a wider blob hanging on it
            if node_label[p] and tree.sub_len[i] < MIN_BRANCH_MM and tree.radius[i] <= SPUR_WIDENING * tree.radius[p]:
                node_label[i] = _spur_label(tree, i, p, node_label, first_of)
    named = node_label > 0
    for nodes in names.values():
        p = int(tree.parent[nodes[0]])
        if p < 0 or node_label[p] == node_label[nodes[0]]:
            continue
        if tree.radius[p] >= WIDER_PARENT * calibre(tree, p, nodes):
            inside = np.linalg.norm(tree.pos[nodes] - tree.pos[p], axis=1) < JUNCTION_FRACTION * tree.radius[p]
            named[np.asarray(nodes)[inside]] = False
    return node_label, named


def _spur_label(tree: Tree, spur: int, p: int, node_label: np.ndarray, first_of: dict[int, list[int]]) -> int:
    """Label for an unnamed spur hanging on node ``p``: ``p``'s, except where ``p`` is the
    first node of a named branch leaving a wider vein. There the spur is that vein's stub
    end when its calibre is nearer the vein's than the branch's (a vein ending just past
    where a narrower one leaves it, such as the internal iliac vein past its uterine vein)."""
    q = int(tree.parent[p])
    if p not in first_of or q < 0 or not node_label[q] or node_label[q] == node_label[p]:
        return int(node_label[p])
    r_spur = float(np.median(tree.radius[subtree(tree, spur)]))
    r_branch = float(np.median(tree.radius[first_of[p]]))
    return int(node_label[q]) if abs(r_spur - tree.radius[q]) < abs(r_spur - r_branch) else int(node_label[p])


def _nearest_labels(points_mm: np.ndarray, nodes_mm: np.ndarray, node_label: np.ndarray,
                    reach_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label of the nearest node for each point (0 when farther than that node's reach), the
    distance to it (inf beyond every reach) and its index (clamped to a valid one)."""
    kd = cKDTree(nodes_mm)
    d, j = kd.query(points_mm, distance_upper_bound=float(reach_mm.max()) + 1e-6)
    ok = np.isfinite(d)
    jj = np.minimum(j, len(nodes_mm) - 1)
    ok &= d <= reach_mm[jj]
    return np.where(ok, node_label[jj], 0).astype(np.uint8), d, jj


def _apply_landmarks(tree: Tree, grid: Volume, names: dict[str, list[int]], notes: list[str],
                     landmarks) -> None:
    kd = cKDTree(tree.pos)
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
                names[name] = main_path(tree, j)
                notes.append(f"{name}: path from the landmark added")

