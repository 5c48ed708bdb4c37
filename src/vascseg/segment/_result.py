"""Result types of the segmentation stage (kept apart so every module can build them)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..anatomy import LABELS, VEIN_NAMES


@dataclass(frozen=True)
class Segmentation:
    """Result of :func:`segment_veins`; every array is (z, y, x) on the input grid.

    Attributes
    ----------
    veins : uint8
        Vein labels (:data:`vascseg.anatomy.LABELS`) over the whole vessel interior,
        enhanced lumen and filling defects alike.
    defects : bool
        Filling defects (a subset of ``veins > 0``).
    lumen : bool
        Enhanced venous lumen.
    arteries : bool
        Bright tubular voxels judged arterial (kept out of ``veins``).
    missing : dict
        Segment name -> why it was not found.
    warnings : tuple of str
    """

    veins: np.ndarray
    defects: np.ndarray
    lumen: np.ndarray
    arteries: np.ndarray
    missing: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def found(self) -> tuple[str, ...]:
        present = set(np.unique(self.veins).tolist())
        return tuple(n for n in VEIN_NAMES if LABELS[n] in present)


@dataclass(frozen=True, eq=False)
class Detection:
    """What the analysis on one grid found, with the masks a refinement on a finer grid needs.

    Attributes
    ----------
    segmentation : Segmentation
        On the analysis grid.
    envelope : bool
        Vein interior before naming (lumen plus filling defects and concavities).
    lumen : bool
        Enhanced vein lumen (``envelope`` minus the hypodense part).
    body : bool
        The patient's body.
    blocked : bool
        Bone and solid organs: never vessel.
    lumen_level : float
        Median (pseudo-)HU of the vessel cores (the half-maximum reference).
    dark_hu : (float, float) or None
        T1 MR: a cord's intensities (pseudo-HU, from the defect level up to
        :func:`vascseg.segment.defects.cord_ceiling`), which no partial volume of the lumen and
        the fat around it has (``dark`` of :func:`~vascseg.segment.defects.defects_in`);
        None on CT.
    fat_hu : float or None
        T1 MR: the fat around the veins (:func:`vascseg.segment.defects.fat_level`), which
        bounds a defect's partial-volume rim (:func:`~vascseg.segment.defects.defect_rims`);
        None on CT.
    """

    segmentation: Segmentation
    envelope: np.ndarray
    lumen: np.ndarray
    body: np.ndarray
    blocked: np.ndarray
    lumen_level: float
    dark_hu: tuple[float, float] | None = None
    fat_hu: float | None = None
