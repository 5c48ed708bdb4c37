"""Per-segment centrelines, confluences and the segment graph."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy import ndimage

from ..anatomy import DRAINS_INTO, LABELS, NAMES_BY_LABEL
from ..geometry import Volume
from .centreline import (
    CLOSE_MM,
    centre_near,
    centred_path,
    close_within,
    distance_mm,
    extend_to_wall,
    geodesic_mm,
    layer_centre,
    medial_end,
    ray_to_wall,
    resample,
    smooth_polyline,
)
from .result import Profile, SegmentTrace
from .sections import measure_sections, section_radii

Box = tuple[slice, slice, slice]

HEART_AT_TIP = True
"""End a tributary's centreline at its own tip beyond the contact (inside its parent's lumen
when it is labelled there) rather than at the contact's centre."""
HEART_TIP_REACH_MM = 15.0
"""A segment's tip beyond its contact with its parent is its heart end only when it lies
within this distance of the contact (else the contact's centre is)."""
END_CONTACT_RADII = 2.0
"""Two or more tributaries whose contacts lie within this many segment radii (its largest
distance to the wall; geodesic distance, at least :data:`END_CONTACT_MIN_MM`) of a
segment's far end form that segment (the iliac veins forming the common iliac vein, the
common iliac veins forming the IVC): that end is the confluence itself, so the segment's
centreline starts at the centre of those contacts instead of at the far tip of its label
(which reaches into the crotch between the tributaries)."""
END_CONTACT_MIN_MM = 12.0


@dataclass(frozen=True)
class Contact:
    """Voxels of ``child`` touching ``parent`` (26-neighbourhood), global (z, y, x) indices."""

    child: str
    parent: str
    voxels: np.ndarray  # (K, 3) int

    @property
    def centre_idx(self) -> np.ndarray:
        return self.voxels.mean(axis=0)


@dataclass(frozen=True, eq=False)
class _Ends:
    heart_idx: np.ndarray  # global index of the heart-ward end (confluence / IVC top)
    free_idx: np.ndarray   # global index of the free (upstream) end
    fine_lps: np.ndarray   # (K, 3) smoothed centreline, free end -> heart end, LPS mm
    formed_by: tuple[str, ...] = ()  # tributaries joining end to end at the free end
    mask: np.ndarray | None = None  # the segment's own closed mask on ``box`` (bool)
    box: Box | None = None


def grow(box: Box, shape, margin: int = 1) -> Box:
    """``box`` enlarged by ``margin`` voxels, clipped to ``shape``."""
    return tuple(slice(max(b.start - margin, 0), min(b.stop + margin, n))
                 for b, n in zip(box, shape, strict=True))  # type: ignore[return-value]


def union_box(boxes) -> Box:
    return tuple(slice(min(b[k].start for b in boxes), max(b[k].stop for b in boxes))
                 for k in range(3))  # type: ignore[return-value]


def offset(box: Box) -> np.ndarray:
    return np.array([b.start for b in box], dtype=np.int64)


def label_boxes(veins: np.ndarray) -> dict[str, Box]:
    """Bounding box of every segment present in ``veins``."""
    objs = ndimage.find_objects(veins, max_label=max(LABELS.values()))
    return {NAMES_BY_LABEL[i + 1]: b for i, b in enumerate(objs) if b is not None}


def find_contacts(veins: np.ndarray, boxes: dict[str, Box]) -> dict[str, Contact]:
    """Contact of each present segment with the present segment it drains into."""
    out: dict[str, Contact] = {}
    ball = np.ones((3, 3, 3), dtype=bool)
    for child, box in boxes.items():
        parent = DRAINS_INTO.get(child)
        if parent is None or parent not in boxes:
            continue
        g = grow(box, veins.shape, 1)
        crop = veins[g]
        near_parent = ndimage.binary_dilation(crop == LABELS[parent], structure=ball)
        vox = np.argwhere((crop == LABELS[child]) & near_parent)
        if len(vox):
            out[child] = Contact(child, parent, vox + offset(g))
    return out


def patient_z_mm(grid: Volume, box: Box) -> np.ndarray:
    """Patient z (LPS, mm) of every voxel of ``box`` (broadcast (Z, Y, X) float array)."""
    a = grid.affine
    k, j, i = np.ogrid[box[0], box[1], box[2]]
    return (a[2, 3] + a[2, 0] * k + a[2, 1] * j + a[2, 2] * i).astype(np.float64)


def lps_to_box_affine(grid: Volume, box: Box) -> np.ndarray:
    """4x4 mapping LPS (x, y, z, 1) mm to indices (z, y, x, 1) of ``box``."""
    inv = np.linalg.inv(grid.affine)
    inv[:3, 3] -= offset(box)
    return inv


def trace_segment(
    name: str,
    veins: np.ndarray,
    defects: np.ndarray,
    grid: Volume,
    box: Box,
    contact: Contact | None,
    tributaries: list[Contact],
    *,
    step_mm: float,
    smoothing_mm: float,
    section_radius_mm: float,
    section_pixel_mm: float,
) -> tuple[SegmentTrace, _Ends]:
    """Centreline (free end -> heart end) and sections of one segment on its own mask.

    The mask is the segment's label closed (:func:`close_within`) over all vein voxels,
    so the bite a tributary painted over it does not push the centreline off-centre.
    """
    sp = grid.spacing_mm
    margin = int(np.ceil(CLOSE_MM / min(sp))) + 1
    g = grow(box, veins.shape, margin)
    off = offset(g)
    crop = veins[g]
    own = crop == LABELS[name]
    volume_ml = float(own.sum()) * grid.voxel_volume_ml
    mask = close_within(own, crop > 0, sp)
    dist = distance_mm(mask, sp)
    dist_own = distance_mm(own, sp)
    reach = max(END_CONTACT_RADII * float(dist_own.max()), END_CONTACT_MIN_MM)
    if contact is not None:
        # free end: farthest from the confluence; heart end: the segment's own tip beyond
        # the contact (a tributary labelled into its parent's lumen ends at its centre).
        local = contact.voxels - off
        depth = geodesic_mm(mask, local, sp)
        free = layer_centre(own, depth, sp)
        free, formed_by = _free_at_end_contacts(own, depth, tributaries, off, sp, free, reach)
        heart = centre_near(own, local, sp)
        if HEART_AT_TIP:
            tip = layer_centre(own, geodesic_mm(own, free[None], sp), sp)
            if np.min(np.linalg.norm((local - tip) * np.asarray(sp), axis=1)) <= HEART_TIP_REACH_MM:
                heart = tip
    else:  # the IVC (or an orphan): start from the most superior centre point
        heart = layer_centre(own, np.broadcast_to(patient_z_mm(grid, g), mask.shape), sp)
        depth = geodesic_mm(mask, heart[None], sp)
        free = layer_centre(own, depth, sp)
        free, formed_by = _free_at_end_contacts(own, depth, tributaries, off, sp, free, reach)
    path = centred_path(dist, free, heart, sp)
    if path is None:  # heart end not reachable from the far end: should not happen
        path = np.array([free])
    to_box = lps_to_box_affine(grid, g)
    pts = grid.index_to_lps(path + off)
    wall = dist_own[tuple(path.T)] - 0.5 * min(sp)
    tol = 0.5 * max(sp)
    shape = np.array(veins.shape)
    # Rounded ends: the centreline ends at the centre of the cap (medial axis); ends cut
    # by the image border are prolonged to the border instead.
    a, b = 0, len(pts)
    on_border = [False, False]
    if len(pts) > 2:
        for k, (q, inward) in enumerate(((pts[0], pts[min(4, len(pts) - 1)]),
                                         (pts[-1], pts[max(-5, -len(pts))]))):
            tip = ray_to_wall(q, q - inward, own, to_box, max_mm=3 * max(sp))
            tip_idx = grid.lps_to_index(tip)
            on_border[k] = bool(np.any((tip_idx <= 0.5) | (tip_idx >= shape - 1.5)))
            if on_border[k] or (k == 1 and contact is not None and not HEART_AT_TIP) \
                    or (k == 0 and bool(formed_by)):
                continue
            if k == 0:
                a = medial_end(pts, wall, tip, tol_mm=tol)
            else:
                b = len(pts) - medial_end(pts[::-1], wall[::-1], tip, tol_mm=tol)
    if b - a < 2:
        a, b = 0, len(pts)
    fine = smooth_polyline(pts[a:b], smoothing_mm=smoothing_mm)
    fine = extend_to_wall(fine, mask, to_box, start=on_border[0], end=on_border[1],
                          max_mm=3 * max(grid.spacing_mm))
    s, p, t, length = resample(fine, step_mm=step_mm)
    radii = section_radii(dist, to_box, p, step_mm=step_mm, max_radius_mm=section_radius_mm)
    sec = measure_sections(mask, defects[g] & mask, lps_to_index_affine=to_box,
                           points_lps_mm=p, tangents_lps=t, radius_mm=radii,
                           pixel_mm=section_pixel_mm, max_radius_mm=section_radius_mm)
    conf_s = [length] if contact is not None else []
    for trib in tributaries:
        c = grid.index_to_lps(trib.centre_idx)
        if len(p):
            conf_s.append(float(s[np.argmin(np.linalg.norm(p - c, axis=1))]))
    dconf = (np.min(np.abs(s[:, None] - np.asarray(conf_s)[None, :]), axis=1)
             if conf_s and len(s) else np.full(len(s), np.inf))
    eqd = sec["equivalent_diameter_mm"]
    with np.errstate(invalid="ignore"):
        inner = (s >= eqd / 2) & (length - s >= eqd / 2) & np.isfinite(eqd)
    vals = eqd[inner] if inner.any() else eqd[np.isfinite(eqd)]
    mean_d = float(vals.mean()) if len(vals) else float("nan")
    prof = Profile(s_mm=s, points_lps_mm=p, tangents_lps=t,
                   segment=np.full(len(s), name, dtype="<U32"), dist_to_confluence_mm=dconf, **sec)
    conf_lps = None
    if contact is not None:
        conf_lps = tuple(float(v) for v in grid.index_to_lps(contact.centre_idx))
    seg = SegmentTrace(name=name, label=LABELS[name], volume_ml=volume_ml, length_mm=length,
                       mean_diameter_mm=mean_d, profile=prof,
                       drains_into=contact.parent if contact is not None else None,
                       confluence_lps_mm=conf_lps)  # type: ignore[arg-type]
    return seg, _Ends(heart_idx=heart + off, free_idx=free + off, fine_lps=fine,
                       formed_by=formed_by, mask=mask, box=g)


def _free_at_end_contacts(own: np.ndarray, depth: np.ndarray, tributaries: list[Contact],
                          off: np.ndarray, sp, free: np.ndarray, reach_mm: float) -> tuple[np.ndarray, tuple[str, ...]]:
    """The free end of a segment, moved to the centre of the tributaries joining it end to end.

    ``depth`` is the geodesic distance (mm) from the segment's heart end; tributaries whose
    contacts lie within ``reach_mm`` of the deepest own voxel join at that end when there
    are at least two of them.

    Returns
    -------
    (3,) int index of the free end (in the box), and the tributaries forming the segment
    there (empty when its free end is not such a confluence).
    """
    ok = own & np.isfinite(depth)
    if not tributaries or not ok.any():
        return free, ()
    dmax = float(depth[ok].max())
    shape = np.array(own.shape)
    at_end = []
    for trib in tributaries:
        vox = trib.voxels - off
        vals = []
        for axis in range(3):
            for step in (-1, 1):
                q = vox.copy()
                q[:, axis] += step
                q = q[np.all((q >= 0) & (q < shape), axis=1)]
                sel = tuple(q.T)
                v = depth[sel][own[sel]]
                vals.append(v[np.isfinite(v)])
        v = np.concatenate(vals)
        if len(v) and dmax - float(np.median(v)) <= reach_mm:
            at_end.append(trib)
    if len(at_end) < 2:  # one branch near the end is a side branch, not a confluence
        return free, ()
    vox = np.concatenate([t.voxels for t in at_end]) - off
    return centre_near(own, vox, sp), tuple(t.child for t in at_end)


def segment_graph(segments: list[SegmentTrace]) -> nx.Graph:
    """Undirected graph of the segments present, joined at their confluences."""
    g = nx.Graph()
    for s in segments:
        g.add_node(s.name, label=s.label, length_mm=s.length_mm,
                   centreline_lps_mm=s.profile.points_lps_mm)
    for s in segments:
        if s.drains_into is not None:
            g.add_edge(s.name, s.drains_into, confluence_lps_mm=s.confluence_lps_mm)
    return g
