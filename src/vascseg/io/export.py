"""Write results on a volume's grid: NIfTI (any array) and DICOM SEG (veins + defects).

Every writer is atomic (a temporary file renamed on success) and never touches the
input folder unless explicitly asked to write there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from .. import __version__
from .._util import atomic_path
from ..anatomy import COLOURS, DEFECT_COLOUR, NAMES_BY_LABEL
from ..errors import GeometryError, InputError
from ..geometry import Volume

SOURCE_POSITION_ATOL_MM = 0.01
"""Largest distance between a grid slice origin and its source image's position."""


def write_volume_nifti(volume_or_array: Volume | np.ndarray, grid: Volume, path: str | Path) -> Path:
    """Write an image or label array on ``grid``'s geometry to a NIfTI file, atomically.

    Parameters
    ----------
    volume_or_array : Volume or (Z, Y, X) ndarray
        Voxel values; a Volume's array is used (its grid must equal ``grid``). Boolean
        arrays are written as uint8.
    grid : Volume
        Supplies spacing (mm), origin and direction (LPS; SimpleITK writes RAS NIfTI).
    path : str or Path
        Output ``.nii`` or ``.nii.gz`` file.

    Returns
    -------
    Path
        ``path``.
    """
    import SimpleITK as sitk

    if isinstance(volume_or_array, Volume):
        if not volume_or_array.same_grid(grid):
            raise GeometryError("write_volume_nifti: the volume is not on the given grid.")
        array = volume_or_array.array
    else:
        array = np.asarray(volume_or_array)
    if array.shape != grid.shape:
        raise GeometryError(f"write_volume_nifti: array shape {array.shape} differs from the grid {grid.shape}.")
    if array.dtype == bool:
        array = array.astype(np.uint8)
    path = Path(path)
    if not path.name.lower().endswith((".nii", ".nii.gz")):
        raise InputError(f"write_volume_nifti: {path} must end in .nii or .nii.gz.")
    image = grid.with_array(array).to_sitk()
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=path.name.lower().endswith(".gz"))
    return path


def _source_datasets(grid: Volume) -> list:
    import pydicom

    if not grid.source_files:
        raise InputError("DICOM SEG needs a grid loaded from DICOM (grid.source_files is empty).")
    datasets = [pydicom.dcmread(f, stop_before_pixels=True) for f in grid.source_files]
    nz = grid.shape[0]
    if len(datasets) == 1 and int(datasets[0].get("NumberOfFrames", 1) or 1) == nz:
        return datasets  # one enhanced multi-frame image, frames in grid order
    if len(datasets) != nz:
        raise InputError(
            f"DICOM SEG: the grid has {nz} slices but {len(datasets)} source images "
            "(it was resampled); write NIfTI instead."
        )
    expected = grid.index_to_lps(np.column_stack([np.arange(nz), np.zeros(nz), np.zeros(nz)]))
    for k, ds in enumerate(datasets):
        ipp = np.asarray(ds.get("ImagePositionPatient", [np.nan] * 3), dtype=float)
        if not np.allclose(ipp, expected[k], atol=SOURCE_POSITION_ATOL_MM):
            raise InputError(
                f"DICOM SEG: source image {Path(grid.source_files[k]).name} is not at grid slice {k} "
                "(the grid was resampled); write NIfTI instead."
            )
    return datasets


def write_dicom_seg(veins: np.ndarray, defects: np.ndarray, grid: Volume, path: str | Path) -> Path:
    """Write vein labels and the filling-defect mask as one DICOM SEG (BINARY), atomically.

    Parameters
    ----------
    veins : (Z, Y, X) uint8 ndarray
        Vein labels as in :data:`vascseg.anatomy.LABELS` (0 background).
    defects : (Z, Y, X) bool ndarray
        Filling-defect mask.
    grid : Volume
        The DICOM volume the arrays lie on; its ``source_files`` are referenced.
    path : str or Path
        Output file (``.dcm``).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        The grid has no DICOM source (NIfTI input, resampled stack) or the source
        headers cannot be referenced.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    veins = np.asarray(veins)
    defects = np.asarray(defects, dtype=bool)
    for name, arr in (("veins", veins), ("defects", defects)):
        if arr.shape != grid.shape:
            raise GeometryError(f"write_dicom_seg: {name} shape {arr.shape} differs from the grid {grid.shape}.")
    sources = _source_datasets(grid)
    unknown = sorted(set(np.unique(veins).tolist()) - {0} - set(NAMES_BY_LABEL))
    if unknown:
        raise InputError(f"write_dicom_seg: unknown vein labels {unknown}.")
    algorithm = hd.AlgorithmIdentificationSequence(
        name="vascseg", version=__version__, family=codes.cid7162.ArtificialIntelligence
    )
    values = sorted(v for v in np.unique(veins).tolist() if v)
    # one bool array, segment-major so each segment's frames are contiguous, filled inside
    # each label's box: no full-size temporaries per segment (14 on a 512x512x400 series)
    planes = np.zeros((len(values) + 1,) + veins.shape, bool)
    boxes = ndi.find_objects(veins)
    descriptions = []

    def add(label: str, category, prop, rgb) -> None:
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=len(descriptions) + 1, segment_label=label,
            segmented_property_category=category, segmented_property_type=prop,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm, display_color=hd.color.CIELabColor.from_rgb(*rgb),
        ))

    for i, value in enumerate(values):
        name = NAMES_BY_LABEL[value]
        prop = codes.SCT.InferiorVenaCava if name == "ivc" else codes.SCT.Vein
        add(name, codes.SCT.AnatomicalStructure, prop, COLOURS[name])
        box = boxes[value - 1]
        planes[(i,) + box] = veins[box] == value
    add("filling_defect", codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Thrombus, DEFECT_COLOUR)
    planes[-1] = defects
    pixel_array = np.moveaxis(planes, 0, -1)  # (Z, Y, X, segments) view
    try:
        seg = hd.seg.Segmentation(
            source_images=sources, pixel_array=pixel_array,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=9901,
            sop_instance_uid=hd.UID(), instance_number=1, manufacturer="vascseg",
            manufacturer_model_name="vascseg", software_versions=__version__, device_serial_number="0",
            content_description="vascseg vein labels and filling defects", omit_empty_frames=True,
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(f"DICOM SEG: cannot reference the source series ({exc}).") from None
    path = Path(path)
    with atomic_path(path) as tmp:
        seg.save_as(tmp)
    return path
