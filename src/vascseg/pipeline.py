"""The whole job: Volume -> segmentation -> routes -> lesions/stenosis -> report.

``run`` works in memory for pipelines; ``run_path`` loads a series and writes every
output of ``vascseg run`` (see DESIGN.md) atomically into a new or existing folder.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from ._util import write_text_atomic
from .config import Config, load_config
from .errors import InputError
from .geometry import Volume
from .measure import MeasureResult, measure_routes
from .report import build_report
from .segment import Prior, Segmentation, load_prior, segment_veins
from .trace import TraceResult, trace_routes

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, float], None]
"""Called as ``progress(stage, fraction_done)``; fraction in [0, 1]."""


@dataclass(frozen=True, eq=False)
class Result:
    """Everything one run produced (arrays (z, y, x) on ``volume``'s grid)."""

    volume: Volume
    segmentation: Segmentation
    trace: TraceResult
    measure: MeasureResult
    report: dict[str, Any]
    config: Config
    timings_s: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines for the terminal: segments found, each route's lesions and stenosis."""
        rep = self.report
        lines = [f"segments found: {', '.join(s['name'] for s in rep['segments']) or 'none'}"]
        for r in rep["routes"]:
            les = r.get("lesions") or []
            txt = f"{r['name']}: {'complete' if r['complete'] else 'incomplete'}, {r['length_mm']:.0f} mm, "
            txt += f"{r['continuity']}"
            if les:
                txt += " (" + "; ".join(f"{x['start_mm']:.0f}-{x['end_mm']:.0f} mm" for x in les) + ")"
            st = r.get("stenosis")
            if st and st.get("diameter_stenosis_pct") is not None:
                txt += f", stenosis {st['diameter_stenosis_pct']:.0f}%"
            lines.append(txt)
        summ = rep["lesion_summary"]
        lines.append(f"pattern: {summ['pattern']}")
        lines.extend(f"warning: {w}" for w in rep.get("warnings", []))
        return "\n".join(lines)


def _stage(name: str, progress: ProgressFn | None, frac: float, timings: dict[str, float], t0: float):
    timings[name] = round(time.perf_counter() - t0, 3)
    log.info("%s done in %.1f s", name, timings[name])
    if progress:
        progress(name, frac)


def measure_labels(volume: Volume, veins: np.ndarray, defects: np.ndarray, config: Config, *,
                   segmentation: Segmentation | None = None, warnings: tuple[str, ...] = (),
                   progress: ProgressFn | None = None) -> Result:
    """Trace, measure and report from given labels (no segmentation): the re-measure step.

    Used after an annotator corrected ``veins``/``defects`` in the viewer.
    """
    timings: dict[str, float] = {}
    if veins.shape != volume.shape or defects.shape != volume.shape:
        raise InputError(f"label arrays {veins.shape}/{defects.shape} do not match the image grid {volume.shape}")
    defects = defects.astype(bool) & (veins > 0)
    t0 = time.perf_counter()
    tr = trace_routes(veins, defects, volume, config)
    _stage("trace", progress, 0.8, timings, t0)
    t0 = time.perf_counter()
    me = measure_routes(tr, defects, volume, config)
    _stage("measure", progress, 0.9, timings, t0)
    if segmentation is None:
        z = np.zeros(volume.shape, bool)
        segmentation = Segmentation(veins, defects, (veins > 0) & ~defects, z)
    all_warn = tuple(volume.warnings) + tuple(warnings) + tuple(
        f"{k}: {v}" for k, v in segmentation.missing.items())
    rep = build_report(grid=volume, trace=tr, measure=me, config=config, warnings=list(all_warn),
                       vascseg_version=__version__)
    if progress:
        progress("report", 1.0)
    return Result(volume, segmentation, tr, me, rep, config, timings)


def run(volume: Volume, config: Config | None = None, *, landmarks=None, prior: Prior | None = None,
        progress: ProgressFn | None = None) -> Result:
    """Segment, trace, measure and report one volume in memory.

    Parameters
    ----------
    volume : Volume
        The CT/MR series.
    config : Config, optional
        Defaults from ``configs/default.yaml`` when omitted.
    landmarks : list of vascseg.io.Landmark, optional
        Points in named veins (LPS mm).
    prior : Prior, optional
        Anatomical masks resampled onto ``volume`` (:func:`vascseg.segment.load_prior`).
    progress : callable, optional
        ``progress(stage, fraction)`` after each stage.
    """
    config = config or Config()
    t0 = time.perf_counter()
    seg = segment_veins(volume, config, landmarks=landmarks, prior=prior)
    timings = {"segment": round(time.perf_counter() - t0, 3)}
    log.info("segment done in %.1f s: %s", timings["segment"], ", ".join(seg.found) or "no vein")
    if progress:
        progress("segment", 0.6)
    res = measure_labels(volume, seg.veins, seg.defects, config, segmentation=seg,
                         warnings=seg.warnings, progress=progress)
    res.timings_s.update(timings)
    return res


def _check_out_dir(out_dir: Path, inputs: list[Path]) -> None:
    out = out_dir.resolve()
    for p in inputs:
        p = p.resolve()
        root = p if p.is_dir() else p.parent
        if out == root or root in out.parents:
            raise InputError(f"output folder {out_dir} lies inside the input folder {root}: "
                             f"vascseg never writes into an input folder; choose another --out")


def write_outputs(result: Result, out_dir: str | Path, *, source_path: str | Path | None = None,
                  series: str | None = None) -> dict[str, Path]:
    """Write report.json, NIfTI masks, route CSVs, report.html and (DICOM input) the SEG.

    ``source.json`` records where the image came from (absolute input path and hashed
    series UID) so the viewer can show the run over its image.
    """
    from .io import write_dicom_seg, write_volume_nifti
    from .report import write_html, write_report_json, write_route_csvs

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    r = result
    paths = {
        "report_json": write_report_json(r.report, out / "report.json"),
        "veins": write_volume_nifti(r.segmentation.veins.astype(np.uint8), r.volume, out / "veins.nii.gz"),
        "defects": write_volume_nifti(r.segmentation.defects.astype(np.uint8), r.volume, out / "defects.nii.gz"),
    }
    write_route_csvs(r.trace, out)  # writes out/routes/<route>.csv
    paths["routes"] = out / "routes"
    paths["html"] = write_html(r.report, r.trace, r.measure, r.volume, r.segmentation.veins,
                               r.segmentation.defects, out / "report.html")
    if source_path is not None:
        src = {"input_path": str(Path(source_path).resolve()), "series": series,
               "series_uid_sha256": r.volume.series_uid_sha256}
        paths["source"] = write_text_atomic(out / "source.json", json.dumps(src, indent=2))
    if r.volume.source_files:
        paths["seg"] = write_dicom_seg(r.segmentation.veins, r.segmentation.defects, r.volume,
                                       out / "veins_seg.dcm")
    return {k: Path(v) if v is not None else out for k, v in paths.items()}


def run_path(path: str | Path, out_dir: str | Path, *, series: str | None = None,
             config_path: str | Path | None = None, landmarks_path: str | Path | None = None,
             prior_path: str | Path | None = None, prior_map: str = "total",
             progress: ProgressFn | None = None) -> Result:
    """Load a series from disk, run the pipeline and write every output into ``out_dir``."""
    from .io import load_landmarks, load_series

    path = Path(path)
    out = Path(out_dir)
    _check_out_dir(out, [p for p in (path, prior_path, landmarks_path) if p is not None])
    config = load_config(config_path)
    t0 = time.perf_counter()
    volume = load_series(path, series=series, config=config.load)
    t_load = round(time.perf_counter() - t0, 3)
    log.info("loaded %s in %.1f s", volume, t_load)
    landmarks = load_landmarks(landmarks_path, volume) if landmarks_path else None
    prior = None
    if prior_path is not None:
        prior = load_prior(load_series(prior_path, config=config.load), volume, prior_map)
    result = run(volume, config, landmarks=landmarks, prior=prior, progress=progress)
    result.timings_s["load"] = t_load
    t0 = time.perf_counter()
    write_outputs(result, out, source_path=path, series=series)
    result.timings_s["write"] = round(time.perf_counter() - t0, 3)
    return result
