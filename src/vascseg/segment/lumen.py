"""Enhanced lumen: body and bone masks, big-vessel seeds, vein/artery separation.

Works in "pseudo-HU": CT as is, MR mapped by :func:`normalise_intensity` so that the same
thresholds (``SegmentConfig.ct_*``) apply. All masks are (z, y, x) on the input grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import apply_hysteresis_threshold

from ..geometry import Volume
from ._distance import IN_PLANE_4, elongated, inside_mm, within_mm
from ._distance import edt_mm as _edt_mm
from ._interior import connectors, crop

BODY_MIN_HU = -400.0
"""Voxels above this (pseudo-HU) belong to the body (air is about -1000)."""

CORTICAL_BONE_HU = 650.0
"""Cortical bone; regions it encloses in an axial slice are bone too (cancellous)."""
CORTEX_LOW_HU = 500.0
"""Voxels above this connected to cortical bone are cortex (partial volume of a thin cortex)."""

FAT_HU, VESSEL_HU = -100.0, 180.0
"""Reference levels MR intensities are mapped to (fat and enhanced vessel)."""


def normalise_intensity(volume: Volume, body: np.ndarray | None = None) -> np.ndarray:
    """Float32 pseudo-HU image: CT unchanged; MR mapped robustly to CT-like levels.

    MR: a low-frequency bias field is divided out (median filter on a coarse grid of the
    body), then intensities are mapped linearly so that the body's median soft tissue
    goes to 40 and the 99.5th percentile (enhanced vessels) to :data:`VESSEL_HU`.
    """
    arr = volume.array.astype(np.float32, copy=False)
    if volume.modality != "MR":
        return arr if arr.dtype == np.float32 else arr.astype(np.float32)
    arr = arr.astype(np.float32, copy=True)
    if body is None:
        thr = np.percentile(arr, 60) * 0.3
        body = arr > thr
    # Bias field: smooth the image inside the body on a coarse grid (about 25 mm blocks).
    f = [max(1, int(round(12.0 / s))) for s in volume.spacing_mm]
    coarse = arr[:: f[0], :: f[1], :: f[2]]
    cbody = body[:: f[0], :: f[1], :: f[2]]
    med = np.median(coarse[cbody]) if cbody.any() else 1.0
    filled = np.where(cbody, coarse, med).astype(np.float32)
    sig = [40.0 / (s * ff) for s, ff in zip(volume.spacing_mm, f, strict=True)]
    num = ndi.gaussian_filter(filled * cbody, sig)
    den = ndi.gaussian_filter(cbody.astype(np.float32), sig)
    field_c = np.where(den > 0.05, num / np.maximum(den, 1e-6), med) / med
    zoom = [a / b for a, b in zip(arr.shape, coarse.shape, strict=True)]
    field_full = ndi.zoom(field_c.astype(np.float32), zoom, order=1, mode="nearest")
    field_full = field_full[: arr.shape[0], : arr.shape[1], : arr.shape[2]]
    pad = [(0, arr.shape[i] - field_full.shape[i]) for i in range(3)]
    field_full = np.pad(field_full, pad, mode="edge")
    arr /= np.clip(field_full, 0.3, 3.0)
    vals = arr[body]
    lo, hi = np.percentile(vals, 50), np.percentile(vals, 99.5)
    scale = (VESSEL_HU - 40.0) / max(hi - lo, 1e-6)
    out = (arr - lo) * scale + 40.0
    out[~body] = -1000.0
    return out.astype(np.float32)


def fill_holes_per_slice(mask: np.ndarray) -> np.ndarray:
    """``ndi.binary_fill_holes`` of every axial (z) slice, in one pass: background
    components (4-connected in the slice) not touching the slice's border are holes."""
    lab, n = ndi.label(~mask, structure=IN_PLANE_4)
    if n == 0:
        return mask.copy()
    outside = np.zeros(n + 1, bool)
    for face in (lab[:, 0, :], lab[:, -1, :], lab[:, :, 0], lab[:, :, -1]):
        outside[face] = True
    outside[0] = False  # the mask itself
    return ~outside[lab]


def body_mask(image: np.ndarray) -> np.ndarray:
    """Largest connected region above :data:`BODY_MIN_HU`, holes filled slice by slice."""
    m = image > BODY_MIN_HU
    lab, n = ndi.label(m)
    if n == 0:
        return m
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    m = lab == int(np.argmax(sizes))
    del lab
    return fill_holes_per_slice(m)


MARROW_SPAN_MM = 30.0
"""Bright voxels with cortical bone on both sides along an axis within this span are marrow."""


def _span_within(cort: np.ndarray, axis: int, max_vox: int) -> np.ndarray:
    """Voxels whose nearest cortex before and after along ``axis`` are at most ``max_vox``
    voxels apart (int32 running indices; the cortex voxels themselves included)."""
    n = cort.shape[axis]
    shape = [1, 1, 1]
    shape[axis] = n
    idx = np.arange(n, dtype=np.int32).reshape(shape)
    big = np.int32(10 * n)
    before = np.where(cort, idx, -big)
    np.maximum.accumulate(before, axis=axis, out=before)
    after = np.flip(np.where(cort, idx, 2 * big), axis=axis)
    np.minimum.accumulate(after, axis=axis, out=after)
    after = np.flip(after, axis=axis)
    after -= before
    return after <= max_vox


def bone_mask(smooth: np.ndarray, spacing_mm) -> np.ndarray:
    """Cortical bone and what it encloses (cancellous bone, marrow).

    Enclosed: filled inside a closed cortical ring of an axial slice (vertebral bodies), or
    lying between cortex on both sides along some axis within :data:`MARROW_SPAN_MM`
    (iliac wings, sacrum, where no axial ring closes).
    """
    # a thin cortex (2 mm in the iliac wings) seen in voxels of 1.2-1.8 mm peaks near the
    # threshold: the voxels above the lumen's ceiling connected to clear cortex are cortex too
    cort = apply_hysteresis_threshold(smooth, CORTEX_LOW_HU, CORTICAL_BONE_HU)
    if not cort.any():
        return cort
    r = max(1, int(round(1.5 / min(spacing_mm[1:]))))
    # Everything happens in the box of the cortex, grown by what the closing and the final
    # dilation can reach (r + 1 voxels in the slice, 1 across): the same result, less work.
    box = ndi.find_objects(cort.astype(np.uint8))[0]
    box = tuple(slice(max(b.start - m, 0), min(b.stop + m, n))
                for b, m, n in zip(box, (1, r + 1, r + 1), cort.shape, strict=True))
    sub = cort[box]
    # in-slice closing, as slice by slice
    inside = fill_holes_per_slice(ndi.binary_closing(sub, IN_PLANE_4, iterations=r))
    enclosed = np.zeros_like(sub)
    for ax in range(3):
        enclosed |= _span_within(sub, ax, int(np.floor(MARROW_SPAN_MM / float(spacing_mm[ax]) + 1e-9)))
    inside |= enclosed & (smooth[box] > 100.0)
    out = np.zeros_like(cort)
    out[box] = ndi.binary_dilation(inside, iterations=1)
    return out


@dataclass(frozen=True)
class VesselSeeds:
    """Big vertical vessels found in the abdomen (voxel masks, (z, y, x))."""

    ivc: np.ndarray | None
    aorta: np.ndarray | None
    notes: tuple[str, ...] = ()


def _round_blobs_2d(mask2d: np.ndarray, dy: float, dx: float, r_min_mm: float, r_max_mm: float):
    lab, n = ndi.label(mask2d)
    out = []
    if n == 0:
        return out
    idx = np.arange(1, n + 1)
    area = ndi.sum(mask2d, lab, idx) * dy * dx
    com = ndi.center_of_mass(mask2d, lab, idx)
    for i, a, c in zip(idx, area, com, strict=True):
        if not (np.pi * r_min_mm**2 <= a <= np.pi * r_max_mm**2):
            continue
        sl = ndi.find_objects((lab == i).astype(np.uint8))[0]
        h = (sl[0].stop - sl[0].start) * dy
        w = (sl[1].stop - sl[1].start) * dx
        # roundness: area against the bounding ellipse
        if a < 0.55 * np.pi * h * w / 4 or max(h, w) > 2.2 * min(h, w):
            continue
        out.append((i, a, c))
    return out, lab


PREVERTEBRAL_MM = 45.0
"""The IVC and the abdominal aorta lie within this distance in front of the spine."""

PAIR_MAX_DY_MM = 35.0
PAIR_DX_MM = (15.0, 90.0)
"""IVC and aorta sit side by side: AP offset at most PAIR_MAX_DY_MM, lateral offset in PAIR_DX_MM."""

PAIR_MIDLINE_MM = 45.0
"""...and both within this distance of the body's midline (the iliac vessels lie farther out)."""

TRACK_GAP_MM = 12.0
"""A vertical track goes on across this many mm of slices without a round blob: where a
renal vein joins, the IVC's cross-section is not round for a few slices."""


def _link_tracks(blobs: list, volume: Volume, gap: int) -> list[dict]:
    """Link per-slice round blobs (``(k, [(label, area, centre)], labels)``) into vertical
    tracks: a blob joins the longest track within 12 mm (patient x/y) that had a blob at
    most ``gap`` slices before."""
    tracks: list[dict] = []
    for k, found, lab in blobs:
        for i, a, c in found:
            lps = volume.index_to_lps([k, c[0], c[1]])
            best = None
            for t in tracks:
                if t["last_k"] >= k - gap and np.hypot(*(t["xy"] - lps[:2])) < 12.0:
                    if best is None or t["n"] > best["n"]:
                        best = t
            if best is None:
                best = {"n": 0, "ks": [], "xy": lps[:2], "last_k": k, "areas": []}
                tracks.append(best)
            if best["last_k"] == k and best["ks"] and best["ks"][-1][0] == k:
                continue  # one blob per track and slice
            best["ks"].append((k, lab == i))
            best["xy"] = 0.7 * best["xy"] + 0.3 * lps[:2]
            best["last_k"] = k
            best["n"] += 1
            best["areas"].append(a)
    return tracks


def find_big_vessels(vessels: np.ndarray, volume: Volume, body: np.ndarray,
                     bone: np.ndarray | None = None, *,
                     r_min_mm: float = 6.0, r_max_mm: float = 18.0,
                     min_length_mm: float = 40.0) -> VesselSeeds:
    """Find the IVC and the aorta as long vertical round tubes, the IVC on the patient's right.

    Works slice by slice along the array axis closest to patient z: round bright blobs of
    IVC/aortic calibre are linked into vertical tracks. Only prevertebral tracks count (a
    bone posterior within :data:`PREVERTEBRAL_MM`), which rules out the ascending aorta
    and other chest vessels. The side-by-side pair of largest volume is IVC (smaller patient x:
    right) and aorta; with one track only, the body midline decides. Nothing found: both
    None, with a note saying why.
    """
    zax = volume.axis_of(2)
    if zax != 0:
        return VesselSeeds(None, None, ("series is not axial: automatic IVC detection needs an axial stack",))
    dz, dy, dx = volume.spacing_mm
    blobs = []
    for k in range(vessels.shape[0]):
        res = _round_blobs_2d(vessels[k], dy, dx, r_min_mm, r_max_mm) if vessels[k].any() else None
        if res:
            blobs.append((k, *res))
    # tracks broken where a renal vein joins are joined across TRACK_GAP_MM when the
    # unbroken ones hold no IVC/aorta pair (a cord filling the IVC below the renal veins
    # leaves only its short stretch above them round)
    first = None
    # slices: 2 as ever, then the gap in mm (once only where that is 2 slices as well)
    for gap in dict.fromkeys((2, max(2, int(np.ceil(TRACK_GAP_MM / dz))))):
        seeds = _pair_from_tracks(_link_tracks(blobs, volume, gap), vessels, volume, body, bone,
                                  min_length_mm, r_min_mm, r_max_mm)
        if seeds.ivc is not None and seeds.aorta is not None:
            return seeds
        first = seeds if first is None else first
    return first


def _pair_from_tracks(tracks: list[dict], vessels: np.ndarray, volume: Volume, body: np.ndarray,
                      bone: np.ndarray | None, min_length_mm: float, r_min_mm: float,
                      r_max_mm: float) -> VesselSeeds:
    """IVC and aorta seeds from vertical tracks (see :func:`find_big_vessels`)."""
    dz = volume.spacing_mm[0]
    long = [t for t in tracks if t["n"] * dz >= min_length_mm]
    if not long:
        return VesselSeeds(None, None, (f"no round vertical vessel of radius {r_min_mm}-{r_max_mm} mm "
                                        f"over {min_length_mm} mm was found (no venous enhancement?)",))

    def centre(t):
        ks = [k for k, _ in t["ks"]]
        return int(np.median(ks)), t["xy"]

    def centre_xy(t, k) -> np.ndarray:
        k_mask = next(m for kk, m in t["ks"] if kk == k)
        return volume.index_to_lps([k, *np.argwhere(k_mask).mean(axis=0)])[:2]

    def midline_x(k) -> float | None:
        """The body's patient x at slice ``k`` (its mask's centroid); None without a body."""
        ys, xs = np.nonzero(body[k])
        return volume.index_to_lps([k, float(np.mean(ys)), float(np.mean(xs))])[0] if len(xs) else None

    def sampled(ks: list[int]) -> list[int]:
        """About nine of ``ks``, evenly spread."""
        return ks[:: max(1, len(ks) // 9)]

    def prevertebral(t) -> bool:
        """A bone posterior to the vessel (the spine) within PREVERTEBRAL_MM in at least a
        third of the sampled slices (intervertebral discs hold no bone)."""
        if bone is None:
            return True
        ks = [k for k, _ in t["ks"]]
        sample = sampled(ks)
        hits = 0
        for k in sample:
            xy = centre_xy(t, k)
            pts = np.argwhere(bone[k])
            if len(pts) == 0:
                continue
            lps = volume.index_to_lps(np.column_stack([np.full(len(pts), k), pts]))
            post = lps[:, 1] > xy[1]
            if post.any() and float(np.min(np.hypot(lps[post, 0] - xy[0], lps[post, 1] - xy[1]))) <= PREVERTEBRAL_MM:
                hits += 1
        return hits >= max(1, len(sample) // 3)

    long = [t for t in long if prevertebral(t)]
    long.sort(key=lambda t: -t["n"])
    if not long:
        return VesselSeeds(None, None, ("the long vertical vessels found do not lie in front of the spine "
                                        "(chest or non-abdominal scan?): no IVC/aorta pair",))

    def to_mask(t):
        m = np.zeros(vessels.shape, bool)
        for k, m2 in t["ks"]:
            m[k] |= m2
        return m

    def side_by_side_at(a, b, k) -> bool:
        """At slice ``k``: lateral/AP offsets of a pair, both near the body midline."""
        (xa, ya), (xb, yb) = centre_xy(a, k), centre_xy(b, k)
        if abs(ya - yb) > PAIR_MAX_DY_MM or not PAIR_DX_MM[0] <= abs(xa - xb) <= PAIR_DX_MM[1]:
            return False
        mid_x = midline_x(k)
        return mid_x is None or max(abs(xa - mid_x), abs(xb - mid_x)) <= PAIR_MIDLINE_MM

    def pair_ok(a, b) -> bool:
        """Side by side over at least half of the slices both hold (sampled): two tracks that
        meet only at their ends (up the iliac veins to the confluence) are no pair."""
        shared = sorted({k for k, _ in a["ks"]} & {k for k, _ in b["ks"]})
        if len(shared) * dz < min_length_mm / 2:
            return False
        sample = sampled(shared)
        return 2 * sum(side_by_side_at(a, b, k) for k in sample) >= len(sample)

    def side_by_side(a, b) -> float:
        """The pair's area summed over the slices both hold."""
        area_a = dict(zip((k for k, _ in a["ks"]), a["areas"], strict=True))
        return float(sum(area_a[k] + ar for (k, _), ar in zip(b["ks"], b["areas"], strict=True) if k in area_a))

    pairs = [(a, b) for i, a in enumerate(long) for b in long[i + 1:] if pair_ok(a, b)]
    if pairs:
        # the IVC and the aorta are the biggest pair side by side (iliac vessels can run as
        # long, and the IVC's track may run on into an iliac vein beside the other one)
        a, b = max(pairs, key=lambda p: side_by_side(*p))
        ivc_t, ao_t = (a, b) if a["xy"][0] < b["xy"][0] else (b, a)
        return VesselSeeds(to_mask(ivc_t), to_mask(ao_t))
    # One prevertebral track: decide by the body midline (the IVC lies right of it).
    t = long[0]
    cz, _ = centre(t)
    mid_x = midline_x(cz)
    if t["xy"][0] < (0.0 if mid_x is None else mid_x) - 5.0:
        return VesselSeeds(to_mask(t), None, ("one big prevertebral vessel found, right of the midline: "
                                              "taken as the IVC",))
    return VesselSeeds(None, to_mask(t), ("the only big prevertebral vessel lies at/left of the midline: "
                                          "taken as the aorta; no enhanced IVC found",))


NECK_MM = 2.6
"""Vessels touching through a neck thinner than twice this (partial volume between an
artery and a vein running side by side) are cut apart before seeds are propagated."""


SEED_MINORITY = 0.2
"""An eroded component whose minority seed has more than this fraction of the majority's
voxels holds both vessels: only the seeds mark it and the watershed cuts between them."""


DEEP_NECK_MM = 4.5
DEEP_TREE_ML = 0.5
"""An artery's eroded component holding a part at least DEEP_TREE_ML and elongated that is
thicker than DEEP_NECK_MM (radius) and apart from the arterial seed there is a vein tree
touching an artery: pelvic veins are wider than their arteries, only the aorta is wider."""

UNSEEDED_TREE_ML = 5.0
UNSEEDED_ELONGATION = 3.5
"""An eroded core with no seed, at least UNSEEDED_TREE_ML and elongated (bounding-box
diagonal at least UNSEEDED_ELONGATION times the cube root of its volume), is left to
neither class (a compact one, an organ, is flooded from the seeds as before)."""


CONFLUENCE_WIDENING = 1.25
"""Where the common iliac veins join, the IVC widens, and the iliac arteries cross there and
can touch it: the split's vein seed leaves out the IVC seed's caudal slices wider than this
times its median cross-section (see :func:`above_confluence`)."""


def above_confluence(seed: np.ndarray, volume: Volume) -> np.ndarray:
    """``seed`` (the IVC's, axial slices along array axis 0) without its caudal slices wider
    than :data:`CONFLUENCE_WIDENING` x its median cross-section: at the confluence an iliac
    artery crossing the IVC's lower end can join its round section (CT seed 4710)."""
    area = seed.sum(axis=(1, 2))
    ks = np.flatnonzero(area)
    if len(ks) == 0 or volume.axis_of(2) != 0:
        return seed
    limit = CONFLUENCE_WIDENING * float(np.median(area[ks]))
    if volume.index_to_lps([1, 0, 0])[2] < volume.index_to_lps([0, 0, 0])[2]:
        ks = ks[::-1]  # caudal first
    out = seed.copy()
    for k in ks:
        if area[k] <= limit:
            break
        out[k] = False
    return out


def split_veins_arteries(vessels: np.ndarray, spacing_mm, vein_seed: np.ndarray,
                         artery_seed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Split the vessel mask into veins and arteries.

    The mask is eroded by :data:`NECK_MM` so that arteries and veins touching through
    partial-volume contacts fall apart; eroded components holding the IVC seed are vein
    markers, those holding the aortic seed artery markers, and a watershed of the negated
    distance map from these markers gives every voxel connected to them its class. Voxels
    connected to neither (veins cut off from the IVC by a filling defect, say) are in
    neither mask. An eroded component holding both seeds goes to the seed with more voxels
    in it, unless the other has more than :data:`SEED_MINORITY` of that: then only the seed
    voxels mark it and the watershed cuts between them. A large elongated eroded component
    holding no seed (a vein tree cut off from the IVC by a stenosis where an artery crosses
    it) is a basin of its own and stays in neither mask (:data:`UNSEEDED_TREE_ML`); so is
    a large elongated part, deeper than any artery but the aorta, of an eroded component
    holding the arterial seed that holds none of that seed (:data:`DEEP_NECK_MM`: a vein
    tree fused to an artery by a broad contact).

    Returns
    -------
    (veins, arteries) : bool masks.
    """
    from skimage.segmentation import watershed

    veins = np.zeros_like(vessels)
    arteries = np.zeros_like(vessels)
    if not vessels.any():
        return veins, arteries
    sl = ndi.find_objects(vessels.astype(np.uint8))[0]
    sub = vessels[sl]
    vs = vein_seed[sl] & sub
    as_ = (artery_seed[sl] & sub) if artery_seed is not None else np.zeros_like(sub)
    dist = _edt_mm(sub, spacing_mm).astype(np.float32)
    core = dist > NECK_MM
    lab, _ = ndi.label(core, structure=np.ones((3, 3, 3)))
    v_ids = np.unique(lab[vs & core])
    a_ids = np.unique(lab[as_ & core])
    v_ids, a_ids = v_ids[v_ids > 0], a_ids[a_ids > 0]
    # a core holding both seeds goes to the seed with more voxels in it (a stray seed
    # voxel, e.g. an artery crossing the IVC's slice track, must not claim a whole tree)
    nv = np.bincount(lab[vs & core], minlength=lab.max() + 1)
    na = np.bincount(lab[as_ & core], minlength=lab.max() + 1)
    ids = np.union1d(v_ids, a_ids)
    lo, hi = np.minimum(nv[ids], na[ids]), np.maximum(nv[ids], na[ids])
    shared = ids[lo > SEED_MINORITY * hi]  # really both: let the watershed cut between seeds
    markers = np.zeros(sub.shape, np.int32)
    markers[np.isin(lab, np.setdiff1d(v_ids[nv[v_ids] >= na[v_ids]], shared))] = 1
    aortic = np.setdiff1d(a_ids[na[a_ids] > nv[a_ids]], shared)
    markers[np.isin(lab, aortic)] = 2
    if len(shared):
        in_shared = np.isin(lab, shared)
        markers[in_shared & vs] = 1
        markers[in_shared & as_ & ~vs] = 2
    # a large elongated core holding neither seed (a vein tree cut off by a tight stenosis
    # where an artery crosses it) keeps a basin of its own: the watershed must not hand it
    # to whichever seed floods through a contact first
    free = np.setdiff1d(np.arange(1, lab.max() + 1), np.union1d(ids, shared))
    vox_ml = float(np.prod(spacing_mm)) / 1000.0
    boxes = ndi.find_objects(lab)
    if len(free):
        sizes = np.bincount(lab.ravel(), minlength=lab.max() + 1) * vox_ml
        own = [i for i in free if sizes[i] >= UNSEEDED_TREE_ML
               and elongated(boxes[i - 1], sizes[i], spacing_mm, UNSEEDED_ELONGATION)]
        markers[np.isin(lab, own)] = 3
    # a vein tree whose core an artery's touches through a broad contact, cut off from the
    # IVC's core (a filling defect at its junction) or reached first from the aorta's seed,
    # is no artery: deeper than any artery but the aorta, an eroded component holding the
    # arterial seed falls apart; its parts holding none of that seed that are large and
    # elongated get a basin of their own, as a free core does, and the arterial seed marks
    # only the parts holding it
    for i in np.union1d(aortic, np.intersect1d(shared, a_ids)):
        box = boxes[i - 1]
        mine = lab[box] == i
        dl, m = ndi.label(mine & (dist[box] > DEEP_NECK_MM), structure=np.ones((3, 3, 3)))
        if m < 2:
            continue
        sizes = np.bincount(dl.ravel(), minlength=m + 1) * vox_ml
        seeded = np.bincount(dl[as_[box]], minlength=m + 1) > 0
        seeded[0] = False
        parts = ndi.find_objects(dl)
        veins_own = [j for j in range(1, m + 1) if not seeded[j] and sizes[j] >= DEEP_TREE_ML
                     and elongated(parts[j - 1], sizes[j], spacing_mm, UNSEEDED_ELONGATION)]
        if not veins_own:
            continue
        mk = markers[box]
        if i in aortic:  # the whole component was the aorta's: now only its seeded parts
            mk[mine] = 0
            mk[np.isin(dl, np.flatnonzero(seeded)) | (mine & as_[box])] = 2
        mk[np.isin(dl, veins_own) & (mk != 1)] = 3
    ws = watershed(-dist, markers, mask=sub)
    veins[sl] = ws == 1
    arteries[sl] = ws == 2
    return veins, arteries


def thick_regions(bright: np.ndarray, spacing_mm, radius_mm: float, *, margin_mm: float = 0.0) -> np.ndarray:
    """Parts of ``bright`` a ball of ``radius_mm`` fits in (opening): solid organs, not vessels.

    The widest vein expected (``SegmentConfig.vessel_radius_max_mm``) is thinner than the
    ball, so enhancing kidneys, spleen or liver come out while vessels stay.
    """
    core = inside_mm(bright, radius_mm, spacing_mm)
    if not core.any():
        return np.zeros_like(bright)
    return within_mm(core, radius_mm + margin_mm, spacing_mm) & bright


def tubular_components(candidates: np.ndarray, core: np.ndarray, spacing_mm, *,
                       min_core_ml: float) -> np.ndarray:
    """Connected components of ``candidates`` holding at least ``min_core_ml`` of vessel core.

    Whole components are kept, so the contrast crescent around a filling defect (not
    tubular itself) stays with the tube it belongs to.
    """
    lab, n = ndi.label(candidates, structure=np.ones((3, 3, 3)))
    if n == 0:
        return np.zeros_like(candidates)
    vox_ml = float(np.prod(spacing_mm)) / 1000.0
    core_ml = np.bincount(lab[core & candidates], minlength=n + 1) * vox_ml
    keep = np.flatnonzero(core_ml >= min_core_ml)
    keep = keep[keep > 0]
    return np.isin(lab, keep)


def bright_links(vessels: np.ndarray, allowed: np.ndarray, spacing_mm, reach_mm: float) -> np.ndarray:
    """Bright voxels within ``reach_mm`` of ``vessels`` that join two of its components.

    A vein flattened under a crossing artery (May-Thurner) is a bright slit: no tube, so no
    vesselness core, and the vessel mask breaks there. The slit is kept when it links two
    vessel pieces (a bright plate hanging on one vessel, bowel wall say, is not).
    """
    cand = allowed & ~vessels
    if not cand.any():
        return cand
    links = connectors(cand, vessels)  # bright regions touching two pieces...
    if not links.any():
        return links
    # ...within reach of the vessels (a distance map in their box only), still linking two
    sl = crop(links, [int(np.ceil(reach_mm / s)) + 1 for s in spacing_mm])
    near = np.zeros_like(links)
    near[sl] = links[sl] & within_mm(vessels[sl], reach_mm, spacing_mm)
    return connectors(near, vessels)


HALF_MAX_WINDOW_MM = 2.5
"""Half-width of the neighbourhood whose tissue beyond the lumen edge is its background."""


def background_near(mask: np.ndarray, image: np.ndarray, spacing_mm, *, steps: int = 1,
                    below: float | None = None) -> np.ndarray:
    """Local background of ``mask``'s edge: the mean of the voxels ``steps + 1`` steps
    outside it (past the partial-volume voxels the edge may grow over) within
    :data:`HALF_MAX_WINDOW_MM` (float32, same shape).

    The darkest value around the edge would be fat wherever any fat is near, so a vein
    against muscle would take a ring of muscle (as dense as half-way from fat to lumen);
    the tissue that actually lies beyond the edge sets the half-maximum there. Where no
    such voxel is within reach, the darkest value is used; that is worked out only within
    ``steps`` of the mask (all an edge can grow over): farther out such voxels get +inf.
    Voxels at or above ``below`` (enhanced: another vessel alongside) are not background.
    """
    st = ndi.generate_binary_structure(3, 1)
    first = ndi.binary_dilation(mask, st, iterations=steps)
    ring = ndi.binary_dilation(first, st) & ~first
    if below is not None:
        ring &= image < below  # another vessel's lumen is not background
    size = tuple(2 * int(np.ceil(HALF_MAX_WINDOW_MM / s - 1e-6)) + 1 for s in spacing_mm)
    n = ndi.uniform_filter(ring.astype(np.float32), size=size, mode="constant")
    out = ndi.uniform_filter(np.multiply(image, ring, dtype=np.float32), size=size, mode="constant")
    has = n > 0.5 / float(np.prod(size))
    np.divide(out, n, out=out, where=has)
    out[~has] = np.inf
    need = first & ~has
    if need.any():
        box = ndi.find_objects(need.astype(np.uint8))[0]
        half = [k // 2 for k in size]
        wide = tuple(slice(max(b.start - h, 0), min(b.stop + h, dim))
                     for b, h, dim in zip(box, half, image.shape, strict=True))
        inner = tuple(slice(b.start - w.start, b.stop - w.start) for b, w in zip(box, wide, strict=True))
        low = ndi.grey_erosion(image[wide], size=size)[inner]
        out[box] = np.where(need[box], low, out[box])
    return out


def grow_half_max(mask: np.ndarray, image: np.ndarray, lumen_level: float, spacing_mm, *,
                  steps: int = 1, allowed: np.ndarray | None = None,
                  background_below: float | None = None) -> np.ndarray:
    """Move the lumen edge to half maximum: add neighbouring voxels brighter than the mean of
    the lumen level and the tissue beyond the edge (:func:`background_near`; partial-volume
    edge voxels). ``background_below``: tissue at or above this is no background.

    A fixed threshold cuts thin vessels short (their edge voxels are half lumen, half fat);
    the half-maximum edge is where the true wall lies whatever the background (fat, muscle,
    filling defect).
    """
    out = mask.copy()
    if not out.any():
        return out
    sl = ndi.find_objects(out.astype(np.uint8))[0]
    sl = tuple(slice(max(s.start - steps - 2, 0), min(s.stop + steps + 2, n))
               for s, n in zip(sl, out.shape, strict=True))
    m = out[sl]
    low = background_near(m, image[sl], spacing_mm, steps=steps, below=background_below)
    low += lumen_level  # in place: the refinement box on a fine grid is large
    low *= 0.5
    ok = image[sl] >= low
    del low
    if allowed is not None:
        ok &= allowed[sl]
    out[sl] = ndi.binary_dilation(m, ndi.generate_binary_structure(3, 1), iterations=steps, mask=ok) | m
    return out
