"""Figures of the HTML report (matplotlib, Agg, no pyplot state): PNG bytes."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

from ..anatomy import COLOURS, DEFECT_COLOUR, LABELS
from ..geometry import Volume
from ..measure import RouteMeasure
from ..trace import RouteTrace, TraceResult

ROUTE_COLOURS = ("#ffffff", "#ffd400", "#00e5ff", "#ff7f0e", "#b5ff3b", "#ff5cf4", "#9ecbff")
"""Line colours of the routes on the overview (cycled)."""


def _png(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def profile_png(route: RouteTrace, measured: RouteMeasure | None) -> bytes:
    """Diameters and occlusion along a route, lesions shaded, gaps and confluences marked."""
    fig = Figure(figsize=(9.0, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    p = route.profile
    if not len(p):
        ax.text(0.5, 0.5, "route not traced", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return _png(fig)
    s = p.s_mm
    ax.plot(s, p.equivalent_diameter_mm, color="#1f4e9c", lw=1.6, label="equivalent diameter")
    ax.plot(s, p.min_diameter_mm, color="#1f4e9c", lw=0.8, ls="--", label="min / max diameter")
    ax.plot(s, p.max_diameter_mm, color="#1f4e9c", lw=0.8, ls="--")
    ax.set_xlabel("arc length s from the pelvic end (mm)")
    ax.set_ylabel("vessel diameter (mm)")
    ax.set_xlim(0, max(route.length_mm, 1.0))
    top = np.nanmax(p.max_diameter_mm) if np.isfinite(p.max_diameter_mm).any() else 10.0
    ax.set_ylim(0, top * 1.25)
    ax2 = ax.twinx()
    ax2.fill_between(s, np.nan_to_num(p.occlusion_pct), color="#d62728", alpha=0.35, lw=0,
                     label="occlusion")
    ax2.set_ylim(0, 140)
    ax2.set_yticks([0, 25, 50, 75, 100])
    ax2.set_ylabel("occlusion (%)", color="#d62728")
    # confluences and segment names
    bounds = [0.0, *route.confluences_s_mm, route.length_mm]
    names = list(route.traced_segments)
    for c in route.confluences_s_mm:
        ax.axvline(c, color="0.45", lw=0.8, ls=":")
    for a, b, name in zip(bounds, bounds[1:], names, strict=False):
        ax.text((a + b) / 2, 1.015, name.replace("_vein", "").replace("_", " "), ha="center",
                va="bottom", fontsize=7, color="0.25", transform=ax.get_xaxis_transform())
    if measured is not None:
        for k, les in enumerate(measured.lesions):
            ax.axvspan(les.start_mm, les.end_mm, color="#ff9896", alpha=0.35, lw=0,
                       label="lesion" if k == 0 else None)
        for a, b in zip(measured.lesions, measured.lesions[1:], strict=False):
            y = top * 1.12
            ax.annotate("", xy=(b.start_mm, y), xytext=(a.end_mm, y),
                        arrowprops=dict(arrowstyle="<->", color="k", lw=0.9))
            ax.text((a.end_mm + b.start_mm) / 2, y * 1.02, f"gap {b.start_mm - a.end_mm:.0f} mm",
                    ha="center", va="bottom", fontsize=7)
        st = measured.stenosis
        if st is not None:
            ax.plot([st.at_mm], [st.min_diameter_mm], marker="v", color="k", ms=6, ls="none",
                    label=f"narrowest ({st.diameter_stenosis_pct:.0f}% stenosis)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=7, ncol=5,
              frameon=False)
    ax.set_title(route.name, fontsize=10, pad=16)
    return _png(fig)


def _axes(grid: Volume) -> tuple[int, int, int]:
    """Array axes along LPS x, y, z (distinct; falls back to the axial layout)."""
    ax = (grid.axis_of(0), grid.axis_of(1), grid.axis_of(2))
    return ax if len(set(ax)) == 3 else (2, 1, 0)


def _to_coronal(img2d: np.ndarray, grid: Volume, ax_x: int, ax_z: int):
    """Orient a 2-D projection as rows = increasing z, columns = increasing x; extent in mm."""
    rows_first = ax_z < ax_x  # the projection keeps the remaining axes in array order
    out = img2d if rows_first else np.swapaxes(img2d, 0, 1)
    d, sp = grid.direction, grid.spacing_mm
    if d[2, ax_z] < 0:
        out = out[::-1]
    if d[0, ax_x] < 0:
        out = out[:, ::-1]
    corners = grid.index_to_lps(np.array([[0, 0, 0], [n - 1 for n in grid.shape]], float))
    x0, x1 = sorted(corners[:, 0])
    z0, z1 = sorted(corners[:, 2])
    hx, hz = sp[ax_x] / 2, sp[ax_z] / 2
    return out, (x0 - hx, x1 + hx, z0 - hz, z1 + hz)


def overview_png(grid: Volume, veins: np.ndarray, defects: np.ndarray, trace: TraceResult) -> bytes:
    """Coronal MIP of the image with the vein labels, the defects and the routes overlaid.

    Displayed in radiological convention (patient right on the left, head up) with the
    physical aspect ratio of the grid.
    """
    ax_x, ax_y, ax_z = _axes(grid)
    mip, extent = _to_coronal(np.asarray(grid.array, dtype=np.float32).max(axis=ax_y), grid, ax_x, ax_z)
    lab, _ = _to_coronal(np.asarray(veins).max(axis=ax_y), grid, ax_x, ax_z)
    dfx, _ = _to_coronal(np.asarray(defects, dtype=bool).any(axis=ax_y), grid, ax_x, ax_z)
    lo, hi = np.percentile(mip, [1.0, 99.5])
    grey = np.clip((mip - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    lut = np.zeros((256, 3))
    for name, col in COLOURS.items():
        lut[LABELS[name]] = np.asarray(col) / 255.0
    on = lab > 0
    rgb[on] = 0.4 * rgb[on] + 0.6 * lut[lab[on]]
    rgb[dfx] = 0.15 * rgb[dfx] + 0.85 * (np.asarray(DEFECT_COLOUR) / 255.0)
    width_mm, height_mm = extent[1] - extent[0], extent[3] - extent[2]
    w = 7.0
    h = float(np.clip(w * height_mm / max(width_mm, 1e-6), 3.0, 14.0))
    fig = Figure(figsize=(w, h))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(rgb, origin="lower", extent=extent, aspect="equal", interpolation="nearest")
    for k, r in enumerate(trace.routes):
        pts = r.profile.points_lps_mm
        if len(pts):
            ax.plot(pts[:, 0], pts[:, 2], color=ROUTE_COLOURS[k % len(ROUTE_COLOURS)], lw=1.0,
                    label=r.name)
    if any(len(r.profile) for r in trace.routes):
        ax.legend(loc="upper right", fontsize=6, framealpha=0.7)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("x (mm, LPS): patient right  \u2190  \u2192  patient left")
    ax.set_ylabel("z (mm, LPS): superior \u2191")
    ax.set_title("Coronal MIP: veins, filling defects (red) and routes", fontsize=9)
    return _png(fig, dpi=100)
