"""The ``vascseg`` command: a thin wrapper over the library.

Heavy imports happen inside each command so ``vascseg --help`` is instant.
Exit codes: 0 success; 1 usage or input error; 2 (batch) some series failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import VascsegError

log = logging.getLogger("vascseg")


def _cmd_info(args: argparse.Namespace) -> int:
    from .config import load_config
    from .io import find_series

    cfg = load_config(args.config)
    found = find_series(args.path, config=cfg.load)
    if not found.series:
        print(f"no DICOM or image series found under {args.path}")
    for s in found.series:
        print(s.summary_line())
    for note in found.notes:
        print(f"note: {note}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .pipeline import run_path

    result = run_path(
        args.path, args.out, series=args.series, config_path=args.config,
        landmarks_path=args.landmarks, prior_path=args.prior, prior_map=args.prior_map,
    )
    print(result.summary())
    return 0


def _cmd_phantom(args: argparse.Namespace) -> int:
    from .phantom import PhantomSpec, generate_phantom, write_phantom

    spec = PhantomSpec(
        pattern=args.pattern, route=args.route, modality=args.modality, seed=args.seed,
        shape_zyx=tuple(args.shape) if args.shape else None,
        spacing_zyx_mm=tuple(args.spacing) if args.spacing else None,
        stenosis_pct=args.stenosis, occlusion=args.occlusion,
    )
    out = write_phantom(generate_phantom(spec), args.dir)
    print(f"phantom written to {out}")
    return 0


def _cmd_view(args: argparse.Namespace) -> int:
    try:
        from .napari._cli import view
    except ImportError as exc:
        raise VascsegError(
            f"'vascseg view' needs napari: pip install 'vascseg[napari]' ({exc})"
        ) from None
    return view(args.dir, screenshot=args.screenshot)


def _cmd_batch(args: argparse.Namespace) -> int:
    from .batch import run_batch

    summary = run_batch(args.root, args.out, workers=args.workers, scheduler=args.scheduler,
                        config_path=args.config)
    print(summary.text())
    return 0 if summary.n_failed == 0 else 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vascseg", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="list the series found (no pixel data read)")
    s.add_argument("path", type=Path)
    s.add_argument("--config", type=Path)
    s.set_defaults(func=_cmd_info)

    s = sub.add_parser("run", help="segment, trace, measure and report one series")
    s.add_argument("path", type=Path, help="DICOM folder/file, NIfTI, NRRD or MHA")
    s.add_argument("--out", type=Path, required=True, help="output folder (created)")
    s.add_argument("--series", help="SeriesInstanceUID, its SHA-256 (or a unique prefix)")
    s.add_argument("--config", type=Path, help="YAML config overriding configs/default.yaml")
    s.add_argument("--landmarks", type=Path, help='JSON {"points": [{"name", "lps_mm"}]}')
    s.add_argument("--prior", type=Path, help="label image (e.g. TotalSegmentator) on the same patient")
    s.add_argument("--prior-map", default="total",
                   help="label mapping of --prior: total, total_mr or a JSON file {name: label}")
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser("batch", help="run many series")
    s.add_argument("root", type=Path)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--scheduler", help="dask.distributed scheduler address")
    s.add_argument("--config", type=Path)
    s.set_defaults(func=_cmd_batch)

    s = sub.add_parser("phantom", help="write a synthetic venography phantom with ground truth")
    s.add_argument("dir", type=Path)
    s.add_argument("--pattern", choices=["continuous", "discontinuous", "none"], default="continuous")
    s.add_argument("--route", default="uterine-iliac-caval-left")
    s.add_argument("--modality", choices=["CT", "MR"], default="CT")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--shape", type=int, nargs=3, metavar=("Z", "Y", "X"))
    s.add_argument("--spacing", type=float, nargs=3, metavar=("DZ", "DY", "DX"), help="mm")
    s.add_argument("--stenosis", type=float, default=0.0, metavar="PCT",
                   help="May-Thurner diameter stenosis of the left common iliac vein (%%)")
    s.add_argument("--occlusion", action="store_true", help="lesions fill the whole lumen")
    s.set_defaults(func=_cmd_phantom)

    s = sub.add_parser("view", help="open a series or a run's output in napari")
    s.add_argument("dir", type=Path)
    s.add_argument("--screenshot", type=Path, help="render headless to this PNG and exit")
    s.set_defaults(func=_cmd_view)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except VascsegError as exc:
        print(f"vascseg {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
