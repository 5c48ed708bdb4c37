"""Vein segmentation with anatomical names, and filling-defect segmentation.

Entry point: :func:`segment_veins`. Three ways in, combinable: automatic (anatomy and
geometry), landmarks (points in named veins) and a prior label map (TotalSegmentator).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

from ..anatomy import LABELS, VEIN_NAMES
from ..config import Config
from ..geometry import Volume
from ._distance import within_mm
from ._grid import block_mean, coarse_volume, working_factors
from ._refine import defect_window, refine_on_input_grid
from ._result import Detection, Segmentation
from .defects import (
    cord_ceiling,
    cord_voxels,
    defect_rims,
    defects_in,
    fat_level,
    vein_interior,
)
from .lumen import (
    above_confluence,
    body_mask,
    bone_mask,
    bright_links,
    find_big_vessels,
    grow_half_max,
    normalise_intensity,
    split_veins_arteries,
    thick_regions,
    tubular_components,
)
from .naming import label_veins
from .prior import PRIOR_MAPS, Prior, load_prior
from .vesselness import vesselness

log = logging.getLogger(__name__)

VESSEL_CORE_MIN = 0.15
"""Vesselness above which a bright voxel is a vessel core."""

VESSEL_CORE_REACH_MM = 3.0
"""Bright voxels this close to a vessel core belong to the vessel (edges, bifurcations)."""

ORGAN_BALL_MM = 13.0
"""Bright regions a ball of this radius fits in are organs (the IVC's radius is 10-12 mm)."""
ORGAN_MARGIN_MM = 3.0
"""...and bright voxels this close to them too (their partial-volume rims)."""

SLIT_REACH_MM = 8.0
"""Bright voxels this close to vessels that link two vessel pieces are vessel (a vein
flattened by a crossing artery has no tubular core)."""

MIN_CORE_ML = 0.15
"""A bright component is a vessel when at least this much of it is tubular (vesselness core)."""

IILIAC_SPLIT_FRACTION = 0.4
"""Where a prior's undivided iliac vein is split into common (first part) and external."""


def _landmark_indices(landmarks, grid: Volume):
    if not landmarks:
        return None
    out = []
    for lm in landmarks:
        idx = grid.lps_to_index(lm.lps_mm)
        out.append((lm.name, idx))
    return out


def segment_veins(volume: Volume, config: Config | None = None, *, landmarks=None,
                  prior: Prior | None = None) -> Segmentation:
    """Segment and name the pelvic-to-caval veins and their filling defects.

    A series finer than :data:`vascseg.segment._grid.WORK_SPACING_MAX_MM` is analysed on a
    block-averaged working grid; lumen edges, envelope and defects are then refined on the
    input grid near the veins (:func:`vascseg.segment._refine.refine_on_input_grid`).

    Parameters
    ----------
    volume : Volume
        CT (HU) or MR series.
    config : Config, optional
        ``config.segment`` holds the thresholds (pseudo-HU; MR is normalised first).
    landmarks : list of Landmark, optional
        Points (LPS mm) inside named veins; they override automatic names.
    prior : Prior, optional
        Resampled anatomical masks (see :func:`load_prior`); its IVC anchors the vein tree.
    """
    cfg = (config or Config()).segment
    factors = working_factors(volume.spacing_mm)
    # pseudo-HU on the input grid (CT: the array itself, converted box by box later)
    img = normalise_intensity(volume) if volume.modality == "MR" else volume.array
    if factors == (1, 1, 1):
        return _detect(volume, np.asarray(img, np.float32), cfg, landmarks, prior).segmentation
    work = coarse_volume(volume, block_mean(img, factors), factors)
    work_prior = None
    if prior is not None:
        work_prior = Prior({k: block_mean(m, factors) >= 0.5 for k, m in prior.masks.items()}, prior.source)
    det = _detect(work, work.array, cfg, landmarks, work_prior)
    return refine_on_input_grid(det, volume, img, factors, cfg, prior=prior)


def _detect(volume: Volume, img: np.ndarray, cfg, landmarks, prior: Prior | None) -> Detection:
    """The whole analysis on ``volume``'s grid; ``img`` is its pseudo-HU float32 array."""
    sp = volume.spacing_mm
    warnings: list[str] = []
    body = body_mask(img)
    sig = [cfg.smoothing_sigma_mm / s for s in sp]
    smooth = ndi.gaussian_filter(img, sig, mode="nearest") if cfg.smoothing_sigma_mm > 0 else img
    mr = volume.modality == "MR"
    # cortical bone is dark on MR: no bone mask there (and no spine check for the IVC)
    bone = np.zeros(volume.shape, bool) if mr else bone_mask(smooth, sp)
    d_lo, d_hi = defect_window(cfg, mr)
    bright = (smooth >= cfg.ct_lumen_min_hu) & (smooth <= cfg.ct_lumen_max_hu) & body & ~bone
    zeros = np.zeros(volume.shape, bool)
    organs = zeros
    level = cfg.ct_lumen_min_hu

    prior_ivc = prior.get("ivc") if prior else None
    prior_veins = None
    if prior is not None:
        parts = [prior.get(k) for k in ("ivc", "iliac_vein_left", "iliac_vein_right")]
        parts = [p for p in parts if p is not None]
        prior_veins = np.logical_or.reduce(parts) if parts else None
    enhanced_prior = None
    if prior_ivc is not None:
        enhanced_prior = float(np.median(smooth[prior_ivc])) >= cfg.ct_lumen_min_hu

    if prior_veins is not None and enhanced_prior is False:
        # Non-contrast (or arterial-phase) scan: the lumen cannot be told by enhancement.
        med = float(np.median(smooth[prior_ivc]))
        warnings.append(f"IVC median {med:.0f} (pseudo-)HU is below the enhanced-lumen threshold "
                        f"{cfg.ct_lumen_min_hu:.0f}: veins taken from the prior; filling defects "
                        f"cannot be assessed without venous enhancement")
        env = prior_veins
        lumen = zeros
        arteries = prior.get("aorta") if prior.get("aorta") is not None else zeros
        ivc_seed = prior_ivc
    else:
        v = vesselness(smooth, sp, mask=bright, c=60.0)
        core = v > VESSEL_CORE_MIN
        del v
        organs = thick_regions(bright, sp, ORGAN_BALL_MM, margin_mm=ORGAN_MARGIN_MM)
        near = within_mm(core, VESSEL_CORE_REACH_MM, sp)
        vessels = tubular_components(bright & ~organs & near, core, sp, min_core_ml=MIN_CORE_ML)
        del near
        level = float(np.median(smooth[core & vessels])) if (core & vessels).any() else cfg.ct_lumen_min_hu
        # a slit as bright as the lumen itself (its partial-volume rims are not)
        vessels |= bright_links(vessels, bright & ~organs & (smooth >= 0.5 * (level + cfg.ct_lumen_min_hu)),
                                sp, SLIT_REACH_MM)
        vessels = grow_half_max(vessels, smooth, level, sp, allowed=body & ~bone & ~organs,
                                background_below=cfg.ct_lumen_min_hu)
        if prior_ivc is not None:
            ivc_seed = prior_ivc & vessels
            aorta = prior.get("aorta")
            aorta_seed = aorta & vessels if aorta is not None else None
            seed_notes: tuple[str, ...] = ()
        else:
            seeds = find_big_vessels(vessels, volume, body, None if mr else bone)
            ivc_seed, aorta_seed, seed_notes = seeds.ivc, seeds.aorta, seeds.notes
        warnings.extend(seed_notes)
        if ivc_seed is None or not ivc_seed.any():
            reason = "; ".join(seed_notes) or "no enhanced IVC found"
            seg = Segmentation(np.zeros(volume.shape, np.uint8), zeros, zeros,
                               vessels, {n: reason for n in VEIN_NAMES}, tuple(warnings))
            return Detection(seg, zeros, zeros, body, bone | organs, level)
        # veins and arteries by their seeds; vessels connected to neither may be veins cut
        # off from the IVC by a filling defect: the envelope (lumen plus the hypodense tissue
        # its contrast wraps around) reconnects them, but never across an artery.
        _, arteries = split_veins_arteries(vessels, sp, above_confluence(ivc_seed, volume), aorta_seed)
        radius = min(cfg.vessel_radius_max_mm * 0.75, 12.0)
        env, lumen = vein_interior(vessels & ~arteries, smooth, sp, ivc_seed=ivc_seed, radius_mm=radius,
                                   defect_min=d_lo, defect_max=d_hi, lumen_min=cfg.ct_lumen_min_hu,
                                   max_bridge_mm=cfg.max_occlusion_bridge_mm, avoid=arteries,
                                   solid=bone | organs, raw=img)
        if prior_veins is not None:
            env = env | (prior_veins & ~arteries)

    veins, notes = label_veins(env, volume, ivc_seed, landmarks=_landmark_indices(landmarks, volume),
                               undivided_iliac_split=IILIAC_SPLIT_FRACTION if prior is not None else None)
    dark_hu = fat = None
    if mr and lumen.any():
        # T1 MR: a cord's intensities, darker than any partial volume of the lumen and the fat
        # around it, and no darker than the defect level (muscle's partial volume with fat is)
        fat = fat_level(lumen, smooth, sp, below=(smooth >= d_lo) & (smooth < cfg.ct_lumen_min_hu) & ~arteries,
                        floor=d_hi)
        dark_hu = None if fat is None else (0.5 * (d_lo + d_hi), cord_ceiling(d_hi, fat))
    defects = zeros
    if lumen.any():
        defects = defects_in(env, lumen, veins, sp, min_volume_ml=cfg.min_defect_volume_ml,
                             dark=cord_voxels(smooth, dark_hu))
        if fat is not None:
            defects, veins = defect_rims(defects, veins, smooth, fat_hu=fat, barred=arteries)
    present = set(np.unique(veins).tolist())
    missing = {}
    for n in VEIN_NAMES:
        if LABELS[n] not in present:
            why = [x.split(": ", 1)[1] for x in notes if x.startswith(n) or f"/{n.split('_', 1)[-1]}" in x]
            missing[n] = why[0] if why else "not found in the vein tree"
    warnings.extend(x for x in notes if "landmark" in x or "placed at" in x)
    seg = Segmentation(veins, defects, lumen & (veins > 0), arteries, missing, tuple(warnings))
    return Detection(seg, env, lumen, body, bone | organs, level, dark_hu, fat)


__all__ = ["PRIOR_MAPS", "Prior", "Segmentation", "load_prior", "segment_veins", "vesselness"]
