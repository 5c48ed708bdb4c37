"""Unit tests of segmentation building blocks: eigenvalues, vesselness, closing in mm."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from vascseg.segment.defects import closing_mm
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


def test_tube_model_leaves_muscle_between_two_veins_alone():
    from vascseg.segment._tubes import fill_tubes, vote_centres

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
    outside = interior & muscle & ~ndi.binary_dilation(a | b)
    assert outside.sum() < 0.02 * muscle.sum()


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


# --------------------------------------------------------------------------- occlusion bridge
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


# --------------------------------------------------------------------------- junctions
def test_junction_redrawn_where_the_axes_meet():
    from vascseg.segment._junctions import redraw_junction

    # true junction at the origin: parent (radius 7 mm) along +z, branches down-left and
    # down-right; the "skeleton" branches 5 mm too high and joins the branch axes 6 mm out
    step = 1.0
    parent = [(0.0, 0.0, z) for z in np.arange(80.0, 5.0 - 1e-9, -step)]
    pos = [np.array(p) for p in parent]
    kids = []
    for d in (np.array([0.6, 0.0, -0.8]), np.array([-0.6, 0.0, -0.8])):
        start, target = np.array([0.0, 0.0, 5.0]), 6.0 * d
        path = [start + w * (target - start) for w in np.linspace(0, 1, 9)[1:]]
        path += [t * d for t in np.arange(7.0, 60.0, step)]
        kids.append(list(range(len(pos), len(pos) + len(path))))
        pos.extend(path)
    pos = np.array(pos)
    n_par = len(parent)
    dist = np.zeros(len(pos))
    dist[:n_par] = np.arange(n_par) * step
    for k in kids:
        seg = np.linalg.norm(np.diff(np.vstack([pos[n_par - 1], pos[k]]), axis=0), axis=1)
        dist[k] = dist[n_par - 1] + np.cumsum(seg)
    radius = np.full(len(pos), 7.0)
    res = redraw_junction(pos, radius, dist, list(range(n_par)), kids)
    assert res is not None
    drops, samples = res
    junction = samples[0][0][0]
    assert np.linalg.norm(junction) < 1.5
    assert n_par - 1 in drops[0]  # the early branch node is forgotten
    for pts, _ in samples:
        assert np.allclose(pts[0], junction)
    # axes that do not meet near the branch node: no re-drawing
    far = pos.copy()
    far[kids[0]] += np.array([0.0, 40.0, 0.0])
    assert redraw_junction(far, radius, dist, list(range(n_par)), kids) is None


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
