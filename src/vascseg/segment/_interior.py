"""Building blocks of the vein interior (:func:`vascseg.segment.defects.vein_interior`).

Local lumen level and the half-contrast boundary, hypodense pockets bounded by fat,
closing-envelope connectors, organ partial volume. Arrays are (z, y, x) on one grid.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ._distance import edt_mm as _edt_mm
from ._distance import inside_mm, within_mm

LEVEL_SIGMA_MM = 3.0
"""Scale of the local lumen level (normalised convolution of the lumen's inner voxels)."""


def lumen_level_map(lum: np.ndarray, img: np.ndarray, spacing_mm) -> tuple[np.ndarray, np.ndarray]:
    """Local enhanced-lumen level around each voxel, and the weight it rests on (0..1).

    A normalised Gaussian convolution of the lumen's inner voxels (its edge is partial
    volume), :data:`LEVEL_SIGMA_MM` wide.
    """
    sp = np.asarray(spacing_mm, float)
    inner = ndi.binary_erosion(lum)
    sig = LEVEL_SIGMA_MM / sp
    num = ndi.gaussian_filter(np.where(inner, img, 0).astype(np.float32), sig)
    den = ndi.gaussian_filter(inner.astype(np.float32), sig)
    return num / np.maximum(den, 1e-3), den


def split_edge(lum: np.ndarray, defect: np.ndarray, img: np.ndarray, mid: np.ndarray,
                layers: int = 2, *, into_lumen: bool = False) -> np.ndarray:
    """Give lumen edge voxels next to a defect to the defect when darker than ``mid`` (the
    half-contrast level between lumen and defect: partial volume puts the boundary there,
    not at the fixed lumen threshold the lumen was grown with); with ``into_lumen``, give
    defect voxels next to the lumen at least as bright to the lumen instead (the wall votes
    fill a crescent thinner than the smoothing kernel, which dims it: ``img`` is then best
    the unsmoothed image). The new lumen is returned."""
    st = ndi.generate_binary_structure(3, 1)
    out = lum.copy()
    d = defect.copy()
    for _ in range(layers):
        if into_lumen:
            edge = d & ndi.binary_dilation(out, st) & (img >= mid)
            out |= edge
            d &= ~edge
        else:
            edge = out & ndi.binary_dilation(d, st) & (img < mid)
            out &= ~edge
            d |= edge
        if not edge.any():
            break
    return out


def bright_pieces(cand: np.ndarray, img: np.ndarray, max_median: float) -> np.ndarray:
    """Components of ``cand`` whose median intensity is above ``max_median``: partial volume
    of an enhancing organ next to the lumen, not a filling defect."""
    return _pieces_where(cand, img, lambda med: med > max_median)


def dark_pieces(cand: np.ndarray, img: np.ndarray, min_median: float) -> np.ndarray:
    """Components of ``cand`` whose median intensity is below ``min_median`` (T1 MR: muscle
    beside a vein, darker than a cord)."""
    return _pieces_where(cand, img, lambda med: med < min_median)


def _pieces_where(cand: np.ndarray, img: np.ndarray, test) -> np.ndarray:
    """Components (26-connected) of ``cand`` whose median intensity passes ``test``."""
    lab, n = ndi.label(cand, structure=np.ones((3, 3, 3)))
    if n == 0:
        return np.zeros_like(cand)
    on = lab > 0
    med = np.atleast_1d(ndi.median(img[on], lab[on], np.arange(1, n + 1)))
    hit = np.flatnonzero(test(med)) + 1
    return np.isin(lab, hit) if len(hit) else np.zeros_like(cand)


def holding(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Components of ``mask`` (26-connected) holding a ``seed`` voxel."""
    lab, _ = ndi.label(mask, structure=np.ones((3, 3, 3)))
    ids = np.unique(lab[seed & mask])
    return np.isin(lab, ids[ids > 0])


def crop(mask: np.ndarray, margin_vox) -> tuple[slice, ...]:
    sl = ndi.find_objects(mask.astype(np.uint8))[0]
    return tuple(slice(max(s.start - m, 0), min(s.stop + m, n))
                 for s, m, n in zip(sl, margin_vox, mask.shape, strict=True))


POCKET_EXTENT_MM = 20.0
"""A pocket lies within this distance of the lumen everywhere (the far side of a defect
against the wall of an IVC is about 1.6 radii from the crescent)."""

POCKET_CONTACT = 0.3
"""At least this fraction of a pocket's surface touches the lumen (a defect is wrapped by
its crescent; an ovary or a bowel loop next to a vein barely touches it)."""

POCKET_MIN_DEPTH_MM = 2.5
"""A pocket's deepest voxel lies at least this far from its edge (it is at least ~5 mm
across): a nook a voxel or two wide between a vein and tissue beside it (the liver's or a
muscle's partial-volume edge) is no filling defect."""


def pockets(soft: np.ndarray, lumen: np.ndarray, spacing_mm, *, max_extent_mm: float,
            min_contact: float, min_depth_mm: float = 0.0) -> np.ndarray:
    """Hypodense pockets against the lumen: soft tissue bounded by lumen and fat.

    Thin shells (partial-volume rims) are peeled off first (one 6-connected erosion); a
    remaining component is a pocket when all of it lies within ``max_extent_mm`` of the
    lumen and at least ``min_contact`` of its surface touches the lumen. The pocket is the
    component grown back by one voxel within ``soft``, kept when its deepest voxel lies at
    least ``min_depth_mm`` from its edge.
    """
    st6 = ndi.generate_binary_structure(3, 1)
    core = ndi.binary_erosion(soft, st6)
    lab, n = ndi.label(core, structure=np.ones((3, 3, 3)))
    if n == 0:
        return np.zeros_like(soft)
    dist = _edt_mm(~lumen, spacing_mm)
    on = lab > 0
    far = ndi.maximum(dist[on], lab[on], index=np.arange(1, n + 1))
    # surface of each core component (grown back by one voxel), and how much of it is lumen
    grown = ndi.grey_dilation(lab, footprint=st6)
    shell = (grown > 0) & (lab == 0)
    near_lumen = ndi.binary_dilation(lumen, st6)
    surf = np.bincount(grown[shell], minlength=n + 1)[1:]
    touch = np.bincount(grown[shell & near_lumen & ~lumen], minlength=n + 1)[1:] \
        + np.bincount(grown[shell & lumen], minlength=n + 1)[1:]
    contact = touch / np.maximum(surf, 1)
    keep = np.flatnonzero((np.asarray(far) <= max_extent_mm) & (contact >= min_contact)) + 1
    if not len(keep):
        return np.zeros_like(soft)
    sel = np.isin(lab, keep)
    grown = (ndi.binary_dilation(sel, st6) & soft) | sel
    if min_depth_mm <= 0:
        return grown
    parts, m = ndi.label(grown, structure=np.ones((3, 3, 3)))
    depth = ndi.maximum(_edt_mm(grown, spacing_mm), parts, index=np.arange(1, m + 1))
    return np.isin(parts, np.flatnonzero(np.asarray(depth) >= min_depth_mm) + 1)


def connectors(fill: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Components of ``fill`` touching at least two components of ``base`` (26-connected).

    The closing envelope also fills the crotch of every bifurcation; only where it joins
    lumen pieces that are otherwise apart (across a defect the tube model missed) is it kept.
    """
    full = np.ones((3, 3, 3), bool)
    lb, nb = ndi.label(base, structure=full)
    lf, nf = ndi.label(fill, structure=full)
    if nb < 2 or nf == 0:
        return np.zeros_like(fill)
    # only fill voxels touching base matter (far fewer than the whole fill on big grids)
    idx = np.argwhere(fill & ndi.binary_dilation(base, full))
    if len(idx) == 0:
        return np.zeros_like(fill)
    hi = np.asarray(fill.shape) - 1
    pairs = []
    for off in np.ndindex(3, 3, 3):
        if off == (1, 1, 1):
            continue
        nb_idx = idx + (np.asarray(off) - 1)
        ok = np.all((nb_idx >= 0) & (nb_idx <= hi), axis=1)
        b = lb[tuple(nb_idx[ok].T)]
        f = lf[tuple(idx[ok].T)]
        pairs.append(np.stack([f[b > 0], b[b > 0]], axis=1))
    p = np.unique(np.concatenate(pairs), axis=0)
    n_touch = np.bincount(p[:, 0], minlength=nf + 1)
    keep = np.flatnonzero(n_touch >= 2)
    return np.isin(lf, keep) if len(keep) else np.zeros_like(fill)


def _section_width_mm(component: np.ndarray, spacing_mm) -> float:
    """The median over its slices of ``component``'s in-plane extent (bounding-box diagonal,
    mm): where it merges with a junction a slice or two are wider."""
    widths = []
    for k in np.flatnonzero(component.any(axis=(1, 2))):
        ys, xs = (np.flatnonzero(component[k].any(axis=a)) for a in (1, 0))
        widths.append(np.hypot((ys[-1] - ys[0] + 1) * spacing_mm[1], (xs[-1] - xs[0] + 1) * spacing_mm[2]))
    return float(np.median(widths))


def crescent_links(bright: np.ndarray, tree: np.ndarray, pieces: np.ndarray, spacing_mm, *,
                   max_half_thickness_mm: float, max_width_mm: float, avoid: np.ndarray | None = None,
                   clearance_mm: float = 0.0) -> np.ndarray:
    """Thin components of ``bright`` (enhanced voxels in neither) touching both ``tree`` and
    a ``pieces`` voxel, or two pieces (26-connected).

    The contrast crescent around a cord is no tube: where it runs farther than the vessel
    core's reach from any tube, the vessel mask breaks and the vein beyond is a piece cut off
    from the tree, though its lumen runs on, dimmed by partial volume, around the cord. A
    crescent is thin: bright parts where a ball of ``max_half_thickness_mm`` fits (organs,
    marrow), and a margin of one in-plane voxel around them, are no link; nor are voxels
    within ``clearance_mm`` of ``avoid`` (arteries), nor a component whose slices are typically
    (median) wider than ``max_width_mm`` (a vein's cross-section; the partial-volume shell of
    an organ, a sheet of bowel wall are wider).
    """
    full = np.ones((3, 3, 3), bool)
    out = np.zeros_like(bright)
    cand = bright & ~tree & ~pieces
    if not cand.any() or not pieces.any():
        return out
    # only components touching a piece can link one: the rest of the work in their box
    lab, _ = ndi.label(cand, structure=full)
    near = np.unique(lab[ndi.binary_dilation(pieces, full) & cand])
    near = near[near > 0]
    if not len(near):
        return out
    sp = np.asarray(spacing_mm, float)
    margin = [int(np.ceil((max_half_thickness_mm + clearance_mm) / s)) + 2 for s in sp]
    sl = crop(np.isin(lab, near), margin)
    cand = np.isin(lab[sl], near)
    del lab
    thick = inside_mm(cand, max_half_thickness_mm, sp)
    if thick.any():
        cand &= ~within_mm(thick, max_half_thickness_mm + float(np.min(sp[1:])), sp)
    if avoid is not None and clearance_mm > 0 and avoid[sl].any():
        cand &= ~within_mm(avoid[sl], clearance_mm, sp)
    lab, n = ndi.label(cand, structure=full)
    if n == 0:
        return out
    on_tree = np.unique(lab[ndi.binary_dilation(tree[sl], full) & cand])
    # a crescent may also link two pieces (the tree reaches the nearer one only by a bridge
    # through an occlusion, found later): the highest and lowest piece label beside each of
    # its voxels tell one piece from two
    plab, _ = ndi.label(pieces[sl], structure=full)
    big = np.iinfo(np.int32).max
    hi = ndi.grey_dilation(plab, footprint=full)
    lo = ndi.grey_erosion(np.where(plab > 0, plab, big), footprint=full)
    at = cand & (hi > 0)
    touched = np.unique(np.concatenate([np.stack([lab[at], hi[at]]), np.stack([lab[at], lo[at]])], axis=1), axis=1)
    on_piece, n_pieces = np.unique(touched[0], return_counts=True)
    two_pieces = on_piece[n_pieces >= 2]
    boxes = ndi.find_objects(lab)
    keep = [i for i in np.union1d(np.intersect1d(on_tree, on_piece), two_pieces) if i > 0
            and _section_width_mm(lab[boxes[i - 1]] == i, sp) <= max_width_mm]
    if keep:
        out[sl] = np.isin(lab, keep)
    return out
