"""Trace the configured pelvic-to-caval routes through a vein label map."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .._util import progress
from ..anatomy import LABELS, NAMES_BY_LABEL, RouteDef
from ..config import Config
from ..geometry import Volume
from .centreline import centred_path, distance_mm, extend_to_wall, resample, smooth_polyline
from .result import Profile, RouteTrace, SegmentTrace, TraceResult
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
from .sections import measure_sections


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
        routes.append(_trace_route(rdef, veins, defects, grid, boxes, contacts, ends, warnings,
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


def _trace_route(rdef, veins, defects, grid, boxes, contacts, ends, warnings, *, step_mm,
                 smoothing_mm, section_radius_mm, section_pixel_mm) -> RouteTrace:
    traced, missing = _chain(rdef, boxes, contacts)
    untraced = [s for s in rdef.segments if s not in traced]
    if missing or untraced:
        warnings.append(
            f"route {rdef.name}: missing or disconnected segment(s) {', '.join(missing) or '-'}; "
            + (f"traced {' -> '.join(traced)} only (not bridged)" if traced
               else "nothing connected to the IVC to trace"))
    if not traced:
        return _empty(rdef, missing)
    box = grow(union_box([boxes[s] for s in traced]), veins.shape, 1)
    off = offset(box)
    crop = veins[box]
    labels = np.array([LABELS[s] for s in traced], dtype=veins.dtype)
    union = np.isin(crop, labels)
    dist = distance_mm(union, grid.spacing_mm)
    ivc = traced[-1]
    source = ends[traced[0]].free_idx - off
    target = ends[ivc].heart_idx - off
    path = centred_path(dist, source, target, grid.spacing_mm)
    if path is None:
        warnings.append(f"route {rdef.name}: no path from the pelvic end to the IVC inside the veins")
        return _empty(rdef, missing, traced)
    raw_lps = grid.index_to_lps(path + off)
    raw_lab = crop[tuple(path.T)]
    to_box = lps_to_box_affine(grid, box)
    fine = smooth_polyline(raw_lps, smoothing_mm=smoothing_mm)
    fine = extend_to_wall(fine, union, to_box, start=True, end=True, max_mm=3 * max(grid.spacing_mm))
    s, p, t, length = resample(fine, step_mm=step_mm)
    # Segment at each sample: label of the nearest raw path voxel, forced monotone in
    # route order (a centred path may graze a neighbouring segment at a confluence).
    order = {int(lab): k for k, lab in enumerate(labels)}
    raw_rank = np.array([order.get(int(v), 0) for v in raw_lab])
    _, nearest = cKDTree(raw_lps).query(p)
    rank = np.maximum.accumulate(raw_rank[nearest]) if len(p) else np.zeros(0, int)
    names = np.array([NAMES_BY_LABEL[int(labels[k])] for k in rank], dtype="<U32")
    change = np.nonzero(np.diff(rank))[0]
    conf_s = tuple(float((s[i] + s[i + 1]) / 2) for i in change)
    dconf = (np.min(np.abs(s[:, None] - np.asarray(conf_s)[None, :]), axis=1)
             if conf_s else np.full(len(s), np.inf))
    sec = measure_sections(union, defects[box] & union, lps_to_index_affine=to_box,
                           points_lps_mm=p, tangents_lps=t, radius_mm=section_radius_mm,
                           pixel_mm=section_pixel_mm)
    prof = Profile(s_mm=s, points_lps_mm=p, tangents_lps=t, segment=names,
                   dist_to_confluence_mm=dconf, **sec)
    return RouteTrace(name=rdef.name, definition=rdef, complete=not missing and not untraced,
                      missing_segments=tuple(missing), traced_segments=tuple(traced),
                      length_mm=length, profile=prof, confluences_s_mm=conf_s,
                      bbox_zyx=tuple((b.start, b.stop) for b in box))
