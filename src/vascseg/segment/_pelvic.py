"""The pelvic veins of one side: common, external and internal iliac and uterine veins.

From the first node of a common iliac vein (below the confluence): the common iliac vein
runs down its widest course to where it divides into a vein heading forward (the external
iliac, to the groin) and one heading back (the internal iliac, into the pelvis); without
such a division, the boundary is set at the level of the other side's, and the one vein
below is the internal iliac vein when it heads back (the external one lost). In the internal
iliac subtree the vein reaching farthest back is the internal iliac vein and a branch
heading forward to the midline the uterine vein.
"""

from __future__ import annotations

import numpy as np

from ._skeleton import (
    CAUDAL,
    MIN_BRANCH_MM,
    Tree,
    calibre,
    direction,
    leaves,
    lowest_path,
    path_to,
    side_branches,
    smooth_radius,
    subtree,
    wide_path,
)

AP_HEADING_MIN = 0.3
"""The external and internal iliac veins head forward and back: the y (posterior)
component of the internal iliac vein's unit direction is at least this, and the external
iliac vein's lies at least twice this further forward (it may head straight down to the
groin rather than forward)."""

UTERINE_MIN_MM = 15.0
"""A uterine vein (or an internal iliac vein's end) is a branch at least this long."""

UTERINE_FORWARD_MM = 10.0
"""A path turning forward (anterior) by at least this much after its most posterior point
is no longer the internal iliac vein: the internal iliac vein runs back into the pelvis."""

LOCAL_SPAN_MM = 8.0
"""Where one vein turns into a narrower one, radius along the path is the median over this
much skeleton length around each node."""


def _calibre_step(t: Tree, head: list[int], tail: list[int]) -> int:
    """How many nodes of ``tail`` (a narrower vein continuing ``head``) still have
    ``head``'s calibre: up to where the local median radius (:data:`LOCAL_SPAN_MM`) falls
    below half-way between the two veins' calibres. A uterine vein joining near the
    internal iliac vein's end leaves no stub: the skeleton runs down the internal iliac vein
    and turns forward into the uterine vein, and the turn itself lies in the wider vein."""
    if t.dist[tail[-1]] - t.dist[tail[0]] < LOCAL_SPAN_MM:
        return 0
    d = t.dist[head]
    r_head = float(np.median(t.radius[np.asarray(head)[d >= d[-1] - 2 * UTERINE_MIN_MM]]))
    r_tail = float(np.median(t.radius[tail]))
    if r_tail >= r_head:
        return 0
    narrow = np.nonzero(smooth_radius(t, tail, LOCAL_SPAN_MM) < 0.5 * (r_head + r_tail))[0]
    return int(narrow[0]) if len(narrow) else 0


def iliac_division(t: Tree, head: int) -> tuple[list[int], int, int] | None:
    """Where a common iliac vein divides: (its nodes, external iliac child, internal iliac
    child), or None.

    Down the common iliac vein's widest course, the division is a branching into one vein
    heading forward (the external iliac, to the groin) and one heading back (the internal
    iliac, into the pelvis; :data:`AP_HEADING_MIN`);
    among such branchings (an internal iliac vein dividing into its uterine branch is one
    too) the one whose narrower branch is widest.
    """
    course = wide_path(t, head, heading=CAUDAL)
    best = None
    for k, c in side_branches(t, course, MIN_BRANCH_MM):
        if k + 1 >= len(course):
            continue
        b = course[k]
        side, cont = wide_path(t, c), course[k + 1:]
        y_s, y_c = direction(t, b, side)[1], direction(t, b, cont)[1]
        if max(y_s, y_c) < AP_HEADING_MIN or abs(y_s - y_c) < 2 * AP_HEADING_MIN:
            continue
        narrow = min(calibre(t, b, side, windows=2), calibre(t, b, cont, windows=2))
        if not np.isfinite(narrow):
            continue
        if best is None or narrow > best[0]:
            front, back = (c, course[k + 1]) if y_s < y_c else (course[k + 1], c)
            best = (narrow, course[: k + 1], front, back)
    return None if best is None else best[1:]


def split_at_level(t: Tree, ipath: list[int], z_mm: float) -> int:
    """Index of the last node of ``ipath`` at or above patient z ``z_mm``."""
    z = t.pos[ipath, 2]
    below = np.nonzero(z < z_mm)[0]
    return int(below[0]) - 1 if len(below) else len(ipath) - 1


def name_internal(t: Tree, c: int, side: str, midline_x: float,
                  names: dict[str, list[int]], notes: list[str]) -> None:
    """Internal iliac and uterine veins in the subtree of ``c`` (the internal iliac vein's
    first node). Of the substantial ends below it, the internal iliac vein runs to the one
    reaching farthest back and stops where it turns forward; the uterine vein is the
    forward-heading branch (or tail) whose end lies nearest the midline."""
    sub = subtree(t, c)
    spine = wide_path(t, c, heading=CAUDAL)
    on = set(spine)
    ends = [spine[-1]]
    for e in leaves(t, sub):
        if e in on:
            continue
        p = path_to(t, e)
        j = next(n for n in range(len(p)) if p[n] not in on and t.dist[p[n]] > t.dist[c])
        if t.dist[e] - t.dist[p[j - 1]] >= UTERINE_MIN_MM:
            ends.append(e)
    # both run down into the pelvis (whatever rises again is no part of them)
    ends = [e for e in ends if t.pos[e][2] < t.pos[c][2] - UTERINE_MIN_MM] or ends
    # the internal iliac vein reaches farthest back (its path's most posterior point: a
    # path that reached far back may turn forward again into the uterine vein)
    paths = {e: path_to(t, e) for e in ends}
    paths = {e: p[p.index(c):] for e, p in paths.items()}
    iiv_end = max(ends, key=lambda e: (float(t.pos[paths[e], 1].max()), t.dist[e]))
    iiv = paths[iiv_end]
    cands: list[list[int]] = []
    # a path that turns forward after its most posterior point: the tail is not the IIV
    m = int(np.argmax(t.pos[iiv, 1]))
    if (t.pos[iiv[m], 1] - t.pos[iiv[-1], 1] >= UTERINE_FORWARD_MM
            and t.dist[iiv[-1]] - t.dist[iiv[m]] >= UTERINE_MIN_MM):
        m += _calibre_step(t, iiv[:m + 1], iiv[m + 1:])
        cands.append(iiv[m + 1:])
        iiv = iiv[:m + 1]
    on_iiv = set(iiv)
    for e in ends:
        if e == iiv_end:
            continue
        p = path_to(t, e)
        j = next(n for n in range(len(p)) if p[n] not in on_iiv and t.dist[p[n]] > t.dist[c])
        if p[j - 1] not in on_iiv or t.dist[e] - t.dist[p[j - 1]] < UTERINE_MIN_MM:
            continue
        if t.pos[e][1] < t.pos[p[j - 1]][1]:  # heads forward from the internal iliac vein
            cands.append(p[j:])
    names[f"internal_iliac_vein_{side}"] = iiv
    if not cands:
        notes.append(f"uterine_vein_{side}: no branch of the internal iliac vein towards the midline found")
        return
    names[f"uterine_vein_{side}"] = min(cands, key=lambda b: abs(t.pos[b[-1]][0] - midline_x))


def name_iliacs(t: Tree, heads: dict[str, int], midline_x: float, names: dict[str, list[int]],
                notes: list[str], split: float | None) -> None:
    """Common/external/internal iliac and uterine veins of the sides in ``heads`` (side ->
    first node of its common iliac vein). ``split``: see :func:`vascseg.segment.naming.name_tree`."""
    division = {side: iliac_division(t, h) for side, h in heads.items()}
    for side in ("left", "right"):
        if side not in heads:
            for s in ("common", "external", "internal"):
                notes.append(f"{s}_iliac_vein_{side}: no {side} iliac vein joins the IVC")
            notes.append(f"uterine_vein_{side}: no {side} iliac vein joins the IVC")
            continue
        if division[side] is not None:
            civ, front, back = division[side]
            names[f"common_iliac_vein_{side}"] = civ
            names[f"external_iliac_vein_{side}"] = wide_path(t, front, heading=CAUDAL)
            name_internal(t, back, side, midline_x, names, notes)
            continue
        path = lowest_path(t, heads[side])
        other = "right" if side == "left" else "left"
        if division.get(other) is not None:
            # the common iliac veins end at about the same level (the sacroiliac joints)
            z = float(t.pos[division[other][0][-1], 2])
            k = split_at_level(t, path, z)
            notes.append(f"external_iliac_vein_{side}: no internal iliac vein marks the end of the common "
                         f"iliac vein; placed at the level of the {other} one")
        elif split is not None:
            d = t.dist[path] - t.dist[path[0]]
            k = int(np.searchsorted(d, split * d[-1])) - 1
            notes.append(f"common/external_iliac_vein_{side}: no internal iliac vein marks their "
                         f"boundary; placed at {split:.0%} of the iliac vein's length")
        else:
            k = len(path) - 1
            notes.append(f"external_iliac_vein_{side}: the common iliac vein does not divide")
        names[f"common_iliac_vein_{side}"] = path[: k + 1]
        if k + 1 < len(path) and direction(t, path[k], path[k + 1:])[1] >= AP_HEADING_MIN:
            # the one vein below heads back into the pelvis: the internal iliac vein (the
            # external one, heading forward to the groin, is lost to an occlusion); this is
            # the reason reported for it, not where its boundary would have been placed
            notes[:] = [n for n in notes if not n.startswith(f"external_iliac_vein_{side}:")]
            notes.append(f"external_iliac_vein_{side}: not found (the one vein below the common iliac "
                         f"vein heads back into the pelvis: the internal iliac vein)")
            name_internal(t, path[k + 1], side, midline_x, names, notes)
            continue
        if k + 1 < len(path):
            names[f"external_iliac_vein_{side}"] = path[k + 1:]
        notes.append(f"internal_iliac_vein_{side}: not found")
        notes.append(f"uterine_vein_{side}: not found (no internal iliac vein)")


GONADAL_RISE_MM = 60.0
"""A gonadal vein cut off from the IVC (or the left renal vein) still rises at least this
far above where it leaves a pelvic vein."""


def gonadal_from_pelvis(t: Tree, side: str, midline_x: float, names: dict[str, list[int]],
                        notes: list[str]) -> None:
    """The gonadal vein of ``side`` when its cranial junction was not found (a defect there):
    the branch of that side's pelvic veins whose end rises highest, at least
    :data:`GONADAL_RISE_MM` above where it leaves them, on that side of the midline."""
    name = f"gonadal_vein_{side}"
    if name in names:
        return
    sign = -1.0 if side == "right" else 1.0
    best = None
    for parent in (f"uterine_vein_{side}", f"internal_iliac_vein_{side}", f"external_iliac_vein_{side}"):
        path = names.get(parent)
        if not path:
            continue
        for k, c in side_branches(t, path, MIN_BRANCH_MM):
            top = max(leaves(t, subtree(t, c)), key=lambda e: t.pos[e][2])
            rise = t.pos[top][2] - t.pos[path[k]][2]
            if rise >= GONADAL_RISE_MM and sign * (t.pos[top][0] - midline_x) > 0 \
                    and (best is None or rise > best[0]):
                best = (rise, c, top, parent)
    if best is None:
        return
    full = path_to(t, best[2])
    named = set().union(*names.values())
    last = max((i for i, n in enumerate(full) if n in named), default=-1)
    if len(full) - last - 1 < 2:
        return
    names[name] = full[last + 1:]
    notes.append(f"{name}: not joined to the vein it drains into (a defect at the junction?); "
                 f"taken as the branch rising from the {best[3].replace('_', ' ')}")

