"""Unit tests of segmentation building blocks: eigenvalues, vesselness, closing in mm, and
the rules naming the veins (on hand-built anatomy with known names)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy import sparse

from _tubes import ORIGIN, make_grid, paint_tube, shift
from vascseg.anatomy import LABELS
from vascseg.segment._skeleton import CAUDAL, build_tree, calibre, direction, main_path, wide_path
from vascseg.segment.defects import closing_mm
from vascseg.segment.lumen import bone_mask
from vascseg.segment.naming import label_veins
from vascseg.segment.vesselness import symmetric_eigvals, vesselness


def test_closed_form_eigenvalues_match_numpy():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(5000, 3, 3))
    a = a + a.transpose(0, 2, 1)
    got = np.stack(symmetric_eigvals(a[:, 0, 0], a[:, 1, 1], a[:, 2, 2], a[:, 0, 1], a[:, 0, 2], a[:, 1, 2]), 1)
    ref = np.linalg.eigvalsh(a)
    ref = np.take_along_axis(ref, np.argsort(np.abs(ref), 1), 1)
    np.testing.assert_allclose(got, ref, atol=1e-9)


def test_eigenvalues_of_isotropic_matrix():
    one = np.ones(3)
    l1, l2, l3 = symmetric_eigvals(2 * one, 2 * one, 2 * one, 0 * one, 0 * one, 0 * one)
    np.testing.assert_allclose([l1, l2, l3], 2.0)


def _scene(spacing, rng):
    """A tube (r 6 mm, along z), a ball (r 15 mm) and a slab (8 mm thick) in fat + noise."""
    size_mm = (120.0, 120.0, 120.0)
    shape = tuple(int(round(s / d)) for s, d in zip(size_mm, spacing, strict=True))
    z, y, x = (np.arange(n) * d for n, d in zip(shape, spacing, strict=True))
    Z, Y, X = np.meshgrid(z, y, x, indexing="ij")
    tube = (Y - 30) ** 2 + (X - 30) ** 2 < 36
    ball = (Z - 60) ** 2 + (Y - 80) ** 2 + (X - 80) ** 2 < 225
    slab = np.abs(X - 105) < 4
    img = np.full(shape, -100.0, np.float32)
    img[tube | ball | slab] = 180.0
    img += rng.normal(0, 15, shape).astype(np.float32)
    return img, tube, ball, slab, (Y, X, Z)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 1.0, 1.0)])
def test_vesselness_prefers_tubes_over_blobs_and_plates(spacing):
    img, tube, ball, slab, (Y, X, Z) = _scene(spacing, np.random.default_rng(1))
    v, scale = vesselness(img, spacing, mask=img > 60, return_scale=True)
    core_tube = (Y - 30) ** 2 + (X - 30) ** 2 < 9
    core_ball = (Z - 60) ** 2 + (Y - 80) ** 2 + (X - 80) ** 2 < 25
    core_slab = (np.abs(X - 105) < 1.5) & (Y < 60)
    vt, vb, vs = (float(np.median(v[m])) for m in (core_tube, core_ball, core_slab))
    assert vt > 0.5
    assert vt > 2 * vb  # Frangi blob term: exp(-Rb^2/2beta^2) with Rb ~ 1 at a ball centre
    assert vt > 10 * vs
    # best scale is set in mm: a 6 mm-radius tube answers at sigma ~ r / sqrt(2) .. r
    assert 3.0 <= float(np.median(scale[core_tube])) <= 7.5


def test_vesselness_same_answer_at_two_spacings():
    rng = np.random.default_rng(2)
    a = _scene((1.0, 1.0, 1.0), rng)
    b = _scene((2.0, 1.0, 1.0), rng)
    va = vesselness(a[0], (1.0, 1.0, 1.0), mask=a[1])
    vb = vesselness(b[0], (2.0, 1.0, 1.0), mask=b[1])
    assert abs(float(np.median(va[a[1]])) - float(np.median(vb[b[1]]))) < 0.15


def test_bone_mask_closes_a_thin_cortex_that_partial_volume_dims_below_the_threshold():
    # an iliac wing seen in 1.25 mm voxels: a 10 mm slab of marrow (270 HU) in a 2 mm cortex
    # whose voxels read 700 HU on one face but only 560-620 elsewhere (partial volume)
    sp = (1.75, 1.25, 1.25)
    img = np.full((30, 60, 60), 40.0, np.float32)  # muscle
    img[:, 10:51, 20:29] = 620.0  # cortex: the slab's ends
    img[:, 11:50, 21:28] = 270.0  # marrow
    img[:, 11:50, 20] = 700.0  # one face clearly cortical
    img[:, 11:50, 28] = 560.0  # the other dimmed by partial volume
    img[:, 20:40, 40:44] = 600.0  # a bright blob touching no cortex: not bone
    img[:, 25:35, 29:33] = 450.0  # enhanced vessel against the dim face: lumen, not bone
    bone = bone_mask(img, sp)
    marrow = np.zeros(img.shape, bool)
    marrow[:, 11:50, 21:28] = True
    assert bone[marrow].mean() > 0.99
    assert not bone[:, 20:40, 41:43].any()
    assert not bone[:, 25:35, 30:33].any()


def test_closing_mm_matches_ball_closing_and_honours_anisotropy():
    # a lumen crescent: a tube (r 8 mm) with an eccentric hole (r 5 mm) touching its wall
    def crescent(spacing):
        shape = tuple(int(round(60 / d)) for d in spacing)
        z, y, x = (np.arange(n) * d for n, d in zip(shape, spacing, strict=True))
        Z, Y, X = np.meshgrid(z, y, x, indexing="ij")
        vessel = (Y - 30) ** 2 + (X - 30) ** 2 < 64
        hole = ((Y - 30) ** 2 + (X - 33) ** 2 < 25) & (Z > 15) & (Z < 45)
        return vessel & ~hole, hole

    for spacing in [(1.0, 1.0, 1.0), (3.0, 1.0, 1.0), (2.0, 0.5, 0.5)]:
        lumen, hole = crescent(spacing)
        closed = closing_mm(lumen, 7.0, spacing)
        vox = np.prod(spacing)
        filled = (closed & hole).sum() * vox
        assert filled > 0.9 * hole.sum() * vox, spacing
        # never adds more than a thin skin outside the vessel
        assert (closed & ~(lumen | hole)).sum() * vox < 0.05 * lumen.sum() * vox, spacing
    # isotropic: same as scipy's closing with a digital ball (away from the border)
    lumen, _ = crescent((1.0, 1.0, 1.0))
    r = 7
    ball = np.add.outer(np.add.outer(np.arange(-r, r + 1) ** 2, np.arange(-r, r + 1) ** 2),
                        np.arange(-r, r + 1) ** 2) <= r * r
    ref = ndi.binary_closing(np.pad(lumen, r + 1), ball)[r + 1:-r - 1, r + 1:-r - 1, r + 1:-r - 1]
    mine = closing_mm(lumen, float(r), (1.0, 1.0, 1.0))
    assert (mine != ref).sum() <= 0.01 * ref.sum()


# ----------------------------------------------------------------------------- vein names
# A hand-built venous anatomy (relative LPS mm, each polyline from its free end to a point
# on its parent's centreline; radius mm). The right gonadal vein reaches lower than the
# groin ends of the external iliac veins, so the lowest end on each side is not an iliac
# vein: names must come from calibre and direction, not from which end lies lowest.
ANATOMY = {
    "ivc": ([(-20, 0, 0), (-20, 0, 150)], 10.0),
    "renal_vein_right": ([(-62, 15, 110), (-20, 0, 110)], 5.0),
    "renal_vein_left": ([(52, 15, 122), (-20, 0, 122)], 5.0),
    "gonadal_vein_right": ([(-40, -5, -165), (-44, -10, -60), (-45, -10, 20), (-20, 0, 85)], 4.0),
    "common_iliac_vein_left": ([(45, 20, -45), (10, 10, -20), (-20, 0, 0)], 7.0),
    "common_iliac_vein_right": ([(-45, 20, -45), (-20, 0, 0)], 7.0),
    "external_iliac_vein_left": ([(70, -30, -150), (60, 0, -90), (45, 20, -45)], 6.5),
    "external_iliac_vein_right": ([(-70, -30, -150), (-60, 0, -90), (-45, 20, -45)], 6.5),
    "internal_iliac_vein_left": ([(40, 65, -120), (45, 45, -80), (45, 20, -45)], 5.5),
    "internal_iliac_vein_right": ([(-40, 65, -120), (-45, 45, -80), (-45, 20, -45)], 5.5),
    "uterine_vein_left": ([(15, 10, -110), (30, 30, -110), (41.9, 57.5, -105)], 3.5),
    "uterine_vein_right": ([(-15, 10, -110), (-30, 30, -110), (-41.9, 57.5, -105)], 3.5),
}
CONFLUENCE_Z_MM = 0.0
SEED_Z_MM = (20.0, 100.0)


def _named_anatomy(spacing=(1.5, 1.5, 1.5), *, replace=None, skip=(), extra=None, seed_z=SEED_Z_MM):
    """Paint ANATOMY (with ``replace``: name -> list of (points, radius, paint kwargs)),
    name it with :func:`label_veins`; returns (truth, labels, notes, grid, extra mask)."""
    grid = make_grid((-100, -50, -175), (100, 85, 165), spacing)
    truth = np.zeros(grid.shape, np.uint8)
    parts = {n: [(pts, r, {})] for n, (pts, r) in ANATOMY.items()}
    parts.update(replace or {})
    for name in sorted(parts, key=lambda n: ANATOMY[n][1]):
        if name in skip:
            continue
        for pts, r, kw in parts[name]:
            paint_tube(truth, grid, shift(pts), r, name, **{"round_end": name != "ivc", **kw})
    blob = np.zeros(grid.shape, bool)
    if extra is not None:
        centre, semi = extra
        lps = grid.index_to_lps(np.argwhere(np.ones(grid.shape, bool))) - np.asarray(ORIGIN)
        blob = (np.linalg.norm((lps - centre) / np.asarray(semi), axis=1) <= 1).reshape(grid.shape) & (truth == 0)
    idx = np.argwhere(truth == LABELS["ivc"])
    z = grid.index_to_lps(idx)[:, 2] - ORIGIN[2]
    seed = np.zeros(grid.shape, bool)
    seed[tuple(idx[(z > seed_z[0]) & (z < seed_z[1])].T)] = True
    labels, notes = label_veins((truth > 0) | blob, grid, seed)
    return truth, labels, notes, grid, blob


def _dice(truth, labels, name):
    t, p = truth == LABELS[name], labels == LABELS[name]
    return 2.0 * float((t & p).sum()) / max(int(t.sum() + p.sum()), 1)


def _z_range_mm(labels, grid, name):
    from _tubes import ORIGIN

    z = grid.index_to_lps(np.argwhere(labels == LABELS[name]))[:, 2] - ORIGIN[2]
    return float(z.min()), float(z.max())


@pytest.fixture(scope="module")
def named_anatomy():
    return _named_anatomy()


def test_confluence_is_where_the_caval_trunk_splits_into_two_like_calibre_veins(named_anatomy):
    truth, labels, notes, grid, _ = named_anatomy
    # the IVC ends at the confluence, not where the lowest ends on each side meet
    assert abs(_z_range_mm(labels, grid, "ivc")[0] - CONFLUENCE_Z_MM) <= 6.0
    for name in ANATOMY:
        assert _dice(truth, labels, name) >= 0.85, (name, _dice(truth, labels, name), notes)


def test_a_tributary_takes_the_wedge_of_its_wider_parent_nearer_its_own_centreline(named_anatomy):
    """A renal vein's centreline runs on into the IVC up to the IVC's axis: inside the IVC,
    the voxels within the renal vein's radius of that stretch and nearer it than the IVC's
    axis are the renal vein's (the phantoms' truth labels each voxel by its nearest
    centreline). The skeleton bends into the IVC's medial axis there, and named them IVC."""
    from _tubes import ORIGIN

    truth, labels, _, grid, _ = named_anatomy
    idx = np.argwhere(truth > 0)
    lps = grid.index_to_lps(idx) - np.asarray(ORIGIN)
    found = labels[tuple(idx.T)]
    x0, y0, _ = ANATOMY["ivc"][0][0]
    to_ivc_axis = np.hypot(lps[:, 0] - x0, lps[:, 1] - y0)
    half_voxel = 0.75
    hits = total = 0
    for name in ("renal_vein_right", "renal_vein_left"):
        pts, r = ANATOMY[name]
        to_own = _to_polyline(lps, pts[-2:])
        wedge = (to_ivc_axis < ANATOMY["ivc"][1]) & (to_own <= r - half_voxel) & (to_own < to_ivc_axis - half_voxel)
        mine = found == LABELS[name]
        assert (mine[wedge]).mean() > 0.4, name
        hits, total = hits + int(mine[wedge].sum()), total + int(wedge.sum())
        # and no more of the IVC than that
        beyond = (to_ivc_axis < ANATOMY["ivc"][1]) & (to_own > r + 2 * half_voxel)
        assert (mine & beyond).sum() <= 0.1 * wedge.sum(), name
    assert hits >= 0.6 * total


def _to_polyline(points, polyline):
    """Distance (mm) from each of ``points`` (N, 3) to a polyline (its vertices)."""
    best = np.full(len(points), np.inf)
    for a, b in zip(polyline[:-1], polyline[1:], strict=True):
        a, b = np.asarray(a, float), np.asarray(b, float)
        t = np.clip((points - a) @ (b - a) / ((b - a) @ (b - a)), 0.0, 1.0)
        best = np.minimum(best, np.linalg.norm(points - (a + t[:, None] * (b - a)), axis=1))
    return best


def test_where_an_iliac_vein_divides_each_voxel_takes_the_nearest_axis_name(named_anatomy):
    """The external and internal iliac veins part at a narrow angle: below the point where
    the three centrelines meet, the merged lumen is wider than either, and its skeleton runs
    on as one branch, so the common iliac vein's name reached ~10 mm into both (83% and 88%
    of the voxels around the division named by the nearest centreline, 1.5 mm voxels)."""
    from _tubes import ORIGIN

    truth, labels, _, grid, _ = named_anatomy
    idx = np.argwhere(truth > 0)
    lps = grid.index_to_lps(idx) - np.asarray(ORIGIN)
    found = labels[tuple(idx.T)]
    for side in ("right", "left"):
        names = [f"{v}_iliac_vein_{side}" for v in ("common", "external", "internal")]
        division = np.asarray(ANATOMY[names[0]][0][0], float)
        near = np.linalg.norm(lps - division, axis=1) < 2 * ANATOMY[names[0]][1]
        to_axis = np.stack([_to_polyline(lps[near], ANATOMY[n][0]) for n in names])
        nearest = np.asarray([LABELS[n] for n in names])[np.argmin(to_axis, axis=0)]
        assert (found[near] == nearest).mean() >= 0.9, side


def test_names_follow_the_anatomy_in_mm_at_any_spacing(named_anatomy):
    truth, labels, _, grid, _ = named_anatomy
    t2, l2, _, g2, _ = _named_anatomy((2.5, 1.5, 1.0))
    # the confluence within a slice or two of where it is on the isotropic grid
    assert abs(_z_range_mm(l2, g2, "ivc")[0] - _z_range_mm(labels, grid, "ivc")[0]) <= 2 * 2.5 + 3.0
    assert abs(_z_range_mm(l2, g2, "ivc")[0] - CONFLUENCE_Z_MM) <= 6.0
    for name in ANATOMY:
        assert _dice(t2, l2, name) >= 0.85, name


def test_a_common_iliac_stump_still_ends_the_ivc_at_the_confluence():
    # the left iliac veins are occluded beyond a 37 mm stump of the left common iliac vein
    stump = [([(10, 10, -20), (-20, 0, 0)], 7.0, {})]
    truth, labels, notes, grid, _ = _named_anatomy(
        replace={"common_iliac_vein_left": stump},
        skip=("external_iliac_vein_left", "internal_iliac_vein_left", "uterine_vein_left"))
    assert abs(_z_range_mm(labels, grid, "ivc")[0] - CONFLUENCE_Z_MM) <= 6.0
    assert _dice(truth, labels, "common_iliac_vein_left") >= 0.6
    for name in ("ivc", "common_iliac_vein_right", "external_iliac_vein_right", "internal_iliac_vein_right"):
        assert _dice(truth, labels, name) >= 0.85, (name, notes)


def test_a_compressed_left_common_iliac_vein_is_still_a_common_iliac_vein():
    # May-Thurner: 70% antero-posterior narrowing over the left vein's last 30 mm
    pts, r = ANATOMY["common_iliac_vein_left"]
    squeezed = [(pts, r, {"ellipse": (35.0, 65.0, 0.3 * r, (0.0, 1.0, 0.0))})]
    truth, labels, notes, grid, _ = _named_anatomy(replace={"common_iliac_vein_left": squeezed})
    assert abs(_z_range_mm(labels, grid, "ivc")[0] - CONFLUENCE_Z_MM) <= 6.0
    for name in ("common_iliac_vein_left", "external_iliac_vein_left", "internal_iliac_vein_left"):
        assert _dice(truth, labels, name) >= 0.7, (name, notes)


def test_a_left_common_iliac_vein_leaving_the_confluence_nearly_horizontally_makes_the_confluence():
    # its first 45 mm head 13 degrees below the horizontal (z component of the direction
    # -0.22), as behind the right common iliac artery; the right one heads down steeply
    flat = [([(45, 20, -45), (24, 8, -10), (-20, 0, 0)], 7.0, {})]
    truth, labels, notes, grid, _ = _named_anatomy(replace={"common_iliac_vein_left": flat})
    assert abs(_z_range_mm(labels, grid, "ivc")[0] - CONFLUENCE_Z_MM) <= 6.0, notes
    for name in ("common_iliac_vein_left", "common_iliac_vein_right", "external_iliac_vein_left",
                 "internal_iliac_vein_left"):
        assert _dice(truth, labels, name) >= 0.85, (name, notes)


def test_the_external_iliac_vein_is_the_forward_branch_even_when_cut_short():
    # the left external iliac vein ends (occluded) above the internal iliac vein's end
    short = [([(60, 0, -90), (45, 20, -45)], 6.5, {})]
    truth, labels, notes, _, _ = _named_anatomy(replace={"external_iliac_vein_left": short})
    for name in ("external_iliac_vein_left", "internal_iliac_vein_left", "common_iliac_vein_left"):
        assert _dice(truth, labels, name) >= 0.8, (name, notes)


def test_an_external_iliac_vein_heading_down_more_than_forward_still_divides_from_the_internal():
    # the left external iliac vein leaves the division almost straight down (y component
    # of its heading about -0.2), the internal iliac vein heads back
    down = [([(70, -30, -150), (52, 12, -95), (45, 20, -45)], 6.5, {})]
    truth, labels, notes, _, _ = _named_anatomy(replace={"external_iliac_vein_left": down})
    for name in ("external_iliac_vein_left", "internal_iliac_vein_left", "common_iliac_vein_left"):
        assert _dice(truth, labels, name) >= 0.8, (name, notes)


def test_the_ivc_continues_above_a_narrowing():
    # a filling defect narrows the IVC to 2.5 mm between 60 and 78 mm; the seed lies below
    ivc = [([(-20, 0, 0), (-20, 0, 60)], 10.0, {"round_end": True}),
           ([(-20, 0, 60), (-20, 0, 78)], 2.5, {}),
           ([(-20, 0, 150), (-20, 0, 78)], 10.0, {"round_end": True})]
    truth, labels, notes, grid, _ = _named_anatomy(replace={"ivc": ivc}, seed_z=(10.0, 55.0))
    assert _z_range_mm(labels, grid, "ivc")[1] >= 140.0
    for name in ("ivc", "renal_vein_left", "renal_vein_right", "common_iliac_vein_left"):
        assert _dice(truth, labels, name) >= 0.85, (name, notes)


def test_a_renal_vein_ends_where_it_widens_into_the_kidney():
    # an enhancing kidney merged with the right renal vein's end in the vein envelope
    truth, labels, _, _, kidney = _named_anatomy(extra=((-85.0, 25.0, 110.0), (25.0, 20.0, 35.0)))
    assert (kidney & (labels > 0)).sum() < 0.1 * kidney.sum()
    assert _dice(truth, labels, "renal_vein_right") >= 0.5
    assert _dice(truth, labels, "ivc") >= 0.85


def test_the_renal_vein_is_the_widest_lateral_branch_not_the_farthest():
    # a thin bright strand (r 1.5 mm: liver speckle, a capsular vein) leaves the IVC above
    # the right renal vein and reaches farther out than it
    strand = ([(-20, 0, 135), (-90, 10, 128)], 1.5, {})
    ivc = [(ANATOMY["ivc"][0], ANATOMY["ivc"][1], {}), strand]
    truth, labels, notes, grid, _ = _named_anatomy(replace={"ivc": ivc})
    assert _dice(truth, labels, "renal_vein_right") >= 0.85, notes
    far = grid.index_to_lps(np.argwhere(labels == LABELS["renal_vein_right"]))[:, 0] - ORIGIN[0]
    assert far.min() > -70.0  # the strand's far end is not the renal vein


def test_the_renal_vein_runs_out_not_down_a_wider_gonadal_vein_drifting_out_is_not_it():
    # the right gonadal vein, wider than the right renal vein, leaves the IVC 25 mm below it
    # and drifts 30 mm out as it descends the first 40 mm: it reaches out at the renal
    # vein's level but runs down more than out
    gonadal = ([(-40, -5, -165), (-50, -10, -60), (-52, -10, 40), (-20, 0, 85)], 5.5, {})
    truth, labels, notes, _, _ = _named_anatomy(replace={"gonadal_vein_right": [gonadal]})
    assert _dice(truth, labels, "renal_vein_right") >= 0.85, notes
    assert _dice(truth, labels, "gonadal_vein_right") >= 0.85, notes


def test_a_renal_vein_ends_at_a_neck_onto_a_band_of_organ_contact():
    # past the right renal vein's end, a one-voxel neck leads into a 40 mm band of partial
    # volume where kidney meets liver (r 3 mm): organ contact, not vein
    neck = ([(-62, 15, 110), (-69, 15, 110)], 0.8, {})
    band = ([(-69, 15, 110), (-95, 25, 104), (-99, 30, 96)], 3.0, {})
    renal = [(ANATOMY["renal_vein_right"][0], ANATOMY["renal_vein_right"][1], {}), neck, band]
    truth, labels, notes, grid, _ = _named_anatomy(replace={"renal_vein_right": renal})
    assert ndi.label(truth > 0, np.ones((3, 3, 3)))[1] == 1  # the band hangs on the vein
    x = grid.index_to_lps(np.argwhere(labels == LABELS["renal_vein_right"]))[:, 0] - ORIGIN[0]
    assert x.min() > -70.0, notes  # nothing named renal vein past the neck
    vein = truth == LABELS["renal_vein_right"]
    vein &= (grid.index_to_lps(np.argwhere(np.ones(grid.shape, bool)))[:, 0] - ORIGIN[0] >= -62).reshape(grid.shape)
    assert (labels[vein] == LABELS["renal_vein_right"]).mean() >= 0.8


def _cord_narrowed_left_iliac(civ_left_radius_mm):
    # a cord fills the IVC's last 40 mm and the left common iliac vein, whose lumen (in the
    # envelope) is thinner than the right one's, as thin as the IVC's lumen above the split;
    # the left external iliac vein reaches lower than the right iliac veins
    ivc = [([(-20, 0, 0), (-20, 0, 40)], 7.0, {"round_end": True}),
           ([(-20, 0, 150), (-20, 0, 40)], 10.0, {"round_end": True})]
    civ_l = [(ANATOMY["common_iliac_vein_left"][0], civ_left_radius_mm, {})]
    eiv_l = [([(70, -30, -160), (60, 0, -90), (45, 20, -45)], 6.5, {})]
    return _named_anatomy(replace={"ivc": ivc, "common_iliac_vein_left": civ_l, "external_iliac_vein_left": eiv_l},
                          seed_z=(60.0, 100.0))


@pytest.mark.parametrize("civ_left_radius_mm", [4.6, 3.4])
def test_a_cord_narrowed_left_common_iliac_vein_still_makes_the_confluence(civ_left_radius_mm):
    # 4.6 or 3.4 mm against 7 mm: not of like calibre by the strict rule (nor, at 3.4, half
    # the IVC's calibre), but it parts from the right one at a wide angle, as no tributary does
    truth, labels, notes, grid, _ = _cord_narrowed_left_iliac(civ_left_radius_mm)
    assert abs(_z_range_mm(labels, grid, "ivc")[0] - CONFLUENCE_Z_MM) <= 6.0, notes
    for name in ("common_iliac_vein_right", "external_iliac_vein_right", "common_iliac_vein_left",
                 "external_iliac_vein_left"):
        assert _dice(truth, labels, name) >= 0.7, (name, notes)


def test_without_a_confluence_the_iliac_side_is_where_the_trunk_goes_not_the_lowest_end():
    # the left common iliac vein is a 2.5 mm thread: the IVC ends where it narrows, and the
    # iliac vein the trunk runs on into is the right one, though the left external iliac
    # vein (reached through the thread) ends lower
    truth, labels, notes, _, _ = _cord_narrowed_left_iliac(2.5)
    assert not (labels == LABELS["external_iliac_vein_left"]).any() or _dice(truth, labels, "external_iliac_vein_left") > 0.5
    for name in ("external_iliac_vein_right", "internal_iliac_vein_right"):
        assert _dice(truth, labels, name) >= 0.8, (name, notes)


def test_the_internal_iliac_stub_past_the_uterine_vein_is_internal_iliac():
    # the internal iliac vein ends 9 mm past where the uterine vein leaves it: too short a
    # stub for a branch of its own, it is still the (wider) internal iliac vein
    iiv = [([(41, 61, -112), (45, 45, -80), (45, 20, -45)], 5.5, {})]
    truth, labels, notes, _, _ = _named_anatomy(replace={"internal_iliac_vein_left": iiv})
    for name in ("internal_iliac_vein_left", "uterine_vein_left"):
        assert _dice(truth, labels, name) >= 0.9, (name, notes)


def test_where_the_internal_iliac_vein_turns_into_the_uterine_vein_the_calibre_drop_divides_them():
    # the internal iliac vein's end runs down and a little forward, then the uterine vein
    # (r 3 mm) leaves from its very end: no stub; the most posterior point is not the end
    iiv = [([(41, 58, -124), (42, 65, -110), (45, 45, -80), (45, 20, -45)], 5.5, {})]
    ut = [([(15, 10, -112), (30, 30, -120), (41, 58, -124)], 3.0, {})]
    truth, labels, notes, _, _ = _named_anatomy(replace={"internal_iliac_vein_left": iiv, "uterine_vein_left": ut})
    for name in ("internal_iliac_vein_left", "uterine_vein_left"):
        assert _dice(truth, labels, name) >= 0.9, (name, notes)


def test_the_one_vein_below_a_common_iliac_vein_heading_back_is_the_internal_iliac():
    # the right external iliac vein is lost (a complete occlusion the envelope missed): the
    # common iliac vein goes on into the internal iliac vein alone, heading back into the
    # pelvis, with its uterine branch. It was named the external iliac vein (the vein below
    # an undivided common iliac vein) and its uterine branch went unnamed
    truth, labels, notes, _, _ = _named_anatomy(skip=("external_iliac_vein_right",))
    assert not (labels == LABELS["external_iliac_vein_right"]).any()
    for name in ("common_iliac_vein_right", "internal_iliac_vein_right"):
        assert _dice(truth, labels, name) >= 0.85, (name, notes)
    # the reason reported for the missing vein is this one
    assert [n for n in notes if n.startswith("external_iliac_vein_right")][0].startswith(
        "external_iliac_vein_right: not found (the one vein below")


def _chain_tree(radii_mm, step_mm=1.0):
    """A straight skeleton along -z, one node per ``step_mm``, radii given per node."""
    n = len(radii_mm)
    pos = np.zeros((n, 3))
    pos[:, 2] = -step_mm * np.arange(n)
    i = np.arange(n - 1)
    graph = sparse.coo_matrix((np.full(n - 1, step_mm), (i, i + 1)), shape=(n, n)).tocsr()
    return build_tree(pos, np.asarray(radii_mm, float), graph + graph.T, 0)


def test_calibre_is_the_median_radius_beyond_the_parent_lumen_in_mm():
    # 8 mm parent lumen at the origin, then 4 mm for 20 mm, 6 mm beyond (a narrowed start)
    radii = [8.0] * 9 + [4.0] * 20 + [6.0] * 40
    for step in (0.5, 1.0):
        t = _chain_tree(np.repeat(radii, int(1 / step)), step)
        path = list(range(1, len(t.pos)))
        assert calibre(t, 0, path, 20.0) == pytest.approx(4.0)
        assert calibre(t, 0, path, 20.0, windows=3) == pytest.approx(6.0)
        np.testing.assert_allclose(direction(t, 0, path), [0.0, 0.0, -1.0])
    # a spur that never leaves the parent's lumen has no calibre
    t = _chain_tree([8.0] * 6)
    assert np.isnan(calibre(t, 0, list(range(1, 6))))


def test_a_tributary_ends_at_its_organ_not_at_a_neck_where_it_joins():
    # a renal vein (5 mm) leaving the IVC (9 mm) through a 1.5 mm neck 11-15 mm out (its
    # skeleton reaching it through a thin contact beside the junction), into the kidney
    # (12 mm) 60 mm out
    from vascseg.segment._caval import until_widening

    radii = [9.0] + [7.0] * 8 + [4.0] * 2 + [1.5] * 5 + [5.0] * 45 + [12.0] * 30
    t = _chain_tree(radii)
    vein = until_widening(t, list(range(1, len(radii))))
    assert 55 <= vein[-1] <= 70
    # a neck past the vein's first calibre window is an organ contact: it ends the vein
    radii = [9.0] + [5.0] * 40 + [1.5] * 3 + [5.0] * 30
    t = _chain_tree(radii)
    assert until_widening(t, list(range(1, len(radii))))[-1] == 40


def test_a_renal_vein_ends_at_the_kidneys_surface_not_where_the_kidney_widens():
    # a renal vein (5 mm) leaving the IVC (9 mm), 40 mm long, then the skeleton runs on
    # through a thin lip of kidney (3 mm, around the renal sinus) for 15 mm into the
    # kidney's body (12 mm)
    from vascseg.segment._caval import until_organ, until_widening

    radii = [9.0] + [5.0] * 40 + [3.0] * 15 + [12.0] * 30
    t = _chain_tree(radii)
    path = list(range(1, len(radii)))
    assert until_widening(t, path)[-1] >= 55  # the widening is past the lip
    assert until_organ(t, path, 1.5)[-1] == 40  # the vein's last node before the lip
    # a narrowing by no more than a voxel (radii are whole steps of the grid) is none
    assert until_organ(t, path, 2.5)[-1] == until_widening(t, path)[-1]
    # without an organ beyond it a narrowing is no surface: the vein runs on
    radii = [9.0] + [5.0] * 40 + [3.0] * 15 + [5.0] * 30
    t = _chain_tree(radii)
    assert until_organ(t, list(range(1, len(radii))), 1.5)[-1] == len(radii) - 1


def test_wide_path_follows_calibre_and_heading_not_volume():
    # a trunk (radius 8 mm) 100 mm down -z, narrowed to 2.5 mm from 28 to 45 mm by a defect;
    # at 25 mm a 5 mm branch leaves caudally to the side; at 10 mm a thin lateral neck
    # leads into a wide blob (an organ: 12 mm over 60 mm) holding more volume than the trunk
    trunk = [(0.0, 0.0, -float(k)) for k in range(101)]
    branch = [(k / np.sqrt(2), 0.0, -25.0 - k / np.sqrt(2)) for k in range(1, 41)]
    neck = [(-float(k), 0.0, -10.0) for k in range(1, 71)]
    pos = np.array(trunk + branch + neck)
    r_trunk = np.where((np.arange(101) >= 28) & (np.arange(101) <= 45), 2.5, 8.0)
    r_neck = np.where(np.arange(1, 71) <= 10, 3.0, 12.0)
    radius = np.r_[r_trunk, np.full(len(branch), 5.0), r_neck]
    edges = [(k, k + 1) for k in range(100)]
    edges += [(25, 101)] + [(101 + k, 102 + k) for k in range(39)]
    edges += [(10, 141)] + [(141 + k, 142 + k) for k in range(69)]
    a, b = np.array(edges).T
    w = np.linalg.norm(pos[a] - pos[b], axis=1)
    graph = sparse.coo_matrix((w, (a, b)), shape=(len(pos), len(pos))).tocsr()
    t = build_tree(pos, radius, graph + graph.T, 0)
    assert main_path(t, 0)[-1] == len(pos) - 1  # the most volume: into the organ
    assert wide_path(t, 0, heading=CAUDAL)[-1] == 100  # calibre and heading: down the trunk


def test_wide_path_takes_the_branch_reaching_down_when_none_sets_off_down():
    # at 20 mm down a trunk (radius 9 mm) both children leave sideways: the wider one (6 mm)
    # into a blob (a kidney) ending 15 mm lower; the narrower one (5 mm) runs 30 mm along a
    # tributary's junction before the vein turns down for 100 mm
    trunk = [(0.0, 0.0, -float(k)) for k in range(21)]
    blob = [(-float(k), 0.0, -20.0 - 0.25 * k) for k in range(1, 61)]
    side = [(float(k), 0.0, -20.0) for k in range(1, 31)]
    down = [(30.0, 0.0, -20.0 - float(k)) for k in range(1, 101)]
    pos = np.array(trunk + blob + side + down)
    radius = np.r_[np.full(21, 9.0), np.full(60, 6.0), np.full(130, 5.0)]
    edges = [(k, k + 1) for k in range(20)] + [(20, 21)] + [(21 + k, 22 + k) for k in range(59)]
    edges += [(20, 81)] + [(81 + k, 82 + k) for k in range(129)]
    a, b = np.array(edges).T
    w = np.linalg.norm(pos[a] - pos[b], axis=1)
    graph = sparse.coo_matrix((w, (a, b)), shape=(len(pos), len(pos))).tocsr()
    t = build_tree(pos, radius, graph + graph.T, 0)
    assert wide_path(t, 0)[-1] == 80  # calibre alone: into the blob
    assert wide_path(t, 0, heading=CAUDAL)[-1] == len(pos) - 1  # the vein going on down


# --------------------------------------------------------------------------- vein interior
def _grid(spacing, size_mm):
    shape = tuple(int(round(s / d)) for s, d in zip(size_mm, spacing, strict=True))
    return np.meshgrid(*[np.arange(n) * d for n, d in zip(shape, spacing, strict=True)], indexing="ij")


def _render(spacing, values, rng, noise=8.0):
    """Partial-volume-free scene smoothed like the pipeline does (0.7 mm) plus noise."""
    img = values.astype(np.float32)
    img = ndi.gaussian_filter(img, [0.7 / s for s in spacing])
    return img + rng.normal(0, noise, img.shape).astype(np.float32)


def _adherent_defect_scene(spacing, rng):
    """A vein (r 8 mm, along z) in fat, its middle third holding a defect (r 6 mm) that
    touches the wall (offset 2 mm along +x): the lumen there is a crescent."""
    Z, Y, X = _grid(spacing, (90.0, 50.0, 50.0))
    vein = (Y - 25) ** 2 + (X - 25) ** 2 <= 64
    defect = ((Y - 25) ** 2 + (X - 27) ** 2 <= 36) & (Z > 30) & (Z < 60)
    values = np.where(vein, 180.0, -100.0)
    values[defect] = 50.0
    img = _render(spacing, values, rng)
    return img, vein, defect


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 1.0, 1.0)])
def test_tube_model_recovers_the_part_of_a_wall_adherent_defect_no_closing_reaches(spacing):
    from vascseg.segment._tubes import fill_tubes, vote_centres

    img, vein, defect = _adherent_defect_scene(spacing, np.random.default_rng(3))
    lumen = img >= 120
    soft = (img >= -10) & (img < 120)
    votes = vote_centres(lumen, img, spacing, passable=soft | lumen, r_max_mm=12.0)
    interior = fill_tubes(votes, lumen, spacing, passable=soft | lumen, margin_mm=1.0)
    Z, Y, X = _grid(spacing, (90.0, 50.0, 50.0))
    # the cap beyond the crescent's tips: within 3 mm of the wall the defect touches
    cap = defect & (X > 30)
    vol = float(np.prod(spacing))
    assert (interior & defect).sum() >= 0.85 * defect.sum()
    assert (interior & cap).sum() >= 0.5 * cap.sum()
    # a closing of the crescent (the previous envelope) cannot reach that cap
    closed = closing_mm(lumen, 12.0, spacing)
    assert (closed & cap).sum() < 0.5 * cap.sum()
    # and the model does not grow beyond the vessel
    assert (interior & ~ndi.binary_dilation(vein)).sum() * vol < 0.03 * vein.sum() * vol


def _defect_against_muscle_scene(spacing, rng):
    """A vein (r 7 mm, along z) in fat with muscle (as dense as a defect) against its +x
    side; its middle third holds a defect (r 5 mm, offset 2 mm towards the muscle), so the
    lumen there is a crescent opening onto the muscle."""
    Z, Y, X = _grid(spacing, (90.0, 50.0, 60.0))
    vein = (Y - 25) ** 2 + (X - 25) ** 2 <= 49
    muscle = (np.abs(Y - 25) <= 14) & (X > 29) & (X < 55) & ~vein
    defect = ((Y - 25) ** 2 + (X - 27) ** 2 <= 25) & (Z > 30) & (Z < 60)
    values = np.where(vein, 180.0, -100.0)
    values[muscle | defect] = 50.0
    return _render(spacing, values, rng), vein, defect, muscle, (Z, Y, X)


@pytest.mark.parametrize("spacing,seed", [((1.0, 1.0, 1.0), 5), ((2.5, 1.5, 1.5), 6)])
def test_defect_cores_fill_the_sectors_beside_a_crescent_that_opens_onto_muscle(spacing, seed):
    from vascseg.segment._tubes import core_centres, fill_cores, fill_tubes, vote_centres

    img, vein, defect, muscle, (Z, Y, X) = _defect_against_muscle_scene(spacing, np.random.default_rng(seed))
    lumen = img >= 120
    passable = (img >= -10) & (img < 120) | lumen
    votes = vote_centres(lumen, img, spacing, passable=passable, r_max_mm=12.0)
    tubes = fill_tubes(votes, lumen, spacing, passable=passable, margin_mm=1.0, min_cover=2)
    cores = fill_cores(votes, lumen, spacing, passable=passable, margin_mm=0.5 * spacing[1], min_cover=2)
    # the sectors beside the crescent: neither facing it nor opposite it
    side = defect & (np.abs(Y - 25) > 2.5) & (X > 26)
    assert (tubes & side).sum() < 0.6 * side.sum()  # what the diameters leave
    assert ((tubes | cores) & side).sum() >= 0.8 * side.sum()
    assert ((tubes | cores) & defect).sum() >= 0.9 * defect.sum()
    # the cores lie on the vein's axis, inside the defect, and only where it is; their
    # radius is the lumen edge's distance from the axis (about half a voxel inside the wall)
    centres, radius = core_centres(votes, lumen, spacing, passable=passable)
    c = centres * np.asarray(spacing)
    assert len(c) and np.all((c[:, 0] > 25) & (c[:, 0] < 65))
    assert np.median(np.hypot(c[:, 1] - 25, c[:, 2] - 25)) < 1.5
    assert 5.0 <= np.median(radius) <= 7.0
    # nothing beyond the vein's wall by more than two in-plane voxels (a core's radius is
    # read on coarse grids), not the muscle, not the far side of the crescent
    assert not (cores & (np.hypot(Y - 25, X - 25) > 7.0 + 2 * spacing[1])).any()
    # no core where the lumen is whole (above and below the defect)
    assert not (cores & (Z < 25)).any() and not (cores & (Z > 65)).any()


def test_gradient_mm_keeps_the_slope_across_thick_slices():
    from vascseg.segment._tubes import gradient_mm

    spacing = (2.5, 0.8, 0.8)
    Z, Y, X = _grid(spacing, (60.0, 30.0, 30.0))
    img = (3.0 * Z - 2.0 * X + 0.5 * Y).astype(np.float32)  # units per mm
    gz, gy, gx = gradient_mm(img, spacing)
    inner = (slice(4, -4), slice(6, -6), slice(6, -6))  # away from the border effects
    np.testing.assert_allclose(gz[inner], 3.0, rtol=0.02)
    np.testing.assert_allclose(gy[inner], 0.5, rtol=0.02)
    np.testing.assert_allclose(gx[inner], -2.0, rtol=0.02)


@pytest.mark.parametrize("tilt_deg", [35.0, 55.0])
def test_wall_votes_of_an_oblique_vein_find_its_axis(tilt_deg):
    """A vein (r 6 mm) tilted from the slice normal, on 2.5 mm slices: the walls' inward
    directions are perpendicular to its axis and their votes land on it."""
    from vascseg.segment._tubes import vote_centres

    spacing = (2.5, 0.8, 0.8)
    Z, Y, X = _grid(spacing, (80.0, 40.0, 90.0))
    a = np.radians(tilt_deg)
    axis = np.array([np.cos(a), 0.0, np.sin(a)])  # (z, y, x)
    rel = np.stack([Z - 40.0, Y - 20.0, X - 45.0], -1)
    off = rel - (rel @ axis)[..., None] * axis
    vein = np.linalg.norm(off, axis=-1) <= 6.0
    img = _render(spacing, np.where(vein, 180.0, -100.0), np.random.default_rng(int(tilt_deg)))
    lumen = img >= 40
    votes = vote_centres(lumen, img, spacing, passable=lumen | (img >= -10), r_max_mm=12.0)
    p = votes.voxel * np.asarray(spacing) - [40.0, 20.0, 45.0]  # mm from a point on the axis
    mid = np.abs(p @ axis) < 20.0  # away from the ends
    ok = votes.consistent & mid
    assert ok.sum() >= 0.9 * mid.sum()
    angle = np.degrees(np.arcsin(np.clip(np.abs(votes.direction[ok] @ axis), 0, 1)))
    assert np.median(angle) < 6.0
    # each wall voxel's radius is its own distance to the axis (edge voxels lie up to a
    # slice inside the wall), and its centre lies on the axis
    to_axis = np.linalg.norm(p - (p @ axis)[:, None] * axis, axis=1)
    assert abs(np.median(votes.radius_mm[ok] - to_axis[ok])) < 0.3
    c = p + votes.radius_mm[:, None] * votes.direction
    assert np.median(np.linalg.norm(c - (c @ axis)[:, None] * axis, axis=1)[ok]) < 0.8


def test_tube_model_leaves_muscle_between_two_veins_alone():
    from vascseg.segment._tubes import fill_cores, fill_tubes, vote_centres

    spacing = (2.0, 1.0, 1.0)
    Z, Y, X = _grid(spacing, (60.0, 40.0, 70.0))
    a = (Y - 20) ** 2 + (X - 20) ** 2 <= 36
    b = (Y - 20) ** 2 + (X - 50) ** 2 <= 36
    muscle = (np.abs(Y - 20) < 10) & (X > 20) & (X < 50) & ~a & ~b
    values = np.where(a | b, 180.0, -100.0)
    values[muscle] = 50.0
    img = _render(spacing, values, np.random.default_rng(4))
    lumen = img >= 120
    soft = (img >= -10) & (img < 120)
    votes = vote_centres(lumen, img, spacing, passable=soft | lumen, r_max_mm=12.0)
    interior = fill_tubes(votes, lumen, spacing, passable=soft | lumen, margin_mm=1.0, min_cover=2)
    interior |= fill_cores(votes, lumen, spacing, passable=soft | lumen, margin_mm=0.5, min_cover=2)
    outside = interior & muscle & ~ndi.binary_dilation(a | b)
    assert outside.sum() < 0.02 * muscle.sum()


def test_crescent_links_join_a_vein_piece_through_its_crescent_only():
    from vascseg.segment._interior import crescent_links

    spacing = (2.5, 1.5, 1.5)
    Z, Y, X = _grid(spacing, (100.0, 60.0, 90.0))
    r2 = (Y - 30) ** 2 + (X - 30) ** 2
    tree = (r2 <= 36) & (Z >= 70)  # the vein above, connected to the IVC
    piece = (r2 <= 36) & (Z <= 40)  # the vein below, cut off
    # between them a cord fills the vein but for a 2 mm crescent against its wall
    crescent = (r2 <= 36) & (r2 > 16) & (X > 33) & (Z > 40) & (Z < 70)
    # a solid bright blob (r 8 mm, smaller than the piece) on the other side, and a big thin
    # sheet, each touching both
    blob = ((Y - 30) ** 2 + (X - 9) ** 2 + (Z - 50) ** 2 <= 64)
    bar = (np.abs(Y - 30) <= 1.5) & (X > 12) & (X < 25) & (Z > 40) & (Z < 60)
    blob_tree = (np.abs(Y - 30) <= 1.5) & (X > 12) & (X < 27) & (Z >= 70) & (Z < 76)
    blob_piece = (np.abs(Y - 30) <= 1.5) & (X > 12) & (X < 27) & (Z > 34) & (Z <= 40)
    blob |= bar | (np.abs(X - 13) <= 1.5) & (np.abs(Y - 30) <= 1.5) & (Z > 34) & (Z < 76)
    sheet = (np.abs(Y - 50) <= 1.0) & (Z > 5) & (Z < 95)
    sheet_ends = (np.abs(X - 30) <= 1.0) & (Y > 35) & (Y < 50) & ((Z > 70) & (Z < 74) | (Z > 30) & (Z < 34))
    bright = crescent | blob | blob_tree | blob_piece | sheet | sheet_ends
    links = crescent_links(bright & ~tree & ~piece, tree, piece, spacing, max_half_thickness_mm=3.0,
                           max_width_mm=24.0)
    assert (links & crescent).sum() >= 0.9 * crescent.sum()
    assert not (links & blob).any()
    assert not (links & sheet).any()
    # without the tree or without the piece there is nothing to link
    assert not crescent_links(crescent, tree, np.zeros_like(piece), spacing, max_half_thickness_mm=3.0,
                              max_width_mm=24.0).any()
    # a short stump beyond a long crescent (a vein running on past the cord, cut off again)
    # is linked too: the crescent is narrow, whatever its length
    stump = piece & (Z > 38)  # one slice
    links = crescent_links(bright & ~tree & ~stump, tree, stump, spacing, max_half_thickness_mm=3.0,
                           max_width_mm=24.0)
    assert crescent.sum() > stump.sum()
    assert (links & crescent).sum() >= 0.9 * crescent.sum()
    assert not (links & sheet).any()


def test_a_crescent_between_two_pieces_links_them_though_neither_touches_the_tree_yet():
    # the vein's nearer piece reaches the tree only by a bridge through an occlusion,
    # found later; the crescent around the cord between the two pieces links them now
    from vascseg.segment._interior import crescent_links

    spacing = (2.5, 1.5, 1.5)
    Z, Y, X = _grid(spacing, (100.0, 60.0, 90.0))
    r2 = (Y - 30) ** 2 + (X - 30) ** 2
    tree = ((Y - 30) ** 2 + (X - 75) ** 2 <= 36) & (Z >= 50)  # another vein, apart
    near = (r2 <= 36) & (Z >= 70) & (Z < 90)
    far = (r2 <= 36) & (Z <= 40)
    crescent = (r2 <= 36) & (r2 > 16) & (X > 33) & (Z > 40) & (Z < 70)
    spur = (r2 <= 36) & (r2 > 16) & (X < 27) & (Z > 40) & (Z < 55)  # touches the far piece only
    links = crescent_links(crescent | spur, tree, near | far, spacing, max_half_thickness_mm=3.0,
                           max_width_mm=24.0)
    assert (links & crescent).sum() >= 0.9 * crescent.sum()
    assert not (links & spur).any()
    # one piece alone, the crescent a dead end: nothing to link
    assert not crescent_links(crescent | spur, tree, far, spacing, max_half_thickness_mm=3.0,
                              max_width_mm=24.0).any()


@pytest.mark.parametrize("lumen_to", [8, 12])
def test_split_edge_moves_the_lumen_defect_boundary_to_half_contrast_either_way(lumen_to):
    # lumen (180) for x < 10, a cord (50) beyond; the lumen mask stops two voxels short of the
    # boundary (the wall votes filled a crescent dimmed by smoothing) or runs two voxels past it
    from vascseg.segment._interior import split_edge

    img = np.full((5, 5, 20), 50.0)
    img[..., :10] = 180.0
    lum = np.zeros(img.shape, bool)
    lum[..., :lumen_to] = True
    out = split_edge(lum, ~lum, img, np.full(img.shape, 115.0), into_lumen=lumen_to < 10)
    assert out[..., :10].all()
    assert not out[..., 10:].any()


def test_defects_in_keeps_a_solid_defect_and_drops_partial_volume_shells():
    from vascseg.segment.defects import defects_in

    spacing = (2.5, 1.5, 1.5)
    Z, Y, X = _grid(spacing, (60.0, 60.0, 60.0))
    lumen = (Y - 30) ** 2 + (X - 30) ** 2 <= 49
    shell = ((Y - 30) ** 2 + (X - 30) ** 2 <= 81) & ~lumen & (Z < 25)  # one voxel thick ring
    blob = (Z - 45) ** 2 + (Y - 30) ** 2 + (X - 30) ** 2 <= 16
    lumen &= ~blob
    env = lumen | shell | blob
    out = defects_in(env, lumen, env.astype(np.uint8), spacing, min_volume_ml=0.05)
    assert (out & blob).sum() == blob.sum()
    assert not (out & shell).any()


@pytest.mark.parametrize("dark_cord", [True, False])
def test_defects_in_keeps_a_dark_cord_two_thick_slices_deep_only(dark_cord):
    """A small vein running in the slice plane (2.5 mm slices): a cord two slices thick has no
    core of six face neighbours; darker than any partial volume of lumen and fat, it stays, a
    partial-volume sheet as wide (one slice) does not, dark or not."""
    from vascseg.segment.defects import defects_in

    spacing = (2.5, 1.5, 1.5)
    Z, Y, X = _grid(spacing, (30.0, 40.0, 60.0))
    k = np.rint(Z / 2.5).astype(int)
    vein = ((Y - 20) ** 2 <= 16) & (k >= 4) & (k <= 7) & (X > 5) & (X < 55)
    cord = vein & (k >= 5) & (k <= 6) & (X > 20) & (X < 35)  # two slices, 6 x 15 mm in-plane
    sheet = vein & (k == 4) & (X > 40) & (X < 52)  # the vein's bottom slice, partial volume
    lumen = vein & ~cord & ~sheet
    dark = cord.copy() if dark_cord else np.zeros_like(cord)
    dark |= sheet  # dark or not, one slice has no core
    env = vein
    out = defects_in(env, lumen, env.astype(np.uint8), spacing, min_volume_ml=0.05, dark=dark)
    assert (out & cord).sum() == (cord.sum() if dark_cord else 0)
    assert not (out & sheet).any()
    # without the dark mask the cord is a shell too
    assert not defects_in(env, lumen, env.astype(np.uint8), spacing, min_volume_ml=0.05).any()


def _fractions(spacing, shape, inside, n=5):
    """In-plane fraction (n x n subsamples) of each voxel where ``inside(y_mm, x_mm)`` holds
    (a scene uniform along z)."""
    dy, dx = spacing[1:]
    y = ((np.arange(shape[1] * n) + 0.5) * dy / n)[:, None]
    x = ((np.arange(shape[2] * n) + 0.5) * dx / n)[None, :]
    frac = inside(y, x).reshape(shape[1], n, shape[2], n).mean(axis=(1, 3))
    return np.broadcast_to(frac, shape)


@pytest.mark.parametrize("noise_seed", [7, 8, 9])
def test_a_t1_cord_grows_into_its_partial_volume_rim_against_fat_not_into_muscle(noise_seed):
    """T1 MR: a cord (0) in a vein, darker than the fat (40) around it, brighter than muscle
    (-78). The vessel interior stopped a voxel inside the wall where the cord lies against
    it; the rim voxels more cord than fat are defect and take the vein's name; fat, the
    lumen and the muscle beyond the wall are not; without fat brighter than the cord (CT)
    nothing grows."""
    from vascseg.segment.defects import defect_rims

    spacing, shape = (2.5, 1.5, 1.5), (12, 30, 30)

    def in_vein(y, x):
        return (y - 22.5) ** 2 + (x - 22.5) ** 2 <= 5.0 ** 2

    def in_cord(y, x):  # against the wall along an arc on the +x side
        return in_vein(y, x) & ((y - 22.5) ** 2 + (x - 25.0) ** 2 <= 4.2 ** 2)

    vein = _fractions(spacing, shape, in_vein)
    cord = _fractions(spacing, shape, in_cord)
    muscle = np.zeros(shape)
    muscle[:6] = _fractions(spacing, shape, lambda y, x: ~in_vein(y, x) & (x >= 26.0))[:6]  # lower half
    fat = 1.0 - vein - muscle
    image = 180.0 * (vein - cord) + 0.0 * cord + 40.0 * fat - 78.0 * muscle
    image += np.random.default_rng(noise_seed).normal(0.0, 3.0, shape)
    truth = cord >= 0.5
    # the interior found: the lumen, the cord beside it, not the cord in the vein's outer
    # 1.5 mm where it lies against the wall
    lumen = (vein - cord) >= 0.5
    inner = _fractions(spacing, shape, lambda y, x: (y - 22.5) ** 2 + (x - 22.5) ** 2 <= 3.5 ** 2)
    interior = (vein >= 0.5) & ((inner >= 0.5) | (vein - cord >= 0.2))
    found = truth & interior & ~lumen
    label = LABELS["gonadal_vein_right"]
    veins = np.where(interior, label, 0).astype(np.uint8)
    defects, named = defect_rims(found, veins, image, fat_hu=40.0)

    def dice(a, z):
        return 2 * (a[z] & truth[z]).sum() / (a[z].sum() + truth[z].sum())

    fat_side = slice(6, None)  # where fat, not muscle, lies beyond the wall
    assert dice(found, fat_side) < 0.85 and dice(defects, fat_side) > 0.93
    added = defects & ~found
    assert (named[added] == label).all() and (named[~added] == veins[~added]).all()
    assert (cord[added] > 0.25).all()  # fat is not rim
    # the muscle beyond the wall, within the rim's reach, is darker than the cord: not taken
    reach = ndi.binary_dilation(found, ndi.generate_binary_structure(3, 1), iterations=2) & (veins == 0)
    assert (reach & (muscle > 0.5)).any() and not (added & (muscle > 0.5)).any()
    same, _ = defect_rims(found, veins, image, fat_hu=-100.0)
    assert (same == found).all()


# --------------------------------------------------------------------------- occlusion bridge
@pytest.mark.parametrize("seed", [3, 11])
def test_minimal_paths_over_passable_voxels_match_scikit_image(seed):
    # the sparse search must give MCP_Geometric's cumulative costs on anisotropic voxels,
    # with impassable voxels and a limit; its traceback must be a 26-connected path whose
    # own cost is the end's cumulative cost
    from skimage.graph import MCP_Geometric

    from vascseg.segment._paths import MinimalPaths

    rng = np.random.default_rng(seed)
    spacing = (2.0, 0.7, 0.9)
    cost = rng.uniform(0.2, 3.0, size=(14, 17, 19))
    cost[rng.random(cost.shape) < 0.35] = np.inf
    starts = np.zeros(cost.shape, bool)
    starts[0, :4, :4] = True
    starts &= np.isfinite(cost)
    ref, _ = MCP_Geometric(cost, fully_connected=True, sampling=spacing).find_costs([tuple(p) for p in np.argwhere(starts)])
    paths = MinimalPaths(cost, starts, spacing)
    np.testing.assert_allclose(paths.costs, ref, rtol=1e-9)
    reached = np.argwhere(np.isfinite(ref) & ~starts)
    assert len(reached) > 100
    end = reached[np.argmax(ref[tuple(reached.T)])]
    path = paths.traceback(end)
    assert starts[tuple(path[0])] and tuple(path[-1]) == tuple(end)
    step = np.diff(path, axis=0)
    assert np.abs(step).max() == 1 and (np.abs(step).sum(axis=1) > 0).all()
    c = cost[tuple(path.T)]
    walked = float(np.sum(0.5 * (c[1:] + c[:-1]) * np.linalg.norm(step * spacing, axis=1)))
    assert walked == pytest.approx(ref[tuple(end)], rel=1e-9)
    limit = float(np.median(ref[np.isfinite(ref)]))
    near = MinimalPaths(cost, starts, spacing, limit=limit).costs
    assert np.array_equal(np.isfinite(near), ref <= limit)
    np.testing.assert_allclose(near[np.isfinite(near)], ref[np.isfinite(near)], rtol=1e-9)


def _occlusion_scene(between: float, spacing=(2.0, 1.0, 1.0)):
    """A vein (r 5 mm) along z, enhanced below z 30 and above z 70 mm; in between it is
    filled with tissue of value ``between`` (a complete occlusion when hypodense)."""
    Z, Y, X = _grid(spacing, (100.0, 40.0, 40.0))
    vein = (Y - 20) ** 2 + (X - 20) ** 2 <= 25
    lower, upper = vein & (Z < 30), vein & (Z > 70)
    values = np.full(vein.shape, -100.0)
    values[vein] = between
    values[lower | upper] = 180.0
    img = _render(spacing, values, np.random.default_rng(5), noise=5.0)
    return img, lower, upper, vein & ~lower & ~upper


@pytest.mark.parametrize("between, max_bridge, joined", [(50.0, 120.0, True), (-100.0, 120.0, False),
                                                          (50.0, 25.0, False)])
def test_bridge_joins_stumps_through_an_occluded_stretch_only(between, max_bridge, joined):
    from vascseg.segment._bridge import bridge_pieces

    spacing = (2.0, 1.0, 1.0)
    img, lower, upper, occluded = _occlusion_scene(between, spacing)
    hypo = (img >= -10) & (img < 110)
    j, interior, bridges = bridge_pieces(upper, lower, hypo, spacing, max_bridge_mm=max_bridge,
                                         max_radius_mm=12.0, image=img, lumen_level=180.0, lumen_min=120.0)
    assert bool(j.any()) is joined
    if joined:
        assert len(bridges) == 1 and 35.0 <= bridges[0].length_mm <= 50.0
        assert (interior & occluded).sum() >= 0.6 * occluded.sum()
        assert (interior & ~ndi.binary_dilation(occluded, iterations=2)).sum() == 0
    else:
        assert not interior.any()


@pytest.mark.parametrize("between, tissue_max, joined", [(50.0, 87.5, True), (100.0, None, True),
                                                          (100.0, 87.5, False)])
def test_bridge_is_not_made_of_tissue_as_bright_as_an_organ(between, tissue_max, joined):
    # a stretch of 100 HU (CT liver is 100-120 HU: inside the hypodense window, whose top is
    # the lumen threshold) is no cord when the tissue may be at most half-way between the
    # defect level and the lumen threshold
    from vascseg.segment._bridge import bridge_pieces

    spacing = (2.0, 1.0, 1.0)
    img, lower, upper, _ = _occlusion_scene(between, spacing)
    hypo = (img >= -10) & (img < 120)
    j, interior, _ = bridge_pieces(upper, lower, hypo, spacing, max_bridge_mm=120.0, max_radius_mm=12.0,
                                   image=img, lumen_level=180.0, lumen_min=120.0, tissue_max=tissue_max)
    assert bool(j.any()) is joined
    assert bool(interior.any()) is joined


@pytest.mark.parametrize("gap_mm, joined", [(4.0, True), (6.0, False)])
def test_bridge_does_not_skirt_the_edge_of_a_wider_mass(gap_mm, joined):
    # two thin veins (r 3 mm) end on either side of a hypodense mass (r 9 mm, an ovary
    # between the uterine and ovarian veins): a path from one to the other skirts the mass's
    # edge, shallow all along, but the tissue it would fill is deeper than a vein of their
    # calibre; veins whose ends nearly touch (2 mm apart) are joined still
    from vascseg.segment._bridge import bridge_pieces

    spacing = (2.0, 1.0, 1.0)
    Z, Y, X = _grid(spacing, (100.0, 50.0, 50.0))
    mass = (Z - 50) ** 2 + (Y - 25) ** 2 + (X - 25) ** 2 <= 81
    tree = ((Y - 25 + gap_mm) ** 2 + (X - 31) ** 2 <= 9) & (Z >= 50)
    piece = ((Y - 25 - gap_mm) ** 2 + (X - 31) ** 2 <= 9) & (Z <= 50)
    values = np.full(mass.shape, -100.0)
    values[mass] = 50.0
    values[tree | piece] = 180.0
    img = _render(spacing, values, np.random.default_rng(3), noise=5.0)
    lum = img >= 120.0
    hypo = (img >= -10) & (img < 110)
    j, interior, _ = bridge_pieces(lum & tree, lum & piece, hypo, spacing, max_bridge_mm=120.0,
                                   max_radius_mm=12.0, image=img, lumen_level=180.0, lumen_min=120.0)
    assert bool(j.any()) is joined
    assert bool((interior & mass).any()) is joined


@pytest.mark.parametrize("min_depth_mm", [0.0, 2.5])
def test_a_pocket_is_deeper_than_a_nook_beside_the_vein(min_depth_mm):
    # a vein (r 6 mm) along z holds a defect (r 3.5 mm) against its wall over 20 mm, wrapped
    # by a crescent of lumen; on its other side a nook of soft tissue 4.5 mm across, its
    # deepest voxel a diagonal step from its edge (the partial-volume edge of tissue touching
    # the vein), dents the wall over 7.5 mm. Both are soft tissue against the lumen and
    # bounded by fat; only the defect is a pocket.
    from vascseg.segment._interior import pockets

    spacing = (2.5, 1.5, 1.5)
    Z, Y, X = _grid(spacing, (60.0, 45.0, 45.0))
    vein = (Y - 22.5) ** 2 + (X - 22.5) ** 2 <= 36
    defect = ((Y - 22.5) ** 2 + (X - 25.0) ** 2 <= 3.5 ** 2) & (Z >= 20) & (Z <= 40)
    k = np.argwhere(vein[0])[:, 1].min()  # the vein's leftmost column
    nook = np.zeros_like(vein)
    cz, cy, cx = 20, 15, k  # a plus-shaped section, three slices thick, dented into the wall
    nook[cz - 1:cz + 2, cy, cx - 1:cx + 2] = True
    nook[cz - 1:cz + 2, cy - 1:cy + 2, cx] = True
    lumen = vein & ~defect & ~nook
    got = pockets(defect | nook, lumen, spacing, max_extent_mm=20.0, min_contact=0.3, min_depth_mm=min_depth_mm)
    assert (got & defect).sum() >= 0.8 * defect.sum()
    assert bool((got & nook).any()) is (min_depth_mm == 0.0)


def test_bridge_follows_an_occluded_vein_along_a_muscle_it_touches():
    # the occluded stretch (a cord of muscle's density, CT) of a vein (r 5 mm) runs against a
    # muscle 30 mm thick: the cheapest hypodense tube is the muscle's middle, far wider than
    # the vein, so the bridge was refused. Tissue a ball wider than any vein fits in is no
    # occluded vein; the bridge follows what is left, and fills the vein, not the muscle.
    from vascseg.segment._bridge import bridge_pieces

    spacing = (2.0, 1.0, 1.0)
    Z, Y, X = _grid(spacing, (100.0, 40.0, 70.0))
    vein = (Y - 20) ** 2 + (X - 15) ** 2 <= 25
    lower, upper = vein & (Z < 30), vein & (Z > 70)
    muscle = (X >= 20) & (X <= 50) & (Y >= 5) & (Y <= 35) & (Z >= 10) & (Z <= 90) & ~vein
    values = np.full(vein.shape, -100.0)
    values[vein | muscle] = 50.0
    values[lower | upper] = 180.0
    img = _render(spacing, values, np.random.default_rng(7), noise=5.0)
    hypo = (img >= -10) & (img < 110)
    j, interior, bridges = bridge_pieces(lower, upper, hypo, spacing, max_bridge_mm=120.0, max_radius_mm=12.0,
                                         image=img, lumen_level=180.0, lumen_min=120.0)
    assert j.any() and len(bridges) == 1
    occluded = vein & ~lower & ~upper
    assert (interior & occluded).sum() >= 0.5 * occluded.sum()
    assert not (interior & muscle & (X >= 27)).any()


@pytest.mark.parametrize("gap", ["cord", "blob"])
def test_a_stump_is_measured_where_the_bridge_reaches_it(gap):
    # the piece is a wide vein (r 7 mm) whose small tributary (r 3 mm) ends 15 mm below the
    # tree: the tributary's occluded continuation (a cord of its calibre) is bridged, an
    # ovary-like mass (r 8 mm) in the gap is not, though the wide vein would allow it
    from vascseg.segment._bridge import bridge_pieces

    spacing = (2.0, 1.0, 1.0)
    Z, Y, X = _grid(spacing, (110.0, 60.0, 60.0))
    r2 = (Y - 30) ** 2 + (X - 30) ** 2
    wide = (r2 <= 49) & (Z <= 40)
    small = (r2 <= 9) & (Z > 40) & (Z <= 60)
    tree = (r2 <= 16) & (Z >= 76)
    if gap == "cord":
        tissue = (r2 <= 9) & (Z > 60) & (Z < 76)
    else:
        tissue = r2 / 64.0 + ((Z - 68.0) / 10.0) ** 2 <= 1.0
    values = np.full(Z.shape, -100.0)
    values[tissue] = 50.0
    values[wide | small | tree] = 180.0
    img = _render(spacing, values, np.random.default_rng(3), noise=5.0)
    hypo = (img >= -10) & (img < 110)
    lumen = img >= 120
    upper = lumen & (Z >= 74)
    lower = lumen & (Z <= 62)
    j, interior, _ = bridge_pieces(upper, lower, hypo, spacing, max_bridge_mm=60.0, max_radius_mm=12.0,
                                   image=img, lumen_level=180.0, lumen_min=120.0)
    assert bool(j.any()) is (gap == "cord")
    assert bool(interior.any()) is (gap == "cord")


def test_bridge_measures_a_crescent_stump_by_the_vein_it_wraps():
    # a cord fills a vein (r 6 mm) from z 30 to 50 mm and goes on, eccentric (r 5 mm),
    # to the end: the far stump's lumen is only a crescent around it, a voxel or so thick.
    # Its radius is the vein's (the stump's interior: crescent and cord), not the crescent's.
    from vascseg.segment._bridge import bridge_pieces

    spacing = (2.5, 1.5, 1.5)
    Z, Y, X = _grid(spacing, (100.0, 45.0, 45.0))
    vein = (Y - 22.5) ** 2 + (X - 22.5) ** 2 <= 36
    cord = vein & (Z >= 30) & (((Y - 22.5) ** 2 + (X - 23.5) ** 2 <= 25) | (Z <= 50))
    lower = vein & (Z < 30)
    crescent = vein & (Z > 50) & ~cord
    values = np.full(vein.shape, -100.0)
    values[vein] = 180.0
    values[cord] = 50.0
    img = _render(spacing, values, np.random.default_rng(5), noise=5.0)
    hypo = (img >= -10) & (img < 110)
    kw = dict(max_bridge_mm=120.0, max_radius_mm=12.0, image=img, lumen_level=180.0, lumen_min=120.0)
    j, interior, _ = bridge_pieces(lower, crescent, hypo, spacing, stump_interior=vein & (Z > 50), **kw)
    assert j.any()
    occluded = cord & (Z <= 50)
    assert (interior & occluded).sum() >= 0.6 * occluded.sum()
    # measured by its lumen alone, the crescent is too thin a stump for a 6 mm occluded tube
    j, _, _ = bridge_pieces(lower, crescent, hypo, spacing, **kw)
    assert not j.any()


# --------------------------------------------------------------------------- IVC at the liver
def test_follow_ivc_up_separates_the_vein_from_the_liver_it_touches():
    from vascseg.segment._ivc import follow_ivc_up

    spacing = (2.5, 1.5, 1.5)
    Z, Y, X = _grid(spacing, (100.0, 90.0, 90.0))
    ivc = (Y - 45) ** 2 + (X - 40) ** 2 <= 100
    liver = (X > 49) & (Z > 50) & ~ivc  # abuts the IVC's upper half
    values = np.where(ivc, 160.0, -100.0)
    values[liver] = 115.0
    img = _render(spacing, values, np.random.default_rng(6), noise=10.0)
    seed = ivc & (Z < 45)
    up = follow_ivc_up(seed, img, spacing)
    target = ivc & (Z >= 45)
    assert (up & target).sum() >= 0.85 * target.sum()
    assert (up & liver).sum() <= 0.1 * up.sum()


def test_follow_ivc_up_starts_though_the_seed_top_holds_a_vein_joining():
    from vascseg.segment._ivc import follow_ivc_up

    spacing = (2.5, 1.5, 1.5)
    Z, Y, X = _grid(spacing, (100.0, 90.0, 90.0))
    ivc = (Y - 45) ** 2 + (X - 40) ** 2 <= 100
    liver = (X > 49) & (Z > 50) & ~ivc
    values = np.where(ivc, 160.0, -100.0)
    values[liver] = 115.0
    img = _render(spacing, values, np.random.default_rng(6), noise=10.0)
    # the seed's top 5 mm hold a renal vein joining beside the IVC: twice its area there
    joining = ((Y - 45) ** 2 + (X - 22) ** 2 <= 100) & (Z >= 40) & (Z < 45)
    seed = (ivc & (Z < 45)) | joining
    up = follow_ivc_up(seed, img, spacing)
    target = ivc & (Z >= 45)
    assert (up & target).sum() >= 0.85 * target.sum()
    assert (up & liver).sum() <= 0.1 * up.sum()


def _ivc_into_liver_scene(spacing, rng, *, cord_from_mm=None, cord_to_mm=None):
    """An IVC (r 10 mm, 160 HU) in fat, running into the liver (120 HU, all around it) from
    z 50 mm; optionally a cord (50 HU) filling 70% of its section from z ``cord_from_mm``
    to ``cord_to_mm``. Noise 16 HU."""
    Z, Y, X = _grid(spacing, (100.0, 90.0, 90.0))
    ivc = (Y - 45) ** 2 + (X - 45) ** 2 <= 100
    liver = (Z > 50) & ((Y - 45) ** 2 + (X - 45) ** 2 <= 35 ** 2) & ~ivc
    values = np.where(ivc, 160.0, -100.0)
    values[liver] = 120.0
    cord = np.zeros_like(ivc)
    if cord_from_mm is not None:
        cord = ivc & (X < 49) & (Z >= cord_from_mm) & (Z < cord_to_mm)
        values[cord] = 50.0
    return Z, ivc, liver, cord, _render(spacing, values, rng, noise=16.0)


@pytest.mark.parametrize("seed", [11, 12])
def test_follow_ivc_up_into_the_liver_and_past_a_defects_tip(seed):
    # where the liver surrounds the IVC, only a few tens of HU darker, noise speckles the
    # half-way threshold across the lumen (the sections shrank and the tracking stopped);
    # below, a defect's tip narrows the lumen for 7.5 mm (the tracking stopped there)
    from vascseg.segment._ivc import GAP_MAX_MM, follow_ivc_up

    spacing = (2.5, 1.5, 1.5)
    Z, ivc, liver, cord, img = _ivc_into_liver_scene(spacing, np.random.default_rng(seed),
                                                     cord_from_mm=30.0, cord_to_mm=37.5)
    seed_mask = ivc & (Z < 25)
    up = follow_ivc_up(seed_mask, img, spacing, min_level=120.0, gap_mm=GAP_MAX_MM)
    target = ivc & (Z >= 40)
    assert (up & target).sum() >= 0.85 * target.sum()
    assert (up & liver).sum() <= 0.1 * up.sum()
    assert not (up & cord).any()
    # without passing over narrowed sections the tracking stops at the defect's tip
    assert not follow_ivc_up(seed_mask, img, spacing, min_level=120.0)[Z >= 40].any()


def test_follow_ivc_up_stops_where_a_cord_fills_the_vein_on_up():
    from vascseg.segment._ivc import GAP_MAX_MM, follow_ivc_up

    spacing = (2.5, 1.5, 1.5)
    Z, ivc, _, _, img = _ivc_into_liver_scene(spacing, np.random.default_rng(13),
                                              cord_from_mm=30.0, cord_to_mm=100.0)
    up = follow_ivc_up(ivc & (Z < 25), img, spacing, min_level=120.0, gap_mm=GAP_MAX_MM)
    assert not up[Z >= 30].any()


@pytest.mark.parametrize("filling", ["occluded", "tip_in_lumen", "open", "partial"])
def test_follow_occluded_ivc_up_only_where_a_cord_fills_it(filling):
    from vascseg.segment._ivc import follow_ivc_up, follow_occluded_ivc_up

    spacing = (2.5, 1.5, 1.5)
    Z, Y, X = _grid(spacing, (120.0, 90.0, 90.0))
    ivc = (Y - 45) ** 2 + (X - 40) ** 2 <= 100
    stretch = ivc & (Z >= 45) & (Z < 85)
    values = np.where(ivc, 170.0, -100.0)
    if filling in ("occluded", "tip_in_lumen"):
        values[stretch] = 50.0
    if filling == "tip_in_lumen":  # the cord's tip, r 6 mm, sits in the lumen 5 mm below
        values[ivc & (Z >= 40) & (Z < 45) & ((Y - 45) ** 2 + (X - 41) ** 2 <= 36)] = 50.0
    elif filling == "partial":  # an eccentric cord, r 7 mm: the lumen is a crescent around it
        values[stretch & ((Y - 45) ** 2 + (X - 43) ** 2 <= 49)] = 50.0
    img = _render(spacing, values, np.random.default_rng(7), noise=10.0)
    seed = ivc & (Z < 40 if filling == "tip_in_lumen" else Z < 45)
    occ = follow_occluded_ivc_up(seed, img, spacing, window=(-10.0, 87.5), lumen_min=120.0, cord_max=110.0)
    if filling in ("open", "partial"):
        assert not occ.any()
        return
    assert (occ & stretch).sum() >= 0.85 * stretch.sum()
    assert (occ & ~ivc).sum() <= 0.05 * occ.sum()
    # the lumen above the occlusion is followed from its top, at the lumen's level
    up = follow_ivc_up(occ, img, spacing, min_level=120.0, level=170.0)
    target = ivc & (Z >= 85)
    assert (up & target).sum() >= 0.85 * target.sum()


@pytest.mark.parametrize("filling", ["occluded", "open", "partial", "in_muscle"])
def test_follow_occluded_ivc_down_finds_the_cord_filling_its_lower_part(filling):
    from vascseg.segment._ivc import follow_occluded_ivc_down

    spacing = (2.5, 1.5, 1.5)
    Z, Y, X = _grid(spacing, (150.0, 90.0, 90.0))
    ivc = (Y - 45) ** 2 + (X - 40) ** 2 <= 100
    cord = ivc & (Z >= 30) & (Z < 80)  # lumen again below 30 mm
    values = np.where(ivc, 170.0, -100.0)
    if filling in ("occluded", "in_muscle"):
        values[cord] = 50.0
        # the cord's tip, r 6 mm, sits eccentric in the lumen for 7.5 mm above it
        values[ivc & (Z >= 80) & (Z < 87.5) & ((Y - 45) ** 2 + (X - 42) ** 2 <= 36)] = 50.0
    elif filling == "partial":  # an eccentric cord, r 7 mm: the lumen is a crescent around it
        values[cord & ((Y - 45) ** 2 + (X - 43) ** 2 <= 49)] = 50.0
    if filling == "in_muscle":  # a sleeve of muscle as dense as the cord
        values[((Y - 45) ** 2 + (X - 40) ** 2 <= 196) & ~ivc & (Z >= 20) & (Z < 90)] = 50.0
    img = _render(spacing, values, np.random.default_rng(9), noise=10.0)
    seed = ivc & (Z >= 110)
    occ = follow_occluded_ivc_down(seed, img, spacing, window=(-10.0, 87.5), lumen_min=120.0)
    if filling != "occluded":
        assert not occ.any()
        return
    assert (occ & cord).sum() >= 0.8 * cord.sum()
    assert (occ & ~ivc).sum() <= 0.05 * occ.sum()
    assert not (occ & (Z < 27.5)).any()  # it stops where the lumen comes back


def test_follow_occluded_ivc_down_passes_the_slice_where_the_cord_top_meets_the_lumen():
    """1.75 mm slices: in the slice just under the enhanced IVC the cord's top fills one half
    and the lumen the other, a partial-volume band between them of neither intensity; each
    half alone is too small for an IVC section. The tracking stopped there (MR s4853, s4953
    on the fine grid: the pelvis beyond the occlusion was lost)."""
    from vascseg.segment._ivc import follow_occluded_ivc_down

    spacing = (1.75, 1.25, 1.25)
    Z, Y, X = _grid(spacing, (150.0, 90.0, 90.0))
    ivc = (Y - 45) ** 2 + (X - 40) ** 2 <= 100
    cord = ivc & (Z >= 30) & (Z < 80)
    top = (Z >= 80) & (Z < 82)  # one slice
    values = np.where(ivc, 170.0, -100.0)
    values[cord] = 50.0
    values[ivc & top & (X < 38.5)] = 50.0
    values[ivc & top & (X >= 38.5) & (X < 42.5)] = 100.0
    img = _render(spacing, values, np.random.default_rng(11), noise=10.0)
    assert int((ivc & top).any(axis=(1, 2)).sum()) == 1
    seed = ivc & (Z >= 110)
    occ = follow_occluded_ivc_down(seed, img, spacing, window=(-10.0, 87.5), lumen_min=120.0)
    assert (occ & cord).sum() >= 0.8 * cord.sum()
    assert (occ & ivc & top).sum() >= 0.8 * (ivc & top).sum()
    assert (occ & ~ivc).sum() <= 0.05 * occ.sum()


@pytest.mark.parametrize("below", [5.0, 40.0])
def test_follow_occluded_ivc_down_on_t1_takes_a_cord_not_soft_tissue(below):
    """T1 MR: fat is bright, a cord (5) lies in the defect window, soft tissue of the body's
    median intensity (40) above it; both are within the tracking window."""
    from vascseg.segment._ivc import follow_occluded_ivc_down

    spacing = (2.5, 1.5, 1.5)
    Z, Y, X = _grid(spacing, (150.0, 90.0, 90.0))
    ivc = (Y - 45) ** 2 + (X - 40) ** 2 <= 100
    values = np.where(ivc, 180.0, 100.0)
    values[ivc & (Z < 80)] = below
    img = _render(spacing, values, np.random.default_rng(10), noise=8.0)
    seed = ivc & (Z >= 110)
    occ = follow_occluded_ivc_down(seed, img, spacing, window=(-50.0, 52.5), cord_max=20.0, lumen_min=120.0)
    if below > 20.0:
        assert not occ.any()
    else:
        assert (occ & ivc & (Z < 80)).sum() >= 0.8 * (ivc & (Z < 80) & (Z >= 20)).sum()


def _cord_scene(spacing, surround: str, with_defect: bool, rng, radius_mm: float = 4.0, *,
                cord_hu: float = 50.0, fat_hu: float = -100.0):
    """An IVC-like vein (r 10 mm) above 80 mm whose lowest 25 mm hold a cord (r 5 mm);
    the cord leaves it downwards through its vein of origin (``radius_mm``, drifting 10 mm in x),
    which it fills down to 30 mm; below, that vein's enhanced stump (15-30 mm). Around the
    vein of origin: fat, muscle as dense as the cord, or (``split``, T1 MR-like) fat on one
    side and darker muscle (-70) on the other."""
    Z, Y, X = _grid(spacing, (150.0, 90.0, 90.0))
    ivc = ((Y - 45) ** 2 + (X - 35) ** 2 <= 100) & (Z >= 80)
    xc = 42.0 + 10.0 * (80.0 - Z) / 50.0
    small = ((Y - 45) ** 2 + (X - xc) ** 2 <= radius_mm ** 2) & (Z >= 15) & (Z < 82)
    cord = small & (Z >= 30)
    values = np.where(ivc | small, 170.0, fat_hu)
    tree_defect = ivc & (Z < 105) & ((Y - 45) ** 2 + (X - 39) ** 2 <= 25)
    if with_defect:
        values[cord | tree_defect] = cord_hu
    sleeve = ((Y - 45) ** 2 + (X - xc) ** 2 <= 144) & ~small & (Z < 78)
    if surround == "muscle":  # the vein runs in muscle as dense as the cord
        values[sleeve] = cord_hu
    if surround == "split":
        values[sleeve & (Y < 45)] = -70.0
    img = _render(spacing, values, rng, noise=10.0)
    return img, ivc, tree_defect if with_defect else np.zeros_like(ivc), cord, Z


@pytest.mark.parametrize("surround, with_defect, radius_mm",
                         [("fat", True, 4.0), ("fat", True, 2.2), ("muscle", True, 4.0), ("fat", False, 4.0)])
def test_follow_cords_down_follows_the_vein_a_cord_fills(surround, with_defect, radius_mm):
    """A thin cord (r 2.2 mm: a few pixels per section, broken by an opening) is followed too."""
    from vascseg.segment._cords import follow_cords_down

    spacing = (2.5, 1.5, 1.5)
    img, ivc, tree_defect, cord, Z = _cord_scene(spacing, surround, with_defect, np.random.default_rng(11),
                                                 radius_mm)
    # the cord leaves the tree between the IVC (taken with its cord) and its vein of origin
    tree = ivc
    got = follow_cords_down(tree_defect, tree, img, spacing, window=(-10.0, 87.5), max_radius_mm=12.0)
    if surround == "muscle" or not with_defect:
        assert not got.any()
        return
    below = cord & (Z < 78)
    # followed all the way down (slices holding the cord), over most of its voxels (a thin
    # cord's edge voxels are half fat)
    assert (got & below).any(axis=(1, 2)).sum() >= 0.9 * below.any(axis=(1, 2)).sum()
    assert (got & below).sum() >= (0.8 if radius_mm > 3 else 0.5) * below.sum()
    assert (got & ~ndi.binary_dilation(cord, iterations=1)).sum() <= 0.05 * got.sum()
    assert not (got & (Z < 27.5)).any()  # it stops where the enhanced stump begins


@pytest.mark.parametrize("cord_top_mm, followed", [(80.0, True), (40.0, False)])
def test_follow_cords_down_from_a_lumen_capped_by_a_cord(cord_top_mm, followed):
    """A vein's enhanced lumen ends downwards on the top of the cord that fills the vein
    below (no defect inside the tree to start from): the cord is followed from the lumen's
    underside when it runs long enough (60 mm; not 20 mm, from 40 mm down)."""
    from vascseg.segment._cords import follow_cords_down

    spacing = (2.5, 1.5, 1.5)
    Z, Y, X = _grid(spacing, (150.0, 60.0, 60.0))
    vein = (Y - 30) ** 2 + (X - 30) ** 2 <= 36
    lumen = vein & (Z >= cord_top_mm)
    cord = vein & (Z >= 20) & (Z < cord_top_mm)
    values = np.where(lumen, 170.0, np.where(cord, 50.0, -100.0))
    img = ndi.gaussian_filter(_render(spacing, values, np.random.default_rng(13), noise=10.0),
                              [0.7 / s for s in spacing])
    got = follow_cords_down(np.zeros_like(vein), lumen, img, spacing, window=(-10.0, 87.5), max_radius_mm=12.0)
    if not followed:
        assert not got.any()
        return
    assert (got & cord).any(axis=(1, 2)).sum() >= 0.9 * cord.any(axis=(1, 2)).sum()
    assert (got & cord).sum() >= 0.8 * cord.sum()
    assert (got & ~ndi.binary_dilation(cord, iterations=1)).sum() <= 0.05 * got.sum()


@pytest.mark.parametrize("cord_hu, drift_hu, window_max, followed", [
    (-15.0, 0.0, None, True), (30.0, 0.0, None, False), (30.0, 0.0, 52.5, True), (0.0, 40.0, 52.5, True)])
def test_follow_cords_down_on_t1_mr(cord_hu, drift_hu, window_max, followed):
    """T1 MR: the vein runs between fat (brighter than the cord) and muscle (darker), so the
    tissue around it averages to about the cord's level, yet differs from it all round. A
    cord denser than the defect window is followed only when the window may rise to the
    level the tree's defect shows (``window_max``); a cord growing denser away from the tree
    (``drift_hu`` more at its end) only when the window follows its level down."""
    from vascseg.segment._cords import follow_cords_down

    spacing = (2.5, 1.5, 1.5)
    img, ivc, tree_defect, cord, Z = _cord_scene(spacing, "split", True, np.random.default_rng(12),
                                                 cord_hu=cord_hu, fat_hu=60.0)
    img[cord] += drift_hu * np.clip((78.0 - Z[cord]) / 48.0, 0.0, 1.0)
    img = ndi.gaussian_filter(img, [0.7 / s for s in spacing])
    got = follow_cords_down(tree_defect, ivc, img, spacing, window=(-50.0, 20.0), max_radius_mm=12.0,
                            window_max=window_max)
    if not followed:
        assert not got.any()
        return
    below = cord & (Z < 78)
    assert (got & below).any(axis=(1, 2)).sum() >= 0.9 * below.any(axis=(1, 2)).sum()
    assert (got & below).sum() >= 0.8 * below.sum()
    assert (got & ~ndi.binary_dilation(cord, iterations=1)).sum() <= 0.05 * got.sum()


# --------------------------------------------------------------------------- vein/artery split
def test_split_leaves_an_unseeded_vein_tree_touching_an_artery_to_neither():
    from vascseg.segment.lumen import split_veins_arteries

    spacing = (2.0, 1.0, 1.0)
    Z, Y, X = _grid(spacing, (160.0, 40.0, 80.0))
    ivc = (Y - 20) ** 2 + (X - 12) ** 2 <= 64
    artery = (Y - 20) ** 2 + (X - 40) ** 2 <= 36
    vein = ((Y - 20) ** 2 + (X - 52) ** 2 <= 36) & (Z > 10)  # touches the artery, not the IVC
    vessels = ivc | artery | vein
    veins, arteries = split_veins_arteries(vessels, spacing, ivc & (Z > 50) & (Z < 70),
                                           artery & (Z > 50) & (Z < 70))
    core = vein & ((Y - 20) ** 2 + (X - 53) ** 2 <= 4)
    assert not (arteries & core).any()
    assert (arteries & artery).sum() > 0.9 * artery.sum()
    assert (veins & ivc).sum() > 0.9 * ivc.sum()


def test_split_does_not_give_the_aorta_a_vein_tree_fused_to_it_by_a_broad_contact():
    # a vein (r 7 mm) pressed against the aorta (r 8 mm) so hard that their cores stay one
    # after the erosion, cut off from the IVC: the aorta's seed must not flood it. An
    # artery branch thinner than the vein (r 4 mm), fused to the aorta the same way, stays
    # artery.
    from vascseg.segment.lumen import split_veins_arteries

    spacing = (2.0, 1.0, 1.0)
    Z, Y, X = _grid(spacing, (160.0, 40.0, 100.0))
    ivc = (Y - 20) ** 2 + (X - 12) ** 2 <= 64
    aorta = (Y - 20) ** 2 + (X - 45) ** 2 <= 64
    vein = ((Y - 20) ** 2 + (X - 58) ** 2 <= 49) & (Z > 10)
    branch = ((Y - 20) ** 2 + (X - 35) ** 2 <= 16) & (Z > 30) & (Z < 120)
    vessels = ivc | aorta | vein | branch
    seed_zone = (Z > 50) & (Z < 70)
    veins, arteries = split_veins_arteries(vessels, spacing, ivc & seed_zone, aorta & seed_zone)
    core = (Y - 20) ** 2 + (X - 59) ** 2 <= 9
    assert not (arteries & vein & core).any()
    assert (arteries & vein).sum() < 0.1 * vein.sum()
    assert (arteries & aorta).sum() > 0.9 * aorta.sum()
    assert (arteries & branch & ~aorta).sum() > 0.9 * (branch & ~aorta).sum()
    assert (veins & ivc).sum() > 0.9 * ivc.sum()


@pytest.mark.parametrize("with_defect", [True, False])
def test_vein_interior_finds_the_defect_and_nothing_on_a_clean_vein(with_defect):
    from vascseg.evaluation import dice
    from vascseg.segment.defects import defects_in, vein_interior

    spacing = (2.5, 1.0, 1.0)
    img, vein, defect = _adherent_defect_scene(spacing, np.random.default_rng(8))
    if not with_defect:
        Z, Y, X = _grid(spacing, (90.0, 50.0, 50.0))
        # the same vein, a muscle slab against it instead of a defect in it
        muscle = (X > 34) & (X < 46) & (np.abs(Y - 25) < 12)
        values = np.where(vein, 180.0, -100.0)
        values[muscle] = 50.0
        img = _render(spacing, values, np.random.default_rng(8))
        defect = np.zeros_like(vein)
    lumen = img >= 120
    Z = _grid(spacing, (90.0, 50.0, 50.0))[0]
    env, lum = vein_interior(lumen, img, spacing, ivc_seed=lumen & (Z < 20), radius_mm=12.0,
                             defect_min=-10.0, defect_max=120.0, lumen_min=120.0)
    found = defects_in(env, lum, env.astype(np.uint8), spacing, min_volume_ml=0.05)
    if with_defect:
        assert dice(found, defect) >= 0.75
    else:
        assert not found.any()


def test_a_t1_stump_brighter_than_the_tree_is_joined():
    """T1 MR (pseudo-HU: cord 5, fat 45, defect window -50..20): an occluded vein (r 5 mm)
    whose far stump is enhanced 1.5 times as bright as the tree (a bias field's remnant). On
    CT a stump that bright is marrow; on T1 MR marrow is no brighter than fat, and the stump
    is joined through the cord."""
    from vascseg.segment.defects import vein_interior

    spacing = (2.5, 1.5, 1.5)
    Z, Y, X = _grid(spacing, (100.0, 42.0, 42.0))
    vein = (Y - 21) ** 2 + (X - 21) ** 2 <= 25
    lower, upper = vein & (Z < 30), vein & (Z > 70)
    values = np.full(vein.shape, 45.0)
    values[vein] = 5.0
    values[lower] = 150.0
    values[upper] = 225.0
    img = _render(spacing, values, np.random.default_rng(4), noise=4.0)
    lumen = img >= 120
    env, _ = vein_interior(lumen, img, spacing, ivc_seed=lumen & (Z < 20), radius_mm=12.0, defect_min=-50.0,
                           defect_max=20.0, lumen_min=120.0, max_bridge_mm=120.0)
    assert (env & upper).sum() > 0.8 * upper.sum()
    stretch = vein & (Z > 35) & (Z < 65)
    assert (env & stretch).sum() >= 0.5 * stretch.sum()


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("organ", [False, True])
def test_mr_cords_fill_the_cord_a_crescent_wraps_and_no_dark_tissue_beside_the_vein(seed, organ):
    """T1 MR (pseudo-HU): a small vein (r 5 mm) in fat, a cord (r 3.5 mm, 5 pseudo-HU) against
    its wall over 20 mm; with ``organ``, a slab as dark as the cord lies against the vein."""
    from vascseg.segment.defects import _mr_cords

    spacing = (2.5, 1.5, 1.5)
    Z, Y, X = _grid(spacing, (60.0, 36.0, 36.0))
    vein = (Y - 18) ** 2 + (X - 18) ** 2 <= 5.0**2
    cord = ((Y - 18) ** 2 + (X - 19.5) ** 2 <= 3.5**2) & (Z > 20) & (Z < 40)
    slab = (X > 24) & (X < 32) & (np.abs(Y - 18) < 8) & ~vein
    values = np.where(vein, 160.0, 45.0)
    values[cord] = 5.0
    if organ:
        values[slab] = 0.0
    img = _render(spacing, values, np.random.default_rng(seed), noise=4.0)
    lum = img >= 120
    below = (img >= -50) & (img < 120)
    cords = _mr_cords(lum, lum, img, np.asarray(spacing), below=below, cord_max=20.0, radius_mm=12.0,
                      exclude=np.zeros_like(lum))
    assert (cords & cord).sum() >= 0.5 * cord.sum()
    assert (cords & ~ndi.binary_dilation(vein)).sum() <= 0.02 * cord.sum()
    assert not (cords & slab).any()


# --------------------------------------------------------------------------- May-Thurner slit
@pytest.mark.parametrize("spacing", [(2.0, 1.0, 1.0), (1.0, 1.5, 1.5)])
def test_bright_links_keep_a_flattened_vein_between_two_pieces_and_nothing_else(spacing):
    """A vein flattened to a 3 mm slit for 12 mm (no tubular core there) links the two round
    pieces either side; a bright plate hanging on one vein only is not a link."""
    from vascseg.segment.lumen import bright_links

    Z, Y, X = _grid(spacing, (100.0, 50.0, 60.0))
    round_ = ((Y - 25) ** 2 + (X - 20) ** 2 <= 36) & ((Z < 44) | (Z > 56))
    slit = (np.abs(Y - 25) <= 1.5) & (np.abs(X - 20) <= 8) & (Z >= 44) & (Z <= 56)
    plate = (np.abs(Y - 25) <= 1.5) & (X > 26) & (X < 45) & (Z > 70) & (Z < 85)
    bright = round_ | slit | plate
    links = bright_links(round_, bright, spacing, 8.0)
    assert (links & slit).sum() >= 0.9 * slit.sum()
    assert not (links & plate).any()
    assert ndi.label(round_ | links, structure=np.ones((3, 3, 3)))[1] == 1


def test_a_gonadal_vein_cut_off_from_the_ivc_is_found_rising_from_the_pelvis():
    # a defect at its junction: the right gonadal vein ends 25 mm below the IVC and drains
    # (in the envelope) into the right uterine vein instead
    cut = [([(-40, -5, 60), (-45, -10, 20), (-44, -10, -60), (-30, 30, -110)], 4.0, {})]
    truth, labels, notes, _, _ = _named_anatomy(replace={"gonadal_vein_right": cut})
    assert _dice(truth, labels, "gonadal_vein_right") >= 0.7, notes
    assert any(n.startswith("gonadal_vein_right: not joined") for n in notes)
    for name in ("uterine_vein_right", "internal_iliac_vein_right", "ivc"):
        assert _dice(truth, labels, name) >= 0.8, (name, notes)
