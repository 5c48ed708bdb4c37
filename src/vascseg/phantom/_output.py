"""``write_phantom``: a phantom on disk as a DICOM series plus its ground truth.

Layout of ``out_dir`` (the sample data use the same)::

    dicom/IM00001.dcm ...        the image series (CT or MR Image Storage)
    truth/truth.json             ground truth (see :mod:`vascseg.phantom._truth`)
    truth/truth_veins.nii.gz     uint8 vein labels (vascseg.anatomy.LABELS)
    truth/truth_defects.nii.gz   uint8 filling-defect mask
    truth/truth_arteries.nii.gz  uint8 arterial lumen mask

Both folders are built in a hidden staging folder inside ``out_dir`` and moved into place
only when complete, so a reader never sees a half-written phantom.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .._util import hash_uid, write_text_atomic
from ..errors import InputError
from ._dicom import series_uids, write_dicom_series
from ._generate import Phantom

DICOM_DIR = "dicom"
TRUTH_DIR = "truth"
TRUTH_JSON = "truth.json"
TRUTH_FILES = ("truth_veins.nii.gz", "truth_defects.nii.gz", "truth_arteries.nii.gz")
_STAGING_PREFIX = ".phantom-staging-"


class PhantomOutputError(InputError):
    """The output folder holds something other than a previous phantom; nothing was written."""


def is_phantom_output(folder: str | Path) -> bool:
    """True when ``folder`` holds only a previous phantom's ``dicom/`` and ``truth/``."""
    folder = Path(folder)
    names = {p.name for p in folder.iterdir() if not p.name.startswith(_STAGING_PREFIX)}
    if not names <= {DICOM_DIR, TRUTH_DIR}:
        return False
    try:
        truth = json.loads((folder / TRUTH_DIR / TRUTH_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(truth, dict) and truth.get("generator") == "vascseg.phantom"


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise PhantomOutputError(f"phantom output {out} exists and is not a folder; choose a folder.")
    if out.is_dir() and any(out.iterdir()) and not is_phantom_output(out):
        raise PhantomOutputError(
            f"phantom output folder {out} is not empty and is not a previous phantom "
            f"(expected only {DICOM_DIR}/ and {TRUTH_DIR}/{TRUTH_JSON}); choose an empty or new folder.")


def write_phantom(phantom: Phantom, out_dir: str | Path, *, compression: str = "rle") -> Path:
    """Write a phantom's DICOM series and ground truth into ``out_dir``.

    Parameters
    ----------
    phantom : Phantom
        From :func:`generate_phantom`.
    out_dir : str or Path
        Created if needed. It must be empty, new, or a previous phantom output (which is
        replaced).
    compression : {"rle", "jpeg2000", "none"}
        Lossless pixel encoding of the DICOM files.

    Returns
    -------
    Path
        ``out_dir``; the series is in ``out_dir / "dicom"``, the truth in ``out_dir / "truth"``.

    Raises
    ------
    PhantomOutputError
        ``out_dir`` is a file, or a non-empty folder that is not a previous phantom output.
    """
    from ..io import write_volume_nifti

    out = Path(out_dir)
    _check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    vol = phantom.volume
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=out))
    try:
        files = write_dicom_series(vol, phantom.spec, staging / DICOM_DIR, compression=compression)
        truth_dir = staging / TRUTH_DIR
        truth_dir.mkdir()
        for name, arr in zip(TRUTH_FILES, (phantom.veins, phantom.defects, phantom.arteries),
                             strict=True):
            write_volume_nifti(arr, vol, truth_dir / name)
        truth = dict(phantom.truth)
        truth["files"] = {
            "dicom_dir": DICOM_DIR, "n_dicom_files": len(files), "compression": compression,
            "series_uid_sha256": hash_uid(series_uids(phantom.spec, vol)["series"]),
            "veins": f"{TRUTH_DIR}/{TRUTH_FILES[0]}", "defects": f"{TRUTH_DIR}/{TRUTH_FILES[1]}",
            "arteries": f"{TRUTH_DIR}/{TRUTH_FILES[2]}",
        }
        write_text_atomic(truth_dir / TRUTH_JSON, json.dumps(truth, indent=1) + "\n")
        # swap in: the old truth goes first and the new truth comes last, so a truth.json
        # next to a series always belongs to it
        old = staging / "old"
        old.mkdir()
        for sub in (TRUTH_DIR, DICOM_DIR):
            if (out / sub).exists():
                os.replace(out / sub, old / sub)
        for sub in (DICOM_DIR, TRUTH_DIR):
            os.replace(staging / sub, out / sub)
    finally:
        for p in out.iterdir():
            if p.name.startswith(_STAGING_PREFIX):
                shutil.rmtree(p, ignore_errors=True)
    return out
