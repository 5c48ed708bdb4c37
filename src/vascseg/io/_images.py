"""Non-DICOM image files (NIfTI, NRRD, MetaImage) through SimpleITK.

SimpleITK converts NIfTI's RAS to LPS itself. What it does *not* do is refuse a file
without orientation: a NIfTI with neither qform nor sform, or an NRRD without
``space directions``, silently becomes an identity grid. Those are refused here.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from ..errors import GeometryError, InputError, MultiVolumeError
from ..geometry import Volume

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
"""File name endings read as (non-DICOM) images."""


def is_image_file(path: Path) -> bool:
    """True for a NIfTI/NRRD/MetaImage file name."""
    name = path.name.lower()
    return any(name.endswith(s) for s in IMAGE_SUFFIXES)


def _nifti_form_codes(path: Path) -> tuple[int, int]:
    """``(qform_code, sform_code)`` from a NIfTI-1/2 header (plain or gzip)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        head = fh.read(540)
    for endian in ("<", ">"):
        size = struct.unpack(endian + "i", head[:4])[0]
        if size == 348:
            return struct.unpack(endian + "hh", head[252:256])
        if size == 540:
            return struct.unpack(endian + "ii", head[344:352])
    raise InputError(f"{path}: not a NIfTI file (bad header size).")


def _text_header(path: Path, limit: int = 65536) -> str:
    with open(path, "rb") as fh:
        data = fh.read(limit)
    end = data.find(b"\n\n")  # NRRD header ends at the first blank line
    return data[: end if end >= 0 else len(data)].decode("latin-1", "replace")


def orientation_problem(path: Path) -> str | None:
    """Why the file's orientation cannot be trusted, or None when it is stated."""
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        qform, sform = _nifti_form_codes(path)
        if qform <= 0 and sform <= 0:
            return "NIfTI header has neither qform nor sform (orientation unknown)"
    elif name.endswith((".nrrd", ".nhdr")):
        text = _text_header(path)
        if "space directions" not in text:
            return "NRRD header has no 'space directions' (orientation unknown)"
    elif name.endswith((".mha", ".mhd")):
        keys = {line.split("=")[0].strip().lower() for line in _text_header(path).splitlines() if "=" in line}
        if not keys & {"transformmatrix", "orientation", "rotation", "direction"}:
            return "MetaImage header has no TransformMatrix (orientation unknown)"
    return None


def image_info(path: Path) -> dict:
    """Header facts of an image file: size (x, y, z[, t]), spacing, direction, problems."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise InputError(f"{path}: cannot read image header ({str(exc).strip().splitlines()[-1]}).") from None
    size = reader.GetSize()
    problems = []
    why = orientation_problem(path)
    if why:
        problems.append(why)
    n_vol = int(size[3]) if len(size) > 3 else 1
    if len(size) > 4 or (len(size) == 4 and n_vol > 1):
        problems.append(f"multi-volume ({n_vol} volumes)")
    if len(size) < 3:
        problems.append("2-D image")
    if reader.GetNumberOfComponents() != 1:
        problems.append("vector/RGB image")
    dim = min(3, len(size))
    d = np.array(reader.GetDirection(), dtype=float).reshape(len(size), len(size))[:dim, :dim]
    return {
        "size_xyz": tuple(int(s) for s in size[:3]),
        "spacing_xyz_mm": tuple(float(s) for s in reader.GetSpacing()[:3]),
        "direction_xyz": d,
        "n_volumes": n_vol,
        "problems": problems,
    }


def load_image_file(path: Path) -> Volume:
    """Load a NIfTI/NRRD/MetaImage file as a :class:`Volume` (LPS, array z, y, x)."""
    import SimpleITK as sitk

    info = image_info(path)
    why = orientation_problem(path)
    if why:
        raise GeometryError(f"{path}: {why}; refusing to assume an identity orientation.")
    if info["n_volumes"] > 1:
        raise MultiVolumeError(
            f"{path}: holds {info['n_volumes']} volumes (4-D); extract one 3-D volume first."
        )
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(f"{path}: cannot read image ({str(exc).strip().splitlines()[-1]}).") from None
    if image.GetDimension() == 4:  # a 4-D file with a single volume
        size = list(image.GetSize())
        image = sitk.Extract(image, [*size[:3], 0], [0, 0, 0, 0])
    if image.GetDimension() != 3:
        raise GeometryError(f"{path}: expected a 3-D image, got {image.GetDimension()}-D.")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{path}: vector/RGB images are not supported.")
    name = path.name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return Volume.from_sitk(image, description=name)
