"""Synthetic venography phantoms (CT and MR) with ground truth.

``generate_phantom(PhantomSpec(...))`` builds the image, the vein labels, the defect mask and
``truth`` in memory; ``write_phantom(phantom, out_dir)`` writes ``out_dir/dicom/`` (a DICOM
series) and ``out_dir/truth/`` (``truth_veins.nii.gz``, ``truth_defects.nii.gz``,
``truth_arteries.nii.gz`` and ``truth.json``).
"""

from ._generate import (
    DEFAULT_SHAPE_ZYX,
    DEFAULT_SPACING_ZYX_MM,
    PATTERNS,
    Phantom,
    PhantomSpec,
    PhantomSpecError,
    generate_phantom,
)
from ._output import PhantomOutputError, is_phantom_output, write_phantom

__all__ = ["DEFAULT_SHAPE_ZYX", "DEFAULT_SPACING_ZYX_MM", "PATTERNS", "Phantom", "PhantomOutputError",
           "PhantomSpec", "PhantomSpecError", "generate_phantom", "is_phantom_output",
           "write_phantom"]
