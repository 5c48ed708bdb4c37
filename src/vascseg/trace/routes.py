"""Trace the configured pelvic-to-caval routes through a vein label map."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .._util import progress
from ..anatomy import LABELS, RouteDef
from ..config import Config
from ..geometry import Volume
from .centreline import (
    CLOSE_MM,
    FINE_STEP_MM,
    close_within,
    distance_mm,
    resample,
    smooth_uniform,
)
from .joins import (
    CORNER_MARGIN_MM,
    axis_corner,
    corner_axes,
    corner_ends,
    link,
    side_junction,
    through_mask,
)
from .result import Profile, RouteTrace, SegmentTrace, TraceResult
from .sections import measure_sections, section_radii
from .segments import (
    Contact,
    _Ends,
    find_contacts,
    grow,
    label_boxes,
    lps_to_box_affine,
    segment_graph,
    trace_segment,
    union_box,
)

JOIN_SMOOTHING_MM = 1.5
"""Gaussian smoothing (mm of arc length) of a route where its segment centrelines join."""


def trace_routes(veins: np.ndarray, defects: np.ndarray, grid: Volume, config: Config) -> TraceResult:
    """Trace every segment and every configured route; measure their cross-sections.

    Parameters
    ----------
    veins : (Z, Y, X) uint8
        Label map (:data:`vascseg.anatomy.LABELS`) of the whole vessel interior
        (enhanced lumen and filling defect).
    defects : (Z, Y, X) bool
        Filling-defect mask, a subset of ``veins > 0``.
    grid : Volume
        Geometry of both arrays (its ``array`` is not used).
    config : Config
        ``config.trace`` sets the sampling; ``config.route_defs`` the routes.

    Returns
    -------
    TraceResult
        Segment centrelines and graph; per route a centreline from its pelvic end
        (s = 0) to the cranial end of the IVC, smoothed and resampled every
        ``step_mm``, with one cross-section per sample. A route with a missing or
        disconnected segment is ``complete=False``; only the part connected to the IVC
        is traced (never bridged).
    """
    veins = np.asarray(veins)
    defects = np.asarray(defects, dtype=bool)
    if veins.shape != grid.shape or defects.shape != grid.shape:
        raise ValueError(f"veins {veins.shape} and defects {defects.shape} must have the grid's "
                         f"shape {grid.shape}")
    tc = config.trace
    opts = dict(step_mm=tc.step_mm, smoothing_mm=tc.smoothing_mm,
                section_radius_mm=tc.section_radius_mm, section_pixel_mm=tc.section_pixel_mm)
    warnings: list[str] = []
    boxes = label_boxes(veins)
    contacts = find_contacts(veins, boxes)
    segs: list[SegmentTrace] = []
    ends: dict[str, _Ends] = {}
    for name in progress(sorted(boxes, key=LABELS.__getitem__), desc="segments",
                         enabled=config.progress):
        tribs = [c for c in contacts.values() if c.parent == name]
        seg, e = trace_segment(name, veins, defects, grid, boxes[name], contacts.get(name), tribs,
                               **opts)
        segs.append(seg)
        ends[name] = e
    routes = []
    for rdef in progress(config.route_defs, desc="routes", enabled=config.progress):
        routes.append(_trace_route(rdef, veins, defects, grid, boxes, contacts, ends, segs, warnings,
                                   **opts))
    return TraceResult(routes=tuple(routes), segments=tuple(segs), graph=segment_graph(segs),
                       veins=veins, spacing_mm=grid.spacing_mm, warnings=tuple(warnings))


def _chain(rdef: RouteDef, boxes, contacts: dict[str, Contact]) -> tuple[list[str], list[str]]:
    """(traced suffix, missing segments) of a route."""
    segs = list(rdef.segments)
    missing = []
    for i, s in enumerate(segs):
        if s not in boxes:
            missing.append(s)
        elif i + 1 < len(segs) and segs[i + 1] in boxes and s not in contacts:
            missing.append(s)  # present, next present, but they do not touch
    traced: list[str] = []
    for i in range(len(segs) - 1, -1, -1):
        s = segs[i]
        ok = s in boxes and (i == len(segs) - 1 or (s in contacts and traced[:1] == [segs[i + 1]]))
        if not ok:
            break
        traced.insert(0, s)
    return traced, missing


def _empty(rdef: RouteDef, missing, traced=()) -> RouteTrace:
    return RouteTrace(name=rdef.name, definition=rdef, complete=False,
                      missing_segments=tuple(missing), traced_segments=tuple(traced),
                      length_mm=0.0, profile=Profile.empty())


TRIBUTARY_REACH_MM = 15.0
"""A tributary's end within this distance of a route sample is a confluence on the route."""


def _trace_route(rdef, veins, defects, grid, boxes, contacts, ends, segs, warnings, *, step_mm, smoothing_mm, section_radius_mm, section_pixel_mm) -> RouteTrace:
    traced, missing = _chain(rdef, boxes, contacts)
    untraced = [s for s in rdef.segments if s not in traced]
    if missing or untraced:
        warnings.append(
            f"route {rdef.name}: missing or disconnected segment(s) {', '.join(missing) or '-'}; "
            + (f"traced {' -> '.join(traced)} only (not bridged)" if traced
               else "nothing connected to the IVC to trace"))
    if not traced:
        return _empty(rdef, missing)
    sp = grid.spacing_mm
    margin = int(np.ceil(CLOSE_MM / min(sp))) + 1
    box = grow(union_box([boxes[s] for s in traced]), veins.shape, margin)
    crop = veins[box]
    labels = [LABELS[s] for s in traced]
    vessel = close_within(np.isin(crop, labels), crop > 0, sp)
    to_box = lps_to_box_affine(grid, box)
    # The route follows each segment's own centreline to its confluence with the next one,
    # then the parent's (see .joins): around the corner where two veins join end to end to
    # form the parent, and from a side branch's junction on the parent.
    by_name = {sg.name: sg for sg in segs}
    veins_any = (crop > 0, to_box)
    pieces: list[np.ndarray] = []
    carry, skip, junction = np.zeros((0, 3)), 0, np.zeros(3)
    for k, name in enumerate(traced):
        fine = np.asarray(ends[name].fine_lps, dtype=np.float64)
        if k > 0 and traced[k - 1] in ends[name].formed_by:
            cur = np.concatenate([carry, fine[skip:]])
        elif k > 0:
            j = int(np.argmin(np.linalg.norm(fine - junction, axis=1)))
            cur = np.concatenate([junction[None], link(junction, fine[j]), fine[j:]])
        else:
            cur = fine
        if k + 1 < len(traced) and name in ends[traced[k + 1]].formed_by:
            parent = traced[k + 1]
            e = ends[name]
            own_mask = None if e.mask is None else (e.mask, lps_to_box_affine(grid, e.box))
            cur, carry, skip = _corner(cur, np.asarray(ends[parent].fine_lps, dtype=np.float64),
                                       _radius_mm(by_name.get(name)), _radius_mm(by_name.get(parent)),
                                       vessel, (own_mask, veins_any), box, grid,
                                       smoothing_mm=smoothing_mm, pixel_mm=section_pixel_mm)
        elif k + 1 < len(traced):
            junction = side_junction(cur, ends[traced[k + 1]].fine_lps)
            i = int(np.argmin(np.linalg.norm(cur - junction, axis=1)))
            cur = np.concatenate([cur[:i + 1], link(cur[i], junction)])
        pieces.append(cur)
    # Even resampling of the joined polyline, each sample keeping its segment; a light
    # smoothing rounds the kinks at the confluences (tangents of the sections there).
    pts = np.concatenate(pieces)
    rank = np.concatenate([np.full(len(pc), k) for k, pc in enumerate(pieces)])
    keep = np.r_[True, np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-9]
    pts, rank = pts[keep], rank[keep]
    s_raw = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))]
    n = max(int(np.ceil(s_raw[-1] / FINE_STEP_MM)) + 1, 3)
    sf = np.linspace(0.0, s_raw[-1], n)
    fine = np.stack([np.interp(sf, s_raw, pts[:, c]) for c in range(3)], axis=1)
    bounds_raw = [s_raw[np.nonzero(rank == k)[0][0]] for k in range(1, len(pieces))]
    fine = smooth_uniform(fine, sigma_samples=JOIN_SMOOTHING_MM / (sf[1] - sf[0]))
    s_fine = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(fine, axis=0), axis=1))]
    conf_s = tuple(float(np.interp(b, sf, s_fine)) for b in bounds_raw)
    radius = [_radius_mm(by_name.get(nm)) for nm in traced]
    conf_s = _label_bounds(conf_s, s_fine, fine, veins, grid, traced,
                          window_mm=[radius[k] + radius[k + 1] + CORNER_MARGIN_MM
                                     for k in range(len(conf_s))])
    s, p, t, length = resample(fine, step_mm=step_mm)
    rank_s = np.searchsorted(np.asarray(conf_s), s, side="right") if conf_s else np.zeros(len(s), int)
    names = np.array([traced[int(k)] for k in rank_s], dtype="<U32")
    own = _own_zones(traced, conf_s, s, p, names, ends, segs)
    zones = sorted(own + _joining_zones(traced, s, p, names, ends, segs))
    dconf = _distance_to_zones(s, zones)
    dist = distance_mm(vessel, sp)
    radii = section_radii(dist, to_box, p, step_mm=step_mm, max_radius_mm=section_radius_mm)
    # Inside the route's own confluences the section is of the veins joining there (the
    # route's mask); elsewhere of the segment's own (closed) mask, so a vein running beside
    # it and touching it (a gonadal vein along the IVC) is not counted in its section.
    groups = [(np.nonzero(_distance_to_zones(s, own) == 0)[0], vessel, defects[box] & vessel, to_box)]
    for name in traced:
        e = ends[name]
        sel = np.nonzero((names == name) & (_distance_to_zones(s, own) > 0))[0]
        if e.mask is None:
            groups[0] = (np.union1d(groups[0][0], sel), *groups[0][1:])
        elif len(sel):
            groups.append((sel, e.mask, defects[e.box] & e.mask, lps_to_box_affine(grid, e.box)))
    sec = _measure_groups(groups, p, t, radii, pixel_mm=section_pixel_mm,
                          max_radius_mm=section_radius_mm)
    prof = Profile(s_mm=s, points_lps_mm=p, tangents_lps=t, segment=names,
                   dist_to_confluence_mm=dconf, **sec)
    return RouteTrace(name=rdef.name, definition=rdef, complete=not missing and not untraced,
                      missing_segments=tuple(missing), traced_segments=tuple(traced),
                      length_mm=length, profile=prof, confluences_s_mm=conf_s,
                      confluence_zones_mm=tuple(zones), bbox_zyx=tuple((b.start, b.stop) for b in box))


def _corner(cur: np.ndarray, p_fine: np.ndarray, r_child: float, r_parent: float, vessel,
            masks, box, grid: Volume, *, smoothing_mm: float, pixel_mm: float
            ) -> tuple[np.ndarray, np.ndarray, int]:
    """Split an end-to-end confluence between the child's piece and the parent's.

    ``masks`` are the child's own mask and the whole vessel interior, each as
    ``(mask, lps_to_box)``. Returns the child's piece up to the corner, the points that
    start the parent's piece (up to the parent's centreline) and the index of the parent's
    centreline it goes on from.
    """
    a, b = corner_ends(cur, p_fine, r_child_mm=r_child, r_parent_mm=r_parent)
    c_line, p_line = corner_axes(cur, p_fine, a, b, child_mask=masks[0], parent_mask=masks[1],
                                 r_child_mm=r_child, r_parent_mm=r_parent, pixel_mm=pixel_mm)
    corner = axis_corner(cur, p_fine, a, b, r_parent_mm=r_parent, child_line=c_line, parent_line=p_line)
    if corner is None:  # axes that do not meet: a centred path through the confluence's mask
        corner = through_mask([cur[a], p_fine[0], p_fine[b]], vessel, box, grid,
                              smoothing_mm=smoothing_mm)[1:-1]
    # the pieces part at the corner point nearest the parent's start
    split = int(np.argmin(np.linalg.norm(corner - p_fine[0], axis=1))) if len(corner) else 0
    return np.concatenate([cur[:a + 1], corner[:split]]), corner[split:], b


def _radius_mm(seg: SegmentTrace | None) -> float:
    """Typical radius of a segment: half its median section equivalent diameter (0 if unknown)."""
    if seg is None:
        return 0.0
    d = seg.profile.equivalent_diameter_mm
    d = d[np.isfinite(d)]
    return float(np.median(d)) / 2 if len(d) else 0.0


def _label_bounds(conf_s, s_fine: np.ndarray, fine: np.ndarray, veins: np.ndarray, grid: Volume,
                 traced, *, window_mm) -> tuple[float, ...]:
    """Where the route passes from each segment's label into the next one's (arc length, mm).

    Every vein's centreline ends on its parent's centreline, and a vein's label holds the
    voxels nearest to its centreline: the route changes segment where it crosses from the
    child's label into the parent's. Within ``window_mm`` of the geometric estimate
    ``conf_s[k]`` the boundary is the arc length that leaves the fewest points of the
    route's centreline (``fine``, (K, 3) LPS mm at ``s_fine``) on the wrong side (a child
    label after it, a parent label before it). Without both labels in the window the
    estimate is kept.
    """
    if not conf_s:
        return tuple(conf_s)
    idx = np.rint(grid.lps_to_index(fine)).astype(np.int64)
    idx = np.clip(idx, 0, np.array(veins.shape) - 1)
    lab = veins[tuple(idx.T)]
    out = list(conf_s)
    for k, cs in enumerate(conf_s):
        lo = out[k - 1] if k > 0 else 0.0
        hi = conf_s[k + 1] if k + 1 < len(conf_s) else s_fine[-1]
        sel = (s_fine >= max(cs - window_mm[k], lo)) & (s_fine <= min(cs + window_mm[k], hi))
        child = lab[sel] == LABELS[traced[k]]
        parent = lab[sel] == LABELS[traced[k + 1]]
        if not child.any() or not parent.any():
            continue
        # cost of a boundary before sample i: parent points before it + child points from it on
        cost = np.r_[0, np.cumsum(parent)] + np.r_[np.cumsum(child[::-1])[::-1], 0]
        best = np.nonzero(cost == cost.min())[0]
        i = int(best[len(best) // 2])
        sw = s_fine[sel]
        out[k] = float(sw[0] if i == 0 else sw[-1] if i == len(sw) else 0.5 * (sw[i - 1] + sw[i]))
    return tuple(out)


def _measure_groups(groups, p: np.ndarray, t: np.ndarray, radii: np.ndarray, *, pixel_mm: float,
                    max_radius_mm: float) -> dict[str, np.ndarray]:
    """Sections of the samples ``p`` (N, 3), each group ``(indices, vessel, defect,
    lps_to_box_affine)`` measured on its own masks; the arrays of
    :func:`~vascseg.trace.sections.measure_sections` for all N samples."""
    out: dict[str, np.ndarray] = {}
    for sel, vessel, defect, affine in groups:
        if not len(sel):
            continue
        sec = measure_sections(vessel, defect, lps_to_index_affine=affine, points_lps_mm=p[sel],
                               tangents_lps=t[sel], radius_mm=radii[sel], pixel_mm=pixel_mm,
                               max_radius_mm=max_radius_mm)
        for k, v in sec.items():
            if k not in out:
                out[k] = np.zeros(len(p), dtype=v.dtype)
            out[k][sel] = v
    if not out:  # no sample: the keys with empty arrays
        out = measure_sections(groups[0][1], None, lps_to_index_affine=groups[0][3],
                               points_lps_mm=p, tangents_lps=t, radius_mm=radii, pixel_mm=pixel_mm)
    return out


def _own_zones(traced, conf_s, s, p, names, ends, segs) -> list[tuple[float, float]]:
    """Arc-length intervals of the route's own confluences.

    Each runs from where the tributary's centreline enters its parent (comes within the
    parent's radius of the parent's centreline) to the junction on the parent's
    centreline plus the tributary's radius.
    """
    by_name = {sg.name: sg for sg in segs}
    zones: list[tuple[float, float]] = []
    if not len(s):
        return zones
    for k, cs in enumerate(conf_s):
        child, parent = traced[k], traced[k + 1]
        r_par, r_child = _radius_mm(by_name.get(parent)), _radius_mm(by_name.get(child))
        d = cKDTree(ends[parent].fine_lps).query(p)[0]
        near = (names == child) & (d < r_par) & (s >= cs - 4 * r_par - 1.0)
        start = float(s[near].min()) if near.any() else cs
        zones.append((min(start, cs), cs + r_child))
    return zones


def _joining_zones(traced, s, p, names, ends, segs) -> list[tuple[float, float]]:
    """Arc-length intervals where a vein joins the route from outside.

    Each covers the route samples the vein's centreline passes within the route's radius
    of, widened by the vein's own radius on both sides.
    """
    by_name = {sg.name: sg for sg in segs}
    zones: list[tuple[float, float]] = []
    if not len(s):
        return zones
    tree = cKDTree(p)
    for sg in segs:
        if sg.drains_into not in traced or sg.name in traced or sg.name not in ends:
            continue
        fine = ends[sg.name].fine_lps
        r_t = _radius_mm(sg)
        d, idx = tree.query(fine)
        r_route = np.array([_radius_mm(by_name.get(str(names[i]))) for i in idx])
        inside = d < r_route
        if inside.any():
            lo, hi = float(s[idx[inside]].min()), float(s[idx[inside]].max())
        elif d[-1] <= TRIBUTARY_REACH_MM:
            lo = hi = float(s[idx[-1]])
        else:
            continue
        zones.append((lo - r_t, hi + r_t))
    return zones


def _distance_to_zones(s: np.ndarray, zones) -> np.ndarray:
    """Arc-length distance of each sample to the nearest zone (0 inside one; inf without)."""
    out = np.full(len(s), np.inf)
    for lo, hi in zones:
        out = np.minimum(out, np.maximum(np.maximum(lo - s, s - hi), 0.0))
    return out
