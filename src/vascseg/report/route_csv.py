"""``routes/<route>.csv``: one row per centreline sample (every ``step_mm``) of each route."""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

from .._util import write_text_atomic
from ..trace import PROFILE_FIELDS, RouteTrace, TraceResult

CSV_COLUMNS: tuple[str, ...] = ("s_mm", "x_mm", "y_mm", "z_mm", "segment", *PROFILE_FIELDS)
"""Column order of the route CSVs (part of the output contract, DESIGN.md)."""


def _fmt(x: float) -> str:
    """Three decimals; an empty field for NaN (no vessel found in that section)."""
    return f"{x:.3f}" if math.isfinite(x) else ""


def route_filename(name: str) -> str:
    """File name of a route's CSV (characters other than letters, digits, ``._-`` become ``_``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) + ".csv"


def route_csv_text(route: RouteTrace) -> str:
    """The CSV of one route (header only when the route could not be traced)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    p = route.profile
    for i in range(len(p)):
        x, y, z = p.points_lps_mm[i]
        w.writerow([_fmt(p.s_mm[i]), _fmt(x), _fmt(y), _fmt(z), str(p.segment[i]),
                    *(_fmt(float(getattr(p, f)[i])) for f in PROFILE_FIELDS)])
    return buf.getvalue()


def write_route_csvs(trace: TraceResult, out_dir: str | Path) -> list[Path]:
    """Write ``<out_dir>/routes/<route>.csv`` for every route (atomically); return the paths.

    Columns: ``s_mm, x_mm, y_mm, z_mm`` (LPS), ``segment``, ``lumen_area_mm2``,
    ``equivalent_diameter_mm``, ``min_diameter_mm``, ``max_diameter_mm``,
    ``defect_area_mm2``, ``occlusion_pct``. Diameters are of the vessel (lumen + defect).
    """
    folder = Path(out_dir) / "routes"
    return [write_text_atomic(folder / route_filename(r.name), route_csv_text(r)) for r in trace.routes]
