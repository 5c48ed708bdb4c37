#!/usr/bin/env python
"""vascseg benchmarks: wall time and peak memory against peer tools.

Each section is a function registered in :data:`SECTIONS` with :func:`section`; run all
with ``python scripts/benchmark.py`` or some with ``--only load [--only phantom ...]``.
Every measurement runs in a fresh subprocess and the median of ``--repeats`` (>= 3) is
reported, because memory never touched before is slow on first use.

Add a section::

    @section("segment")
    def bench_segment(args: argparse.Namespace) -> bool:
        ...  # print a table; return True when the targets are met
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SECTIONS: dict[str, Callable[[argparse.Namespace], bool]] = {}
"""Benchmark sections by name; each returns True when its targets are met."""


def section(name: str) -> Callable[[Callable[[argparse.Namespace], bool]], Callable[[argparse.Namespace], bool]]:
    """Register a benchmark section under ``name``."""

    def register(fn: Callable[[argparse.Namespace], bool]) -> Callable[[argparse.Namespace], bool]:
        SECTIONS[name] = fn
        return fn

    return register


# Peak-RSS probe prepended to every child script below.
_PEAK_KB = r"""
import resource
def peak_kb():
    # VmHWM is this process's own high-water mark; ru_maxrss would carry over the
    # parent's peak through fork+exec on Linux.
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""


# A child process: import, record the baseline peak RSS (after imports), run the job,
# report JSON. The peak is the high-water mark above that baseline.
_CHILD = _PEAK_KB + r"""
import json, resource, sys, time
tool, folder = sys.argv[1], sys.argv[2]
if tool == "vascseg":
    from vascseg.io import load_series
    def job():
        return load_series(folder).array
else:
    import SimpleITK as sitk
    def job():
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
        return sitk.GetArrayFromImage(reader.Execute())
import numpy
base_kb = peak_kb()
t0 = time.perf_counter()
arr = job()
wall = time.perf_counter() - t0
peak_kb = peak_kb()
print(json.dumps({"wall_s": wall, "peak_above_baseline_mb": (peak_kb - base_kb) / 1024,
                  "shape": list(arr.shape), "dtype": str(arr.dtype), "nbytes_mb": arr.nbytes / 2**20}))
"""


def _run_child(tool: str, folder: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, tool, str(folder)], check=True,
                         capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _synthetic_ct(folder: Path, shape_zyx: tuple[int, int, int]) -> Path:
    """Write (once) an uncompressed int16 CT series of ``shape_zyx`` into ``folder``."""
    import numpy as np

    from vascseg.io.synthetic import write_synthetic_series

    marker = folder / ".complete"
    if marker.exists():
        return folder
    nz, ny, nx = shape_zyx
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:ny, :nx]
    body = ((yy - ny / 2) / (0.4 * ny)) ** 2 + ((xx - nx / 2) / (0.45 * nx)) ** 2 < 1
    base = np.where(body, 1064, 24).astype(np.int16)  # stored; HU = stored - 1024
    t0 = time.perf_counter()
    stack = np.empty(shape_zyx, np.int16)
    for k in range(nz):
        stack[k] = base + rng.integers(-20, 20, size=(ny, nx), dtype=np.int16)
    write_synthetic_series(folder, stack, spacing_mm=(1.0, 0.7, 0.7), origin_lps_mm=(-180, -180, -300))
    marker.write_text("ok\n")
    print(f"  wrote {nz} slices to {folder} in {time.perf_counter() - t0:.1f} s")
    return folder


@section("load")
def bench_load(args: argparse.Namespace) -> bool:
    """Load a 512x512x300 uncompressed CT series: vascseg vs SimpleITK ImageSeriesReader."""
    shape = (300, 512, 512)
    folder = _synthetic_ct(Path(args.data_dir) / "ct_512x512x300", shape)
    results: dict[str, list[dict]] = {"vascseg": [], "SimpleITK": []}
    for _ in range(args.repeats):
        for tool in results:  # interleaved so both see the same page cache state
            results[tool].append(_run_child(tool, folder))
    array_mb = shape[0] * shape[1] * shape[2] * 2 / 2**20
    print(f"  series {shape[2]}x{shape[1]}x{shape[0]} int16 (array {array_mb:.0f} MiB), "
          f"median of {args.repeats} fresh processes")
    print(f"  {'tool':<10} {'wall s':>8} {'peak MiB':>9} {'peak/array':>10}  dtype")
    med = {}
    for tool, runs in results.items():
        wall = statistics.median(r["wall_s"] for r in runs)
        peak = statistics.median(r["peak_above_baseline_mb"] for r in runs)
        med[tool] = (wall, peak)
        print(f"  {tool:<10} {wall:8.3f} {peak:9.0f} {peak / array_mb:10.2f}  {runs[0]['dtype']}")
    faster = med["vascseg"][0] <= med["SimpleITK"][0]
    lean = med["vascseg"][1] <= 1.3 * array_mb
    print(f"  target: vascseg no slower than SimpleITK: {'PASS' if faster else 'FAIL'}; "
          f"peak <= 1.3x array: {'PASS' if lean else 'FAIL'}")
    return faster and lean


# A child process that generates one phantom and reports wall time, CPU time and the
# whole-process peak RSS (the target is on the whole process, imports included).
_PHANTOM_CHILD = _PEAK_KB + r"""
import json, os, resource, sys, time
from vascseg.phantom import PhantomSpec, generate_phantom
shape = tuple(int(v) for v in sys.argv[1].split(","))
spacing = tuple(float(v) for v in sys.argv[2].split(","))
seed = int(sys.argv[3])
cpu0 = time.process_time()
t0 = time.perf_counter()
p = generate_phantom(PhantomSpec(seed=seed, shape_zyx=shape, spacing_zyx_mm=spacing))
wall = time.perf_counter() - t0
print(json.dumps({"wall_s": wall, "cpu_s": time.process_time() - cpu0, "peak_mb": peak_kb() / 1024,
                  "load1": os.getloadavg()[0], "shape": list(p.volume.shape),
                  "vein_voxels": int((p.veins > 0).sum())}))
"""

PHANTOM_SHAPE_ZYX = (400, 512, 512)
PHANTOM_SPACING_ZYX_MM = (0.875, 0.625, 0.625)
"""512 x 512 x 400 at 0.625 mm in-plane / 0.875 mm slices: the default field of view
(kidneys to groin, 320 x 320 x 350 mm)."""
PHANTOM_TARGET_S = 60.0
PHANTOM_TARGET_MB = 4096.0


@section("phantom")
def bench_phantom(args: argparse.Namespace) -> bool:
    """Generate a 512x512x400 CT phantom (vascseg.phantom.generate_phantom) in a fresh process."""
    runs = []
    for k in range(args.repeats):
        cmd = [sys.executable, "-c", _PHANTOM_CHILD, ",".join(map(str, PHANTOM_SHAPE_ZYX)),
               ",".join(map(str, PHANTOM_SPACING_ZYX_MM)), str(k)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = runs[-1]
        print(f"  seed {k}: wall {r['wall_s']:.1f} s, cpu {r['cpu_s']:.1f} s, peak RSS "
              f"{r['peak_mb']:.0f} MiB (load average {r['load1']:.1f})")
    wall = statistics.median(r["wall_s"] for r in runs)
    cpu = statistics.median(r["cpu_s"] for r in runs)
    peak = max(r["peak_mb"] for r in runs)
    fast, lean = wall < PHANTOM_TARGET_S, peak < PHANTOM_TARGET_MB
    print(f"  median of {len(runs)}: wall {wall:.1f} s, cpu {cpu:.1f} s; max peak RSS {peak:.0f} MiB")
    print(f"  target: wall < {PHANTOM_TARGET_S:.0f} s: {'PASS' if fast else 'FAIL'}; "
          f"peak < {PHANTOM_TARGET_MB / 1024:.0f} GiB: {'PASS' if lean else 'FAIL'}")
    return fast and lean


_TRACE_CHILD = _PEAK_KB + r"""
import json, sys, time
from vascseg.config import Config
from vascseg.phantom import PhantomSpec, generate_phantom
from vascseg.trace import trace_routes
from vascseg.measure import measure_routes
ph = generate_phantom(PhantomSpec(seed=int(sys.argv[1]), shape_zyx=(400, 512, 512)))
base_kb = peak_kb()
cfg = Config(progress="off")
t0 = time.perf_counter()
tr = trace_routes(ph.veins, ph.defects, ph.volume, cfg)
me = measure_routes(tr, ph.defects, ph.volume, cfg)
wall = time.perf_counter() - t0
print(json.dumps({"wall_s": wall, "peak_above_baseline_mb": (peak_kb() - base_kb) / 1024,
                  "peak_total_mb": peak_kb() / 1024, "routes": len(tr.routes)}))
"""


@section("trace")
def bench_trace(args: argparse.Namespace) -> bool:
    """Trace + measure the true labels of a 512x512x400 phantom (target well under 20 s)."""
    runs = []
    for k in range(args.repeats):
        out = subprocess.run([sys.executable, "-c", _TRACE_CHILD, str(300 + k)], check=True,
                             capture_output=True, text=True, timeout=1200)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    wall = statistics.median(r["wall_s"] for r in runs)
    peak = statistics.median(r["peak_above_baseline_mb"] for r in runs)
    total = statistics.median(r["peak_total_mb"] for r in runs)
    print(f"  phantom 512x512x400, {runs[0]['routes']} routes, median of {args.repeats} fresh processes")
    print(f"  trace+measure {wall:.1f} s, peak +{peak:.0f} MiB above the loaded labels ({total:.0f} MiB total)")
    ok = wall < 20.0 and total < 4096
    print(f"  target: < 20 s and < 4 GiB: {'PASS' if ok else 'FAIL'}")
    return ok


_SEGMENT_CHILD = _PEAK_KB + r"""
import functools, gc, json, sys, time
import numpy as np
from vascseg.config import Config
from vascseg.phantom import PhantomSpec, generate_phantom
import vascseg.segment as S
from vascseg.segment.vesselness import vesselness
shape = tuple(int(v) for v in sys.argv[2].split(","))
spacing = tuple(float(v) for v in sys.argv[3].split(","))
ph = generate_phantom(PhantomSpec(seed=int(sys.argv[1]), shape_zyx=shape, spacing_zyx_mm=spacing))
vol = ph.volume
del ph
gc.collect()
def reset_peak():
    # "5" resets VmHWM to the current RSS (Linux >= 4.0), so the peak below is the
    # segmentation's, not the phantom generator's
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False
stages = []
def timed(name, fn):
    @functools.wraps(fn)
    def run(*a, **k):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn(*a, **k)
        finally:
            stages.append((name, time.perf_counter() - t0, time.process_time() - c0))
    return run
for name in sys.argv[5].split(","):
    if hasattr(S, name):  # the stage functions segment_veins calls by these names
        setattr(S, name, timed(name, getattr(S, name)))
reset = reset_peak()
base_kb = peak_kb()
t0, c0 = time.perf_counter(), time.process_time()
seg = S.segment_veins(vol, Config(progress="off"))
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
out = {"wall_s": wall, "cpu_s": cpu, "peak_total_mb": peak_kb() / 1024, "peak_reset": reset,
       "peak_above_baseline_mb": (peak_kb() - base_kb) / 1024, "found": len(seg.found), "stages": stages}
if sys.argv[4] == "objectness":
    # the same multi-scale vesselness on a 256x256x200 crop: ours vs SimpleITK ObjectnessMeasure
    import SimpleITK as sitk
    del seg
    z0, y0, x0 = (max((n - c) // 2, 0) for n, c in zip(vol.shape, (200, 256, 256)))
    crop = vol.array[z0:z0 + 200, y0:y0 + 256, x0:x0 + 256].astype(np.float32)
    sig = (1.5, 3.0, 5.0, 7.5, 10.0)
    t0, c0 = time.perf_counter(), time.process_time()
    vesselness(crop, vol.spacing_mm, sigmas_mm=sig, mask=crop > 120)
    ours, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    img = sitk.GetImageFromArray(crop)
    img.SetSpacing(tuple(float(v) for v in vol.spacing_mm[::-1]))
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(2)
    t0, c0 = time.perf_counter(), time.process_time()
    best = None
    for s in sig:
        sm = sitk.SmoothingRecursiveGaussian(img, s)
        obj = sitk.ObjectnessMeasure(sm, objectDimension=1, brightObject=True)
        best = obj if best is None else sitk.Maximum(best, obj)
    theirs, theirs_cpu = time.perf_counter() - t0, time.process_time() - c0
    out.update(crop_shape=list(crop.shape), ours_s=ours, ours_cpu_s=ours_cpu, sitk_s=theirs, sitk_cpu_s=theirs_cpu)
print(json.dumps(out))
"""

SEGMENT_TARGET_S = 30.0
SEGMENT_STAGES = ("normalise_intensity", "block_mean", "body_mask", "bone_mask", "vesselness", "thick_regions",
                  "within_mm", "tubular_components", "grow_half_max", "find_big_vessels", "split_veins_arteries",
                  "vein_interior", "label_veins", "defects_in", "refine_on_input_grid")
"""Functions ``segment_veins`` calls, timed in the first run (names in ``vascseg.segment``)."""


def _print_stages(stages: list, wall_s: float, cpu_s: float) -> None:
    total: dict[str, list[float]] = {}
    for name, wall, cpu in stages:
        t = total.setdefault(name, [0, 0.0, 0.0])
        t[0] += 1
        t[1] += wall
        t[2] += cpu
    print(f"    {'stage':<24} {'calls':>5} {'wall s':>7} {'cpu s':>7}")
    for name, (n, wall, cpu) in total.items():
        print(f"    {name:<24} {n:5d} {wall:7.2f} {cpu:7.2f}")
    rest_wall = wall_s - sum(t[1] for t in total.values())
    rest_cpu = cpu_s - sum(t[2] for t in total.values())
    print(f"    {'(everything else)':<24} {'':5} {rest_wall:7.2f} {rest_cpu:7.2f}")


@section("segment")
def bench_segment(args: argparse.Namespace) -> bool:
    """Segment a 512x512x400 CT phantom (target < 30 s, < 4 GB); vesselness vs SimpleITK."""
    runs = []
    for k in range(args.repeats):
        cmd = [sys.executable, "-c", _SEGMENT_CHILD, str(100 + k), ",".join(map(str, PHANTOM_SHAPE_ZYX)),
               ",".join(map(str, PHANTOM_SPACING_ZYX_MM)), "objectness" if k == 0 else "-",
               ",".join(SEGMENT_STAGES)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1800)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = runs[-1]
        what = "segmentation's own peak" if r["peak_reset"] else "process peak, phantom generation included"
        print(f"  seed {100 + k}: segment_veins {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s cpu, peak "
              f"{r['peak_total_mb']:.0f} MiB ({what}; +{r['peak_above_baseline_mb']:.0f} MiB over the loaded "
              f"volume), {r['found']} segments found (load average {os.getloadavg()[0]:.1f})")
        if k == 0:
            _print_stages(r["stages"], r["wall_s"], r["cpu_s"])
    r0 = runs[0]
    print(f"  vesselness, 5 scales, {'x'.join(map(str, r0['crop_shape'][::-1]))} crop: vascseg "
          f"{r0['ours_s']:.2f} s ({r0['ours_cpu_s']:.2f} s cpu, 1 thread) vs SimpleITK ObjectnessMeasure "
          f"{r0['sitk_s']:.1f} s ({r0['sitk_cpu_s']:.1f} s cpu, 2 threads): "
          f"ratio {r0['sitk_s'] / max(r0['ours_s'], 1e-9):.1f}x wall, "
          f"{r0['sitk_cpu_s'] / max(r0['ours_cpu_s'], 1e-9):.1f}x cpu")
    wall = statistics.median(r["wall_s"] for r in runs)
    peak = max(r["peak_total_mb"] for r in runs)
    ok = wall < SEGMENT_TARGET_S and peak < 4096 and r0["ours_s"] < r0["sitk_s"]
    print(f"  median wall {wall:.1f} s, max peak {peak:.0f} MiB; target < {SEGMENT_TARGET_S:.0f} s, "
          f"< 4 GiB, faster than SimpleITK: {'PASS' if ok else 'FAIL'}")
    return ok


@section("end-to-end")
def bench_end_to_end(args: argparse.Namespace) -> bool:
    """`vascseg run` on a written 512x512x400 CT phantom (target < 60 s, < 4 GB, 2 cores)."""
    folder = Path(args.data_dir) / "phantom_512x512x400"
    if not (folder / "truth" / "truth.json").is_file():
        subprocess.run([sys.executable, "-m", "vascseg.cli", "phantom", str(folder), "--seed", "101",
                        "--shape", *map(str, PHANTOM_SHAPE_ZYX), "--spacing", *map(str, PHANTOM_SPACING_ZYX_MM)],
                       check=True, timeout=1800)
    runs = []
    for k in range(args.repeats):
        out = Path(args.data_dir) / f"run_{k}"
        t0 = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "vascseg.cli", "run",
                               str(folder / "dicom"), "--out", str(out)],
                              capture_output=True, text=True, timeout=1800)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            return False
        peak_mb = int(proc.stderr.strip().splitlines()[-1]) / 1024
        runs.append((wall, peak_mb))
        print(f"  run {k}: {wall:.1f} s wall (process incl. imports and writing), peak {peak_mb:.0f} MiB")
    wall = statistics.median(r[0] for r in runs)
    peak = max(r[1] for r in runs)
    ok = wall < 60.0 and peak < 4096
    print(f"  median {wall:.1f} s, max peak {peak:.0f} MiB; target < 60 s and < 4 GiB: {'PASS' if ok else 'FAIL'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", choices=sorted(SECTIONS), help="run only these sections")
    p.add_argument("--repeats", type=int, default=3, help="fresh-process runs per measurement (median)")
    p.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "vascseg_benchmark"),
                   help="where synthetic inputs are written once and reused")
    args = p.parse_args(argv)
    ok = True
    for name in args.only or list(SECTIONS):
        print(f"[{name}] {SECTIONS[name].__doc__.strip().splitlines()[0]}")
        ok &= bool(SECTIONS[name](args))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
