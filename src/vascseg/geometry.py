"""The image object every stage passes on: :class:`Volume`.

Conventions, stated once and honoured everywhere in vascseg:

* ``array`` is indexed ``(z, y, x)``: axis 0 is the slowest (slice) axis, axis 2 the
  fastest (column) axis.
* World coordinates are DICOM patient **LPS** in millimetres: +x towards the patient's
  left, +y posterior, +z superior (head). Points are written ``(x, y, z)``.
* ``spacing_mm`` is ``(dz, dy, dx)`` in mm, in array-axis order.
* ``origin_lps_mm`` is the LPS position ``(x, y, z)`` of the *centre* of voxel ``(0, 0, 0)``.
* ``direction`` is a 3x3 matrix whose column ``c`` is the LPS unit vector along array
  axis ``c`` (columns in array-axis order ``z, y, x``).
* ``affine`` maps homogeneous array indices ``(z, y, x, 1)`` to LPS ``(x, y, z, 1)`` mm.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import GeometryError

if TYPE_CHECKING:  # pragma: no cover
    import SimpleITK as sitk

ORTHOGONALITY_ATOL = 1e-4
"""Largest allowed deviation of ``direction.T @ direction`` from identity."""

AXIAL_DIRECTION = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
"""Direction of a plain axial stack: array z -> LPS +z, y -> +y (posterior), x -> +x (left)."""

_AXIS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))


def orientation_code(direction: np.ndarray) -> str:
    """Three-letter code of the LPS directions of the array axes ``(x, y, z)`` index order.

    Follows the ITK/DICOM convention: the letter each index axis points *towards*, for the
    column, row and slice axes in that order. An axial stack read head-wards from the
    feet gives ``"LPS"``.

    Parameters
    ----------
    direction : (3, 3) array
        Columns are the LPS unit vectors of array axes (z, y, x).
    """
    letters = []
    for col in (2, 1, 0):  # x, y, z index axes
        v = direction[:, col]
        k = int(np.argmax(np.abs(v)))
        letters.append(_AXIS_LETTERS[k][1] if v[k] > 0 else _AXIS_LETTERS[k][0])
    return "".join(letters)


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3-D scalar image on a regular grid in patient LPS space.

    Parameters
    ----------
    array : (Z, Y, X) ndarray
        Voxel values: HU for CT (rescale already applied), scanner units for MR.
    spacing_mm : (dz, dy, dx)
        Voxel spacing in mm along the array axes.
    origin_lps_mm : (x, y, z)
        LPS position in mm of the centre of voxel (0, 0, 0).
    direction : (3, 3) ndarray
        Column c is the LPS unit vector along array axis c (z, y, x); the default is
        :data:`AXIAL_DIRECTION` (orientation ``"LPS"``). Must be orthonormal:
        a sheared (e.g. gantry-tilted) grid is not a Volume.
    modality : str
        ``"CT"`` or ``"MR"`` (or ``"OT"`` when unknown).
    series_uid_sha256 : str or None
        SHA-256 hex digest of the SeriesInstanceUID; never the UID itself.
    description : str
        Series description (no patient data).
    source_files : tuple of str
        DICOM files the volume was read from, in slice order (empty for NIfTI etc.).
    warnings : tuple of str
        What the loader changed or doubted (resampling, dropped files...).
    """

    array: np.ndarray
    spacing_mm: tuple[float, float, float]
    origin_lps_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: AXIAL_DIRECTION.copy())
    modality: str = "OT"
    series_uid_sha256: str | None = None
    description: str = ""
    source_files: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if arr.ndim != 3:
            raise GeometryError(f"Argument 'array' must be 3-D (z, y, x); got shape {arr.shape}.")
        spacing = tuple(float(s) for s in self.spacing_mm)
        if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
            raise GeometryError(
                f"Argument 'spacing_mm' must be three positive finite mm values (dz, dy, dx); "
                f"got {self.spacing_mm}."
            )
        origin = tuple(float(o) for o in self.origin_lps_mm)
        if len(origin) != 3 or not all(np.isfinite(o) for o in origin):
            raise GeometryError(f"Argument 'origin_lps_mm' must be three finite mm values; got {self.origin_lps_mm}.")
        d = np.array(self.direction, dtype=np.float64)
        if d.shape != (3, 3) or not np.all(np.isfinite(d)):
            raise GeometryError(f"Argument 'direction' must be a finite 3x3 matrix; got shape {d.shape}.")
        if not np.allclose(d.T @ d, np.eye(3), atol=ORTHOGONALITY_ATOL):
            raise GeometryError(
                "Argument 'direction' must be an orthonormal matrix (a sheared grid, e.g. from "
                "gantry tilt, must be resampled first); got\n" + np.array2string(d, precision=5)
            )
        d.setflags(write=False)
        object.__setattr__(self, "array", arr)
        object.__setattr__(self, "spacing_mm", spacing)
        object.__setattr__(self, "origin_lps_mm", origin)
        object.__setattr__(self, "direction", d)
        object.__setattr__(self, "source_files", tuple(self.source_files))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    # ------------------------------------------------------------------ geometry
    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape ``(Z, Y, X)``."""
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    @property
    def affine(self) -> np.ndarray:
        """4x4 matrix mapping ``(z, y, x, 1)`` indices to LPS ``(x, y, z, 1)`` mm."""
        a = np.eye(4)
        a[:3, :3] = self.direction * np.asarray(self.spacing_mm)[None, :]
        a[:3, 3] = self.origin_lps_mm
        return a

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in mL (1 mL = 1000 mm³)."""
        return float(np.prod(self.spacing_mm)) / 1000.0

    @property
    def orientation(self) -> str:
        """Three-letter orientation code of the (x, y, z) index axes, e.g. ``"LPS"``."""
        return orientation_code(self.direction)

    def index_to_lps(self, index_zyx: Any) -> np.ndarray:
        """Convert (N, 3) or (3,) array indices (z, y, x) to LPS points (x, y, z) in mm."""
        idx = np.asarray(index_zyx, dtype=np.float64)
        a = self.affine
        return idx @ a[:3, :3].T + a[:3, 3]

    def lps_to_index(self, points_lps_mm: Any) -> np.ndarray:
        """Convert (N, 3) or (3,) LPS points (x, y, z) mm to fractional indices (z, y, x)."""
        p = np.asarray(points_lps_mm, dtype=np.float64)
        a = self.affine
        return (p - a[:3, 3]) @ np.linalg.inv(a[:3, :3]).T

    def axis_of(self, lps_axis: int) -> int:
        """Array axis (0, 1, 2) most aligned with LPS axis ``lps_axis`` (0=x, 1=y, 2=z)."""
        return int(np.argmax(np.abs(self.direction[lps_axis, :])))

    def with_array(self, array: np.ndarray, **changes: Any) -> Volume:
        """A Volume on the same grid with another array (e.g. a label map)."""
        if tuple(array.shape) != self.shape:
            raise GeometryError(f"with_array: shape {array.shape} differs from the grid {self.shape}.")
        return replace(self, array=array, **changes)

    def same_grid(self, other: Volume, *, atol_mm: float = 1e-3) -> bool:
        """True when ``other`` has the same shape and affine (within ``atol_mm``)."""
        return self.shape == other.shape and bool(np.allclose(self.affine, other.affine, atol=atol_mm))

    # ------------------------------------------------------------------ SimpleITK
    def to_sitk(self) -> sitk.Image:
        """A SimpleITK image with the same voxels and geometry (copies the array)."""
        import SimpleITK as sitk

        img = sitk.GetImageFromArray(np.ascontiguousarray(self.array))
        img.SetSpacing(tuple(float(s) for s in self.spacing_mm[::-1]))
        img.SetOrigin(self.origin_lps_mm)
        img.SetDirection(tuple(float(v) for v in self.direction[:, ::-1].ravel()))
        return img

    @classmethod
    def from_sitk(cls, image: sitk.Image, **meta: Any) -> Volume:
        """Build a Volume from a 3-D SimpleITK image (the array is copied)."""
        import SimpleITK as sitk

        if image.GetDimension() != 3:
            raise GeometryError(f"Expected a 3-D image, got {image.GetDimension()}-D.")
        if image.GetNumberOfComponentsPerPixel() != 1:
            raise GeometryError("Expected a scalar image, got a vector/RGB image.")
        arr = sitk.GetArrayFromImage(image)  # copy: never a view into a freeable image
        d_xyz = np.array(image.GetDirection(), dtype=np.float64).reshape(3, 3)
        return cls(
            array=arr,
            spacing_mm=tuple(image.GetSpacing()[::-1]),
            origin_lps_mm=tuple(image.GetOrigin()),
            direction=d_xyz[:, ::-1],
            **meta,
        )

    def __repr__(self) -> str:
        dz, dy, dx = self.spacing_mm
        ox, oy, oz = self.origin_lps_mm
        return (
            f"Volume(shape_zyx={self.shape}, spacing_zyx_mm=({dz:.3g}, {dy:.3g}, {dx:.3g}), "
            f"origin_lps_mm=({ox:.1f}, {oy:.1f}, {oz:.1f}), orientation={self.orientation}, "
            f"dtype={self.array.dtype}, modality={self.modality})"
        )
