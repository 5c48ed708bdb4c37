"""``report.html``: one self-contained page (figures embedded as base64 PNG) for a radiologist."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from .._util import write_text_atomic
from ..geometry import Volume
from ..measure import MeasureResult
from ..trace import TraceResult
from .plots import overview_png, profile_png

_SIDE = {"left": "left", "right": "right"}


def vein_phrase(segment: str) -> str:
    """Readable name of a segment: ``common_iliac_vein_left`` -> ``left common iliac vein``."""
    if segment == "ivc":
        return "IVC"
    words = segment.split("_")
    side = words[-1] if words[-1] in _SIDE else ""
    body = " ".join(w for w in words if w not in _SIDE)
    return f"{side} {body}".strip()


def _ivc_level(trace: TraceResult, z_mm: float) -> str:
    """``infrarenal`` / ``suprarenal`` / ``juxtarenal`` IVC by the renal vein confluences."""
    zs = [s.confluence_lps_mm[2] for s in trace.segments
          if s.name.startswith("renal_vein") and s.confluence_lps_mm is not None]
    if not zs:
        return "IVC"
    lo, hi = min(zs), max(zs)
    if z_mm < lo - 5:
        return "infrarenal IVC"
    if z_mm > hi + 5:
        return "suprarenal IVC"
    return "IVC at the level of the renal veins"


def _place(trace: TraceResult, segment: str, z_mm: float) -> str:
    return _ivc_level(trace, z_mm) if segment == "ivc" else vein_phrase(segment)


def _focus(trace: TraceResult, les: dict[str, Any]) -> str:
    segs = les["segments"]
    last = _place(trace, segs[-1], les["z_max_mm"])
    return f"in the {last}" if len(segs) == 1 else f"from the {vein_phrase(segs[0])} to the {last}"


def route_sentences(route: dict[str, Any], trace: TraceResult) -> list[str]:
    """Plain-language findings of one route of ``report.json``."""
    out: list[str] = []
    lesions = route["lesions"]
    if route["length_mm"] == 0:
        out.append("Route not traced: no part of it connects to the IVC.")
    elif route["continuity"] == "none":
        out.append(f"No filling defect along the traced route ({route['length_mm']:.0f} mm).")
    elif route["continuity"] == "continuous":
        les = lesions[0]
        out.append(f"Continuous filling defect {_focus(trace, les)}, {les['length_mm']:.0f} mm, "
                   f"cranial end at z = {les['z_max_mm']:.1f} mm "
                   f"(maximal occlusion {les['max_occlusion_pct']:.0f}%).")
    else:
        foci = "; ".join(f"{les['length_mm']:.0f} mm {_focus(trace, les)}" for les in lesions)
        gaps = ", ".join(f"{g:.0f}" for g in route["gaps_mm"])
        zmax = max(les["z_max_mm"] for les in lesions)
        out.append(f"Discontinuous filling defect, {len(lesions)} foci ({foci}) separated by "
                   f"gaps of {gaps} mm; cranial end at z = {zmax:.1f} mm.")
    if not route["complete"]:
        miss = ", ".join(vein_phrase(s) for s in route["missing_segments"]) or "a segment"
        out.append(f"Route incomplete: {miss} not found or not connected (not bridged).")
    st = route["stenosis"]
    if st is not None:
        verdict = "exceeds" if st["exceeds_threshold"] else "does not exceed"
        out.append(f"Narrowest vessel diameter {st['min_diameter_mm']:.1f} mm at s = {st['at_mm']:.0f} mm: "
                   f"{st['diameter_stenosis_pct']:.0f}% diameter stenosis against the "
                   f"{vein_phrase(st['reference_segment'])} ({st['reference_diameter_mm']:.1f} mm), "
                   f"which {verdict} the {st['threshold_pct']:.0f}% threshold.")
    return out


def summary_sentence(report: dict[str, Any], trace: TraceResult) -> str:
    """One sentence over all routes."""
    s = report["lesion_summary"]
    if s["pattern"] == "none":
        return "No filling defect was found along any traced route."
    ext = s["cranial_extent"]
    where = "" if ext is None else (f"; the most cranial lesion point is in the "
                                    f"{_place(trace, ext['segment'], ext['z_mm'])} at z = {ext['z_mm']:.1f} mm")
    return (f"{s['pattern'].capitalize()} filling defect pattern involving "
            f"{len(s['routes_involved'])} route(s): {', '.join(s['routes_involved'])}{where}.")


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _f(x, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;
max-width:1000px;color:#1b1b1b;line-height:1.45;padding:0 16px}
h1{font-size:1.5em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:3px;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f2f2f2}td.l,th.l{text-align:left}img{max-width:100%;height:auto}
.finding{background:#fff7e6;border-left:4px solid #e69500;padding:6px 10px;margin:.4em 0}
.meta{color:#555;font-size:.9em}.warn{color:#8a4b00}
"""


def render_html(report: dict[str, Any], trace: TraceResult, measure: MeasureResult, grid: Volume,
                veins: np.ndarray, defects: np.ndarray) -> str:
    """The HTML text of the report (self-contained)."""
    inp = report["input"]
    uid = inp["series_uid_sha256"]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>vascseg report</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>Venous filling-defect report</h1>",
        f'<p class="meta">{escape(inp["modality"])} series '
        f'{escape(uid[:16] + "…") if uid else "(no UID)"} (SHA-256 of the series UID) · '
        f'{" × ".join(str(n) for n in inp["shape_zyx"])} voxels (z, y, x) · spacing '
        f'{" × ".join(f"{s:.2f}" for s in inp["spacing_zyx_mm"])} mm · vascseg {escape(report["vascseg_version"])}'
        "</p>",
        f'<p class="finding">{escape(summary_sentence(report, trace))}</p>',
        '<p class="meta">Coordinates are DICOM patient LPS in mm (+z superior). Diameters are of '
        "the whole vessel (patent lumen plus filling defect); occlusion = defect area / vessel area "
        "in sections orthogonal to the centreline. Automated measurements: verify on the images.</p>",
        "<h2>Routes</h2>",
    ]
    by_name = {rt.name: rt for rt in trace.routes}
    by_measure = {rm.name: rm for rm in measure.routes}
    for route in report["routes"]:
        name = route["name"]
        parts.append(f"<h3>{escape(name)}</h3>")
        parts.append(f'<p class="meta">{escape(" → ".join(vein_phrase(s) for s in route["segments"]))}'
                     f" · traced length {route['length_mm']:.0f} mm</p>")
        for sentence in route_sentences(route, trace):
            parts.append(f'<p class="finding">{escape(sentence)}</p>')
        if route["lesions"]:
            parts.append("<table><tr><th>#</th><th>start (mm)</th><th>end (mm)</th><th>length (mm)</th>"
                         '<th class="l">segments</th><th>z caudal (mm)</th><th>z cranial (mm)</th>'
                         "<th>volume (mL)</th><th>max occlusion (%)</th></tr>")
            for k, les in enumerate(route["lesions"], 1):
                segs = ", ".join(vein_phrase(s) for s in les["segments"])
                parts.append(
                    f"<tr><td>{k}</td><td>{_f(les['start_mm'])}</td><td>{_f(les['end_mm'])}</td>"
                    f"<td>{_f(les['length_mm'])}</td><td class=\"l\">{escape(segs)}</td>"
                    f"<td>{_f(les['z_min_mm'])}</td><td>{_f(les['z_max_mm'])}</td>"
                    f"<td>{_f(les['volume_ml'], 2)}</td><td>{_f(les['max_occlusion_pct'], 0)}</td></tr>")
            parts.append("</table>")
        if name in by_name:
            parts.append(_img(profile_png(by_name[name], by_measure.get(name)), f"profile of {name}"))
    parts.append("<h2>Segments</h2><table><tr><th class=\"l\">segment</th><th>label</th>"
                 "<th>length (mm)</th><th>mean diameter (mm)</th><th>volume (mL)</th></tr>")
    for seg in report["segments"]:
        parts.append(f"<tr><td class=\"l\">{escape(vein_phrase(seg['name']))}</td><td>{seg['label']}</td>"
                     f"<td>{_f(seg['length_mm'])}</td><td>{_f(seg['mean_diameter_mm'])}</td>"
                     f"<td>{_f(seg['volume_ml'], 2)}</td></tr>")
    parts.append("</table>")
    parts.append("<h2>Overview</h2>")
    parts.append(_img(overview_png(grid, veins, defects, trace), "coronal overview"))
    if report["warnings"]:
        parts.append("<h2>Warnings</h2><ul>")
        parts.extend(f'<li class="warn">{escape(w)}</li>' for w in report["warnings"])
        parts.append("</ul>")
    prov = report["provenance"]
    versions = ", ".join(f"{k} {v}" for k, v in prov["versions"].items())
    parts.append(f'<p class="meta">Configuration SHA-256 {escape(prov["config_sha256"][:16])}… · '
                 f"{escape(versions)} · report schema {escape(report['schema_version'])}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(report: dict[str, Any], trace: TraceResult, measure: MeasureResult, grid: Volume,
               veins: np.ndarray, defects: np.ndarray, path: str | Path) -> Path:
    """Write ``report.html`` (self-contained, figures embedded) atomically to ``path``."""
    return write_text_atomic(path, render_html(report, trace, measure, grid, veins, defects))
