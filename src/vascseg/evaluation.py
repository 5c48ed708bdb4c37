"""Accuracy of a pipeline result against a phantom's ground truth.

Used by ``scripts/evaluate.py`` (the table) and by the accuracy tests. Every number is in
physical units; seeds used here are never the ones the methods were developed on (see
:data:`DEVELOPMENT_SEEDS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from .anatomy import LABELS, VEIN_NAMES

DEVELOPMENT_SEEDS = frozenset(range(0, 10))
"""Seeds looked at while developing the methods; evaluation uses others (100 and up)."""

CONFLUENCE_EXCLUSION_MM = 12.0
"""Diameter errors are measured this far from any confluence or route end."""


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks (NaN when both are empty)."""
    s = int(a.sum()) + int(b.sum())
    return float("nan") if s == 0 else 2.0 * float((a & b).sum()) / s


@dataclass
class CaseScore:
    """Scores of one phantom case."""

    case: str
    dice: dict[str, float] = field(default_factory=dict)
    name_accuracy: float = float("nan")
    artery_as_vein_pct: float = float("nan")
    defect_dice: float = float("nan")
    false_defect_ml: float = 0.0
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)


def score_segmentation(truth_veins, truth_defects, truth_arteries, veins, defects,
                       voxel_ml: float) -> dict[str, Any]:
    """Per-segment Dice, naming accuracy, arteries labelled as vein, defect Dice/false volume."""
    out: dict[str, Any] = {"dice": {}}
    for name in VEIN_NAMES:
        t = truth_veins == LABELS[name]
        if t.any():
            out["dice"][name] = dice(t, veins == LABELS[name])
    both = (truth_veins > 0) & (veins > 0)
    out["name_accuracy"] = float((truth_veins[both] == veins[both]).mean()) if both.any() else float("nan")
    out["artery_as_vein_pct"] = (100.0 * float((truth_arteries & (veins > 0)).sum()) / max(int(truth_arteries.sum()), 1))
    if truth_defects.any():
        out["defect_dice"] = dice(truth_defects, defects)
        out["false_defect_ml"] = float((defects & ~truth_defects).sum()) * voxel_ml
    else:
        out["defect_dice"] = float("nan")
        out["false_defect_ml"] = float(defects.sum()) * voxel_ml
    return out


def _focus_ok(t: dict, p: dict) -> dict[str, Any]:
    tol = max(5.0, 0.05 * t["length_mm"])
    return {
        "length_err_mm": p["length_mm"] - t["length_mm"],
        "length_ok": abs(p["length_mm"] - t["length_mm"]) <= tol,
        "z_min_err_mm": p["z_min_mm"] - t["z_min_mm"],
        "z_max_err_mm": p["z_max_mm"] - t["z_max_mm"],
        "z_ok": abs(p["z_min_mm"] - t["z_min_mm"]) <= 5.0 and abs(p["z_max_mm"] - t["z_max_mm"]) <= 5.0,
        "segments_ok": list(p["segments"]) == list(t["segments"]),
    }


def score_route(truth_route: dict, report_route: dict, profile) -> dict[str, Any]:
    """Continuity, foci, extent, route length, diameter profile and stenosis of one route.

    ``profile`` is the traced :class:`vascseg.trace.Profile` of the route (for diameters).
    """
    t_les, p_les = truth_route.get("lesions", []), report_route.get("lesions", [])
    t_pat = truth_route.get("pattern", "none")
    res: dict[str, Any] = {
        "continuity_truth": t_pat,
        "continuity": report_route["continuity"],
        "continuity_ok": report_route["continuity"] == t_pat,
        "n_foci_truth": len(t_les),
        "n_foci": len(p_les),
        "n_foci_ok": len(t_les) == len(p_les),
        "length_truth_mm": truth_route["length_mm"],
        "length_mm": report_route["length_mm"],
        "length_rel_err": (report_route["length_mm"] - truth_route["length_mm"]) / truth_route["length_mm"],
    }
    foci = [_focus_ok(t, p) for t, p in zip(sorted(t_les, key=lambda x: x["start_mm"]),
                                            sorted(p_les, key=lambda x: x["start_mm"]), strict=False)]
    if len(t_les) == len(p_les):
        res["foci"] = foci
        res["foci_ok"] = all(f["length_ok"] and f["z_ok"] and f["segments_ok"] for f in foci)
    else:
        res["foci"] = foci
        res["foci_ok"] = False
    # diameter profile: nearest truth centreline point, away from confluences and ends
    tpts = np.asarray(truth_route.get("points_lps_mm") or [], float)
    tdia = np.asarray(truth_route.get("diameter_mm") or [], float)
    if profile is not None and len(profile) and len(tpts) == len(tdia) and len(tpts):
        kd = cKDTree(tpts)
        d, j = kd.query(profile.points_lps_mm)
        s = profile.s_mm
        far = (profile.dist_to_confluence_mm >= CONFLUENCE_EXCLUSION_MM) & (s >= CONFLUENCE_EXCLUSION_MM) \
            & (s <= s[-1] - CONFLUENCE_EXCLUSION_MM) & (d < 5.0)
        # the diameter truth is the nominal vessel; lesion-free stretches compare like with like
        err = profile.equivalent_diameter_mm[far] - tdia[j[far]]
        err = err[np.isfinite(err)]
        res["diameter_mae_mm"] = float(np.mean(np.abs(err))) if len(err) else float("nan")
        res["diameter_p95_abs_err_mm"] = float(np.percentile(np.abs(err), 95)) if len(err) else float("nan")
    st_t, st_p = truth_route.get("stenosis"), report_route.get("stenosis")
    if st_t and st_p and st_p.get("diameter_stenosis_pct") is not None:
        res["stenosis_truth_pct"] = st_t["diameter_stenosis_pct"]
        res["stenosis_pct"] = st_p["diameter_stenosis_pct"]
        res["stenosis_err_pct"] = st_p["diameter_stenosis_pct"] - st_t["diameter_stenosis_pct"]
    return res
