"""Everything around the veins: body outline, fat, muscles, bones, organs and bowel.

Nominal positions are in LPS mm with the venous confluence at z = 0 (L5); the whole patient
is moved by the seed's global shift. Painting order matters (later solids cover earlier
ones): fat < muscles < organs < bowel < bones; the vessels are painted afterwards.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ._curves import Tube, perpendicular, spline_tube
from ._paint import Cylinder, Ellipsoid, rotation, signed_distance, tube_fields
from ._render import Canvas, texture
from ._vessels import VesselTree

BOWEL_CLEARANCE_MM = 6.0
"""Least fat between a bowel loop and any vessel."""


def _ell(c, semi, rot=None) -> Ellipsoid:
    return Ellipsoid(np.asarray(c, float), np.asarray(semi, float),
                     np.eye(3) if rot is None else np.asarray(rot, float))


def paint_body(cv: Canvas, rng: np.random.Generator, shift: np.ndarray) -> dict:
    """Body outline (air outside), subcutaneous fat, abdominal wall, retroperitoneal fat."""
    g = cv.grid
    ys = g.axis_mm(1).astype(np.float32)
    xs = g.axis_mm(2).astype(np.float32)
    zs = g.axis_mm(0)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    ax0 = float(rng.uniform(135.0, 150.0))
    ay0 = float(rng.uniform(100.0, 115.0))
    t_fat = float(rng.uniform(12.0, 25.0))
    t_mus = float(rng.uniform(8.0, 12.0))
    cx, cy = shift[0], 12.0 + shift[1]
    tab = cv.tissues
    for k, z in enumerate(zs):
        zr = z - shift[2]
        hips = 1.0 / (1.0 + np.exp((zr + 60.0) / 25.0))  # 1 in the pelvis, 0 above
        ax = ax0 * (1.0 + 0.08 * hips)
        ay_ant = ay0 * (1.0 - 0.06 * hips)
        ay_post = ay0 * 0.95 + 10.0 * hips
        u = (xx - cx) / ax
        v = np.where(yy < cy, (yy - cy) / ay_ant, (yy - cy) / ay_post)
        q = (np.abs(u) ** 2.4 + np.abs(v) ** 2.4) ** (1 / 2.4)
        sd = ((q - 1.0) * 0.5 * (ax + ay_ant)).astype(np.float32)
        sl = (slice(k, k + 1), slice(None), slice(None))
        cv.blend(sl, sd[None], "fat")
        cv.blend(sl, (sd + t_fat)[None], "muscle")
        cv.blend(sl, (sd + t_fat + t_mus)[None], tab["fat"] + 8.0)
    return {"body_semi_axes_mm": [ax0, ay0], "subcutaneous_fat_mm": t_fat}


def paint_muscles(cv: Canvas, rng: np.random.Generator, shift: np.ndarray) -> None:
    j = lambda p, s=2.0: np.asarray(p, float) + shift + rng.normal(0, s, 3)  # noqa: E731
    for sx in (-1.0, 1.0):
        # paraspinal muscles and quadratus lumborum
        cv.paint(Cylinder(j((sx * 38, 88, 40)), 27.0, 21.0, 150.0), "muscle")
        cv.paint(Cylinder(j((sx * 66, 70, 110)), 16.0, 12.0, 55.0), "muscle")
        # psoas, thickening caudally, then along the pelvic brim to the groin
        psoas = spline_tube("psoas", [j((sx * 22, 40, 190)), j((sx * 33, 36, 90)),
                                      j((sx * 44, 32, 10)), j((sx * 60, 22, -60)),
                                      j((sx * 72, -8, -115)), j((sx * 76, -20, -190))],
                            [7.0, 13.0, 19.0, 18.0, 16.0, 14.0])
        for f in tube_fields(cv.grid, psoas):
            cv.blend(f.sl, f.sd, "muscle")
        # iliacus and gluteal muscles on both sides of the iliac wing
        rot = _ilium_rot(sx)
        c = np.array([sx * 90, 30, -45]) + shift
        n = rot[:, 1]
        cv.paint(Ellipsoid(c + 16 * n, np.array([52.0, 13.0, 40.0]), rot), "muscle")
        cv.paint(Ellipsoid(c - 30 * n + [0, 10, -30], np.array([60.0, 24.0, 60.0]), rot), "muscle")
        # obturator internus
        cv.paint(_ell(j((sx * 62, 25, -150)), (12, 30, 28)), "muscle")


def _ilium_rot(sx: float) -> np.ndarray:
    along = np.array([sx * 0.8, -0.6, 0.0])  # posteromedial -> anterolateral
    rot = rotation(along, np.array([sx * 0.6, 0.8, 0.0]))
    # columns: along-plate, plate normal (pointing medially/anteriorly), vertical
    return rot


def paint_organs(cv: Canvas, rng: np.random.Generator, shift: np.ndarray) -> None:
    j = lambda p, s=3.0: np.asarray(p, float) + shift + rng.normal(0, s, 3)  # noqa: E731
    sc = lambda v: np.asarray(v, float) * rng.uniform(0.9, 1.1)  # noqa: E731
    cv.paint(_ell(j((-55, 20, 210)), sc((105, 85, 90))), "liver")
    cv.paint(_ell(j((-88, 25, 145)), sc((45, 55, 45))), "liver")
    cv.paint(_ell(j((80, 55, 180)), sc((35, 28, 45))), "spleen")
    for sx, z in ((-1.0, 100.0), (1.0, 116.0)):
        c = j((sx * 79, 48, z))
        rot = rotation(np.array([-sx * 0.25, 0.15, 1.0]), np.array([1.0, 0.0, 0.0]))
        semi = sc((52, 26, 22))
        cv.paint(Ellipsoid(c, semi, rot), "kidney_cortex")
        cv.paint(Ellipsoid(c, semi, rot), "kidney_medulla", shrink_mm=7.0)
        cv.paint(_ell(c + [-sx * 14, -6, 0], (10, 9, 20)), "sinus_fat")
    cv.paint(_ell(j((0, -45, -140)), sc((45, 35, 30))), "urine")
    ut_rot = rotation(np.array([0.0, -0.5, 1.0]), np.array([1.0, 0.0, 0.0]))
    cv.paint(Ellipsoid(j((0, 5, -95), 2.0), sc((40, 28, 20)), ut_rot), "uterus")
    for sx in (-1.0, 1.0):
        cv.paint(_ell(j((sx * 43, 15, -100), 2.0), (11, 8, 13)), "ovary")


def _bowel_content(cv: Canvas, f, level_y: float, seed: int, stool: bool) -> np.ndarray:
    y = f.points[:, 1].reshape(f.sd.shape)
    tab = cv.tissues
    if stool:
        tex = texture(f.points, seed, wavelength_mm=(4.0, 9.0)).reshape(f.sd.shape)
        base = np.where(tex > 0.55, tab["gas"], tab["stool"] + 80.0 * tex)
    else:
        base = np.full(f.sd.shape, tab["bowel_fluid"], dtype=np.float32)
    return np.where(y < level_y, tab["gas"], base).astype(np.float32)


def _clear_of(tube: Tube, vessels: list[Tube], margin: float) -> bool:
    for v in vessels:
        sd = signed_distance(v, tube.points, cutoff=float(tube.radius.max() + v.radius.max() + margin + 5))[2]
        if np.any(sd - tube.radius < margin):
            return False
    return True


def paint_bowel(cv: Canvas, rng: np.random.Generator, shift: np.ndarray, tree: VesselTree) -> int:
    """Colon, rectum and small-bowel loops (walls, fluid, gas with air-fluid levels, stool),
    kept :data:`BOWEL_CLEARANCE_MM` away from every vessel. Returns the number of loops."""
    vessels = list(tree.veins.values()) + list(tree.arteries.values())
    j = lambda p, s=3.0: np.asarray(p, float) + shift + rng.normal(0, s, 3)  # noqa: E731
    loops: list[tuple[Tube, bool]] = []
    colon = spline_tube("colon", [j((-88, 5, -30)), j((-90, 0, 40)), j((-80, -25, 95)),
                                  j((-30, -75, 105)), j((30, -75, 110)), j((80, -25, 118)),
                                  j((88, 5, 60)), j((88, 10, -20))], float(rng.uniform(17, 21)))
    rectum = spline_tube("rectum", [j((0, 62, -200)), j((0, 66, -145)), j((-4, 52, -112))],
                         float(rng.uniform(12, 15)))
    for t in (colon, rectum):
        if _clear_of(t, vessels, BOWEL_CLEARANCE_MM):
            loops.append((t, True))
    n_small = int(rng.integers(4, 7))
    for i in range(n_small):
        for _ in range(25):
            p = np.array([rng.uniform(-75, 75), rng.uniform(-90, -45), rng.uniform(-60, 90)]) + shift
            ctrl = [p]
            for _k in range(4):
                step = rng.normal(size=3)
                step[1] *= 0.4
                ctrl.append(ctrl[-1] + step / np.linalg.norm(step) * rng.uniform(22, 32))
            t = spline_tube(f"bowel_{i}", ctrl, float(rng.uniform(10, 14)))
            if _clear_of(t, vessels, BOWEL_CLEARANCE_MM):
                loops.append((t, False))
                break
    for n, (t, stool) in enumerate(loops):
        level = float(t.points[:, 1].min() + rng.uniform(0.1, 0.6) * 2 * t.radius.mean())
        seed = int(rng.integers(2**31))
        for f, inner in _shell_fields(cv, t, 2.5):
            if f is not None:
                cv.blend(f.sl, f.sd, "bowel_wall")
            if inner is not None:
                cv.blend(inner.sl, inner.sd, _bowel_content(cv, inner, level, seed + n, stool))
    return len(loops)


def _shell_fields(cv: Canvas, tube: Tube, thickness_mm: float):
    """Yield (outer, inner) fields of a tube and of the tube shrunk by ``thickness_mm``; paint
    the outer one before the inner one. Inner is None where the shell comes first.

    A round tube's shrunk field is its own plus ``thickness_mm`` (same nearest samples), so
    one distance evaluation serves both; flattened tubes are evaluated twice (all outer
    chunks first, then all inner ones).
    """
    if tube.flattened:
        for f in tube_fields(cv.grid, tube):
            yield f, None
        for g in tube_fields(cv.grid, tube, shrink_mm=thickness_mm):
            yield None, g
        return
    for f in tube_fields(cv.grid, tube):
        yield f, replace(f, sd=f.sd + np.float32(thickness_mm))


def _shelled(cv: Canvas, solid, *, cortex_mm: float = 2.5) -> None:
    cv.paint(solid, "bone_cortex")
    cv.paint(solid, "bone_marrow", shrink_mm=cortex_mm)


def _shelled_tube(cv: Canvas, tube: Tube, *, cortex_mm: float = 2.5) -> None:
    for f, inner in _shell_fields(cv, tube, cortex_mm):
        if f is not None:
            cv.blend(f.sl, f.sd, "bone_cortex")
        if inner is not None:
            cv.blend(inner.sl, inner.sd, "bone_marrow")


def paint_bones(cv: Canvas, rng: np.random.Generator, shift: np.ndarray) -> None:
    """Lumbar vertebrae (T12-L5), sacrum, iliac wings, femoral heads and pubic rami."""
    y_body = 35.0 + rng.uniform(-3, 3)
    for i in range(6):
        zc = 2.0 + 38.0 * i
        c = np.array([0.0, y_body - 2.0 * np.sin(i / 2.0), zc]) + shift
        cv.paint(Cylinder(c + [0, 1, 19], 23.0, 17.0, 4.5), "disc")
        cv.paint(Cylinder(c + [0, 33, 0], 15.0, 13.0, 14.0), "bone_cortex")
        cv.paint(Cylinder(c + [0, 54, 2], 4.5, 14.0, 11.0), "bone_cortex")
        cv.paint(Cylinder(c + [0, 27, -2], 38.0, 5.0, 6.0), "bone_cortex")
        _shelled(cv, Cylinder(c, 24.0, 18.0, 14.5))
        cv.paint(Cylinder(c + [0, 29, 0], 10.0, 8.0, 22.0), "csf")
    sac = spline_tube("sacrum", [np.array(p, float) + shift for p in
                                 ((0, 50, -18), (0, 60, -60), (0, 80, -100), (0, 100, -135))],
                      [52.0, 42.0, 25.0, 10.0])
    sac.flatten = np.interp(sac.s, [0, sac.length_mm], [0.36, 0.7])
    sac.minor_dir = perpendicular(np.tile([0.0, 1.0, 0.0], (len(sac.points), 1)), sac.tangents)
    _shelled_tube(cv, sac)
    for sx in (-1.0, 1.0):
        rot = _ilium_rot(sx)
        _shelled(cv, Ellipsoid(np.array([sx * 90, 30, -45]) + shift, np.array([58.0, 7.0, 45.0]), rot),
                 cortex_mm=2.0)
        head = np.array([sx * 93, 5, -145]) + shift
        _shelled(cv, _ell(head, (23, 23, 23)))
        neck = spline_tube("femur", [head, head + [sx * 30, 8, -25], head + [sx * 45, 12, -70]], 15.0)
        _shelled_tube(cv, neck)
        ramus = spline_tube("pubis", [np.array([sx * 75, -5, -138]) + shift,
                                      np.array([sx * 40, -40, -150]) + shift,
                                      np.array([sx * 7, -58, -152]) + shift], 9.0)
        _shelled_tube(cv, ramus, cortex_mm=2.0)
