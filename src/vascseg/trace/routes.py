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
    centred_path,
    close_within,
    distance_mm,
    resample,
    smooth_polyline,
    smooth_uniform,
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
    offset,
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
    junctions: dict[str, np.ndarray] = {}  # tributary -> junction on its parent, LPS mm
    for rdef in progress(config.route_defs, desc="routes", enabled=config.progress):
        routes.append(_trace_route(rdef, veins, defects, grid, boxes, contacts, ends, segs, warnings,
                                   junctions, **opts))
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


def _link(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Points every FINE_STEP_MM from ``a`` to ``b`` (both excluded)."""
    n = int(np.ceil(np.linalg.norm(b - a) / FINE_STEP_MM))
    if n <= 1:
        return np.zeros((0, 3))
    f = np.arange(1, n)[:, None] / n
    return a[None] + f * (b - a)[None]


RETRACE_CHILD_RADII = 1.0
"""At a confluence forming the parent, the route is traced again from this many child radii
(plus :data:`RETRACE_MARGIN_MM`) before the confluence..."""

RETRACE_PARENT_RADII = 1.5
"""...to this many parent radii (plus :data:`RETRACE_MARGIN_MM`) along the parent."""

RETRACE_MARGIN_MM = 5.0
"""Added to the stretches above, and the margin (mm) of the box the path is searched in."""

RETRACE_BOX_MM = 15.0
"""Margin (mm) around the two ends of a re-traced stretch where its path is searched."""


def _arc(points: np.ndarray) -> np.ndarray:
    return np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]


def _connector(via: list[np.ndarray], vessel: np.ndarray, box, grid: Volume, *,
               smoothing_mm: float) -> np.ndarray:
    """Centred path (LPS mm, smoothed, every FINE_STEP_MM) through the points ``via``.

    ``vessel`` is the route's mask on ``box``; each leg is searched within
    :data:`RETRACE_BOX_MM` of its two ends and falls back to the straight segment.
    """
    legs = [via[0][None]]
    for a, b in zip(via[:-1], via[1:], strict=True):
        legs.append(_leg(a, b, vessel, box, grid))
        legs.append(b[None])
    return smooth_polyline(np.concatenate(legs), smoothing_mm=smoothing_mm)


def _leg(a: np.ndarray, b: np.ndarray, vessel: np.ndarray, box, grid: Volume) -> np.ndarray:
    """Voxel centres (LPS mm) of the centred path from ``a`` to ``b``, both excluded."""
    to_box = lps_to_box_affine(grid, box)
    lin, tr = to_box[:3, :3], to_box[:3, 3]
    shape = np.array(vessel.shape)
    ia = np.clip(np.round(a @ lin.T + tr).astype(int), 0, shape - 1)
    ib = np.clip(np.round(b @ lin.T + tr).astype(int), 0, shape - 1)
    if not (vessel[tuple(ia)] and vessel[tuple(ib)]) or np.array_equal(ia, ib):
        return _link(a, b)
    sp = grid.spacing_mm
    m = np.ceil(RETRACE_BOX_MM / np.asarray(sp)).astype(int)
    lo = np.maximum(np.minimum(ia, ib) - m, 0)
    hi = np.minimum(np.maximum(ia, ib) + m + 1, shape)
    sub = tuple(slice(int(x), int(y)) for x, y in zip(lo, hi, strict=True))
    path = centred_path(distance_mm(vessel[sub], sp), ia - lo, ib - lo, sp)
    if path is None:
        return _link(a, b)
    return grid.index_to_lps(path[1:-1] + lo + offset(box))


JUNCTION_NEAR_MM = 2.0
"""Voxels of a tributary's label within this distance (mm) of its closest voxel to the
parent's centreline are junction candidates (the tributary ends on that centreline)."""

JUNCTION_SEARCH_MM = 25.0
"""Junction candidates are looked for this far (mm) around the tributary's contact."""


def _junction(child: str, parent: str, veins: np.ndarray, grid: Volume, boxes,
              contacts: dict[str, Contact], ends: dict[str, _Ends]) -> np.ndarray:
    """Where ``child``'s centreline joins ``parent``'s (LPS mm).

    A tributary's centreline ends on its parent's centreline, and its label reaches that
    point (nearest-centreline labelling): of the child's voxels near the contact, those
    closest to the parent's centreline (within :data:`JUNCTION_NEAR_MM` of the closest)
    are candidates, and the one nearest the child's own centreline end is the junction.
    Inside a wide parent the tributary may run on along its centreline (a hairpin): the
    route follows it there, as the anatomy does.
    """
    c = contacts[child]
    m = np.ceil(JUNCTION_SEARCH_MM / np.asarray(grid.spacing_mm)).astype(int)
    cbox = boxes[child]
    lo = np.maximum(c.voxels.min(axis=0) - m, [b.start for b in cbox])
    hi = np.minimum(c.voxels.max(axis=0) + m + 1, [b.stop for b in cbox])
    sub = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    idx = np.argwhere(veins[sub] == LABELS[child]) + lo
    if not len(idx):
        return grid.index_to_lps(c.centre_idx)
    lps = grid.index_to_lps(idx)
    d = cKDTree(ends[parent].fine_lps).query(lps)[0]
    cand = lps[d <= d.min() + JUNCTION_NEAR_MM]
    tip = ends[child].fine_lps[-1]
    return cand[int(np.argmin(np.linalg.norm(cand - tip, axis=1)))]


def _trace_route(rdef, veins, defects, grid, boxes, contacts, ends, segs, warnings, junctions, *,
                 step_mm, smoothing_mm, section_radius_mm, section_pixel_mm) -> RouteTrace:
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
    # The route follows each segment's own centreline to the junction with the next one,
    # then the parent's centreline. Where veins join end to end to form the parent (the
    # iliac veins, the common iliac veins) their labels split the confluence between them
    # and bend each centreline there: the route is traced again through the union of its
    # labels from a child radius or two before to a few parent radii after the confluence.
    # Elsewhere it joins at the child's junction on the parent (see _junction).
    by_name = {sg.name: sg for sg in segs}
    pieces: list[np.ndarray] = []
    carry, skip = np.zeros((0, 3)), 0
    for k, name in enumerate(traced):
        fine = np.asarray(ends[name].fine_lps, dtype=np.float64)
        if k > 0 and traced[k - 1] in ends[name].formed_by:
            cur = np.concatenate([carry, fine[skip + 1:]])
        elif k > 0:
            jp = junctions[traced[k - 1]]
            j = int(np.argmin(np.linalg.norm(fine - jp, axis=1)))
            cur = np.concatenate([jp[None], _link(jp, fine[j]), fine[j:]])
        else:
            cur = fine
        if k + 1 < len(traced) and name in ends[traced[k + 1]].formed_by:
            parent = traced[k + 1]
            p_fine = np.asarray(ends[parent].fine_lps, dtype=np.float64)
            p0 = p_fine[0]
            s_c = _arc(cur)
            i0 = int(np.argmin(np.linalg.norm(cur - p0, axis=1)))
            back = RETRACE_CHILD_RADII * _radius_mm(by_name.get(name)) + RETRACE_MARGIN_MM
            a = int(np.searchsorted(s_c, s_c[i0] - back, side="right")) - 1
            a = max(a, 0)
            s_p = _arc(p_fine)
            ahead = RETRACE_PARENT_RADII * _radius_mm(by_name.get(parent)) + RETRACE_MARGIN_MM
            skip = min(int(np.searchsorted(s_p, ahead)), len(p_fine) - 1)
            conn = _connector([cur[a], p0, p_fine[skip]], vessel, box, grid, smoothing_mm=smoothing_mm)
            split = int(np.argmin(np.linalg.norm(conn - p0, axis=1)))
            split = min(max(split, 1), len(conn) - 1)
            carry = conn[split:]
            cur = np.concatenate([cur[:a], conn[:split]])
        elif k + 1 < len(traced):
            if name not in junctions:
                junctions[name] = _junction(name, traced[k + 1], veins, grid, boxes, contacts, ends)
            jn = junctions[name]
            i = int(np.argmin(np.linalg.norm(cur - jn, axis=1)))
            cur = np.concatenate([cur[:i + 1], _link(cur[i], jn)])
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
    s, p, t, length = resample(fine, step_mm=step_mm)
    rank_s = np.searchsorted(np.asarray(conf_s), s, side="right") if conf_s else np.zeros(len(s), int)
    names = np.array([traced[int(k)] for k in rank_s], dtype="<U32")
    zones = _confluence_zones(traced, conf_s, s, p, names, ends, segs)
    dconf = _distance_to_zones(s, zones)
    dist = distance_mm(vessel, sp)
    radii = section_radii(dist, to_box, p, step_mm=step_mm, max_radius_mm=section_radius_mm)
    sec = measure_sections(vessel, defects[box] & vessel, lps_to_index_affine=to_box,
                           points_lps_mm=p, tangents_lps=t, radius_mm=radii,
                           pixel_mm=section_pixel_mm, max_radius_mm=section_radius_mm)
    prof = Profile(s_mm=s, points_lps_mm=p, tangents_lps=t, segment=names,
                   dist_to_confluence_mm=dconf, **sec)
    return RouteTrace(name=rdef.name, definition=rdef, complete=not missing and not untraced,
                      missing_segments=tuple(missing), traced_segments=tuple(traced),
                      length_mm=length, profile=prof, confluences_s_mm=conf_s,
                      confluence_zones_mm=tuple(zones), bbox_zyx=tuple((b.start, b.stop) for b in box))


def _radius_mm(seg: SegmentTrace | None) -> float:
    """Typical radius of a segment: half its median section equivalent diameter (0 if unknown)."""
    if seg is None:
        return 0.0
    d = seg.profile.equivalent_diameter_mm
    d = d[np.isfinite(d)]
    return float(np.median(d)) / 2 if len(d) else 0.0


def _confluence_zones(traced, conf_s, s, p, names, ends, segs) -> list[tuple[float, float]]:
    """Arc-length intervals of the route where another vein joins or leaves it.

    A route's own confluence runs from where the tributary's centreline enters its
    parent (comes within the parent's radius of the parent's centreline) to the junction
    on the parent's centreline plus the tributary's radius. A vein that joins the route
    from outside covers the route samples its centreline passes within the route's
    radius of, widened by its own radius on both sides.
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
    return sorted(zones)


def _distance_to_zones(s: np.ndarray, zones) -> np.ndarray:
    """Arc-length distance of each sample to the nearest zone (0 inside one; inf without)."""
    out = np.full(len(s), np.inf)
    for lo, hi in zones:
        out = np.minimum(out, np.maximum(np.maximum(lo - s, s - hi), 0.0))
    return out
