"""Input and output: DICOM discovery and loading, NIfTI/NRRD/MHA, landmarks, export.

``find_series`` lists series from headers only; ``load_series`` returns one validated
:class:`~vascseg.geometry.Volume`; ``write_volume_nifti`` and ``write_dicom_seg`` write
results on a volume's grid; ``load_landmarks``/``save_landmarks`` read and write the
landmarks JSON.
"""

from .discovery import Discovery, SeriesInfo, find_series
from .export import write_dicom_seg, write_volume_nifti
from .landmarks import Landmark, load_landmarks, save_landmarks
from .load import load_series

__all__ = [
    "Discovery",
    "Landmark",
    "SeriesInfo",
    "find_series",
    "load_landmarks",
    "load_series",
    "save_landmarks",
    "write_dicom_seg",
    "write_volume_nifti",
]
