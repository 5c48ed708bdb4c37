"""From the working grid back to the input grid: lumen edges, envelope, names, defects.

Detection on the working grid (:mod:`vascseg.segment._grid`) decides *what* is vein, which
vein and where defects lie. Only the edges need the input grid's resolution, and only near
the veins, so everything here works in the box around the coarse vein envelope:

* lumen: bright voxels (the lumen thresholds) near the coarse envelope and connected to the
  coarse lumen, grown to the half-maximum edge (:func:`vascseg.segment.lumen.grow_half_max`,
  as on the working grid);
* envelope: that lumen plus the soft-tissue voxels of the coarse envelope's non-lumen part
  (defects, concavities), interpolated trilinearly so edges are not blocky;
* names: each voxel takes its working-grid block's name (blocks just outside the coarse
  envelope take a neighbour's);
* defects: :func:`vascseg.segment.defects.defects_in` on the refined masks.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..anatomy import LABELS, VEIN_NAMES
from ._grid import expand_linear, expand_nearest, fine_box
from ._result import Detection, Segmentation
from .defects import cord_voxels, defect_rims, defects_in
from .lumen import grow_half_max

BOX_MARGIN_MM = 8.0
"""Margin of the refinement box around the coarse envelope (band, smoothing and windows)."""


def defect_window(cfg, mr: bool) -> tuple[float, float]:
    """(low, high) (pseudo-)HU of filling-defect tissue."""
    return (cfg.mr_defect_min_hu, cfg.mr_defect_max_hu) if mr else (cfg.ct_defect_min_hu, cfg.ct_lumen_min_hu)


def _ring_labels(labels: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """``labels`` with the voxels just outside ``inside`` given a neighbour's label."""
    grown = ndi.grey_dilation(labels, size=(3, 3, 3))
    return np.where(inside, labels, grown)


def _grown(mask_c: np.ndarray) -> np.ndarray:
    """``mask_c`` dilated by one working voxel (26-neighbourhood)."""
    return ndi.binary_dilation(mask_c, np.ones((3, 3, 3), bool))


def _expand_mask(mask_c: np.ndarray, factors, shape) -> np.ndarray:
    """A coarse mask on the input grid with smooth edges (trilinear, > 0.5), computed in its
    box; ``mask_c`` and the (``shape``) result start at the same block boundary."""
    out = np.zeros(shape, bool)
    if not mask_c.any():
        return out
    cb = ndi.find_objects(mask_c.astype(np.uint8))[0]
    fb = tuple(slice(max(b.start - 1, 0) * f, min((b.stop + 1) * f, n))
               for b, f, n in zip(cb, factors, shape, strict=True))
    out[fb] = expand_linear(mask_c, factors, fb) > 0.5
    return out


def refine_on_input_grid(det: Detection, volume, img: np.ndarray, factors, cfg, *,
                         prior=None) -> Segmentation:
    """The segmentation on ``volume``'s grid from a detection on its working grid.

    Parameters
    ----------
    det : Detection
        Result on the working grid (blocks of ``factors`` input voxels).
    volume : Volume
        The input series.
    img : (Z, Y, X) array
        Its pseudo-HU image (CT: the HU array itself, any dtype).
    factors : (fz, fy, fx)
        Working-grid block size.
    prior : Prior, optional
        Prior masks on the input grid (their veins join the envelope, as on the working grid).
    """
    seg_c = det.segmentation
    shape, sp = volume.shape, volume.spacing_mm
    arteries = np.zeros(shape, bool)
    abox = fine_box(seg_c.arteries, factors, shape, margin_mm=0.0, spacing_mm=sp)
    if abox is not None:
        arteries[abox] = expand_nearest(seg_c.arteries, factors, abox)
    veins = np.zeros(shape, np.uint8)
    defects = np.zeros(shape, bool)
    lumen = np.zeros(shape, bool)
    box = fine_box(seg_c.veins > 0, factors, shape, margin_mm=BOX_MARGIN_MM, spacing_mm=sp)
    if box is None:
        return Segmentation(veins, defects, lumen, arteries, dict(seg_c.missing), seg_c.warnings)
    sub = np.asarray(img[box], np.float32)
    sig = [cfg.smoothing_sigma_mm / s for s in sp]
    smooth = ndi.gaussian_filter(sub, sig, mode="nearest") if cfg.smoothing_sigma_mm > 0 else sub
    art = arteries[box]
    # the box starts on a block boundary: work on the coarse masks' matching crop
    cbox = tuple(slice(b.start // f, -(-b.stop // f)) for b, f in zip(box, factors, strict=True))
    local = tuple(slice(0, b.stop - b.start) for b in box)

    def up(mask_c: np.ndarray) -> np.ndarray:
        return expand_nearest(mask_c, factors, local)

    env_c, lumen_c = det.envelope[cbox], det.lumen[cbox]
    # where the lumen may be: the coarse envelope and one working voxel around it
    near_c = _grown(env_c) & det.body[cbox] & ~det.blocked[cbox]
    allowed = up(near_c) & ~art
    if lumen_c.any():
        bright = (smooth >= cfg.ct_lumen_min_hu) & (smooth <= cfg.ct_lumen_max_hu) & allowed
        lab, n = ndi.label(bright, structure=np.ones((3, 3, 3), bool))
        if n:  # bright components holding coarse lumen
            hit = np.zeros(n + 1, bool)
            hit[lab[up(lumen_c)]] = True
            hit[0] = False
            bright = hit[lab]
        del lab
        lumen_f = grow_half_max(bright, sub, det.lumen_level, sp, steps=max(factors), allowed=allowed,
                                background_below=cfg.ct_lumen_min_hu)
        del sub
        del bright
        # the envelope's non-lumen part (defects, concavities), with one working voxel of
        # overlap into the lumen so no gap opens where the refined lumen edge moved
        rest_c = _grown(env_c & ~lumen_c) & env_c
        d_lo, d_hi = defect_window(cfg, volume.modality == "MR")
        if det.dark_hu is not None:  # T1 MR: a cord may be brighter than the defect window
            d_hi = max(d_hi, det.dark_hu[1])
        soft = (smooth >= d_lo) & (smooth < d_hi) & ~art & ~lumen_f
        env_f = lumen_f | (_expand_mask(rest_c, factors, smooth.shape) & soft)
        del soft
    else:  # veins from a prior on a non-contrast scan: no lumen to refine
        lumen_f = np.zeros(smooth.shape, bool)
        env_f = _expand_mask(env_c, factors, smooth.shape)
    if prior is not None:
        parts = [prior.get(k) for k in ("ivc", "iliac_vein_left", "iliac_vein_right")]
        parts = [p[box] for p in parts if p is not None]
        if parts:
            env_f |= np.logical_or.reduce(parts) & ~art
    named_c = seg_c.veins[cbox]
    names = up(_ring_labels(named_c, (named_c > 0) | ~near_c))
    names[~env_f] = 0
    veins[box] = names
    lumen[box] = lumen_f & (names > 0)
    if seg_c.defects.any() and lumen_f.any():
        # defects where the working grid found them (one working voxel around), edges here
        near_def = up(_grown(seg_c.defects[cbox]))
        found = defects_in(env_f & near_def, lumen_f, names, sp, min_volume_ml=cfg.min_defect_volume_ml,
                           dark=cord_voxels(smooth, det.dark_hu))
        if det.fat_hu is not None:
            found, names = defect_rims(found, names, smooth, fat_hu=det.fat_hu, barred=art)
            veins[box] = names
        defects[box] = found
    del smooth, allowed, env_f, names, lumen_f
    present = set(np.unique(veins[box]).tolist())
    missing = dict(seg_c.missing)
    for n in VEIN_NAMES:
        if LABELS[n] not in present and n not in missing:
            missing[n] = "too small to keep on the input grid"
    return Segmentation(veins, defects, lumen, arteries, missing, seg_c.warnings)
