#!/usr/bin/env python
"""Write the shipped sample data: small synthetic venography cases with ground truth.

    python scripts/make_sample_data.py [--out sample_data]

Every case is a ``vascseg phantom`` output (``<case>/dicom/`` RLE-compressed DICOM series,
``<case>/truth/`` label maps and ``truth.json``) on a 2.5 x 2 x 2 mm grid, so the whole folder
stays well under 20 MB. Only development seeds (0-9) are used: the accuracy evaluation runs
on seeds >= 100. Re-running gives byte-identical files.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vascseg.phantom import PhantomSpec, generate_phantom, write_phantom

SPACING_ZYX_MM = (2.5, 2.0, 2.0)
"""Sample grid (the default field of view, kidneys to groin: 140 x 135 x 159 voxels)."""

CASES: dict[str, tuple[PhantomSpec, str]] = {
    "ct_continuous_left": (
        PhantomSpec(pattern="continuous", route="uterine-iliac-caval-left", modality="CT", seed=1,
                    spacing_zyx_mm=SPACING_ZYX_MM),
        "CT, one continuous cord from the left uterine vein through the left internal and "
        "common iliac veins into the IVC (the README demo case)."),
    "ct_discontinuous_right": (
        PhantomSpec(pattern="discontinuous", route="uterine-iliac-caval-right", modality="CT",
                    seed=1, spacing_zyx_mm=SPACING_ZYX_MM),
        "CT, three separate foci along the right uterine-iliac-caval route (gaps of ~40 mm)."),
    "mr_continuous_ovarian_left": (
        PhantomSpec(pattern="continuous", route="ovarian-renal-caval-left", modality="MR", seed=2,
                    spacing_zyx_mm=SPACING_ZYX_MM),
        "MR (T1 gradient echo after gadolinium, with coil bias), a continuous cord from the "
        "left ovarian vein through the left renal vein into the IVC."),
    "ct_may_thurner": (
        PhantomSpec(pattern="none", route="iliac-caval-left", modality="CT", seed=3,
                    stenosis_pct=70.0, spacing_zyx_mm=SPACING_ZYX_MM),
        "CT, no filling defect; the right common iliac artery compresses the left common "
        "iliac vein to a 70 % diameter stenosis (May-Thurner)."),
}

README_HEAD = """# vascseg sample data

Synthetic contrast-enhanced venography phantoms made by `scripts/make_sample_data.py`
(`vascseg.phantom`). They contain no patient data: the patient is "Phantom^Vascseg".
Each case folder holds

- `dicom/` - the image series, one RLE Lossless DICOM file per axial slice (CT Image
  Storage in HU, or MR Image Storage);
- `truth/truth_veins.nii.gz` - vein segment labels (numbers as in `report.json`),
  `truth/truth_defects.nii.gz` - filling defect (tumour/thrombus) mask,
  `truth/truth_arteries.nii.gz` - arterial lumen mask, all on the image grid;
- `truth/truth.json` - per route: length, centreline and diameter every 1 mm, lesions
  (start/end arc length from the pelvic end, z extent, segments), gaps, stenosis.

Run the pipeline on the series folder:

```
vascseg run sample_data/ct_continuous_left/dicom --out out/demo
```

Grid of every case: {grid}. Seeds are development seeds (0-9), never evaluation seeds.

| case | modality | pattern | route | seed | description |
|---|---|---|---|---|---|
"""


def _readme(out: Path) -> str:
    spec0 = next(iter(CASES.values()))[0]
    g = spec0.grid()
    grid = (f"{g.shape[0]} x {g.shape[1]} x {g.shape[2]} voxels (z, y, x) at "
            f"{' x '.join(f'{s:g}' for s in g.spacing)} mm")
    rows = [f"| `{name}` | {spec.modality} | {spec.pattern} | {spec.route} | {spec.seed} | {text} |"
            for name, (spec, text) in CASES.items()]
    return README_HEAD.format(grid=grid) + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "sample_data")
    p.add_argument("--only", action="append", choices=sorted(CASES), help="write only these cases")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or list(CASES):
        spec = CASES[name][0]
        t0 = time.perf_counter()
        folder = write_phantom(generate_phantom(spec), args.out / name)
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        print(f"{name}: {size / 2**20:.1f} MiB in {time.perf_counter() - t0:.1f} s")
    (args.out / "README.md").write_text(_readme(args.out), encoding="utf-8")
    total = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"total {total / 2**20:.1f} MiB in {args.out}")
    return 0 if total < 20 * 2**20 else 1


if __name__ == "__main__":
    sys.exit(main())
