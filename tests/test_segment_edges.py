"""Lumen edges at half maximum against the tissue that lies beyond them, and the choice of
the IVC/aorta pair among long vertical vessels (hand-built images with known answers)."""

from __future__ import annotations

import numpy as np
import pytest

from _tubes import ORIGIN, make_grid
from vascseg.geometry import AXIAL_DIRECTION
from vascseg.segment.lumen import above_confluence, find_big_vessels, grow_half_max

VEIN_HU, FAT_HU, MUSCLE_HU = 170.0, -100.0, 50.0


def _vein_against_muscle(spacing):
    """A vein (r 5 mm, along z) in fat whose +x side touches a muscle slab; the vein fraction
    of every voxel from 8 x 8 in-plane sub-samples (partial volume), no noise."""
    shape = (12, 40, 40)
    sub = 8
    off = (np.arange(sub) + 0.5) / sub - 0.5
    y = (np.arange(shape[1])[:, None] + off[None, :]).ravel() * spacing[1]
    x = (np.arange(shape[2])[:, None] + off[None, :]).ravel() * spacing[2]
    cy, cx, r = 20 * spacing[1], 20 * spacing[2], 5.0
    yy, xx = np.meshgrid(y, x, indexing="ij")
    vein = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    muscle = (xx >= cx + r) & ~vein
    fv, fm = (m.reshape(shape[1], sub, shape[2], sub).mean(axis=(1, 3)) for m in (vein, muscle))
    img2 = fv * VEIN_HU + fm * MUSCLE_HU + (1 - fv - fm) * FAT_HU
    img = np.repeat(img2[None].astype(np.float32), shape[0], axis=0)
    return img, np.repeat(fv[None], shape[0], axis=0), np.repeat(fm[None], shape[0], axis=0)


@pytest.mark.parametrize("spacing", [(2.5, 1.5, 1.5), (1.0, 0.8, 0.8)])
def test_half_max_edge_stops_at_muscle_and_reaches_the_edge_against_fat(spacing):
    img, vein_frac, muscle_frac = _vein_against_muscle(spacing)
    seed = img >= 120.0
    grown = grow_half_max(seed, img, VEIN_HU, spacing, background_below=120.0)
    # every voxel mostly vein is lumen on the side away from the muscle (against fat)...
    x_mm = np.arange(img.shape[2]) * spacing[2]
    fat_side = np.broadcast_to(x_mm < 20 * spacing[2], img.shape)
    assert grown[(vein_frac >= 0.6) & fat_side].all()
    # ...but no voxel that is mostly muscle: fat elsewhere in the window does not set the
    # half maximum where the vein touches muscle
    assert not grown[muscle_frac >= 0.6].any()
    assert not grown[vein_frac <= 0.3].any()


def _tube_mask(vol, x_mm, r_mm, k0, k1):
    """A vertical round tube at LPS x (relative), y 0, over slices k0..k1-1."""
    z, y, x = np.indices(vol.shape)
    lps = vol.index_to_lps(np.stack([z.ravel(), y.ravel(), x.ravel()], 1)) - np.asarray(ORIGIN)
    r2 = ((lps[:, 0] - x_mm) ** 2 + lps[:, 1] ** 2).reshape(vol.shape)
    m = r2 <= r_mm * r_mm
    m[:k0] = False
    m[k1:] = False
    return m


def test_the_ivc_and_aorta_are_the_biggest_pair_not_the_longest():
    # iliac veins (r 6.5 mm) run longer than the IVC (r 10 mm) and the aorta (r 9 mm) in the
    # field of view; the pair of largest volume is the IVC (patient right) and the aorta
    vol = make_grid((-80, -40, 0), (80, 40, 200), (2.5, 2.0, 2.0))
    ivc = _tube_mask(vol, -16.0, 10.0, 30, 81)
    aorta = _tube_mask(vol, 16.0, 9.0, 30, 81)
    iliacs = _tube_mask(vol, -42.0, 6.5, 0, 60) | _tube_mask(vol, 42.0, 6.5, 0, 60)
    vessels = ivc | aorta | iliacs
    body = np.ones(vol.shape, bool)
    seeds = find_big_vessels(vessels, vol, body, None)
    assert seeds.ivc is not None and seeds.aorta is not None
    assert (seeds.ivc & ivc).sum() > 0.9 * seeds.ivc.sum()
    assert (seeds.aorta & aorta).sum() > 0.9 * seeds.aorta.sum()


def test_the_ivc_and_aorta_are_the_pair_biggest_side_by_side():
    # CT seed 3206 (a held-out case, after its check): a cord filling the left common iliac
    # vein hid where it joins the IVC, so the left iliac vein's track ran up beside the IVC's
    # lower end, longer and bigger than the aorta's short track (broken above and below):
    # the left iliac vein became the aortic seed and was split off as artery
    vol = make_grid((-80, -40, 0), (80, 40, 200), (2.5, 2.0, 2.0))
    ivc = _tube_mask(vol, -16.0, 10.0, 25, 81)
    aorta = _tube_mask(vol, 16.0, 7.0, 55, 81)
    z, y, x = np.indices(vol.shape)
    lps = vol.index_to_lps(np.stack([z.ravel(), y.ravel(), x.ravel()], 1)) - np.asarray(ORIGIN)
    cx = 42.0 - 22.0 * np.clip(lps[:, 2] / (35 * 2.5), 0.0, 1.0)  # up and in towards the IVC
    iliac = (((lps[:, 0] - cx) ** 2 + lps[:, 1] ** 2) <= 49.0).reshape(vol.shape)
    iliac[36:] = False
    body = np.ones(vol.shape, bool)
    seeds = find_big_vessels(ivc | aorta | iliac, vol, body, None)
    assert seeds.ivc is not None and seeds.aorta is not None
    assert (seeds.ivc & ivc).sum() > 0.9 * seeds.ivc.sum()
    assert (seeds.aorta & aorta).sum() > 0.9 * seeds.aorta.sum()


def test_iliac_veins_that_meet_only_at_the_confluence_are_no_ivc_aorta_pair():
    # CT seed 4709 and MR seed 4752 on the fine grid (spent held-out cases): the field of view
    # reached the groin, and the two iliac veins' tracks (up and in from either side, long,
    # round) ended side by side at the confluence; the pair was judged where the tracks
    # ended, so it passed as IVC and aorta, and the left iliac veins became the artery seed.
    # The IVC (an occluding cord below) and the aorta have the shorter shared stretch.
    vol = make_grid((-100, -40, 0), (100, 40, 200), (2.5, 2.0, 2.0))
    z, y, x = np.indices(vol.shape)
    lps = vol.index_to_lps(np.stack([z.ravel(), y.ravel(), x.ravel()], 1)) - np.asarray(ORIGIN)
    iliacs = np.zeros(vol.shape, bool)
    for side in (-1.0, 1.0):
        cx = side * (80.0 - 60.0 * np.clip(lps[:, 2] / 120.0, 0.0, 1.0))
        tube = (((lps[:, 0] - cx) ** 2 + lps[:, 1] ** 2) <= 49.0).reshape(vol.shape)
        tube[int(round(120 / 2.5)):] = False
        iliacs |= tube
    ivc = _tube_mask(vol, -16.0, 10.0, int(round(150 / 2.5)), vol.shape[0])
    aorta = _tube_mask(vol, 16.0, 9.0, int(round(100 / 2.5)), vol.shape[0])
    body = np.ones(vol.shape, bool)
    seeds = find_big_vessels(iliacs | ivc | aorta, vol, body, None)
    assert seeds.ivc is not None and seeds.aorta is not None, seeds.notes
    assert (seeds.ivc & ivc).sum() > 0.9 * seeds.ivc.sum()
    assert (seeds.aorta & aorta).sum() > 0.9 * seeds.aorta.sum()


@pytest.mark.parametrize("dz", [2.5, 1.0])
def test_the_split_seed_stops_above_an_artery_touching_the_ivcs_widened_caudal_end(dz):
    # CT seed 4710 (a spent held-out case): where the common iliac veins join, the IVC's
    # cross-section widens, and the right common iliac artery crossing there touched it; the
    # merged section was still round enough for the IVC's track, so the seed held artery
    # voxels and the artery/vein watershed grew the veins into that artery (20% of the
    # artery voxels labelled vein)
    vol = make_grid((-80, -40, 0), (80, 40, 200), (dz, 2.0, 2.0))
    k = lambda z_mm: int(round(z_mm / dz))  # noqa: E731
    ivc = _tube_mask(vol, -16.0, 10.0, k(75), k(200))
    confluence = _tube_mask(vol, -16.0, 11.5, k(75), k(85))  # widening towards the iliac veins
    artery = _tube_mask(vol, -1.0, 5.5, k(75), k(80)) & ~confluence  # an iliac artery touching it
    aorta = _tube_mask(vol, 16.0, 9.0, k(80), vol.shape[0])
    body = np.ones(vol.shape, bool)
    seeds = find_big_vessels(ivc | confluence | artery | aorta, vol, body, None)
    assert seeds.ivc is not None and seeds.aorta is not None, seeds.notes
    assert (seeds.ivc & artery).any()  # the trap: the track's round section holds the artery
    seed = above_confluence(seeds.ivc, vol)
    assert not (seed & artery).any()
    assert (seed & ivc).sum() > 0.8 * ivc.sum()
    # the seed is cut from the caudal end only (the array may run either way)
    flipped = above_confluence(seeds.ivc[::-1], _flipped_z(vol))
    assert np.array_equal(flipped, seed[::-1])


def _flipped_z(vol):
    """The same box with its slices in the opposite order (patient z decreasing with k)."""
    d = np.asarray(AXIAL_DIRECTION, float).copy()
    d[:, 0] *= -1.0
    return make_grid((-80, -40, 0), (80, 40, 200), vol.spacing_mm, direction=d)


@pytest.mark.parametrize("dz", [2.5, 1.0])
def test_an_ivc_whose_round_stretches_are_broken_by_renal_veins_is_still_found(dz):
    # a cord fills the IVC below the renal veins (not round there); above, its round
    # stretches are 30 mm long, broken by two renal veins joining (8 mm each): no single
    # unbroken stretch reaches the 40 mm a track needs; the aorta runs the whole way
    vol = make_grid((-80, -40, 0), (80, 40, 200), (dz, 2.0, 2.0))
    k = lambda z_mm: int(round(z_mm / dz))  # noqa: E731
    ivc = np.zeros(vol.shape, bool)
    for z0, z1 in ((100, 130), (138, 168), (176, 200)):
        ivc |= _tube_mask(vol, -16.0, 10.0, k(z0), k(z1))
    renal = np.zeros(vol.shape, bool)
    lps = vol.index_to_lps(np.argwhere(np.ones(vol.shape, bool))) - np.asarray(ORIGIN)
    band = ((lps[:, 0] > -70) & (lps[:, 0] < -16) & (np.abs(lps[:, 1]) <= 5)).reshape(vol.shape)
    for z0, z1 in ((130, 138), (168, 176)):  # the IVC with a renal vein joining: not round
        renal |= _tube_mask(vol, -16.0, 10.0, k(z0), k(z1))
        renal[k(z0):k(z1)] |= band[k(z0):k(z1)]
    aorta = _tube_mask(vol, 16.0, 9.0, 0, vol.shape[0])
    body = np.ones(vol.shape, bool)
    seeds = find_big_vessels(ivc | renal | aorta, vol, body, None)
    assert seeds.ivc is not None and seeds.aorta is not None, seeds.notes
    assert (seeds.ivc & ivc).sum() > 0.9 * seeds.ivc.sum()
    assert (seeds.ivc & ivc).sum() > 0.6 * ivc.sum()
    assert (seeds.aorta & aorta).sum() > 0.9 * seeds.aorta.sum()


@pytest.mark.parametrize(("seed", "route", "vein"), [
    (1608, "ovarian-renal-caval-left", "common_iliac_vein_left"),
    (2902, "ovarian-renal-caval-left", "common_iliac_vein_right"),
    (3011, "iliac-caval-right", "common_iliac_vein_right"),
])
def test_a_lesion_free_phantom_whose_iliac_vein_lies_against_the_spine_has_no_defect(seed, route, vein):
    # CT seed 1608: the closing envelope filled the nook between the left common iliac
    # vein's wall and the vertebra (muscle density), and that nook, linking two lumen pieces,
    # was taken for a 0.17 mL filling defect; tissue touching bone is bounded by it, not
    # by the vein. Seeds 3011 and 2902 (held-out cases, after their check): the nook ran
    # from the right common iliac vein along the psoas to the bone, whose partial-volume
    # rim was lumen-bright, and only its voxels next to the bone were dropped (0.28 mL); or
    # it seeded a cord followed down the psoas beneath the vein (0.22 mL)
    from vascseg.phantom import PhantomSpec, generate_phantom
    from vascseg.segment import segment_veins

    ph = generate_phantom(PhantomSpec(seed=seed, route=route, pattern="none"))
    seg = segment_veins(ph.volume)
    assert not ph.defects.any()
    assert vein in seg.found
    assert not seg.defects.any()


def test_a_defect_against_the_wall_where_the_vein_borders_muscle_is_found_whole():
    # CT seed 0, left internal iliac vein: the cord lies against the wall where the vein
    # runs along muscle as dense as the cord; the diameters from the lumen's crescent found
    # only the sectors facing it and opposite it (a C-shaped interior, 61 % of the defect
    # inside the vein mask); the cores on the vessel's axis fill the rest
    from vascseg.anatomy import LABELS
    from vascseg.evaluation import dice
    from vascseg.phantom import PhantomSpec, generate_phantom
    from vascseg.segment import segment_veins

    ph = generate_phantom(PhantomSpec(seed=0, route="uterine-iliac-caval-left", pattern="continuous"))
    seg = segment_veins(ph.volume)
    iiv = LABELS["internal_iliac_vein_left"]
    truth = (ph.veins == iiv) & ph.defects
    assert truth.sum() * np.prod(ph.volume.spacing_mm) / 1000.0 > 3.0  # the case: a 4.8 mL cord
    assert (truth & (seg.veins > 0)).sum() >= 0.9 * truth.sum()
    assert (truth & seg.defects).sum() >= 0.85 * truth.sum()
    # and no more than the vein: the defect found there lies in it
    found = seg.defects & (seg.veins == iiv)
    assert (found & (ph.veins > 0)).sum() >= 0.85 * found.sum()
    assert dice(ph.veins == iiv, seg.veins == iiv) >= 0.85


def test_an_ivc_filled_by_a_cord_whose_tip_sits_in_the_lumen_is_followed_and_named():
    # CT seed 39 (ovarian-caval-right, occluded): the cord's tip sits in the IVC's lumen a
    # slice below where it fills the vein, so no run of cord-filled sections started right
    # above the enhanced IVC found; the IVC the cord fills (65 mm, up past the renal veins)
    # was lost, and with it both renal veins (Dice 0) and the left gonadal vein
    from vascseg.anatomy import LABELS
    from vascseg.evaluation import dice
    from vascseg.phantom import PhantomSpec, generate_phantom
    from vascseg.segment import segment_veins

    ph = generate_phantom(PhantomSpec(seed=39, route="ovarian-caval-right", pattern="continuous", occlusion=True))
    seg = segment_veins(ph.volume)
    filled = (ph.veins == LABELS["ivc"]) & ph.defects
    assert filled.any(axis=(1, 2)).sum() * ph.volume.spacing_mm[0] > 40.0  # the case
    assert (filled & (seg.veins == LABELS["ivc"])).sum() >= 0.6 * filled.sum()
    assert (filled & seg.defects).sum() >= 0.7 * filled.sum()
    for name in ("renal_vein_left", "renal_vein_right"):
        assert dice(ph.veins == LABELS[name], seg.veins == LABELS[name]) >= 0.7, name


def test_an_internal_iliac_vein_whose_lumen_is_a_crescent_in_muscle_is_found():
    # CT seed 36, left internal iliac vein: the cord fills 60 % of it and the lumen left is a
    # thin crescent along muscle, a sheet and not a tube (no vesselness core); the crescent
    # is dimmed under the lumen threshold where the uterine vein joins, and is longer than
    # the uterine vein's piece beyond it: neither linked it before (Dice 0 for both veins)
    from vascseg.anatomy import LABELS
    from vascseg.evaluation import dice
    from vascseg.phantom import PhantomSpec, generate_phantom
    from vascseg.segment import segment_veins

    ph = generate_phantom(PhantomSpec(seed=36, route="uterine-iliac-caval-left", pattern="continuous"))
    seg = segment_veins(ph.volume)
    iiv = ph.veins == LABELS["internal_iliac_vein_left"]
    assert (iiv & ph.defects).sum() >= 0.4 * iiv.sum()  # the case
    assert dice(iiv, seg.veins == LABELS["internal_iliac_vein_left"]) >= 0.8
    assert (iiv & ph.defects & seg.defects).sum() >= 0.8 * (iiv & ph.defects).sum()


def test_the_ovary_between_the_uterine_and_ovarian_veins_is_no_filling_defect():
    # MR seed 71: the right ovarian vein, cut off below a skip lesion, was bridged to the
    # uterine vein along the ovary's edge, and the ovary was reported as a 0.89 mL defect of
    # the uterine vein (whose Dice fell to 0.66)
    from vascseg.anatomy import LABELS
    from vascseg.evaluation import dice
    from vascseg.phantom import PhantomSpec, generate_phantom
    from vascseg.segment import segment_veins

    ph = generate_phantom(PhantomSpec(seed=71, modality="MR", route="ovarian-caval-right", pattern="discontinuous"))
    seg = segment_veins(ph.volume)
    ml = float(np.prod(ph.volume.spacing_mm)) / 1000.0
    assert (seg.defects & (ph.veins == 0)).sum() * ml < 0.2
    uv = LABELS["uterine_vein_right"]
    assert dice(ph.veins == uv, seg.veins == uv) >= 0.85


def test_an_mr_ovarian_vein_past_skip_lesions_is_linked_by_its_crescent():
    # MR seed 51: skip lesions leave only a crescent of the right ovarian vein's lumen, a
    # sheet with no vesselness core, and no bridge reaches the vein beyond (the cord is
    # barely darker than the fat on T1): the vein below was cut off (Dice 0); its crescent
    # links it now
    from vascseg.anatomy import LABELS
    from vascseg.evaluation import dice
    from vascseg.phantom import PhantomSpec, generate_phantom
    from vascseg.segment import segment_veins

    ph = generate_phantom(PhantomSpec(seed=51, modality="MR", route="ovarian-caval-right", pattern="discontinuous"))
    seg = segment_veins(ph.volume)
    gv = LABELS["gonadal_vein_right"]
    assert (ph.defects & (ph.veins == gv)).any()  # the case
    assert dice(ph.veins == gv, seg.veins == gv) >= 0.8


def test_the_ivc_above_a_cord_is_named_though_the_widest_way_up_turns_aside():
    # MR seed 90: above the cord filling the IVC at the renal veins, the walk up the widest
    # child leaves the IVC for a thin vessel beside it (the IVC's first stretch above the
    # cord is no wider), so the IVC above went unnamed, and with it the left renal and left
    # ovarian veins (Dice 0); the way to the highest node of IVC calibre finds it
    from vascseg.anatomy import LABELS
    from vascseg.evaluation import dice
    from vascseg.phantom import PhantomSpec, generate_phantom
    from vascseg.segment import segment_veins

    ph = generate_phantom(PhantomSpec(seed=90, modality="MR", route="ovarian-renal-caval-left", pattern="continuous"))
    seg = segment_veins(ph.volume)
    ivc = LABELS["ivc"]
    assert dice(ph.veins == ivc, seg.veins == ivc) >= 0.85
    gl = LABELS["gonadal_vein_left"]
    assert dice(ph.veins == gl, seg.veins == gl) >= 0.6


@pytest.mark.parametrize(("seed", "route", "pattern", "min_dice"), [
    # the right ovarian vein's lumen around its skip lesions is a crescent the vessel mask
    # lost; it joined the lumen only after the wall votes (as a link of the closing
    # envelope), so the cords it wraps stayed out of the vein (defect Dice 0.32); the
    # completed lumen's walls vote again on T1 MR
    pytest.param(91, "ovarian-caval-right", "discontinuous", 0.40, id="crescent-joined-late"),
    # the left ovarian vein's lumen, a crescent around the cord along most of its length,
    # joins the vein mask only late; the hypodense window followed the local lumen level of
    # the first mask, which it lacked, so the cord stayed out (defect Dice 0.12)
    pytest.param(50, "ovarian-renal-caval-left", "continuous", 0.6, id="window-of-the-first-mask"),
    # the left uterine vein runs in the slice plane; its cords span two or three 2.5 mm
    # slices and had no core of six face neighbours, so they were dropped as partial-volume
    # shells (uterine defect found 0, case defect Dice 0.49)
    pytest.param(6, "uterine-iliac-caval-left", "discontinuous", 0.6, id="cord-two-slices-deep"),
])
def test_mr_cords_in_small_veins_are_filling_defects(seed, route, pattern, min_dice):
    from vascseg.evaluation import dice
    from vascseg.phantom import PhantomSpec, generate_phantom
    from vascseg.segment import segment_veins

    ph = generate_phantom(PhantomSpec(seed=seed, modality="MR", route=route, pattern=pattern))
    seg = segment_veins(ph.volume)
    ml = float(np.prod(ph.volume.spacing_mm)) / 1000.0
    assert dice(ph.defects, seg.defects) >= min_dice
    assert (seg.defects & (ph.veins == 0)).sum() * ml < 0.2


def test_the_cord_filling_the_lower_ivc_is_followed_past_its_oblique_top():
    # MR seed 2553 (a held-out case, after its check): the cord's top is oblique, so the first
    # section below the enhanced IVC holds lumen beside the cord; its cord side was too small
    # for an IVC section and the tracking stopped there: the lower IVC was lost, the iliac
    # veins cut off from it and unnamed (right-name accuracy 0.73, defect Dice 0)
    from vascseg.anatomy import LABELS
    from vascseg.evaluation import dice
    from vascseg.phantom import PhantomSpec, generate_phantom
    from vascseg.segment import segment_veins

    ph = generate_phantom(PhantomSpec(seed=2553, modality="MR", route="iliac-caval-right", pattern="continuous",
                                      occlusion=True))
    seg = segment_veins(ph.volume)
    cl = LABELS["common_iliac_vein_left"]
    assert dice(ph.veins == cl, seg.veins == cl) >= 0.8
    assert dice(ph.defects, seg.defects) >= 0.4


def test_the_caval_trunk_goes_on_down_past_a_wider_renal_branch_into_the_kidney():
    # CT seed 2901 (a held-out case, after its check): at the renal veins' level the IVC's
    # skeleton leaves along the left renal vein's junction and the right renal vein runs into
    # the kidney, wider; neither sets off caudally, so the trunk took the wider one: the
    # kidney was named right common iliac vein, the lower IVC right gonadal, the left iliac
    # veins were lost (right-name accuracy 0.377)
    from vascseg.anatomy import LABELS
    from vascseg.evaluation import dice, score_segmentation
    from vascseg.phantom import PhantomSpec, generate_phantom
    from vascseg.segment import segment_veins

    ph = generate_phantom(PhantomSpec(seed=2901, modality="CT", route="uterine-iliac-caval-right",
                                      pattern="discontinuous", occlusion=True))
    seg = segment_veins(ph.volume)
    s = score_segmentation(ph.veins, ph.defects, ph.arteries, seg.veins, seg.defects, 1.0)
    assert s["name_accuracy"] >= 0.95
    for name in ("ivc", "common_iliac_vein_left", "external_iliac_vein_left"):
        assert dice(ph.veins == LABELS[name], seg.veins == LABELS[name]) >= 0.85, name


def test_a_left_renal_vein_pinched_where_it_joins_the_ivc_is_named():
    # CT seed 3201 (a held-out case, after its check): the left renal vein arches over the
    # aorta into the IVC, and its skeleton reached it through a thin partial-volume contact
    # at the arch's top, a one-voxel neck 11-15 mm from the IVC's root that ended it there as
    # if it met its kidney: the left renal and gonadal veins went unnamed
    from vascseg.anatomy import LABELS
    from vascseg.evaluation import dice
    from vascseg.phantom import PhantomSpec, generate_phantom
    from vascseg.segment import segment_veins

    ph = generate_phantom(PhantomSpec(seed=3201, modality="CT", route="uterine-iliac-caval-right",
                                      pattern="discontinuous", occlusion=True))
    seg = segment_veins(ph.volume)
    for name in ("renal_vein_left", "gonadal_vein_left"):
        assert dice(ph.veins == LABELS[name], seg.veins == LABELS[name]) >= 0.85, name


def test_muscle_beside_an_mr_vein_seeds_no_cord():
    # MR seed 3252 (a held-out case, after its check; lesion-free): muscle beside the left
    # iliac vein (in the lower half of the T1 defect window) was in the vein interior and
    # seeded a cord followed down the muscle for 10 mm: a 0.33 mL false defect
    from vascseg.phantom import PhantomSpec, generate_phantom
    from vascseg.segment import segment_veins

    ph = generate_phantom(PhantomSpec(seed=3252, modality="MR", route="iliac-caval-left", pattern="none"))
    seg = segment_veins(ph.volume)
    assert not ph.defects.any()
    assert "common_iliac_vein_left" in seg.found
    assert not seg.defects.any()


def test_a_renal_vein_ends_at_the_kidney_not_in_it():
    # CT seed 3507 (a held-out case, after its check): past the left renal vein's end the
    # skeleton ran on through a thin lip of kidney around the renal sinus before the kidney
    # widened, and the vein was named up to that widening: part of the kidney was named
    # renal vein (Dice 0.67)
    from vascseg.anatomy import LABELS
    from vascseg.evaluation import dice
    from vascseg.phantom import PhantomSpec, generate_phantom
    from vascseg.segment import segment_veins

    ph = generate_phantom(PhantomSpec(seed=3507, modality="CT", route="uterine-iliac-caval-right",
                                      pattern="discontinuous"))
    seg = segment_veins(ph.volume)
    assert dice(ph.veins == LABELS["renal_vein_left"], seg.veins == LABELS["renal_vein_left"]) >= 0.85


def test_a_left_common_iliac_vein_leaving_nearly_horizontally_still_makes_the_confluence():
    # CT seed 4006 (a held-out case, after its check): the left common iliac vein left the
    # confluence 17 degrees below the horizontal; no confluence was found, the caval trunk ran
    # on down the left iliac veins and the right ones were named renal and gonadal veins
    # (right-name fraction 0.63, right common iliac vein Dice 0)
    from vascseg.anatomy import LABELS
    from vascseg.evaluation import score_segmentation
    from vascseg.phantom import PhantomSpec, generate_phantom
    from vascseg.segment import segment_veins

    ph = generate_phantom(PhantomSpec(seed=4006, modality="CT", route="uterine-iliac-caval-left",
                                      pattern="continuous"))
    seg = segment_veins(ph.volume)
    voxel_ml = float(np.prod(ph.volume.spacing_mm)) / 1000.0
    score = score_segmentation(ph.veins, ph.defects, ph.arteries, seg.veins, seg.defects, voxel_ml)
    assert score["name_accuracy"] >= 0.95
    for name in ("common_iliac_vein_right", "external_iliac_vein_right", "common_iliac_vein_left"):
        assert score["dice"][name] >= 0.9, name
    assert LABELS["renal_vein_right"] not in set(seg.veins[ph.veins == LABELS["common_iliac_vein_right"]].tolist())
