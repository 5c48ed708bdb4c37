"""Diameter stenosis of a route's stenosis segments against a reference segment."""

from __future__ import annotations

import numpy as np

from ..config import Config
from ..trace import Profile, RouteTrace, TraceResult
from .result import Stenosis

ZONE_MARGIN_MM = 3.0
"""Route sections count for the narrowest diameter from this far outside a confluence zone
(:attr:`vascseg.trace.RouteTrace.confluence_zones_mm`): the zone already spans the part
cut by the joining vein, and a compression (May-Thurner) lies right next to it."""


FLAT_RATIO = 1.5
"""A section whose max/min caliper ratio exceeds this is flattened (compressed): its narrow
diameter is taken as the minor axis of the ellipse with the section's area and max caliper."""


def narrow_diameter_mm(profile: Profile) -> np.ndarray:
    """Narrowest diameter per section, mm.

    A round section: its min Feret diameter. A flattened one (May-Thurner): ``eq^2 / max``,
    the minor axis of the ellipse of equal area and major axis. On a voxelised mask a 4 mm
    caliper is quantised to whole voxels (+-0.75 mm at 1.5 mm voxels, +-6 points of stenosis),
    while the area sums many voxels and the long caliper is long: the ellipse estimate
    keeps the error to about a point.
    """
    dmin, dmax, eq = profile.min_diameter_mm, profile.max_diameter_mm, profile.equivalent_diameter_mm
    with np.errstate(invalid="ignore", divide="ignore"):
        flat = dmax > FLAT_RATIO * dmin
        return np.where(flat, eq * eq / dmax, dmin)


def usable_sections(profile: Profile, length_mm: float, margin_mm: float) -> np.ndarray:
    """Sections farther than ``margin_mm`` from any confluence and from both centreline ends.

    Sections near a confluence are cut by the joining vein, those near an end by the end
    cap: neither is a fair diameter.
    """
    s = profile.s_mm
    return ((profile.dist_to_confluence_mm > margin_mm) & (s > margin_mm)
            & (length_mm - s > margin_mm))


def measure_stenosis(route: RouteTrace, trace: TraceResult, config: Config,
                     warnings: list[str]) -> Stenosis | None:
    """Narrowest diameter (:func:`narrow_diameter_mm`) on the stenosis segments vs the reference median.

    Returns None (and appends a warning when a measurement was expected) when the route
    has no reference segment, the reference or the stenosis segments are missing, or no
    section is usable.
    """
    rdef = route.definition
    ref_name = rdef.reference_segment
    if ref_name is None or not rdef.stenosis_segments:
        return None
    margin = config.measure.confluence_margin_mm
    ref = trace.segment(ref_name)
    if ref is None or not len(ref.profile):
        warnings.append(f"route {route.name}: reference segment {ref_name} is missing; no stenosis measured")
        return None
    rp = ref.profile
    ok = usable_sections(rp, ref.length_mm, margin) & np.isfinite(rp.equivalent_diameter_mm)
    if not ok.any():
        ok = np.isfinite(rp.equivalent_diameter_mm)
    if not ok.any():
        warnings.append(f"route {route.name}: no usable section of {ref_name}; no stenosis measured")
        return None
    ref_d = float(np.median(rp.equivalent_diameter_mm[ok]))
    prof = route.profile
    on = np.isin(prof.segment, list(rdef.stenosis_segments)) if len(prof) else np.zeros(0, bool)
    cand = on & usable_sections(prof, route.length_mm, ZONE_MARGIN_MM) & np.isfinite(prof.min_diameter_mm)
    if not cand.any():
        warnings.append(f"route {route.name}: stenosis segment(s) {', '.join(rdef.stenosis_segments)} "
                        f"not traced or shorter than twice the confluence margin; no stenosis measured")
        return None
    # Median of 3 neighbouring sections: a single section's caliper on a voxelised mask is
    # noisy, and the minimum of noisy values is biased low.
    dm = narrow_diameter_mm(prof)
    smooth = np.nanmedian(np.stack([np.r_[dm[:1], dm[:-1]], dm, np.r_[dm[1:], dm[-1:]]]), axis=0)
    idx = np.nonzero(cand)[0]
    i = int(idx[np.argmin(smooth[idx])])
    dmin = float(smooth[i])
    pct = 100.0 * (1.0 - dmin / ref_d)
    thr = config.measure.stenosis_threshold_pct
    return Stenosis(min_diameter_mm=dmin, at_mm=float(prof.s_mm[i]), segment=str(prof.segment[i]),
                    reference_diameter_mm=ref_d, reference_segment=ref_name,
                    diameter_stenosis_pct=pct, threshold_pct=thr, exceeds_threshold=bool(pct > thr))
