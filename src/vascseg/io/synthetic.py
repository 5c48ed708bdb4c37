"""Write small synthetic DICOM series (tests, benchmarks, phantoms).

The files are classic single-frame CT/MR images, explicit VR little endian, with
made-up patient data: never real people.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..geometry import AXIAL_DIRECTION

_SOP_CLASS = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4"}


def write_synthetic_series(
    folder: str | Path,
    stored_zyx: np.ndarray,
    *,
    spacing_mm: Sequence[float] = (1.0, 1.0, 1.0),
    origin_lps_mm: Sequence[float] = (0.0, 0.0, 0.0),
    direction: np.ndarray | None = None,
    modality: str = "CT",
    rescale_intercept: float = -1024.0,
    rescale_slope: float = 1.0,
    description: str = "synthetic",
    patient_name: str = "Synthetic^Phantom",
    patient_id: str = "SYNTH-0",
    shuffle_names_seed: int | None = 0,
) -> list[Path]:
    """Write ``stored_zyx`` (int16 stored values) as one DICOM file per slice.

    Parameters
    ----------
    folder : str or Path
        Created if needed.
    stored_zyx : (Z, Y, X) int16 ndarray
        Stored pixel values; real-world value = stored * slope + intercept.
    spacing_mm, origin_lps_mm, direction
        Grid as in :class:`vascseg.geometry.Volume` (direction columns: z, y, x axes).
    shuffle_names_seed : int or None
        File names are a random permutation of the slice order (names carry no meaning);
        None names them in order.

    Returns
    -------
    list of Path
        Files in slice order.
    """
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arr = np.ascontiguousarray(stored_zyx, dtype=np.int16)
    d = np.asarray(AXIAL_DIRECTION if direction is None else direction, dtype=float)
    nz, ny, nx = arr.shape
    dz, dy, dx = (float(s) for s in spacing_mm)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    names = np.arange(nz)
    if shuffle_names_seed is not None:
        names = np.random.default_rng(shuffle_names_seed).permutation(nz)
    iop = [*d[:, 2], *d[:, 1]]
    paths = []
    for k in range(nz):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = _SOP_CLASS[modality]
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality = modality
        ds.SeriesDescription = description
        ds.PatientName, ds.PatientID = patient_name, patient_id
        ds.PatientBirthDate, ds.AccessionNumber = "19000101", "SYNTHACC"
        ds.PatientSex, ds.ReferringPhysicianName, ds.StudyID = "O", "", "1"
        ds.StudyDate, ds.StudyTime = "20000101", "120000"
        ds.Manufacturer = "vascseg-synthetic"
        ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        pos = np.asarray(origin_lps_mm, dtype=float) + k * dz * d[:, 0]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in pos]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in iop]
        ds.PixelSpacing = [f"{dy:g}", f"{dx:g}"]
        ds.SliceThickness = f"{dz:g}"
        ds.RescaleIntercept, ds.RescaleSlope = f"{rescale_intercept:g}", f"{rescale_slope:g}"
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = ny, nx
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = arr[k].tobytes()
        path = folder / f"IM{names[k]:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
