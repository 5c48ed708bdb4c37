"""``report.json``: build it from the results, validate it against the shipped schema, write it."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from .._util import write_text_atomic
from ..anatomy import LABELS
from ..config import Config
from ..errors import VascsegError
from ..geometry import Volume
from ..measure import Lesion, MeasureResult, Stenosis
from ..trace import TraceResult

SCHEMA_VERSION = "1.0"
VERSIONED_PACKAGES = ("numpy", "scipy", "SimpleITK", "scikit-image")
"""Distributions whose versions go into ``provenance.versions`` (with vascseg)."""

DIGITS_MM = 3
"""Decimals kept for mm, mm², % values."""
DIGITS_ML = 4
"""Decimals kept for mL values."""


class ReportSchemaError(VascsegError, ValueError):
    """A report does not follow ``report.schema.json``; the message lists each violation."""


@lru_cache(maxsize=1)
def load_report_schema() -> dict[str, Any]:
    """The JSON Schema of ``report.json`` shipped as ``vascseg/data/report.schema.json``."""
    text = resources.files("vascseg").joinpath("data/report.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def validate_report(report: dict[str, Any]) -> None:
    """Raise :class:`ReportSchemaError` naming every place where ``report`` breaks the schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_report_schema())
    errors = sorted(validator.iter_errors(report), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [f"  at {'/'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}"
                 for e in errors[:20]]
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise ReportSchemaError(
            f"report does not follow report.schema.json (schema_version {SCHEMA_VERSION}); "
            f"{len(errors)} problem(s):\n" + "\n".join(lines) + more)


def _num(x: float | None, digits: int = DIGITS_MM) -> float | None:
    """A finite float rounded to ``digits`` (None for None / NaN / inf: JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:  # pragma: no cover - all are dependencies
        return "unknown"


def _lesion(les: Lesion) -> dict[str, Any]:
    return {
        "start_mm": _num(les.start_mm), "end_mm": _num(les.end_mm), "length_mm": _num(les.length_mm),
        "segments": list(les.segments),
        "z_min_mm": _num(les.z_min_mm), "z_max_mm": _num(les.z_max_mm),
        "cranial_end_lps_mm": [_num(v) for v in les.cranial_end_lps_mm],
        "caudal_end_lps_mm": [_num(v) for v in les.caudal_end_lps_mm],
        "volume_ml": _num(les.volume_ml, DIGITS_ML), "max_occlusion_pct": _num(les.max_occlusion_pct),
    }


def _stenosis(st: Stenosis | None) -> dict[str, Any] | None:
    if st is None:
        return None
    return {
        "min_diameter_mm": _num(st.min_diameter_mm), "at_mm": _num(st.at_mm),
        "reference_diameter_mm": _num(st.reference_diameter_mm),
        "reference_segment": st.reference_segment,
        "diameter_stenosis_pct": _num(st.diameter_stenosis_pct), "threshold_pct": _num(st.threshold_pct),
        "exceeds_threshold": bool(st.exceeds_threshold),
    }


def build_report(*, grid: Volume, trace: TraceResult, measure: MeasureResult, config: Config,
                 warnings=(), vascseg_version: str) -> dict[str, Any]:
    """The ``report.json`` dictionary (schema_version 1.0, see DESIGN.md).

    ``warnings`` (e.g. from loading and segmentation) come first, then those of tracing
    and measuring; duplicates are dropped. The series is named only by
    ``grid.series_uid_sha256``. The result is validated before it is returned.
    """
    by_name = {m.name: m for m in measure.routes}
    routes = []
    for rt in trace.routes:
        rm = by_name.get(rt.name)
        routes.append({
            "name": rt.name,
            "segments": list(rt.definition.segments),
            "complete": bool(rt.complete),
            "missing_segments": list(rt.missing_segments),
            "length_mm": _num(rt.length_mm),
            "continuity": rm.continuity.value if rm else "none",
            "lesions": [_lesion(les) for les in rm.lesions] if rm else [],
            "gaps_mm": [_num(g) for g in rm.gaps_mm] if rm else [],
            "stenosis": _stenosis(rm.stenosis) if rm else None,
        })
    summary = measure.lesion_summary
    extent = summary.cranial_extent
    all_warnings = list(dict.fromkeys([*warnings, *trace.warnings, *measure.warnings]))
    report = {
        "schema_version": SCHEMA_VERSION,
        "vascseg_version": vascseg_version,
        "input": {
            "modality": grid.modality,
            "series_uid_sha256": grid.series_uid_sha256,
            "shape_zyx": [int(n) for n in grid.shape],
            "spacing_zyx_mm": [float(s) for s in grid.spacing_mm],
        },
        "segments": [
            {"name": s.name, "label": LABELS[s.name], "volume_ml": _num(s.volume_ml, DIGITS_ML),
             "length_mm": _num(s.length_mm), "mean_diameter_mm": _num(s.mean_diameter_mm)}
            for s in sorted(trace.segments, key=lambda s: LABELS[s.name])
        ],
        "routes": routes,
        "lesion_summary": {
            "pattern": summary.pattern.value,
            "routes_involved": list(summary.routes_involved),
            "cranial_extent": (None if extent is None
                               else {"segment": extent.segment, "z_mm": _num(extent.z_mm)}),
        },
        "warnings": [str(w) for w in all_warnings],
        "provenance": {
            "config_sha256": config.sha256(),
            "versions": {"vascseg": vascseg_version, **{d: _version(d) for d in VERSIONED_PACKAGES}},
        },
    }
    validate_report(report)
    return report


def write_report_json(report: dict[str, Any], path: str | Path) -> Path:
    """Validate ``report`` and write it (indented UTF-8 JSON) atomically to ``path``."""
    validate_report(report)
    text = json.dumps(report, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    return write_text_atomic(path, text)
