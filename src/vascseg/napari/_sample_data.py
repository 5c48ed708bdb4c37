"""Sample data: the synthetic cases shipped in the repository's ``sample_data/`` folder.

A case is ``sample_data/<case>/dicom/`` (the series) plus ``sample_data/<case>/truth/``
(ground-truth NIfTI label maps). The folder is found from ``$VASCSEG_SAMPLE_DATA``, else by
walking up from this file and from the working directory; a clear error says what to do
when it is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._layers import LayerData, defects_layer, veins_layer

SAMPLE_ENV = "VASCSEG_SAMPLE_DATA"
"""Environment variable naming the sample_data folder (overrides the search)."""


def find_sample_root() -> Path:
    """The ``sample_data`` folder; raises FileNotFoundError saying where it was looked for."""
    env = os.environ.get(SAMPLE_ENV)
    if env:
        root = Path(env)
        if root.is_dir():
            return root
        raise FileNotFoundError(f"${SAMPLE_ENV}={env} is not a folder")
    looked = []
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for parent in start.parents if start.is_file() else (start, *start.parents):
            cand = parent / "sample_data"
            looked.append(str(cand))
            if cand.is_dir():
                return cand
    raise FileNotFoundError(
        "vascseg sample data not found: expected a 'sample_data' folder in the vascseg "
        f"repository (looked in {', '.join(dict.fromkeys(looked))}); run from a source checkout "
        f"or set ${SAMPLE_ENV} to the folder holding <case>/dicom/")


def list_cases(root: Path | None = None) -> list[str]:
    """Names of the cases (folders with a ``dicom/`` subfolder), sorted."""
    root = root or find_sample_root()
    return sorted(d.name for d in root.iterdir() if (d / "dicom").is_dir())


def case_layers(case: str | None = None, *, root: Path | None = None) -> list[LayerData]:
    """Image, landmarks and (when present) ground-truth veins/defects of one case.

    ``case`` None takes the first case. Raises FileNotFoundError naming the available cases.
    """
    from ._run import read_label_volume

    root = root or find_sample_root()
    cases = list_cases(root)
    if not cases:
        raise FileNotFoundError(f"{root} holds no case (<case>/dicom/); generate the sample data first")
    case = case or cases[0]
    if case not in cases:
        raise FileNotFoundError(f"sample case {case!r} not found in {root}; available: {', '.join(cases)}")
    from ._reader import series_layers

    layers = series_layers(root / case / "dicom")
    truth = root / case / "truth"
    for fname, builder, name in (("truth_veins.nii.gz", veins_layer, "truth veins"),
                                 ("veins.nii.gz", veins_layer, "truth veins"),
                                 ("truth_defects.nii.gz", defects_layer, "truth defects"),
                                 ("defects.nii.gz", defects_layer, "truth defects")):
        f = truth / fname
        if f.is_file() and not any(lay[1].get("name") == name for lay in layers):
            grid = read_label_volume(f)
            data, kwargs, kind = builder(grid.array, grid, name=name)
            kwargs["visible"] = name == "truth veins"
            layers.append((data, kwargs, kind))
    return layers


def make_first_case() -> list[LayerData]:
    """Sample-data command: the first case in ``sample_data/``."""
    return case_layers(None)


def make_ct_continuous_left() -> list[LayerData]:
    """Sample-data command: CT, continuous lesion on the left uterine-iliac-caval route."""
    return case_layers("ct_continuous_left")
