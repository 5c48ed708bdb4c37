"""``generate_phantom``: anatomy, lesions, rendering and ground truth for one spec."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ..anatomy import DEFAULT_ROUTES, LABELS, ROUTES_BY_NAME
from ..errors import InputError
from ..geometry import AXIAL_DIRECTION, Volume
from . import _body, _truth
from ._lesions import defect_tubes, dilate, place_lesions, route_geometry, segment_intervals
from ._paint import Grid, signed_distance, tube_fields
from ._render import Canvas, finish, texture, tissue_table
from ._vessels import build_vessels, compress_left_civ, separate_arteries, separate_veins

DEFAULT_SHAPE_ZYX = (140, 180, 212)
"""Default grid (slices, rows, columns): kidneys to groin at :data:`DEFAULT_SPACING_ZYX_MM`."""
DEFAULT_SPACING_ZYX_MM = (2.5, 1.5, 1.5)
FOV_CENTRE_LPS_MM = (0.0, 10.0, -10.0)
"""Nominal LPS centre of the field of view (the venous confluence is at z = 0)."""
DEFAULT_FOV_ZYX_MM = tuple(n * s for n, s in zip(DEFAULT_SHAPE_ZYX, DEFAULT_SPACING_ZYX_MM,
                                                 strict=True))
REQUIRED_IVC_ABOVE_RENAL_MM = 20.0
"""The field of view must show the IVC at least this far above the highest renal vein."""
REQUIRED_EIV_LOWEST_Z_MM = -120.0
"""...and the external iliac veins down to this nominal z (the inguinal ligament)."""
PATTERNS = ("continuous", "discontinuous", "none")


class PhantomSpecError(InputError, ValueError):
    """A phantom cannot be built as specified (unknown route, field of view too small...)."""


@dataclass(frozen=True)
class PhantomSpec:
    """What to synthesise. Anatomy is in mm: the grid only decides how it is sampled.

    ``shape_zyx`` alone keeps the default field of view (spacing = FOV / shape);
    ``spacing_zyx_mm`` alone keeps the field of view (shape = FOV / spacing).
    """

    pattern: str = "continuous"
    route: str = "uterine-iliac-caval-left"
    modality: str = "CT"
    seed: int = 0
    shape_zyx: tuple[int, int, int] | None = None
    spacing_zyx_mm: tuple[float, float, float] | None = None
    stenosis_pct: float = 0.0
    occlusion: bool = False

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise PhantomSpecError(f"pattern must be one of {PATTERNS}; got {self.pattern!r}")
        if self.route not in ROUTES_BY_NAME:
            raise PhantomSpecError(f"unknown route {self.route!r}; known: {sorted(ROUTES_BY_NAME)}")
        if self.modality not in ("CT", "MR"):
            raise PhantomSpecError(f"modality must be 'CT' or 'MR'; got {self.modality!r}")
        if not 0.0 <= float(self.stenosis_pct) < 95.0:
            raise PhantomSpecError(f"stenosis_pct must be in [0, 95); got {self.stenosis_pct}")
        if self.shape_zyx is not None and (len(self.shape_zyx) != 3 or min(self.shape_zyx) < 8):
            raise PhantomSpecError(f"shape_zyx must be 3 sizes >= 8; got {self.shape_zyx}")
        if self.spacing_zyx_mm is not None and (
                len(self.spacing_zyx_mm) != 3 or min(self.spacing_zyx_mm) <= 0):
            raise PhantomSpecError(f"spacing_zyx_mm must be 3 positive mm; got {self.spacing_zyx_mm}")

    def grid(self) -> Grid:
        if self.shape_zyx is None and self.spacing_zyx_mm is None:
            shape, spacing = DEFAULT_SHAPE_ZYX, DEFAULT_SPACING_ZYX_MM
        elif self.spacing_zyx_mm is None:
            shape = tuple(int(n) for n in self.shape_zyx)  # type: ignore[union-attr]
            spacing = tuple(f / n for f, n in zip(DEFAULT_FOV_ZYX_MM, shape, strict=True))
        elif self.shape_zyx is None:
            spacing = tuple(float(s) for s in self.spacing_zyx_mm)
            shape = tuple(max(int(round(f / s)), 8) for f, s in zip(DEFAULT_FOV_ZYX_MM, spacing,
                                                                   strict=True))
        else:
            shape = tuple(int(n) for n in self.shape_zyx)
            spacing = tuple(float(s) for s in self.spacing_zyx_mm)
        half = [(n - 1) * s / 2.0 for n, s in zip(shape[::-1], spacing[::-1], strict=True)]
        origin = tuple(round(c - h, 4) for c, h in zip(FOV_CENTRE_LPS_MM, half, strict=True))
        return Grid(shape, spacing, origin)  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class Phantom:
    """A synthetic venography volume with its ground truth on the same grid.

    Attributes
    ----------
    volume : Volume
        CT: int16 HU; MR: uint16 scanner units.
    veins : (Z, Y, X) uint8
        Vein segment labels (:data:`vascseg.anatomy.LABELS`), covering lumen and defect.
    defects : (Z, Y, X) bool
        Filling defect (tumour/thrombus) voxels.
    arteries : (Z, Y, X) bool
        Arterial lumen (the confounders).
    truth : dict
        JSON-ready ground truth (see ``truth.json``).
    """

    volume: Volume
    veins: np.ndarray
    defects: np.ndarray
    arteries: np.ndarray
    truth: dict[str, Any] = field(repr=False)
    spec: PhantomSpec = field(default_factory=PhantomSpec)


def _check_fov(grid: Grid, tree, shift: np.ndarray) -> None:
    z_top = max(float(tree.veins[n].points[-1, 2]) for n in ("renal_vein_left", "renal_vein_right"))
    z_top += REQUIRED_IVC_ABOVE_RENAL_MM
    z_low = REQUIRED_EIV_LOWEST_Z_MM + shift[2]
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for t in tree.veins.values():
        keep = (t.points[:, 2] <= z_top) & (t.points[:, 2] >= z_low)
        p, r = t.points[keep], t.radius[keep, None]
        if len(p):
            lo, hi = np.minimum(lo, (p - r).min(0)), np.maximum(hi, (p + r).max(0))
    g_lo = grid.lo_lps - np.array(grid.spacing[::-1]) / 2
    g_hi = grid.hi_lps + np.array(grid.spacing[::-1]) / 2
    if np.any(lo < g_lo) or np.any(hi > g_hi):
        raise PhantomSpecError(
            "field of view too small for the anatomy: the veins need LPS "
            f"x {lo[0]:.0f}..{hi[0]:.0f}, y {lo[1]:.0f}..{hi[1]:.0f}, z {lo[2]:.0f}..{hi[2]:.0f} mm "
            f"but the grid covers x {g_lo[0]:.0f}..{g_hi[0]:.0f}, y {g_lo[1]:.0f}..{g_hi[1]:.0f}, "
            f"z {g_lo[2]:.0f}..{g_hi[2]:.0f} mm (shape_zyx {grid.shape}, spacing {grid.spacing}); "
            "use a larger shape or spacing")


def merge_label_islands(labels: np.ndarray) -> int:
    """Give every 26-connected island of a label, except its largest, to the label it touches
    most (in place). Nearest-centreline labelling leaves a few such voxels at confluences.

    Returns the number of voxels relabelled.
    """
    moved = 0
    full = np.ones((3, 3, 3), dtype=bool)
    for lab, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        box = tuple(slice(max(b.start - 1, 0), b.stop + 1) for b in box)
        sub = labels[box]
        comp, n = ndi.label(sub == lab, structure=full)
        if n <= 1:
            continue
        sizes = np.bincount(comp.ravel())[1:]
        keep = int(np.argmax(sizes)) + 1
        for i in range(1, n + 1):
            if i == keep:
                continue
            island = comp == i
            ring = ndi.binary_dilation(island, structure=full) & ~island & (sub > 0) & (sub != lab)
            if ring.any():
                sub[island] = np.bincount(sub[ring]).argmax()
                moved += int(island.sum())
    return moved


def generate_phantom(spec: PhantomSpec) -> Phantom:
    """Build the phantom described by ``spec`` (deterministic for a given spec)."""
    rng = np.random.default_rng(spec.seed)
    grid = spec.grid()
    shift = np.array([rng.uniform(-8, 8), rng.uniform(-8, 8), rng.uniform(-5, 5)])
    tree = build_vessels(rng, shift)
    _check_fov(grid, tree, shift)
    z_lo = grid.lo_lps[2] - grid.spacing[0] / 2
    z_hi = grid.hi_lps[2] + grid.spacing[0] / 2
    tree.veins["ivc"].clip_z(z_lo, z_hi, keep="first")
    for side in ("left", "right"):
        tree.veins[f"external_iliac_vein_{side}"].clip_z(z_lo, z_hi, keep="last")
    separate_veins(tree)
    # ----------------------------------------------------------------- lesions
    geoms = {r.name: route_geometry(tree, r) for r in DEFAULT_ROUTES}
    geom = geoms[spec.route]
    foci = place_lesions(geom, spec.pattern, rng)
    intervals = segment_intervals(geom, foci)
    dilation = float(rng.uniform(1.1, 1.2) if spec.occlusion else rng.uniform(1.04, 1.12))
    dilate(tree, intervals, dilation)
    eiv = tree.veins["external_iliac_vein_left"]
    ref_d = 2.0 * float(np.median(eiv.radius[(eiv.s > 8) & (eiv.s < eiv.length_mm - 8)]))
    compress_left_civ(tree, float(spec.stenosis_pct), ref_d)
    gaps = separate_arteries(tree)
    civl = tree.veins["common_iliac_vein_left"]
    tree.mt_crossing["point_lps_mm"] = [round(float(v), 2)
                                        for v in civl.point_at(tree.mt_crossing["s_mm"])]
    defects_t = defect_tubes(tree, geom, foci, occlusion=spec.occlusion, rng=rng)
    # ----------------------------------------------------------------- render
    tab = tissue_table(spec.modality, rng)
    cv = Canvas.new(grid, tab)
    body = _body.paint_body(cv, rng, shift)
    _body.paint_muscles(cv, rng, shift)
    _body.paint_organs(cv, rng, shift)
    n_loops = _body.paint_bowel(cv, rng, shift, tree)
    _body.paint_bones(cv, rng, shift)
    arteries = np.zeros(grid.shape, dtype=bool)
    for t in tree.arteries.values():
        for f in tube_fields(grid, t):
            cv.blend(f.sl, f.sd, "artery")
            arteries[f.sl] |= f.sd <= 0
    veins = np.zeros(grid.shape, dtype=np.uint8)
    best = np.full(grid.shape, np.inf, dtype=np.float32)
    for name, t in tree.veins.items():
        for f in tube_fields(grid, t):
            cv.blend(f.sl, f.sd, "vein")
            closer = (f.sd <= 0) & (f.dist < best[f.sl])
            best[f.sl][closer] = f.dist[closer]
            veins[f.sl][closer] = LABELS[name]
    del best
    merge_label_islands(veins)
    defects = np.zeros(grid.shape, dtype=bool)
    route_tubes = [tree.veins[s] for s in ROUTES_BY_NAME[spec.route].segments]
    amp = 20.0 if spec.modality == "CT" else 120.0
    for i, t in enumerate(defects_t):
        for f in tube_fields(grid, t):
            near = f.sd < cv.edge_mm
            if not near.any():
                continue
            sd_v = np.full(f.sd.shape, np.inf, dtype=np.float32)
            pts = f.points[near.ravel()]
            vals = np.full(len(pts), np.inf)
            for vt in route_tubes:
                vals = np.minimum(vals, signed_distance(vt, pts, cutoff=float(vt.radius.max()) + 5)[2])
            sd_v[near] = vals
            sd = np.maximum(f.sd, sd_v)
            value = tab["defect"] + amp * texture(f.points, spec.seed * 7 + i).reshape(f.sd.shape)
            cv.blend(f.sl, sd, value)
            defects[f.sl] |= sd <= 0
    img = finish(cv, spec.modality, rng)
    if spec.modality == "CT":
        arr = np.empty(grid.shape, dtype=np.int16)
        for k in range(grid.shape[0]):
            arr[k] = np.clip(np.rint(img[k]), -1024, 3071)
    else:
        arr = np.empty(grid.shape, dtype=np.uint16)
        for k in range(grid.shape[0]):
            arr[k] = np.clip(np.rint(img[k]), 0, 4095)
    del img, cv.img
    volume = Volume(arr, spacing_mm=grid.spacing, origin_lps_mm=grid.origin,
                    direction=AXIAL_DIRECTION.copy(), modality=spec.modality,
                    description=_truth.series_description(spec))
    truth = _truth.build_truth(spec, grid, tree, geoms, defects_t, foci, tab, extra={
        "dilation_factor": dilation, "artery_vein_min_gap_mm": gaps, "body": body,
        "bowel_loops": n_loops, "global_shift_lps_mm": [round(float(v), 3) for v in shift],
        "spec": asdict(spec),
    })
    return Phantom(volume, veins, defects, arteries, truth, spec)
