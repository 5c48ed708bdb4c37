"""The caval trunk: where the IVC begins and ends, and its renal and gonadal tributaries.

Rules on the skeleton tree (:mod:`vascseg.segment._skeleton`), in patient LPS mm:

* root: the most superior skeleton node of IVC calibre joined to the IVC seed, moved above
  a narrowing (a filling defect) when the IVC regains its calibre higher up;
* trunk: from the root down the widest caudal branch at every division;
* iliac confluence: where the trunk splits into two branches of like calibre heading
  caudally to opposite sides (the common iliac veins); failing that, the stump of one
  common iliac vein where the trunk narrows to iliac calibre; failing that, the point where
  the trunk narrows most (one iliac system lost to an occlusion);
* renal veins reach laterally at their own level and end where they widen into the kidney;
  gonadal veins descend into the pelvis.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csgraph

from ._skeleton import (
    CALIBRE_SPAN_MM,
    CAUDAL,
    MIN_BRANCH_MM,
    Tree,
    branch_length,
    calibre,
    direction,
    leaves,
    path_to,
    side_branches,
    smooth_radius,
    subtree,
    wide_path,
)

COMPARABLE_CALIBRE = 0.75
"""At the iliac confluence the narrower common iliac vein is at least this fraction of the
wider one's calibre: the two are of like calibre, while a renal or gonadal vein is at most
~0.6 of the IVC it joins."""

CORD_COMPARABLE_CALIBRE = 0.45
CORD_OF_TRUNK = 0.4
CORD_DIVERGENCE = 0.9
"""When no split passes :data:`COMPARABLE_CALIBRE`, :data:`ILIAC_OF_TRUNK` and
:data:`DIVERGENCE_MIN`, one passing these looser calibre ratios is taken if its branches part
widely: a common iliac vein filled by a cord is only partly in the vein envelope, so it may
read half its calibre, but it still leaves the confluence at a wide angle to the other one
(the x components of their directions differ by 1.2-1.4), while a gonadal vein runs down
along the IVC (they differ by ~0.6 or less)."""

ILIAC_WINDOWS = 3
"""A common iliac vein's calibre is the widest median radius over this many consecutive
:data:`vascseg.segment._skeleton.CALIBRE_SPAN_MM` stretches below the confluence."""

ILIAC_OF_TRUNK = 0.5
"""...and both are at least this fraction of the IVC's calibre just above the split."""

CAUDAL_MIN = 0.3
"""A branch heads caudally when its unit direction has a -z (inferior) component >= this
(the left common iliac vein may leave the confluence at ~65 degrees from the body axis)."""

LIKE_CALIBRE_CAUDAL_MIN = 0.15
"""...but where both branches are of like calibre (:data:`COMPARABLE_CALIBRE`) they need only
head below the horizontal by ~9 degrees: a left common iliac vein reaching the confluence
nearly horizontally, behind the right common iliac artery, reads -0.25 to -0.35 over its
first 40 mm, and no renal or gonadal vein is as wide as the IVC's continuation."""

ILIAC_DIRECTION_MM = 40.0
"""The common iliac veins' directions are measured over this length from the confluence
(beyond a compressed, nearly horizontal first stretch of the left one)."""

DIVERGENCE_MIN = 0.6
"""Two branches head to opposite sides when the x (left) components of their unit
directions have opposite signs and differ by at least this much."""

ILIAC_NARROWING = 0.85
"""Without a split, the IVC ends where the trunk narrows most, if below this fraction of its
calibre (a common iliac vein is 0.6-0.8 of the IVC)..."""

NARROW_SPAN_MM = 20.0
"""...comparing median radii over this length just above and just below."""

IVC_CALIBRE_OF_SEED = 0.6
"""Skeleton nodes at least this fraction of the IVC seed's median radius are of IVC calibre."""

CRANIAL_MIN = 0.7
"""The IVC above a narrowing heads cranially: +z component of its unit direction >= this."""

CRANIAL_REACH_MM = 30.0
"""...and rises at least this much (patient z) above the narrowing."""

STUMP_MIN_MM = 10.0
"""A common iliac vein's stump reaches at least this far beyond the trunk's lumen."""

RENAL_LEVEL_MM = 40.0
"""A renal vein's lateral end lies within this distance (patient z) of where it joins the
IVC..."""

RENAL_REACH_MM = 15.0
"""...and at least this far lateral of it."""

RENAL_MAX_SLOPE = 1.0
"""A renal vein's lateral end lies no farther below its junction than it lies out from it
(its course within 45 degrees of the horizontal)."""

GONADAL_DROP_MM = 60.0
"""A gonadal vein's pelvic end lies at least this far below where it joins."""

IVC_AXIS_MM = 20.0
"""The IVC's axis and radius at a tributary's junction are taken from its skeleton nodes
within this distance of the junction."""

IVC_CORE_FRACTION = 0.5
"""A skeleton node nearer the IVC's axis than this fraction of its radius is the IVC's
(the tributary's centreline lies farther out)."""

WIDENING_MAX = 1.5
"""A vein draining an organ ends where its radius (median over :data:`WIDENING_SPAN_MM`)
exceeds this many times its calibre: veins narrow away from the heart (a filling defect
distends one by 10-20%), the organ merged into the envelope is wider..."""

WIDENING_SPAN_MM = 10.0
"""...(the span of that median)."""

ORGAN_NECK_FRACTION = 0.35
"""...or where its skeleton passes a neck narrower than this fraction of its calibre: the
vein ends at the organ's surface, and what lies past a one-voxel contact (the partial-volume
band where kidney meets liver) is organ, not vein."""

SURFACE_FRACTION = 0.7
"""Where a vein runs into its organ, it ends at the first node before the organ narrower
than this fraction of its calibre: the vein stops at the organ's surface (the hilum), and
the skeleton runs on through a thin lip of parenchyma around the renal sinus before the
organ widens."""


def find_confluence(t: Tree, trunk: list[int], comparable: float = COMPARABLE_CALIBRE, *,
                    of_trunk: float = ILIAC_OF_TRUNK, divergence: float = DIVERGENCE_MIN,
                    caudal: float = LIKE_CALIBRE_CAUDAL_MIN) -> tuple[int, int] | None:
    """(index on ``trunk``, side child) where the caval trunk splits into the two common
    iliac veins, or None.

    Candidates are trunk nodes with a substantial side branch where both branches have
    comparable calibre (narrower over wider >= ``comparable``), at least ``of_trunk`` of the
    trunk's above, and head caudally to opposite sides (``divergence``). Among them the
    confluence is the split whose narrower branch is widest: a renal vein meeting a narrowed
    stretch of the IVC may pass the tests, but the common iliac veins are wider than any
    other tributary.
    """
    best = None
    for k, c in side_branches(t, trunk, MIN_BRANCH_MM):
        if k + 1 >= len(trunk) or k == 0:
            continue
        b = trunk[k]
        side, cont = wide_path(t, c), trunk[k + 1:]
        # a common iliac vein may be compressed over tens of mm (May-Thurner): its calibre
        # is the widest of ILIAC_WINDOWS stretches
        r_s = calibre(t, b, side, windows=ILIAC_WINDOWS)
        r_c = calibre(t, b, cont, windows=ILIAC_WINDOWS)
        r_up = calibre(t, b, trunk[k - 1::-1], windows=2)
        narrow = min(r_s, r_c)
        if not np.isfinite([r_s, r_c, r_up]).all():
            continue
        if narrow < comparable * max(r_s, r_c) or narrow < of_trunk * r_up:
            continue
        if not diverge_caudally(t, b, side, cont, divergence, caudal):
            continue
        if best is None or narrow > best[0]:
            best = (narrow, k, c)
    return None if best is None else (best[1], best[2])


def diverge_caudally(t: Tree, b: int, one: list[int], other: list[int],
                     divergence: float = DIVERGENCE_MIN, caudal: float = CAUDAL_MIN) -> bool:
    """Do two paths leaving node ``b`` both head caudally, to opposite sides (the x
    components of their unit directions differ by at least ``divergence``)?"""
    d1, d2 = direction(t, b, one, ILIAC_DIRECTION_MM), direction(t, b, other, ILIAC_DIRECTION_MM)
    if d1[2] > -caudal or d2[2] > -caudal:
        return False
    return bool(d1[0] * d2[0] < 0 and abs(d1[0] - d2[0]) >= divergence)


def find_stump(t: Tree, trunk: list[int]) -> tuple[int, int] | None:
    """(index on ``trunk``, side child): the stump of a common iliac vein whose rest the
    image does not show (occluded, compressed), or None.

    The highest branch leaving the trunk's lumen by :data:`STUMP_MIN_MM` heading caudally
    to the other side, where the trunk narrows from IVC to iliac calibre (below
    :data:`ILIAC_NARROWING`; at a renal or gonadal vein the IVC keeps its calibre).
    """
    for k, i in enumerate(trunk[:-1]):
        if k == 0:
            continue
        for c in t.children[i]:
            if c == trunk[k + 1] or branch_length(t, c) < t.radius[i] + STUMP_MIN_MM:
                continue
            if not diverge_caudally(t, i, wide_path(t, c), trunk[k + 1:]):
                continue
            below = calibre(t, i, trunk[k + 1:], windows=2)
            above = calibre(t, i, trunk[k - 1::-1], windows=2)
            if below < ILIAC_NARROWING * above:
                return k, c
    return None


def ivc_end_by_calibre(t: Tree, trunk: list[int], first: int = 0) -> tuple[int, float] | None:
    """(index of the IVC's last trunk node, calibre ratio) when the trunk does not split:
    where the trunk narrows most sharply (searched from index ``first``, below the IVC's
    tributaries), the median radius over :data:`NARROW_SPAN_MM` below being under
    :data:`ILIAC_NARROWING` of that above. None when the trunk never narrows so (it ends as
    the IVC)."""
    d = t.dist[trunk] - t.dist[trunk[0]]
    r = t.radius[trunk]
    best = None
    for i in range(first, len(trunk)):
        if d[i] - NARROW_SPAN_MM < 0 or d[-1] < d[i] + NARROW_SPAN_MM:
            continue
        above = (d <= d[i]) & (d > d[i] - NARROW_SPAN_MM)
        below = (d > d[i]) & (d <= d[i] + NARROW_SPAN_MM)
        ratio = float(np.median(r[below]) / np.median(r[above]))
        if ratio < ILIAC_NARROWING and (best is None or ratio < best[0]):
            best = (ratio, i)
    return None if best is None else (best[1], best[0])


def caval_end(t: Tree, trunk: list[int], midline_x: float,
              notes: list[str]) -> tuple[list[int], dict[str, int]]:
    """The IVC's nodes and the first node of each common iliac vein found, by side.

    The confluence is a split into two common iliac veins (:func:`find_confluence`); failing
    that, the stump of one (:func:`find_stump`); failing that, below the IVC's renal and
    gonadal tributaries, the IVC ends where it narrows into a single iliac vein
    (:func:`ivc_end_by_calibre`).
    """
    split = find_confluence(t, trunk)
    if split is None:
        split = find_confluence(t, trunk, CORD_COMPARABLE_CALIBRE, of_trunk=CORD_OF_TRUNK,
                                divergence=CORD_DIVERGENCE, caudal=CAUDAL_MIN)
        if split is not None:
            notes.append("iliac confluence: one common iliac vein is narrower than the other")
    if split is None:
        split = find_stump(t, trunk)
        if split is not None:
            notes.append("iliac confluence: one common iliac vein is only a stump")
    if split is not None:
        k, c = split
        pair = (c, trunk[k + 1])
        x = [direction(t, trunk[k], wide_path(t, h), ILIAC_DIRECTION_MM)[0] for h in pair]
        return trunk[: k + 1], {"left": pair[int(np.argmax(x))], "right": pair[int(np.argmin(x))]}
    # the confluence lies below the renal veins and the right gonadal vein
    found: dict[str, list[int]] = {"ivc": list(trunk)}
    name_ivc_branches(t, trunk, set(), midline_x, found, [])
    on = {n: i for i, n in enumerate(trunk)}
    joins = [on[int(t.parent[v[0]])] for k, v in found.items() if k != "ivc" and int(t.parent[v[0]]) in on]
    end = ivc_end_by_calibre(t, trunk, max(joins, default=0) + 1)
    if end is None:
        notes.append("iliac confluence: no iliac vein below the IVC")
        return trunk, {}
    e, ratio = end
    if ratio < ILIAC_OF_TRUNK:
        # narrower than any common iliac vein: the IVC's lower part is not shown and the
        # trunk went on into a tributary (named as one of the IVC's branches)
        notes.append("iliac confluence: no iliac vein below the IVC")
        return trunk[: e + 1], {}
    # the side of the iliac vein the trunk goes on into (other branches below the end may
    # reach lower: the other side's iliac veins joined through a collateral)
    side = "left" if t.pos[trunk[-1]][0] > midline_x else "right"
    notes.append(f"iliac confluence: the IVC does not divide; it ends where it narrows to the {side} "
                 "common iliac vein")
    return trunk[: e + 1], {side: trunk[e + 1]}


def name_ivc_branches(t: Tree, ivc: list[int], exclude: set[int], midline_x: float,
                      names: dict[str, list[int]], notes: list[str]) -> None:
    """Renal veins, the right gonadal vein (on the IVC) and the left gonadal vein (on the
    left renal vein) among the branches of ``ivc`` other than those in ``exclude``."""
    renal: dict[str, tuple[float, int, list[int]]] = {}  # side -> (width mm, branch, its path)
    gon_r: tuple[float, int, int] | None = None
    for k, c in side_branches(t, ivc, MIN_BRANCH_MM):
        if c in exclude:
            continue
        b = ivc[k]
        sub = subtree(t, c)
        ends = leaves(t, sub)
        for side, sign in (("left", 1.0), ("right", -1.0)):
            # a renal vein runs out to the kidney at its own level: to the most lateral end
            # there, or (its end turning back, say into the renal sinus) its most lateral point
            for cands in (ends, sub):
                level = np.asarray([i for i in cands if abs(t.pos[i][2] - t.pos[b][2]) <= RENAL_LEVEL_MM])
                if not len(level):
                    continue
                e = int(level[np.argmax(sign * (t.pos[level, 0] - t.pos[b][0]))])
                reach = sign * (t.pos[e][0] - t.pos[b][0])
                # a renal vein runs out more than it runs down (a gonadal vein leaving the
                # IVC below it drifts out as it descends)
                if reach >= RENAL_REACH_MM and t.pos[b][2] - t.pos[e][2] <= RENAL_MAX_SLOPE * reach:
                    # the renal vein is the widest such branch (a thin one is a lumbar or
                    # capsular vein, or bright speckle of the liver next to the IVC), measured
                    # up to where it meets its organ (it may run on into organ contact); a
                    # branch that meets it before reaching out laterally is no renal vein
                    full = path_to(t, e)
                    branch = full[full.index(c):]
                    vein = until_widening(t, branch)
                    if len(vein) and (sign * (t.pos[vein, 0] - t.pos[b][0])).max() >= RENAL_REACH_MM:
                        width_mm = float(np.median(t.radius[vein]))
                        if side not in renal or width_mm > renal[side][0]:
                            renal[side] = (width_mm, c, branch)
                    break
        low = min(ends, key=lambda e: t.pos[e][2])
        drop = t.pos[b][2] - t.pos[low][2]
        if drop >= GONADAL_DROP_MM and t.pos[low][0] < midline_x and (gon_r is None or drop > gon_r[0]):
            gon_r = (drop, c, low)
    for side in ("left", "right"):
        if side in renal:
            names[f"renal_vein_{side}"] = _outside_ivc(t, ivc, renal[side][2], names)
        else:
            notes.append(f"renal_vein_{side}: no branch of the IVC reaching laterally at its own level")
    if gon_r is not None and not (renal.get("right") and renal["right"][1] == gon_r[1]):
        full = path_to(t, gon_r[2])
        names["gonadal_vein_right"] = _outside_ivc(t, ivc, full[full.index(gon_r[1]):], names)
    elif gon_r is not None:
        # the right gonadal joins the right renal vein's subtree: take its own branch
        add_caudal_branch(t, names, notes, "renal_vein_right", "gonadal_vein_right")
    else:
        notes.append("gonadal_vein_right: no branch of the IVC descending into the pelvis")
    if "renal_vein_left" in names:
        add_caudal_branch(t, names, notes, "renal_vein_left", "gonadal_vein_left")
    else:
        notes.append("gonadal_vein_left: the left renal vein was not found")


def _outside_ivc(t: Tree, ivc: list[int], branch: list[int], names: dict[str, list[int]]) -> list[int]:
    """``branch`` (a tributary, from where it leaves ``ivc``) from where it leaves the IVC's
    core, the cylinder of :data:`IVC_CORE_FRACTION` of the IVC's radius around its axis
    there. Nodes before run along the IVC (as where a tributary joins near the top of the
    IVC the image shows): they are the IVC's and are added to ``names["ivc"]``."""
    p = int(t.parent[branch[0]])
    if p not in ivc:
        return branch
    pts = t.pos[ivc]
    near = np.linalg.norm(pts - t.pos[p], axis=1) <= IVC_AXIS_MM
    if near.sum() < 3:
        return branch
    # the IVC's axis there: the principal direction of its skeleton nodes
    centred = pts[near] - pts[near].mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    r = float(np.median(t.radius[np.asarray(ivc)[near]]))
    v = t.pos[branch] - t.pos[p]
    off = np.linalg.norm(v - (v @ axis)[:, None] * axis, axis=1)
    out = np.nonzero(off >= IVC_CORE_FRACTION * r)[0]
    j = int(out[0]) if len(out) else len(branch)
    names["ivc"] = names["ivc"] + branch[:j]
    return branch[j:] or branch


def add_caudal_branch(t: Tree, names: dict, notes: list[str], parent: str, name: str) -> None:
    """Name the branch of ``parent`` whose end lies lowest (>= GONADAL_DROP_MM below)."""
    best = None
    for k, c in side_branches(t, names[parent], MIN_BRANCH_MM):
        b = names[parent][k]
        low = min(leaves(t, subtree(t, c)), key=lambda e: t.pos[e][2])
        drop = t.pos[b][2] - t.pos[low][2]
        if drop >= GONADAL_DROP_MM and (best is None or drop > best[0]):
            best = (drop, c, low)
    if best is None:
        notes.append(f"{name}: no branch of the {parent.replace('_', ' ')} descending into the pelvis")
        return
    full = path_to(t, best[2])
    names[name] = full[full.index(best[1]):]


def until_widening(t: Tree, path: list[int]) -> list[int]:
    """``path`` (a tributary, from where it joins outwards) up to where it widens beyond
    :data:`WIDENING_MAX` of its calibre: a vein narrows away from the heart, so the widening
    is the organ it drains (a kidney, the uterus) merged into the envelope. A neck
    (:data:`ORGAN_NECK_FRACTION`) before that ends it too."""
    p = int(t.parent[path[0]])
    if p < 0 or len(path) < 2:
        return path
    ref = calibre(t, p, path, windows=2)
    if not np.isfinite(ref):
        return path
    d = t.dist[path]
    smooth = smooth_radius(t, path, WIDENING_SPAN_MM)
    start = int(np.searchsorted(d - d[0], t.radius[p]))  # beyond the parent's lumen
    # a neck at the junction itself is no organ contact (the skeleton may reach the vein
    # through a thin partial-volume contact beside its junction, as where the left renal
    # vein arches over the aorta into the IVC): necks count beyond the first calibre window
    neck = (t.radius[path] < ORGAN_NECK_FRACTION * ref) & _past_first_window(t, path)
    cut = (smooth[start:] > WIDENING_MAX * ref) | neck[start:]
    first = np.nonzero(cut)[0]
    return path[: start + int(first[0])] if len(first) else path


def until_organ(t: Tree, path: list[int], voxel_mm: float) -> list[int]:
    """``path`` up to its organ's surface: cut where it widens (:func:`until_widening`),
    then back to the first node before that narrower than :data:`SURFACE_FRACTION` of its
    calibre and by more than ``voxel_mm`` (radii come in steps of the grid: a thin vein's
    radius one voxel under its calibre is no narrowing), beyond the first calibre window as
    for a neck."""
    kept = until_widening(t, path)
    if len(kept) == len(path):
        return path
    ref = calibre(t, int(t.parent[path[0]]), path, windows=2)
    r = t.radius[kept]
    narrow = (r < SURFACE_FRACTION * ref) & (r < ref - voxel_mm) & _past_first_window(t, kept)
    first = np.nonzero(narrow)[0]
    return kept[: int(first[0])] if len(first) else kept


def _past_first_window(t: Tree, path: list[int]) -> np.ndarray:
    """Per node of ``path`` (a tributary from its junction): whether it lies past the
    parent's lumen and the first calibre window (:data:`CALIBRE_SPAN_MM`) along the path."""
    p = int(t.parent[path[0]])
    return t.dist[path] - t.dist[path[0]] > t.radius[p] + CALIBRE_SPAN_MM


def cranial_ivc(t: Tree, root: int, min_calibre_mm: float) -> list[int]:
    """The IVC above ``root`` when it continues past a narrowing (a filling defect): the
    nodes from ``root``'s child up to the IVC's most superior node (empty when it does not).

    The widest branch heading cranially from the root, from where it regains IVC calibre
    (``min_calibre_mm``, median radius over :data:`WIDENING_SPAN_MM`) to where it loses it
    again (the IVC ends or enters the liver), if that rises :data:`CRANIAL_REACH_MM` above
    the root. The way to each child's highest node of IVC calibre is tried too: where a
    cord leaves only a thin lumen above the narrowing, a thin vessel beside it may be the
    widest child there and lead the walk away from the IVC.
    """
    best: tuple[float, list[int]] | None = None
    for c in t.children[root]:
        if branch_length(t, c) < MIN_BRANCH_MM:
            continue
        sub = np.asarray(subtree(t, c))
        big = sub[t.radius[sub] >= min_calibre_mm]
        paths = [wide_path(t, c, heading=-CAUDAL, heading_min=CRANIAL_MIN)]
        if len(big):
            full = path_to(t, int(big[np.argmax(t.pos[big, 2])]))
            paths.append(full[full.index(c):])
        for up in paths:
            if direction(t, root, up)[2] < CRANIAL_MIN:
                continue
            wide = smooth_radius(t, up, WIDENING_SPAN_MM) >= min_calibre_mm
            if not wide.any():
                continue
            first = int(np.argmax(wide))
            last = first + int(np.argmin(wide[first:])) if not wide[first:].all() else len(up)
            top = first + int(np.argmax(t.pos[up[first:last], 2]))
            rise = float(t.pos[up[top], 2] - t.pos[root, 2])
            if rise >= CRANIAL_REACH_MM and (best is None or rise > best[0]):
                best = (rise, up[: top + 1])
    return [] if best is None else best[1]


def climb_ivc(pos, radius, graph, seed_nodes, start: int) -> int:
    """Most superior skeleton node of IVC calibre (radius at least :data:`IVC_CALIBRE_OF_SEED`
    of the seed's median) connected through such nodes to most of the seed: the seed may
    stop at the renal veins, and its own top may be a thin spur."""
    big = radius >= IVC_CALIBRE_OF_SEED * float(np.median(radius[seed_nodes]))
    idx = np.flatnonzero(big)
    if not len(idx):
        return start
    sub = graph[idx][:, idx]
    _, lab = csgraph.connected_components(sub, directed=False)
    in_seed = np.isin(idx, seed_nodes)
    if not in_seed.any():
        return start
    best = int(np.argmax(np.bincount(lab[in_seed], minlength=int(lab.max()) + 1)))
    comp = idx[lab == best]
    return int(comp[np.argmax(pos[comp, 2])])
