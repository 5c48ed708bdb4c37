"""The venous tree of the vocabulary and its arterial neighbours, in LPS mm.

Nominal anatomy (before the per-seed jitter): the venous confluence (L5) is at z = 0, the
IVC runs right of the midline (x ~ -24) anterior to the spine, the aorta left of it
(x ~ +8) bifurcating ~22 mm cranial to the confluence. Every vein is ordered from its
free (pelvic/peripheral) end to its drainage point, which lies exactly on the parent's
centreline. The right common iliac artery crosses in front of the left common iliac vein
(May-Thurner), 1-1.5 mm of wall/fat apart; every other artery-vein pair keeps at least
:data:`MIN_GAP_MM` of fat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..anatomy import DRAINS_INTO
from ._curves import Tube, perpendicular, spline_tube
from ._paint import signed_distance

MIN_GAP_MM = 3.5
"""Fat between an artery and a vein, or between unrelated veins (>= ~2 mm, and wide enough
that the masks never touch on a 2.5 mm slice grid)."""

MT_GAP_MM = 1.25
"""Wall/fat left between the right common iliac artery and the compressed left CIV."""

RADIUS_RANGE_MM: dict[str, tuple[float, float]] = {
    "ivc": (10.0, 12.0),
    "common_iliac_vein": (7.0, 8.0),
    "external_iliac_vein": (6.0, 7.0),
    "internal_iliac_vein": (5.0, 6.0),
    "renal_vein": (5.0, 6.0),
    "gonadal_vein": (3.5, 5.0),
    "uterine_vein": (3.0, 4.5),
}


@dataclass
class VesselTree:
    veins: dict[str, Tube]
    arteries: dict[str, Tube]
    junction_s: dict[str, float] = field(default_factory=dict)
    """Branch vein -> arc length (mm) on its parent where its last point lies."""
    artery_parent: dict[str, tuple[str, float]] = field(default_factory=dict)
    mt_crossing: dict = field(default_factory=dict)


def _radius(rng: np.random.Generator, kind: str) -> float:
    lo, hi = RADIUS_RANGE_MM[kind]
    return float(rng.uniform(lo, hi))


def _side(name: str) -> float:
    return -1.0 if name.endswith("right") else 1.0


def build_vessels(rng: np.random.Generator, shift: np.ndarray) -> VesselTree:
    """Veins and arteries for one seed (``shift``: global LPS offset of the patient, mm)."""

    def jit(p, sigma=3.0):
        p = np.asarray(p, dtype=np.float64) + shift
        return p + np.clip(rng.normal(0.0, sigma, 3), -2 * sigma, 2 * sigma)

    veins: dict[str, Tube] = {}
    tree = VesselTree(veins, {})
    # ---------------------------------------------------------------- IVC (confluence first)
    r_ivc = _radius(rng, "ivc")
    ivc_ctrl = [jit((-22, 2, 0), 1.5), jit((-24, -1, 45)), jit((-25, -3, 90)),
                jit((-24, -3, 130)), jit((-21, 3, 175)), jit((-18, 8, 215))]
    veins["ivc"] = spline_tube("ivc", ivc_ctrl, r_ivc)
    conf = veins["ivc"].points[0]

    side_shift = {s: np.clip(rng.normal(0, 2.0, 3), -4, 4) for s in ("right", "left")}

    def sj(p, side, sigma=3.0):
        return jit(p, sigma) + side_shift[side]

    # ---------------------------------------------------------------- common iliac veins
    r_civ = {s: _radius(rng, "common_iliac_vein") for s in ("right", "left")}
    origin = {"right": sj((-45, 20, -42), "right", 2.0), "left": sj((47, 24, -46), "left", 2.0)}
    veins["common_iliac_vein_right"] = spline_tube(
        "common_iliac_vein_right", [origin["right"], sj((-35, 12, -21), "right", 1.5), conf],
        r_civ["right"])
    mt_point = jit((-2, 6, -8), 1.5)
    # the left CIV reaches the confluence from the left, slightly from below (a control
    # point beyond the confluence would bend its end into a hook inside the IVC)
    veins["common_iliac_vein_left"] = spline_tube(
        "common_iliac_vein_left",
        [origin["left"], sj((24, 14, -26), "left", 1.5), mt_point, conf + [2.0, 0.0, -1.0], conf],
        r_civ["left"])
    for s in ("right", "left"):
        tree.junction_s[f"common_iliac_vein_{s}"] = 0.0
    # ---------------------------------------------------------------- external / internal iliac
    for side in ("right", "left"):
        sx = -1.0 if side == "right" else 1.0
        civ = veins[f"common_iliac_vein_{side}"]
        o = civ.points[0]
        r_eiv, r_iiv = _radius(rng, "external_iliac_vein"), _radius(rng, "internal_iliac_vein")
        eiv_ctrl = [sj((sx * 82, -40, -215), side), sj((sx * 73, -36, -135), side),
                    sj((sx * 64, -22, -97), side), sj((sx * 55, 2, -66), side, 2.0), o]
        veins[f"external_iliac_vein_{side}"] = spline_tube(
            f"external_iliac_vein_{side}", eiv_ctrl, [r_eiv, r_eiv, r_eiv, r_eiv, r_civ[side]])
        iiv_ctrl = [sj((sx * 40, 66, -128), side), sj((sx * 45, 55, -100), side),
                    sj((sx * 48, 38, -66), side, 2.0), o]
        veins[f"internal_iliac_vein_{side}"] = spline_tube(
            f"internal_iliac_vein_{side}", iiv_ctrl, [r_iiv * 0.9, r_iiv, r_iiv, r_civ[side] * 0.9])
        tree.junction_s[f"external_iliac_vein_{side}"] = 0.0
        tree.junction_s[f"internal_iliac_vein_{side}"] = 0.0
        # uterine vein: from the cervix/uterine border laterally-posteriorly to the IIV
        iiv = veins[f"internal_iliac_vein_{side}"]
        s_j = float(np.interp(-110.0 + shift[2], iiv.points[::-1, 2], iiv.s[::-1]))
        j = iiv.point_at(s_j)
        r_ut = _radius(rng, "uterine_vein")
        ut_ctrl = [sj((sx * 29, 8, -114), side, 2.0), sj((sx * 37, 26, -115), side, 2.0), j]
        veins[f"uterine_vein_{side}"] = spline_tube(f"uterine_vein_{side}", ut_ctrl, r_ut)
        tree.junction_s[f"uterine_vein_{side}"] = s_j
    # ---------------------------------------------------------------- renal and gonadal veins
    ivc = veins["ivc"]
    ivc_z, ivc_s = ivc.points[:, 2], ivc.s
    for side, z_nom, ctrl in (
        ("right", 110.0, [(-54, 22, 112), (-40, 8, 112)]),
        ("left", 126.0, [(56, 22, 124), (40, 0, 125), (20, -17, 126), (6, -19, 126), (-8, -12, 126)]),
    ):
        s_j = float(np.interp(z_nom + shift[2] + rng.uniform(-3, 3), ivc_z, ivc_s))
        pts = [sj(p, side, 2.0) for p in ctrl] + [ivc.point_at(s_j)]
        r_rv = _radius(rng, "renal_vein")
        veins[f"renal_vein_{side}"] = spline_tube(f"renal_vein_{side}", pts, r_rv)
        tree.junction_s[f"renal_vein_{side}"] = s_j
    # right gonadal: to the anterolateral IVC ~25 mm below the right renal vein
    s_gr = float(np.interp(85.0 + shift[2] + rng.uniform(-4, 4), ivc_z, ivc_s))
    g_ctrl = [(-40, 5, -92), (-38, -15, -75), (-42, -30, -55), (-44, -22, -20), (-42, -15, 20),
              (-41, -14, 55), (-33, -11, 75)]
    veins["gonadal_vein_right"] = spline_tube(
        "gonadal_vein_right", [sj(p, "right") for p in g_ctrl] + [ivc.point_at(s_gr)],
        _radius(rng, "gonadal_vein"))
    tree.junction_s["gonadal_vein_right"] = s_gr
    # left gonadal: to the left renal vein, medial to the hilum
    rvl = veins["renal_vein_left"]
    s_gl = 0.17 * rvl.length_mm
    g_ctrl = [(40, 5, -92), (38, -15, -75), (42, -30, -55), (46, -22, -20), (48, -18, 20),
              (50, -16, 60), (50, -10, 98)]
    veins["gonadal_vein_left"] = spline_tube(
        "gonadal_vein_left", [sj(p, "left") for p in g_ctrl] + [rvl.point_at(s_gl)],
        _radius(rng, "gonadal_vein"))
    tree.junction_s["gonadal_vein_left"] = s_gl
    # the left CIV crossing: where the right common iliac artery will lie in front of it
    civl = veins["common_iliac_vein_left"]
    tree.mt_crossing = {"s_mm": civl.s_nearest(mt_point)}
    _build_arteries(tree, rng, jit)
    return tree


def _build_arteries(tree: VesselTree, rng: np.random.Generator, jit) -> None:
    a = tree.arteries
    r_ao = float(rng.uniform(7.5, 9.5))
    bif = jit((9, 0, 22), 2.0)
    a["aorta"] = spline_tube("aorta", [jit((3, 9, 215)), jit((5, 5, 170)), jit((7, 2, 120)),
                                       jit((8, 0, 65)), bif], [r_ao * 1.05, r_ao, r_ao, r_ao * 0.95,
                                                               r_ao * 0.85])
    s_bif = a["aorta"].length_mm
    r_cia = float(rng.uniform(4.5, 5.5))
    r_eia, r_iia = float(rng.uniform(3.8, 4.6)), float(rng.uniform(3.2, 4.0))
    cia_bif = {"right": jit((-33, -6, -40), 2.0), "left": jit((40, -3, -42), 2.0)}
    # right CIA through a point in front of the left CIV (placed exactly later)
    civl = tree.veins["common_iliac_vein_left"]
    s_c = tree.mt_crossing["s_mm"]
    c = civl.point_at(s_c)
    p_cross = c + np.array([0.0, -(civl.radius_at(s_c) + MT_GAP_MM + r_cia), 0.0])
    a["common_iliac_artery_right"] = spline_tube(
        "common_iliac_artery_right", [bif, jit((2, -7, 9), 1.0), p_cross, jit((-20, -10, -22), 1.5),
                                      cia_bif["right"]], r_cia)
    a["common_iliac_artery_left"] = spline_tube(
        "common_iliac_artery_left", [bif, jit((22, -4, -5), 1.5), jit((35, -5, -30), 1.5),
                                     cia_bif["left"]], r_cia)
    for side in ("right", "left"):
        sx = -1.0 if side == "right" else 1.0
        o = cia_bif[side]
        a[f"external_iliac_artery_{side}"] = spline_tube(
            f"external_iliac_artery_{side}",
            [o, jit((sx * 50, -21, -70)), jit((sx * 68, -39, -102)), jit((sx * 86, -47, -135)),
             jit((sx * 92, -46, -215))], r_eia)
        a[f"internal_iliac_artery_{side}"] = spline_tube(
            f"internal_iliac_artery_{side}",
            [o, jit((sx * 36, 14, -60)), jit((sx * 39, 36, -88))], [r_iia, r_iia, r_iia * 0.8])
        cia = a[f"common_iliac_artery_{side}"]
        tree.artery_parent[f"common_iliac_artery_{side}"] = ("aorta", s_bif)
        tree.artery_parent[f"external_iliac_artery_{side}"] = (cia.name, cia.length_mm)
        tree.artery_parent[f"internal_iliac_artery_{side}"] = (cia.name, cia.length_mm)
    ao = a["aorta"]
    for side, ctrl, z in (("left", [(30, 18, 132), (52, 30, 131)], 131.0),
                          ("right", [(-15, 22, 120), (-36, 28, 114), (-53, 31, 110)], 121.0)):
        s_o = ao.s_nearest(ao.points[np.argmin(np.abs(ao.points[:, 2] - z - 0.0))])
        start = ao.point_at(s_o)
        r_ra = float(rng.uniform(2.6, 3.2))
        a[f"renal_artery_{side}"] = spline_tube(f"renal_artery_{side}",
                                                [start] + [jit(p, 2.0) for p in ctrl], r_ra)
        tree.artery_parent[f"renal_artery_{side}"] = ("aorta", s_o)


# ------------------------------------------------------------------------- May-Thurner
def compress_left_civ(tree: VesselTree, stenosis_pct: float, reference_diameter_mm: float) -> None:
    """Flatten the left CIV under the right common iliac artery.

    The minor axis (antero-posterior) at the crossing becomes
    ``(1 - stenosis_pct / 100) * reference_diameter_mm``; the flattening fades along the vein
    over a length wide enough that the round artery lies on the vein along the whole dent.
    """
    civ = tree.veins["common_iliac_vein_left"]
    s_c = tree.mt_crossing["s_mm"]
    r_c = civ.radius_at(s_c)
    t = civ.tangents
    civ.minor_dir = perpendicular(np.tile([0.0, -1.0, 0.0], (len(t), 1)), t)
    min_d = (1.0 - stenosis_pct / 100.0) * reference_diameter_mm
    f_min = float(np.clip(min_d / (2.0 * r_c), 0.05, 1.0))
    tree.mt_crossing.update(requested_pct=float(stenosis_pct), f_min=f_min)
    if f_min >= 1.0:
        return
    r_a = float(tree.arteries["common_iliac_artery_right"].radius.mean())
    w = 1.3 * np.sqrt(2.0 * r_a * r_c * (1.0 - f_min)) + 3.0
    civ.flatten = 1.0 - (1.0 - f_min) * np.exp(-(((civ.s - s_c) / w) ** 2))


# ------------------------------------------------------------------------- clearances
def _gap(artery: Tube, vein: Tube) -> tuple[np.ndarray, np.ndarray]:
    """Per artery sample: fat between its surface and the vein surface (mm), and the unit
    direction pointing away from the vein."""
    d, idx, sd = signed_distance(vein, artery.points, cutoff=60.0)
    gap = sd - artery.radius
    away = artery.points - vein.points[idx]
    away /= np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-9)
    return np.where(np.isfinite(gap), gap, 1e9), away


def _push(tube: Tube, i: int, vec: np.ndarray, *, sigma_mm: float, pin_start: bool,
          pin_end: bool) -> None:
    s = tube.s
    w = np.exp(-(((s - s[i]) / sigma_mm) ** 2))
    if pin_start:
        w *= 1.0 - np.exp(-s / 8.0)
    if pin_end:
        w *= 1.0 - np.exp(-(s[-1] - s) / 8.0)
    tube.points = tube.points + w[:, None] * vec[None, :]


def _reanchor(tree: VesselTree, name: str) -> None:
    parent, s_attach = tree.artery_parent[name]
    child = tree.arteries[name]
    delta = tree.arteries[parent].point_at(min(s_attach, tree.arteries[parent].length_mm)) - child.points[0]
    child.points = child.points + np.exp(-child.s / 15.0)[:, None] * delta[None, :]


def _related(a: str, b: str) -> bool:
    """Veins allowed to touch: parent/child, or siblings draining into the same point."""
    if DRAINS_INTO.get(a) == b or DRAINS_INTO.get(b) == a:
        return True
    pairs = {frozenset(("common_iliac_vein_left", "common_iliac_vein_right")),
             frozenset(("external_iliac_vein_left", "internal_iliac_vein_left")),
             frozenset(("external_iliac_vein_right", "internal_iliac_vein_right"))}
    return frozenset((a, b)) in pairs


def place_mt_artery(tree: VesselTree) -> float:
    """Move the right CIA so it lies exactly :data:`MT_GAP_MM` in front of the left CIV."""
    cia = tree.arteries["common_iliac_artery_right"]
    civl = tree.veins["common_iliac_vein_left"]
    gap = _gap(cia, civl)[0]
    for _ in range(15):
        gap, away = _gap(cia, civl)
        i = int(np.argmin(gap))
        err = gap[i] - MT_GAP_MM
        if abs(err) < 0.03:
            break
        _push(cia, i, -err * away[i], sigma_mm=10.0, pin_start=True, pin_end=True)
    return float(gap.min())


def separate_arteries(tree: VesselTree, *, max_iter: int = 60) -> dict[str, float]:
    """Push arteries off the veins until every gap is >= :data:`MIN_GAP_MM` (the right CIA at
    the May-Thurner crossing excepted: it is set to :data:`MT_GAP_MM`).

    Returns the final minimum gap (mm) per ``artery|vein`` pair.
    """
    cia = tree.arteries["common_iliac_artery_right"]
    civl = tree.veins["common_iliac_vein_left"]
    place_mt_artery(tree)
    s_cross = float(cia.s[int(np.argmin(_gap(cia, civl)[0]))])
    tree.mt_crossing["artery_s_mm"] = s_cross
    order = ["aorta", "common_iliac_artery_right", "common_iliac_artery_left",
             "external_iliac_artery_right", "internal_iliac_artery_right",
             "external_iliac_artery_left", "internal_iliac_artery_left",
             "renal_artery_right", "renal_artery_left"]
    result: dict[str, float] = {}
    for name in order:
        art = tree.arteries[name]
        if name in tree.artery_parent:
            _reanchor(tree, name)
        for vname, vein in tree.veins.items():
            mt = name == "common_iliac_artery_right" and vname == "common_iliac_vein_left"
            for _ in range(max_iter):
                gap, away = _gap(art, vein)
                if mt:  # the crossing itself keeps its 1-1.5 mm
                    gap = np.where(np.abs(art.s - s_cross) < 20.0, 1e9, gap)
                i = int(np.argmin(gap))
                if gap[i] >= MIN_GAP_MM:
                    break
                _push(art, i, (MIN_GAP_MM - gap[i] + 0.3) * away[i], sigma_mm=8.0,
                      pin_start=name != "aorta", pin_end=False)
    tree.mt_crossing["gap_mm"] = place_mt_artery(tree)
    for name, art in tree.arteries.items():
        for vname, vein in tree.veins.items():
            result[f"{name}|{vname}"] = float(_gap(art, vein)[0].min())
    return result


def _outside(tube: Tube, parent: Tube | None) -> np.ndarray:
    """Samples of ``tube`` outside ``parent``'s lumen (all of them without a parent)."""
    if parent is None:
        return np.ones(len(tube.points), dtype=bool)
    return signed_distance(parent, tube.points, cutoff=float(parent.radius.max()) + 1.0)[2] > 0


def separate_veins(tree: VesselTree, *, inflate: float = 1.2, max_iter: int = 60) -> None:
    """Move the smaller of two unrelated veins (keeping its drainage point) until they are
    :data:`MIN_GAP_MM` apart even with every radius inflated by ``inflate`` (lesion dilation).

    Two tributaries of the same vein (the renal veins, the right gonadal vein) both end on
    its centreline: inside its lumen they are one flow and are not pushed apart (their
    pinned ends could never be, and pushing the samples behind them bends the tributary
    into a hook inside the parent)."""
    names = list(tree.veins)
    saved = {n: t.radius.copy() for n, t in tree.veins.items()}
    for t in tree.veins.values():
        t.radius = t.radius * inflate
    try:
        for ai, a in enumerate(names):
            for b in names[ai + 1:]:
                if _related(a, b):
                    continue
                va, vb = tree.veins[a], tree.veins[b]
                small, big = (va, vb) if va.radius.mean() <= vb.radius.mean() else (vb, va)
                shared = DRAINS_INTO.get(a) if DRAINS_INTO.get(a) == DRAINS_INTO.get(b) else None
                parent = tree.veins.get(shared) if shared else None
                keep = _outside(big, parent)
                if not keep.any():
                    continue
                big_out = Tube(big.name, big.points[keep], big.radius[keep])
                for _ in range(max_iter):
                    gap, away = _gap(small, big_out)
                    gap = np.where(_outside(small, parent), gap, 1e9)
                    i = int(np.argmin(gap))
                    if gap[i] >= MIN_GAP_MM:
                        break
                    _push(small, i, (MIN_GAP_MM - gap[i] + 0.3) * away[i], sigma_mm=8.0,
                          pin_start=False, pin_end=True)
    finally:
        for n, t in tree.veins.items():
            t.radius = saved[n]


def side_of(name: str) -> str:
    return "right" if name.endswith("right") else "left"


