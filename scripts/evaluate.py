#!/usr/bin/env python
"""Accuracy of vascseg on synthetic phantoms: prints the acceptance table of issues 4 and 5.

Every case is a phantom (``vascseg.phantom``) with known veins, defects, arteries and per
route truth. Two pipelines are scored:

* ``end-to-end``: ``vascseg.run`` on the image (segmentation + trace + measure);
* ``true labels``: trace + measure on the phantom's own labels (isolates issue 5).

Seeds 0-9 are development seeds (:data:`vascseg.evaluation.DEVELOPMENT_SEEDS`); the
default evaluation set uses seeds from 100 up, never looked at while developing. Examples::

    python scripts/evaluate.py                     # default set: 12 CT + 6 MR cases
    python scripts/evaluate.py --quick             # 4 cases
    python scripts/evaluate.py --json out/eval.json --workers 2
    python scripts/evaluate.py --spacing 0.875 0.625 0.625   # same cases on a fine grid
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

LARGE = ("ivc", "common_iliac_vein_left", "common_iliac_vein_right", "external_iliac_vein_left",
         "external_iliac_vein_right")
SMALL = ("renal_vein_left", "renal_vein_right", "internal_iliac_vein_left", "internal_iliac_vein_right",
         "gonadal_vein_left", "gonadal_vein_right", "uterine_vein_left", "uterine_vein_right")

ROUTES = ("uterine-iliac-caval-left", "uterine-iliac-caval-right", "ovarian-renal-caval-left",
          "ovarian-caval-right", "iliac-caval-left", "iliac-caval-right")


@dataclass(frozen=True)
class Case:
    seed: int
    modality: str
    route: str
    pattern: str
    occlusion: bool = False
    stenosis_pct: float = 0.0
    spacing_mm: tuple[float, float, float] | None = None  # (dz, dy, dx); None: the phantom default

    @property
    def name(self) -> str:
        extra = ("+occl" if self.occlusion else "") + (f"+MT{self.stenosis_pct:g}" if self.stenosis_pct else "")
        return f"{self.modality} s{self.seed} {self.route} {self.pattern}{extra}"


def default_cases(first_seed: int = 100) -> list[Case]:
    """12 CT + 6 MR cases covering every route, pattern, occlusion and May-Thurner."""
    pats = ("continuous", "discontinuous", "none")
    cases = []
    for i in range(12):
        route = ROUTES[i % len(ROUTES)]
        pat = pats[i % 3]
        cases.append(Case(first_seed + i, "CT", route, pat, occlusion=(i % 4 == 1 and pat != "none"),
                          stenosis_pct=(70.0 if i in (4, 10) else 0.0)))
    for i in range(6):
        route = ROUTES[(i + 2) % len(ROUTES)]
        cases.append(Case(first_seed + 50 + i, "MR", route, pats[i % 3],
                          occlusion=(i == 3), stenosis_pct=(65.0 if i == 5 else 0.0)))
    return cases


def select_cases(first_seed: int = 100, *, dev: bool = False, quick: bool = False,
                 spacing_mm=None) -> list[Case]:
    """The evaluation set: :func:`default_cases` (``dev``: on development seeds 0-9; ``quick``:
    4 of them), on a voxel grid of ``spacing_mm`` (dz, dy, dx) when given."""
    cases = default_cases(first_seed)
    if dev:
        cases = [Case(i % 10, c.modality, c.route, c.pattern, c.occlusion, c.stenosis_pct)
                 for i, c in enumerate(cases)]
    if quick:
        cases = [cases[0], cases[1], cases[4], cases[12]]
    if spacing_mm:
        cases = [replace(c, spacing_mm=tuple(float(v) for v in spacing_mm)) for c in cases]
    return cases


def _score_case(case: Case, true_labels: bool, segment_only: bool = False) -> dict:
    from vascseg.config import Config
    from vascseg.evaluation import score_route, score_segmentation
    from vascseg.phantom import PhantomSpec, generate_phantom
    from vascseg.pipeline import measure_labels, run

    spec = PhantomSpec(pattern=case.pattern, route=case.route, modality=case.modality, seed=case.seed,
                       occlusion=case.occlusion, stenosis_pct=case.stenosis_pct, spacing_zyx_mm=case.spacing_mm)
    ph = generate_phantom(spec)
    cfg = Config()
    t0 = time.perf_counter()
    out: dict = {"case": case.name, **asdict(case)}
    try:
        if segment_only:
            from vascseg.segment import segment_veins

            seg = segment_veins(ph.volume, cfg)
            vml = float(np.prod(ph.volume.spacing_mm)) / 1000.0
            out["seg"] = score_segmentation(ph.veins, ph.defects, ph.arteries, seg.veins, seg.defects, vml)
            out["missing"] = seg.missing
            out["time_s"] = time.perf_counter() - t0
            out["routes"] = {}
            return out
        if true_labels:
            res = measure_labels(ph.volume, ph.veins, ph.defects, cfg)
        else:
            res = run(ph.volume, cfg)
            seg = res.segmentation
            vml = float(np.prod(ph.volume.spacing_mm)) / 1000.0
            out["seg"] = score_segmentation(ph.veins, ph.defects, ph.arteries, seg.veins, seg.defects, vml)
    except Exception as exc:  # a failed case is a result, not a crash of the table
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
        return out
    out["time_s"] = time.perf_counter() - t0
    routes = {}
    profiles = {r.name: r.profile for r in res.trace.routes}
    for rep in res.report["routes"]:
        truth = ph.truth["routes"].get(rep["name"])
        if truth is None:
            continue
        routes[rep["name"]] = score_route(truth, rep, profiles.get(rep["name"]))
        routes[rep["name"]]["complete"] = rep.get("complete", False)
    out["routes"] = routes
    return out


def _fmt(v, nd=2):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "  -  "
    return f"{v:.{nd}f}"


def summarise(results: list[dict], title: str) -> dict:
    """Print per-case rows and the acceptance lines; return the aggregate numbers."""
    print(f"\n=== {title} ===")
    agg: dict = {"cases": len(results), "errors": 0}
    large, small, names, art, ddice, false_ml = [], [], [], [], [], []
    cont, foci, focus_ok, rlen, dia, sten = [], [], [], [], [], []
    for r in results:
        if "error" in r:
            agg["errors"] += 1
            print(f"{r['case']:<58s} ERROR {r['error']}")
            continue
        seg = r.get("seg")
        row = f"{r['case']:<58s} {r['time_s']:5.1f}s"
        if seg:
            dl = [seg["dice"][n] for n in LARGE if n in seg["dice"]]
            ds = [seg["dice"][n] for n in SMALL if n in seg["dice"]]
            large += dl
            small += ds
            names.append(seg["name_accuracy"])
            art.append(seg["artery_as_vein_pct"])
            if r["pattern"] != "none":
                ddice.append(seg["defect_dice"])
            else:
                false_ml.append(seg["false_defect_ml"])
            row += (f" dice large min {_fmt(min(dl))} small min {_fmt(min(ds))} names {_fmt(seg['name_accuracy'])}"
                    f" art% {_fmt(seg['artery_as_vein_pct'], 1)} defect {_fmt(seg['defect_dice'])}")
        route = r["routes"].get(r["route"], {})
        for name, sr in r["routes"].items():
            cont.append(sr["continuity_ok"])
            foci.append(sr["n_foci_ok"])
            if sr["n_foci_truth"]:
                focus_ok.append(sr["foci_ok"])
            if sr.get("complete"):
                rlen.append(abs(sr["length_rel_err"]))
            if not math.isnan(sr.get("diameter_mae_mm", float("nan"))):
                dia.append(sr["diameter_mae_mm"])
            if r["stenosis_pct"] and "stenosis_err_pct" in sr and name.endswith("left") and "iliac" in name:
                sten.append(abs(sr["stenosis_err_pct"]))
        if route:
            row += (f" | {route['continuity']}/{route['continuity_truth']} foci {route['n_foci']}/{route['n_foci_truth']}"
                    f" len {_fmt(100 * route['length_rel_err'], 1)}%")
        print(row)

    def line(label, values, fmt, target, ok):
        if not values:
            print(f"  {label:<44s} n/a")
            return
        print(f"  {label:<44s} {fmt(values):<24s} target {target:<14s} {'PASS' if ok(values) else 'FAIL'}")

    print("acceptance:")
    line("Dice ivc/common/external iliac (min, mean)", large, lambda v: f"{min(v):.3f} / {np.mean(v):.3f}",
         ">= 0.90", lambda v: min(v) >= 0.90)
    line("Dice renal/internal/gonadal/uterine", small, lambda v: f"{min(v):.3f} / {np.mean(v):.3f}",
         ">= 0.80", lambda v: min(v) >= 0.80)
    line("vein voxels with the right name (min)", names, lambda v: f"{min(v):.3f}", ">= 0.95",
         lambda v: min(v) >= 0.95)
    line("artery voxels labelled vein % (max)", art, lambda v: f"{max(v):.2f}", "< 2", lambda v: max(v) < 2)
    line("defect Dice (min, mean)", ddice, lambda v: f"{min(v):.3f} / {np.mean(v):.3f}", ">= 0.80",
         lambda v: min(v) >= 0.80)
    line("defect mL in lesion-free phantoms (max)", false_ml, lambda v: f"{max(v):.3f}", "0",
         lambda v: max(v) == 0)
    line("continuity class right (all routes)", cont, lambda v: f"{np.mean(v):.1%}", "100%", all)
    line("number of foci exact", foci, lambda v: f"{np.mean(v):.1%}", "100%", all)
    line("foci: length, z, segments within tolerance", focus_ok, lambda v: f"{np.mean(v):.1%}", "100%", all)
    line("route length |error| (max)", rlen, lambda v: f"{100 * max(v):.2f}%", "<= 3%", lambda v: max(v) <= 0.03)
    line("diameter MAE away from confluences (max)", dia, lambda v: f"{max(v):.2f} mm", "<= 1 mm",
         lambda v: max(v) <= 1.0)
    line("stenosis |error| on May-Thurner (max)", sten, lambda v: f"{max(v):.1f} pts", "<= 5 pts",
         lambda v: max(v) <= 5.0)
    agg.update(dice_large_min=min(large, default=None), dice_small_min=min(small, default=None),
               name_accuracy_min=min(names, default=None), artery_pct_max=max(art, default=None),
               defect_dice_min=min(ddice, default=None), false_defect_ml_max=max(false_ml, default=None),
               continuity_ok=float(np.mean(cont)) if cont else None,
               foci_ok=float(np.mean(foci)) if foci else None,
               route_length_err_max=max(rlen, default=None), diameter_mae_max=max(dia, default=None),
               stenosis_err_max=max(sten, default=None))
    return agg


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--first-seed", type=int, default=100, help="first seed of the evaluation set (default 100)")
    p.add_argument("--quick", action="store_true", help="4 cases only")
    p.add_argument("--dev", action="store_true",
                   help="the same cases on development seeds 0-9 (for tuning; not an evaluation)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--spacing", type=float, nargs=3, metavar=("DZ", "DY", "DX"),
                   help="phantom voxel spacing in mm (same field of view; default 2.5 1.5 1.5). A grid "
                        "finer than 1.8 mm is analysed on a working grid and refined: score that path too")
    p.add_argument("--mode", choices=("both", "end-to-end", "true-labels", "segment"), default="both",
                   help="segment: segmentation scores only (fast)")
    p.add_argument("--json", type=Path, help="write all numbers here")
    args = p.parse_args(argv)
    from vascseg.evaluation import DEVELOPMENT_SEEDS

    if args.spacing and min(args.spacing) <= 0:
        p.error(f"--spacing must be positive mm; got {args.spacing}")
    cases = select_cases(args.first_seed, dev=args.dev, quick=args.quick, spacing_mm=args.spacing)
    dev = [c for c in cases if c.seed in DEVELOPMENT_SEEDS]
    if dev:
        print(f"note: {len(dev)} case(s) use development seeds {sorted({c.seed for c in dev})}: "
              "not an unbiased evaluation", file=sys.stderr)
    modes = {"both": (False, True), "end-to-end": (False,), "true-labels": (True,),
             "segment": (None,)}[args.mode]
    out = {}
    for true_labels in modes:
        n = len(cases)
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            results = list(pool.map(_score_case, cases, [bool(true_labels)] * n, [true_labels is None] * n))
        key, title = {None: ("segmentation", "segmentation only"),
                      True: ("true_labels", "trace + measure on the phantoms' true labels"),
                      False: ("end_to_end", "end-to-end (segmentation + trace + measure)")}[true_labels]
        if args.spacing:
            title += " on a {:g} x {:g} x {:g} mm grid".format(*args.spacing)
        out[key] = {"summary": summarise(results, title), "cases": results}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
