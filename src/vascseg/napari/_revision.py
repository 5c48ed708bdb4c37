"""Save corrected labels and their re-measured report as a revision of a run (no Qt).

A revision lives in ``<run>/revisions/<NNN>-<UTC timestamp>/`` (``NNN`` counts from 001)
and holds ``veins.nii.gz``, ``defects.nii.gz``, ``report.json`` and ``routes/<route>.csv``.
The report's ``provenance.revision`` records who (login name, no patient data), when (UTC
ISO 8601) and what changed (voxels added/removed per label). The run's own files are
never written to. Every file is written atomically.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
import os
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .._util import write_text_atomic
from ..anatomy import NAMES_BY_LABEL
from ..geometry import Volume
from ._layers import ROUTE_COLUMNS


def current_user() -> str:
    """``$VASCSEG_USER`` if set, else the login name (``"unknown"`` if none)."""
    env = os.environ.get("VASCSEG_USER", "").strip()
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def _changes(before: np.ndarray, after: np.ndarray, names: Mapping[int, str], voxel_ml: float) -> dict[str, Any]:
    """Voxels added to / removed from each label between two label maps."""
    before = np.asarray(before)
    after = np.asarray(after)
    changed = before != after
    b, a = before[changed].astype(np.int64), after[changed].astype(np.int64)
    n = int(max(b.max(initial=0), a.max(initial=0))) + 1
    removed = np.bincount(b, minlength=n)
    added = np.bincount(a, minlength=n)
    per: dict[str, Any] = {}
    for lab in range(1, n):
        if added[lab] or removed[lab]:
            per[names.get(lab, str(lab))] = {
                "added_voxels": int(added[lab]), "removed_voxels": int(removed[lab]),
                "added_ml": round(float(added[lab]) * voxel_ml, 4),
                "removed_ml": round(float(removed[lab]) * voxel_ml, 4),
            }
    return {"changed_voxels": int(changed.sum()), "labels": per}


def summarize_edits(grid: Volume, original_veins: np.ndarray, veins: np.ndarray,
                    original_defects: np.ndarray, defects: np.ndarray) -> dict[str, Any]:
    """The ``revision.what`` block: changed voxels per vein label and of the defect mask."""
    ml = grid.voxel_volume_ml
    v = _changes(original_veins, veins, NAMES_BY_LABEL, ml)
    d = _changes(np.asarray(original_defects) > 0, np.asarray(defects) > 0, {1: "defect"}, ml)
    d_lab = d["labels"].get("defect", {"added_voxels": 0, "removed_voxels": 0, "added_ml": 0.0,
                                       "removed_ml": 0.0})
    parts = [f"{name} +{c['added_voxels']}/-{c['removed_voxels']}" for name, c in v["labels"].items()]
    parts.append(f"defects +{d_lab['added_voxels']}/-{d_lab['removed_voxels']}")
    return {
        "summary": "voxels changed: " + ", ".join(parts),
        "veins": v,
        "defects": {"changed_voxels": d["changed_voxels"], **d_lab},
    }


def write_route_tables(tables: Mapping[str, Mapping[str, np.ndarray]], routes_dir: str | Path) -> Path:
    """Write ``<route>.csv`` per route (columns :data:`ROUTE_COLUMNS`), atomically."""
    out = Path(routes_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, t in tables.items():
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(ROUTE_COLUMNS)
        for i in range(len(t["s_mm"])):
            row = []
            for col in ROUTE_COLUMNS:
                v = t[col][i]
                if col == "segment":
                    row.append(str(v))
                else:
                    row.append("" if not np.isfinite(v) else f"{float(v):.3f}")
            w.writerow(row)
        write_text_atomic(out / f"{name}.csv", buf.getvalue())
    return out


def _new_revision_dir(run_dir: Path, now: datetime) -> Path:
    """Create ``<run>/revisions/<NNN>-<timestamp>/`` with the next free number."""
    base = run_dir / "revisions"
    base.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    nums = [int(d.name[:3]) for d in base.iterdir() if d.is_dir() and d.name[:3].isdigit()]
    k = max(nums, default=0) + 1
    while True:
        target = base / f"{k:03d}-{stamp}"
        try:
            target.mkdir()
            return target
        except FileExistsError:
            k += 1


def list_revisions(run_dir: str | Path) -> list[Path]:
    """Revision folders of a run, oldest first."""
    base = Path(run_dir) / "revisions"
    if not base.is_dir():
        return []
    return sorted(d for d in base.iterdir() if d.is_dir() and d.name[:3].isdigit())


def save_revision(run_dir: str | Path, grid: Volume, veins: np.ndarray, defects: np.ndarray,
                  report: Mapping[str, Any], tables: Mapping[str, Mapping[str, np.ndarray]], *,
                  original_veins: np.ndarray, original_defects: np.ndarray,
                  who: str | None = None, now: datetime | None = None) -> Path:
    """Write a revision of ``run_dir`` and return its folder.

    Parameters
    ----------
    run_dir : the run folder (its own files are only read).
    grid : label grid (spacing, origin, direction) of ``veins``/``defects``.
    veins, defects : (Z, Y, X) corrected vein labels and defect mask.
    report : report.json content re-measured from the corrected labels.
    tables : route tables (``ROUTE_COLUMNS``) of that re-measurement.
    original_veins, original_defects : the run's labels, to summarise the edits.
    who, now : override the author (default :func:`current_user`) and the UTC time.
    """
    from ..io import write_volume_nifti
    from ..report.report_json import validate_report

    run_dir = Path(run_dir)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rep = json.loads(json.dumps(report, default=_json_default))
    veins = np.asarray(veins).astype(np.uint8)
    defects = (np.asarray(defects) > 0).astype(np.uint8)
    out = _new_revision_dir(run_dir, now)
    rep.setdefault("provenance", {})["revision"] = {
        "number": int(out.name[:3]),
        "who": who or current_user(),
        "when": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "what": {**summarize_edits(grid, original_veins, veins, original_defects, defects),
                 "re_measured": True},
        "parent": "../../report.json",  # relative to this revision's report.json
    }
    try:  # the revised report, revision block included, honours the contract
        validate_report(rep)
    except Exception:
        shutil.rmtree(out, ignore_errors=True)  # no half-written revision left behind
        raise
    write_volume_nifti(veins, grid, out / "veins.nii.gz")
    write_volume_nifti(defects, grid, out / "defects.nii.gz")
    write_route_tables(tables, out / "routes")
    write_text_atomic(out / "report.json", json.dumps(rep, indent=2, allow_nan=False) + "\n")
    return out


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
