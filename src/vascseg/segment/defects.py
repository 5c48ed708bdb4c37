"""Vein interior (lumen + filling defects) and the defects themselves.

A filling defect is hypodense tissue *inside* the vein: the enhanced lumen is a crescent
around it, or the vein is filled for a stretch between two enhanced stumps (complete
occlusion). Soft tissue next to a vein but outside it (bowel wall, muscle, uterus, ovary)
is not inside the vessel's round cross-section, so it is not a defect.

:func:`vein_interior` models the vessel from its wall (radial voting, :mod:`._tubes`),
so the part of a wall-adherent defect that borders fat or muscle directly is found too;
the closing envelope (:func:`vein_envelope`, an exact Euclidean closing in mm) only
decides connectivity. :func:`defects_in` cleans the result.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ._bridge import PIECE_LEVEL_MAX, bridge_pieces
from ._cords import follow_cords_down
from ._distance import IN_PLANE_4, within_mm
from ._distance import edt_mm as _edt_mm
from ._interior import (
    POCKET_CONTACT,
    POCKET_EXTENT_MM,
    POCKET_MIN_DEPTH_MM,
    bright_pieces,
    connectors,
    crescent_links,
    crop,
    dark_pieces,
    holding,
    lumen_level_map,
    pockets,
    split_edge,
)
from ._ivc import GAP_MAX_MM, follow_ivc_up, follow_occluded_ivc_down, follow_occluded_ivc_up
from ._tubes import fill_cores, fill_tubes, vote_centres


def closing_mm(mask: np.ndarray, radius_mm: float, spacing_mm) -> np.ndarray:
    """Binary closing by a ball of ``radius_mm`` (exact Euclidean, anisotropic voxels)."""
    if not mask.any():
        return mask.copy()
    pad = [int(np.ceil(radius_mm / s)) + 1 for s in spacing_mm]
    m = np.pad(mask, [(p, p) for p in pad])
    dil = _edt_mm(~m, spacing_mm) <= radius_mm
    clo = _edt_mm(dil, spacing_mm) > radius_mm
    return clo[pad[0]:-pad[0], pad[1]:-pad[1], pad[2]:-pad[2]]


def vein_envelope(lumen: np.ndarray, smooth: np.ndarray, spacing_mm, *, radius_mm: float,
                  defect_min: float, defect_max: float, avoid: np.ndarray | None = None) -> np.ndarray:
    """Lumen plus the soft-tissue voxels inside its concavities (bool, same shape).

    ``avoid``: voxels (arteries) the envelope must not take, nor any voxel nearer to them
    than to ``lumen``.
    """
    if not lumen.any():
        return lumen.copy()
    sl = ndi.find_objects(lumen.astype(np.uint8))[0]
    margin = [int(np.ceil(radius_mm / s)) + 1 for s in spacing_mm]
    sl = tuple(slice(max(s.start - m, 0), min(s.stop + m, n))
               for s, m, n in zip(sl, margin, lumen.shape, strict=True))
    lum = lumen[sl]
    closed = closing_mm(lum, radius_mm, spacing_mm)
    soft = (smooth[sl] >= defect_min) & (smooth[sl] < defect_max)
    add = closed & soft
    if avoid is not None and avoid[sl].any():
        nearer_artery = _edt_mm(~avoid[sl], spacing_mm) < _edt_mm(~lum, spacing_mm)
        add &= ~nearer_artery & ~avoid[sl]
    env = lum | add
    # partial-volume rim between lumen and fat is not a defect but is vessel
    out = np.zeros_like(lumen)
    out[sl] = env
    return out


MIN_COVER = 2
"""Where soft tissue around veins is as dense as a defect (CT: muscle), a voxel outside the
lumen is vessel interior only on at least this many wall voxels' diameters (a lone stray
diameter into muscle is not a defect)."""

ARTERY_CLEARANCE_MM = 2.0
"""Enhanced voxels this close to an artery never link a vein piece to the tree (the
partial-volume band where an artery touches a vein is as bright as a dimmed crescent)."""

CRESCENT_HALF_THICKNESS_MM = 3.0
"""A crescent linking a vein piece to the tree holds no voxel deeper than this inside it (a
vein's whole lumen there would have been a tube)."""

FAT_SHELL_MM = (1.5, 3.0)
"""T1 MR: the fat level is measured this far (mm) outside the lumen (past its partial-volume
rim)."""

MARGIN_VOX = 1.0
"""Diameters run this many in-plane voxels past twice the radius: a wall voxel lies inside
the lumen edge, about half a voxel from the wall, on both sides."""


def vein_interior(lumen: np.ndarray, smooth: np.ndarray, spacing_mm, *, ivc_seed: np.ndarray,
                  radius_mm: float, defect_min: float, defect_max: float,
                  lumen_min: float | None = None, max_bridge_mm: float = 0.0,
                  avoid: np.ndarray | None = None,
                  solid: np.ndarray | None = None,
                  raw: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Vein interior (lumen + filling defects) of the tree holding the IVC, and its lumen.

    1. The IVC is followed up where it runs against the liver (:mod:`._ivc`).
    2. The vessel interior is modelled from the lumen wall by radial voting
       (:mod:`._tubes`): hypodense voxels inside it are filling defects, including the part
       of a wall-adherent defect that borders fat or muscle directly. On CT, hypodense
       pockets against the lumen bounded by fat count too (:func:`._interior.pockets`), and
       the defect's sectors beside its crescent are filled from its core
       (:func:`._tubes.fill_cores`) once the tree is known.
    3. The tree is what this interior and the closing envelope (:func:`vein_envelope`)
       connect to ``ivc_seed``; lumen pieces cut off by a complete occlusion are joined
       through hypodense tubes (:mod:`._bridge`); a vein a cord fills below the tree's
       defect (the cord's vein of origin) is followed down (:mod:`._cords`).
    4. Lumen edge voxels darker than half-way between the local lumen level and the
       defect level go to the defect (partial volume); hypodense components as bright as
       organ partial volume are dropped; closing-envelope voxels stay only where they join
       pieces the interior leaves apart; on T1 MR the completed lumen's walls vote again for
       the cords they wrap (:func:`_mr_cords`); enclosed cavities are filled.

    Parameters
    ----------
    lumen : (Z, Y, X) bool
        Enhanced vessels that are not arteries.
    smooth : (Z, Y, X) float
        Smoothed image, pseudo-HU.
    ivc_seed : (Z, Y, X) bool
        Voxels known to be IVC.
    radius_mm : float
        Largest vein radius expected (closing ball, votes).
    defect_min, defect_max : float
        Window of filling-defect intensities (pseudo-HU).
    lumen_min : float, optional
        The lumen threshold (default ``defect_max``). Above ``defect_max`` (T1 MR: fat
        lies between the defect window and the lumen) the vessel interior holds anything
        darker than half-way to the lumen; muscle, as dense as a defect on CT, is then
        out of the window, and pockets are not sought.
    max_bridge_mm : float
        Longest complete occlusion bridged (0: none).
    avoid : (Z, Y, X) bool, optional
        Arteries: never vein interior.
    solid : (Z, Y, X) bool, optional
        Bone and solid organs: enhanced voxels there never link a vein piece to the tree.
    raw : (Z, Y, X) float, optional
        The unsmoothed image: a defect voxel next to the lumen at least half-way between
        the lumen and defect levels on it is lumen (:func:`split_edge`).

    Returns
    -------
    (envelope, lumen) : bool masks; ``envelope & ~lumen`` are the defect candidates.
    """
    sp = np.asarray(spacing_mm, float)
    if not lumen.any():
        return lumen.copy(), lumen.copy()
    # the IVC's top, lost where it runs against the liver; first, a stretch of it filled by
    # a cord right above the enhanced IVC found (a complete occlusion)
    lumen_min = defect_max if lumen_min is None else lumen_min
    d_level = 0.5 * (defect_min + defect_max)
    top_median = 0.5 * (d_level + lumen_min)
    allowed = None if avoid is None else ~avoid
    occluded = follow_occluded_ivc_up(ivc_seed, smooth, sp, window=(defect_min, top_median), lumen_min=lumen_min,
                                      cord_max=defect_max, allowed=allowed)
    seed_level = float(np.median(smooth[ivc_seed])) if occluded.any() else None
    # (a narrowed section above enhanced lumen is a defect's tip the envelope closes over;
    # right above a cord-filled stretch it is the cord's tip filling most of the section)
    lumen = lumen | follow_ivc_up(occluded if occluded.any() else ivc_seed, smooth, sp, allowed=allowed,
                                  min_level=lumen_min, level=seed_level,
                                  gap_mm=0.0 if occluded.any() else GAP_MAX_MM)
    # and the cord filling its lower part, through which the iliac veins may join it
    # (whose level is a defect's: on T1 MR, soft tissue of the body's median intensity lies
    # between the defect window and top_median, and fills the pelvis below the confluence)
    occluded = occluded | follow_occluded_ivc_down(ivc_seed, smooth, sp, window=(defect_min, top_median),
                                                   cord_max=defect_max, lumen_min=lumen_min,
                                                   allowed=allowed)
    env_all = vein_envelope(lumen, smooth, sp, radius_mm=radius_mm, defect_min=defect_min,
                            defect_max=defect_max, avoid=avoid)
    sl = crop(lumen | occluded, [int(np.ceil(2 * radius_mm / s)) + 2 for s in sp])
    lum = lumen[sl]
    img = smooth[sl]
    # hypodense = between the defect floor and half-way from the defect level to the local
    # lumen level (organs enhancing near the lumen level are not defects)
    level, weight = lumen_level_map(lum, img, sp)
    mid = np.where(weight > 0.05, 0.5 * (level + d_level), defect_max)
    hypo = (img >= defect_min) & (img < np.minimum(mid, lumen_min))
    soft = hypo & (img < defect_max)
    if avoid is not None:
        hypo &= ~avoid[sl]
        soft &= ~avoid[sl]
    # CT: the hypodense window runs up to the lumen threshold and holds muscle and bowel
    # wall too; T1 MR: fat lies between the defect window and the lumen, muscle below it
    ct_like = lumen_min <= defect_max

    def crescents(tree: np.ndarray, pieces: np.ndarray) -> np.ndarray:
        """Crescents linking ``pieces`` to ``tree`` (:func:`crescent_links`); a thin crescent
        is dimmed by partial volume, so it is enhanced from half-way between the lumen
        threshold and the cord's upper bound (CT: ~100 HU, above muscle)."""
        enhanced = img >= 0.5 * (lumen_min + top_median)
        if solid is not None:
            enhanced &= ~solid[sl]
        return crescent_links(enhanced, tree, pieces, sp, max_half_thickness_mm=CRESCENT_HALF_THICKNESS_MM,
                              max_width_mm=2 * radius_mm, avoid=None if avoid is None else avoid[sl],
                              clearance_mm=ARTERY_CLEARANCE_MM)

    if ct_like:
        # a crescent the vessel mask lost between the tree and a piece of the vein beyond:
        # its wall votes like the rest of the lumen, so the cord it wraps is filled (a cord
        # as dense as the muscle around it leaves no hypodense tube to bridge through)
        reached = holding(lum | env_all[sl] | occluded[sl], ivc_seed[sl])
        lum = lum | crescents(reached, lum & ~reached)
    passable = hypo | lum
    votes = vote_centres(lum, img, sp, passable=passable, r_max_mm=radius_mm,
                         exclude=env_all[sl] & ~lum)
    interior = fill_tubes(votes, lum, sp, passable=passable, margin_mm=MARGIN_VOX * float(np.mean(sp[1:])),
                          min_cover=MIN_COVER if ct_like else 1)
    base = lum | (interior & hypo)
    if ct_like:
        # pockets are bounded by darker fat (not on T1 MR)
        base |= pockets(soft & ~lum, lum, sp, max_extent_mm=POCKET_EXTENT_MM, min_contact=POCKET_CONTACT,
                        min_depth_mm=POCKET_MIN_DEPTH_MM)
    base |= occluded[sl]
    closed = env_all[sl]
    seed = ivc_seed[sl]
    tree = holding(base | closed, seed)
    if max_bridge_mm > 0:
        t_level = float(np.percentile(img[lum & tree], 75)) if (lum & tree).any() else None
        joined, bridged, _ = bridge_pieces(tree, lum & ~tree, soft, sp, max_bridge_mm=max_bridge_mm,
                                           max_radius_mm=radius_mm, image=img, lumen_level=t_level,
                                           lumen_min=lumen_min, stump_interior=base, tissue_max=top_median,
                                           piece_level_max=PIECE_LEVEL_MAX if ct_like else None)  # T1: no marrow
        if joined.any():
            seed = seed | joined
            tree = holding(base | closed | bridged, seed)
    else:
        bridged = np.zeros_like(lum)
    # the vein of origin a cord fills, below the tree's defect (no enhanced tube there; a
    # nook the closing filled against bone is no defect: tissue beneath it is no cord)
    barred = (np.zeros_like(lum) if avoid is None else avoid[sl]) | (False if solid is None else solid[sl])
    nooks = closed & ~base & ~bridged
    if solid is not None:
        nooks = off_solid(nooks, solid[sl])
    # (not, on T1 MR, from pieces darker than the defect level: muscle beside a vein, which
    # the defect window's lower half holds, is no cord)
    seeds = (base | nooks | bridged) & ~lum & tree
    if not ct_like:
        seeds &= ~dark_pieces(seeds, img, d_level)
    cords = follow_cords_down(seeds, tree, img, sp,
                              window=(defect_min, min(defect_max, top_median)), max_radius_mm=radius_mm,
                              allowed=~barred, window_max=top_median)
    if cords.any():
        base |= cords
        tree = holding(base | closed | bridged, seed)
    if not ct_like:
        # T1 MR: a crescent links a piece no bridge reached (after the bridges, whose tube
        # fills the cord the crescent wraps; the wall votes do not, their window holding fat)
        links = crescents(tree, lum & ~tree)
        if links.any():
            lum |= links
            base |= links
            tree = holding(base | closed | bridged, seed)
    base &= tree
    if ct_like:
        # the sectors of a wall-adherent defect beside its crescent, where it borders muscle,
        # widen the tree's defects (not its course: added once the tree is known). Not on T1
        # MR: its hypodense window holds fat, so rays from a core would not stop at the
        # vessel's edge
        cores = fill_cores(votes, lum, sp, passable=passable, min_cover=MIN_COVER,
                           margin_mm=0.5 * MARGIN_VOX * float(np.mean(sp[1:]))) & hypo & ~interior
        if cores.any():
            base |= holding(base | cores, base) & cores
    lum = lum & tree
    if (base & ~lum).any():
        lum = split_edge(lum, base & ~lum, img, mid)
    base &= ~bright_pieces(base & ~lum, img, top_median)
    base |= bridged & tree
    if raw is not None and (base & ~lum).any():
        # (after the bright pieces are dropped: their brightest voxels would otherwise turn
        # lumen first and the darker rest pass for a defect)
        lum = split_edge(lum, base & ~lum, raw[sl], mid, into_lumen=True)
    # a closing fills the nook between a vein's wall and bone or an organ beside it too: a
    # link touching solid tissue is bounded by it, not by the vein (the whole link: it may
    # run along muscle to the bone's lumen-bright partial-volume rim)
    links = connectors(tree & closed & ~base, base)
    if solid is not None:
        links = off_solid(links, solid[sl])
    # a link as bright as enhanced lumen is lumen (it joins lumen pieces the tube model
    # left apart); one as bright as an organ's partial volume is neither lumen nor defect
    bright = bright_pieces(links, img, top_median)
    # (lumen_links lie among the bright ones whenever the defect level is below the lumen's)
    lumen_links = bright_pieces(bright if top_median <= lumen_min else links, img, lumen_min)
    lum |= lumen_links
    inside = base | lumen_links | (links & ~bright)
    if not ct_like:
        below = (img >= defect_min) & (img < lumen_min)
        if avoid is not None:
            below &= ~avoid[sl]
        inside |= _mr_cords(lum, inside, img, sp, below=below, cord_max=defect_max,
                            radius_mm=radius_mm, exclude=env_all[sl] & ~lum)
    # voxels the vein encloses entirely (noise in the lumen) are vein: a cavity would split
    # the skeleton that names the tree into parallel strands
    cavities = ndi.binary_fill_holes(inside) & ~inside
    lum |= cavities & (img >= mid)
    env = np.zeros_like(lumen)
    env[sl] = inside | cavities
    lum_out = np.zeros_like(lumen)
    lum_out[sl] = lum
    return env, lum_out


def fat_level(lumen: np.ndarray, image: np.ndarray, spacing_mm, *, below: np.ndarray,
              floor: float) -> float | None:
    """T1 MR: the fat around the veins, the median of the voxels of ``below`` at or above
    ``floor`` 1.5-3 mm outside ``lumen`` (past its partial-volume rim); None without such
    voxels."""
    sp = np.asarray(spacing_mm, float)
    shell = within_mm(lumen, FAT_SHELL_MM[1], sp) & ~within_mm(lumen, FAT_SHELL_MM[0], sp) & below
    shell &= image >= floor
    return float(np.median(image[shell])) if shell.any() else None


def cord_ceiling(cord_max: float, fat_hu: float) -> float:
    """T1 MR: the upper bound of a cord's intensity, half-way between the defect window's top
    (``cord_max``) and the fat around the veins. Partial volume between the lumen and that
    fat is brighter than the fat: nothing this dark is."""
    return 0.5 * (cord_max + fat_hu)


def cord_top(lumen: np.ndarray, image: np.ndarray, spacing_mm, *, below: np.ndarray,
             cord_max: float) -> float | None:
    """T1 MR: :func:`cord_ceiling` with the fat around ``lumen`` (:func:`fat_level` above
    the window); None without such fat."""
    fat = fat_level(lumen, image, spacing_mm, below=below, floor=cord_max)
    return None if fat is None else cord_ceiling(cord_max, fat)


RIM_LAYERS = 2
"""T1 MR: a defect grows by at most this many voxel layers into its partial-volume rim."""

RIM_LOW_FRACTION = 0.25
"""...through voxels no darker than the defect's level by this fraction of the fat/defect
contrast (darker: muscle, or its partial volume with fat)."""


def defect_rims(defects: np.ndarray, veins: np.ndarray, image: np.ndarray, *, fat_hu: float,
                barred: np.ndarray | None = None,
                layers: int = RIM_LAYERS) -> tuple[np.ndarray, np.ndarray]:
    """T1 MR: a defect's partial-volume rim where it borders fat directly (same shapes back).

    The lumen's edge is found at half its contrast with the fat (:func:`grow_half_max`); a
    cord darker than the fat has a low contrast with it, and the vessel interior stops a
    voxel or two inside the wall where the cord, not a crescent, lies against it. Voxels
    outside the veins next to a defect (face neighbours, ``layers`` times) that are nearer
    the defect's level (median of its inner voxels) than the fat's are the rest of it; they
    take the name of the vein they grow from. Voxels darker than the defect's level by
    :data:`RIM_LOW_FRACTION` of the contrast are muscle, never rim; ``barred`` (arteries)
    neither.
    """
    if not defects.any():
        return defects, veins
    box = crop(defects, [layers + 1] * 3)
    d = defects[box]
    inner = ndi.binary_erosion(d, ndi.generate_binary_structure(3, 1))
    img = image[box]
    level = float(np.median(img[inner] if inner.sum() >= 10 else img[d]))
    if fat_hu <= level:
        return defects, veins
    ok = (veins[box] == 0) & (img < 0.5 * (level + fat_hu)) & (img >= level - RIM_LOW_FRACTION * (fat_hu - level))
    if barred is not None:
        ok &= ~barred[box]
    names = np.where(d, veins[box], 0)
    face = ndi.generate_binary_structure(3, 1)
    for _ in range(layers):
        grown = ndi.grey_dilation(names, footprint=face)
        new = ok & (names == 0) & (grown > 0)
        if not new.any():
            break
        names[new] = grown[new]
    added = (names > 0) & ~d
    if not added.any():
        return defects, veins
    defects, veins = defects.copy(), veins.copy()
    defects[box] |= added
    veins[box][added] = names[added]
    return defects, veins


def cord_voxels(image: np.ndarray, window: tuple[float, float] | None) -> np.ndarray | None:
    """Voxels of ``image`` within a cord's intensity ``window`` [lo, hi) (None: no window)."""
    return None if window is None else (image >= window[0]) & (image < window[1])


def _mr_cords(lum: np.ndarray, inside: np.ndarray, img: np.ndarray, sp: np.ndarray, *, below: np.ndarray,
              cord_max: float, radius_mm: float, exclude: np.ndarray) -> np.ndarray:
    """T1 MR: the cords the tree's final lumen wraps, joined to ``inside``.

    The lumen is complete only once crescents and links are in (the first votes saw the
    vessel mask only, and the hypodense window followed its local level, which a vein
    found late lacks); its walls vote again through ``below`` (voxels under the lumen
    threshold that may be vessel interior), and the diameters are kept where darker than
    :func:`cord_top`.
    """
    top = cord_top(lum, img, sp, below=below, cord_max=cord_max)
    if top is None:
        return np.zeros_like(lum)
    passable = below | lum
    votes = vote_centres(lum, img, sp, passable=passable, r_max_mm=radius_mm, exclude=exclude)
    cords = fill_tubes(votes, lum, sp, passable=passable, margin_mm=MARGIN_VOX * float(np.mean(sp[1:])))
    cords &= below & (img < top)
    return holding(inside | cords, inside) & cords


def defects_in(envelope: np.ndarray, lumen: np.ndarray, veins: np.ndarray, spacing_mm, *,
               min_volume_ml: float, min_thickness_mm: float = 1.5,
               dark: np.ndarray | None = None) -> np.ndarray:
    """Defect mask: envelope voxels that are not lumen, inside named veins, cleaned.

    A defect component must hold a core: voxels whose six face neighbours are candidates
    too and which lie deeper than ``min_thickness_mm / 2`` inside it. Shells one or two
    voxels thick have none, whatever the voxel size: partial volume between lumen and fat
    (half lumen, half fat reads like a defect), above all across thick slices at the top
    and bottom of a vein running in the slice plane. Where a voxel is ``dark`` (a cord's
    intensity, which no partial volume of the lumen and the tissue around the veins has: on
    T1 MR, from the defect level up to :func:`cord_ceiling`), its four in-plane neighbours and one
    candidate above or below suffice: a cord in a small vein running in the slice plane
    spans only two or three thick slices (one dark slice is still a sheet). Components
    smaller than ``min_volume_ml`` are dropped.
    """
    cand = envelope & ~lumen & (veins > 0)
    if not cand.any():
        return cand
    sl = ndi.find_objects(cand.astype(np.uint8))[0]
    sl = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(sl, cand.shape, strict=True))
    c = cand[sl]
    core = ndi.binary_erosion(c, ndi.generate_binary_structure(3, 1))
    deep = _edt_mm(c, spacing_mm) > min_thickness_mm / 2.0
    core &= deep
    if dark is not None:
        # in-plane neighbours, and a candidate above or below: two slices at least
        stacked = np.zeros_like(c)
        stacked[1:] |= c[:-1]
        stacked[:-1] |= c[1:]
        core |= ndi.binary_erosion(c, IN_PLANE_4) & stacked & dark[sl] & deep
    lab, n = ndi.label(c, structure=np.ones((3, 3, 3)))
    out = np.zeros_like(cand)
    if n:
        vox_ml = float(np.prod(spacing_mm)) / 1000.0
        sizes = np.bincount(lab.ravel(), minlength=n + 1) * vox_ml
        has_core = np.bincount(lab[core], minlength=n + 1) > 0
        keep = np.flatnonzero(has_core & (sizes >= min_volume_ml))
        keep = keep[keep > 0]
        out[sl] = np.isin(lab, keep)
    return out


def off_solid(fill: np.ndarray, solid: np.ndarray) -> np.ndarray:
    """``fill`` without its components (26-connected) touching ``solid``.

    A closing fills the nook between a vein's wall and bone or an organ beside it too (and
    joins the vein to lumen-bright partial volume at the bone's edge): such a piece of the
    closing envelope is bounded by the solid tissue, not by a vein wall.
    """
    if not fill.any():
        return fill
    full = np.ones((3, 3, 3), bool)
    box = crop(fill, [1, 1, 1])  # the solid voxels next to fill lie in its box + 1
    touch = fill[box] & ndi.binary_dilation(solid[box], full)
    if not touch.any():
        return fill
    lab, _ = ndi.label(fill[box], full)
    out = fill.copy()
    out[box] &= ~np.isin(lab, np.unique(lab[touch]))
    return out
