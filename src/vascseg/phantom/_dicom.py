"""A phantom's image as a standards-valid DICOM series (CT or MR Image Storage).

One single-frame file per axial slice: RLE Lossless, JPEG 2000 lossless or uncompressed. Patient
data are made up ("Phantom^Vascseg", "PHANTOM-<seed>") and every UID is derived from the
spec through :func:`pydicom.uid.generate_uid` with fixed entropy sources, so writing the
same phantom twice gives byte-identical files.

CT pixels are stored as unsigned 12-bit values with ``RescaleIntercept`` -1024 (HU =
stored - 1024), MR pixels as unsigned 12-bit scanner units.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..geometry import Volume

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
PATIENT_NAME = "Phantom^Vascseg"
"""Made-up patient name of every phantom (never a real person)."""
STUDY_DATE = "20000101"
"""Fixed acquisition date: the files must not depend on when they were written."""
CT_INTERCEPT_HU = -1024
"""HU = stored value + this (stored values are unsigned 12-bit)."""
STORED_MAX = 4095
"""Largest stored value (BitsStored 12)."""

# Acquisition parameters written as realistic header values (they do not change the image).
_CT_TAGS = {
    "KVP": "100", "ConvolutionKernel": "B30f", "XRayTubeCurrent": 180, "ExposureTime": 500,
    "Exposure": 90, "FilterType": "FLAT", "GeneratorPower": 18, "FocalSpots": "1.2",
    "GantryDetectorTilt": "0", "TableHeight": "160", "RotationDirection": "CW",
    "ReconstructionDiameter": None, "DataCollectionDiameter": "500",
    "ContrastBolusAgent": "Iodinated contrast", "ContrastBolusRoute": "IV",
    "ContrastBolusVolume": "90", "RescaleType": "HU",
}
_MR_TAGS = {
    "ScanningSequence": "GR", "SequenceVariant": ["SP", "SK"], "ScanOptions": "",
    "MRAcquisitionType": "3D", "SequenceName": "*fl3d1", "RepetitionTime": "4.2",
    "EchoTime": "1.9", "EchoTrainLength": 1, "NumberOfAverages": "1", "FlipAngle": "12",
    "ImagingFrequency": "63.676", "ImagedNucleus": "1H", "MagneticFieldStrength": "1.5",
    "EchoNumbers": "1", "SAR": "0.42", "PixelBandwidth": "400", "AngioFlag": "N",
    "ContrastBolusAgent": "Gadolinium", "ContrastBolusRoute": "IV",
}


def _ds(value: float) -> str:
    """A decimal string of at most 16 characters for ``value`` (mm)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text[:16]


def _uid_entropy(spec, volume: Volume) -> list[str]:
    parts = [f"{k}={v}" for k, v in sorted(asdict(spec).items())]
    return ["vascseg.phantom", *parts, f"shape={volume.shape}", f"spacing={volume.spacing_mm}"]


def series_uids(spec, volume: Volume) -> dict[str, str]:
    """Study, series and frame-of-reference UIDs, deterministic for a spec."""
    from pydicom.uid import generate_uid

    base = _uid_entropy(spec, volume)
    study = generate_uid(entropy_srcs=["study", f"seed={spec.seed}", "vascseg.phantom"])
    return {
        "study": study,
        "series": generate_uid(entropy_srcs=["series", *base]),
        "frame": generate_uid(entropy_srcs=["frame", *base]),
    }


def stored_values(volume: Volume) -> np.ndarray:
    """(Z, Y, X) uint16 stored values: HU + 1024 (CT) or the MR units, range-checked."""
    arr = volume.array
    if volume.modality == "CT":
        lo, hi = int(arr.min()), int(arr.max())
        if lo < CT_INTERCEPT_HU or hi > STORED_MAX + CT_INTERCEPT_HU:
            raise ValueError(f"CT values {lo}..{hi} HU do not fit 12 bits with intercept -1024")
        return (arr.astype(np.int32) - CT_INTERCEPT_HU).astype(np.uint16)
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi > STORED_MAX:
        raise ValueError(f"MR values {lo}..{hi} do not fit 12 unsigned bits")
    return arr.astype(np.uint16)


def _base_dataset(spec, volume: Volume, uids: dict[str, str], window: tuple[float, float]):
    import pydicom

    ds = pydicom.Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    ds.SOPClassUID = CT_IMAGE_STORAGE if volume.modality == "CT" else MR_IMAGE_STORAGE
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = STUDY_DATE
    ds.StudyTime, ds.SeriesTime = "120000", "120500"
    ds.AcquisitionTime = ds.ContentTime = "120510"
    ds.AccessionNumber = ""
    ds.Modality = volume.modality
    ds.Manufacturer = "vascseg"
    ds.ManufacturerModelName = "synthetic phantom"
    ds.InstitutionName = "none (synthetic data)"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "vascseg synthetic venography"
    ds.SeriesDescription = volume.description[:64]
    ds.PatientName = PATIENT_NAME
    ds.PatientID = f"PHANTOM-{spec.seed}"
    ds.PatientBirthDate = ""
    ds.PatientSex = "F"
    ds.PatientAge = "045Y"
    ds.BodyPartExamined = "ABDOMEN"
    ds.ContrastBolusAgent = ""
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = uids["study"]
    ds.SeriesInstanceUID = uids["series"]
    ds.StudyID = "1"
    ds.SeriesNumber = 3 if volume.modality == "CT" else 11
    ds.AcquisitionNumber = 1
    ds.FrameOfReferenceUID = uids["frame"]
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    nz, ny, nx = volume.shape
    ds.Rows, ds.Columns = ny, nx
    dz, dy, dx = volume.spacing_mm
    ds.PixelSpacing = [_ds(dy), _ds(dx)]
    ds.SliceThickness = _ds(dz)
    ds.SpacingBetweenSlices = _ds(dz)
    d = np.asarray(volume.direction, dtype=float)
    ds.ImageOrientationPatient = [_ds(v) for v in (*d[:, 2], *d[:, 1])]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = _ds(window[0]), _ds(window[1])
    if volume.modality == "CT":
        ds.RescaleIntercept, ds.RescaleSlope = str(CT_INTERCEPT_HU), "1"
        for k, v in _CT_TAGS.items():
            setattr(ds, k, v if v is not None else _ds(max(ny * dy, nx * dx)))
        ds.WindowCenterWidthExplanation = "VENOUS"
    else:
        for k, v in _MR_TAGS.items():
            setattr(ds, k, v)
        ds.PercentSampling = "100"
        ds.PercentPhaseFieldOfView = _ds(100.0 * ny * dy / (nx * dx))
        ds.AcquisitionMatrix = [0, nx, ny, 0]
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "synthetic data, no patient"
    return ds


def window_of(volume: Volume) -> tuple[float, float]:
    """(centre, width) of the display window: venous CT window, or MR percentiles."""
    if volume.modality == "CT":
        return 100.0, 500.0
    sample = volume.array[:: max(volume.shape[0] // 16, 1), ::4, ::4]
    lo, hi = np.percentile(sample, [1.0, 99.5])
    return float(round((lo + hi) / 2)), float(round(max(hi - lo, 1.0)))


COMPRESSIONS = ("rle", "jpeg2000", "none")
"""Pixel encodings :func:`write_dicom_series` can write (all lossless)."""


def write_dicom_series(volume: Volume, spec, folder: str | Path, *, compression: str = "rle"
                       ) -> list[Path]:
    """Write ``volume`` as one DICOM file per slice into ``folder`` (created if needed).

    Parameters
    ----------
    volume : Volume
        An axial phantom volume (CT int16 HU or MR uint16), direction and spacing as on disk.
    spec : PhantomSpec
        Gives the seed (patient ID) and the entropy of the deterministic UIDs.
    folder : str or Path
    compression : {"rle", "jpeg2000", "none"}
        RLE Lossless (default; decoded by pydicom alone), JPEG 2000 lossless (smaller; needs
        pylibjpeg-openjpeg) or uncompressed explicit VR little endian.

    Returns
    -------
    list of Path
        The files in slice order (``IM00001.dcm``...).
    """
    import copy

    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless, generate_uid

    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}; got {compression!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stored = stored_values(volume)
    uids = series_uids(spec, volume)
    base = _base_dataset(spec, volume, uids, window_of(volume))
    d = np.asarray(volume.direction, dtype=float)
    normal = d[:, 0]
    origin = np.asarray(volume.origin_lps_mm, dtype=float)
    dz = float(volume.spacing_mm[0])
    paths = []
    for k in range(volume.shape[0]):
        ds = copy.deepcopy(base)
        sop = generate_uid(entropy_srcs=["instance", uids["series"], str(k)])
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = base.SOPClassUID
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        ds.SOPInstanceUID = sop
        ds.InstanceNumber = k + 1
        pos = origin + k * dz * normal
        ds.ImagePositionPatient = [_ds(v) for v in pos]
        ds.SliceLocation = _ds(float(pos @ normal))
        plane = np.ascontiguousarray(stored[k])
        if compression == "rle":
            ds.compress(RLELossless, plane, encoding_plugin="pydicom", generate_instance_uid=False)
        elif compression == "jpeg2000":
            ds.compress(JPEG2000Lossless, plane, generate_instance_uid=False)
        else:
            ds.PixelData = plane.tobytes()
        path = folder / f"IM{k + 1:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths

