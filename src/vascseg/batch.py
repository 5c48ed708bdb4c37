"""Run many series: local worker processes, or a dask.distributed cluster.

Every series found under ROOT is run into ``OUT/<hash12>/`` (the first 12 hex digits of the
SHA-256 of its SeriesInstanceUID; image files use their file stem). One failing series
never stops the others; ``OUT/batch_summary.json`` and ``.csv`` list each series' status,
time and error, and the exit code is 2 when any failed.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ._util import progress, write_text_atomic

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Job:
    """One series to run: the path to load and the series selector (hash) if DICOM."""

    key: str
    path: str
    series: str | None


@dataclass(frozen=True)
class JobResult:
    key: str
    status: str  # "ok" | "failed"
    seconds: float
    out_dir: str
    error: str = ""
    pattern: str = ""


@dataclass
class BatchSummary:
    results: list[JobResult] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return sum(r.status != "ok" for r in self.results)

    def text(self) -> str:
        ok = len(self.results) - self.n_failed
        lines = [f"{ok} of {len(self.results)} series succeeded"]
        lines += [f"FAILED {r.key}: {r.error.splitlines()[0] if r.error else ''}"
                  for r in self.results if r.status != "ok"]
        return "\n".join(lines)


def find_jobs(root: str | Path) -> list[Job]:
    """Every DICOM series and image file under ``root`` (headers only)."""
    from .io import find_series

    root = Path(root)
    jobs = []
    for s in find_series(root).series:
        if s.kind == "dicom":
            jobs.append(Job(key=s.short_id.replace(":", "_"), path=str(root), series=s.id))
        else:
            jobs.append(Job(key=Path(s.path).name.split(".")[0], path=str(s.path), series=None))
    return jobs


def run_job(job: Job, out_root: str, config_path: str | None) -> JobResult:
    """Run one series; never raises (the error is recorded)."""
    from .pipeline import run_path

    out = Path(out_root) / job.key
    t0 = time.perf_counter()
    try:
        res = run_path(job.path, out, series=job.series, config_path=config_path)
        return JobResult(job.key, "ok", round(time.perf_counter() - t0, 2), str(out),
                         pattern=res.report["lesion_summary"]["pattern"])
    except Exception as exc:  # noqa: BLE001 - one series must not stop the batch
        err = f"{type(exc).__name__}: {exc}"
        log.debug("series %s failed:\n%s", job.key, traceback.format_exc())
        return JobResult(job.key, "failed", round(time.perf_counter() - t0, 2), str(out), error=err)


def run_batch(root: str | Path, out: str | Path, *, workers: int = 1, scheduler: str | None = None,
              config_path: str | Path | None = None) -> BatchSummary:
    """Run every series under ``root`` into ``out``; see the module docstring."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = find_jobs(root)
    cfg = str(config_path) if config_path else None
    summary = BatchSummary()
    if scheduler:
        try:
            from dask.distributed import Client
            from dask.distributed import as_completed as dask_completed
        except ImportError:
            from .errors import InputError

            raise InputError("--scheduler needs dask.distributed: pip install 'dask[distributed]'") from None
        with Client(scheduler) as client:
            futs = [client.submit(run_job, j, str(out), cfg, pure=False) for j in jobs]
            for f in progress(dask_completed(futs), desc="series", total=len(futs)):
                summary.results.append(f.result())
    elif workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            futs = [ex.submit(run_job, j, str(out), cfg) for j in jobs]
            for f in progress(as_completed(futs), desc="series", total=len(futs)):
                summary.results.append(f.result())
    else:
        for j in progress(jobs, desc="series"):
            summary.results.append(run_job(j, str(out), cfg))
    summary.results.sort(key=lambda r: r.key)
    rows = [asdict(r) for r in summary.results]
    write_text_atomic(out / "batch_summary.json", json.dumps(rows, indent=2))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(JobResult.__dataclass_fields__))
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(out / "batch_summary.csv", buf.getvalue())
    return summary
