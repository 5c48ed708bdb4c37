"""Slice-stack geometry: sort, spacing, tilt, duplicates; the checks that raise typed errors.

Slices are sorted by the projection of ImagePositionPatient onto the slice normal
``n = row x col`` (IOP[0:3] x IOP[3:6]); file names and instance numbers carry no meaning.
Tolerances are module constants, each overridable through :class:`vascseg.config.LoadConfig`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import GantryTiltError, GeometryError, SliceSpacingError
from ._headers import FrameHeader

SPACING_RTOL = 0.05
"""Largest relative deviation of a slice gap from the regular step (``LoadConfig.spacing_rtol``)."""

ORIENTATION_ATOL = 1e-3
"""Largest difference of direction cosines between slices of one stack (``LoadConfig.orientation_atol``)."""

TILT_ATOL_DEG = 0.05
"""Largest angle (degrees) between stacking direction and slice normal (``LoadConfig.tilt_atol_deg``)."""

POSITION_ATOL_MM = 0.01
"""Slices closer than this (mm) are at the same position (duplicates or time points)."""

COLLINEAR_ATOL_MM = 0.5
"""Largest in-plane deviation (mm) of slice origins from the straight stacking line."""


@dataclass(frozen=True)
class StackGeometry:
    """Geometry of a sorted stack of 2-D images (one volume).

    ``frames`` are in ascending order along ``normal``; ``duplicates`` holds frames at a
    position already taken (left out of ``frames``), each paired with the kept frame.
    """

    frames: tuple[FrameHeader, ...]
    duplicates: tuple[tuple[FrameHeader, FrameHeader], ...]
    row_lps: np.ndarray  # IOP[0:3]: direction of increasing column index (array x)
    col_lps: np.ndarray  # IOP[3:6]: direction of increasing row index (array y)
    normal_lps: np.ndarray  # row x col
    positions_mm: np.ndarray  # (n,) slice positions along the normal
    inplane_offsets_mm: np.ndarray  # (n, 2) slice origin offsets along (row, col) from the first
    step_mm: float  # regular slice step along the normal
    pixel_spacing_mm: tuple[float, float]  # (dy, dx)
    tilt_deg: float
    uneven_gaps: tuple[str, ...]  # human-readable descriptions of irregular gaps
    orientation_error: str | None = None
    collinear_error: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        f = self.frames[0]
        return (len(self.frames), f.rows, f.cols)

    @property
    def direction(self) -> np.ndarray:
        """Volume direction: columns (normal, col cosine, row cosine) for axes (z, y, x)."""
        return np.column_stack([self.normal_lps, self.col_lps, self.row_lps])

    @property
    def origin_lps_mm(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in self.frames[0].ipp_lps_mm)  # type: ignore[arg-type,return-value]

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        return (self.step_mm, *self.pixel_spacing_mm)

    def problems(self) -> list[str]:
        """Short problem labels for summaries (empty when the stack is clean)."""
        out = []
        if self.orientation_error:
            out.append("inconsistent orientation")
        if self.collinear_error:
            out.append("non-collinear slices")
        if self.tilt_deg > TILT_ATOL_DEG:
            out.append(f"gantry tilt {self.tilt_deg:.1f} deg")
        if self.uneven_gaps:
            gaps = np.diff(self.positions_mm)
            out.append(f"uneven gaps {gaps.min():.2f}-{gaps.max():.2f} mm")
        if self.duplicates:
            out.append(f"{len(self.duplicates)} duplicate positions")
        return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def regular_step_mm(gaps_mm: np.ndarray) -> float:
    """The regular slice step of a stack: the smallest gap not below half the median gap.

    Missing slices leave the step at the common gap; mixed thicknesses (e.g. 4 mm then
    7 mm) keep the finer one, so resampling never loses resolution.
    """
    med = float(np.median(gaps_mm))
    return float(np.min(gaps_mm[gaps_mm >= 0.5 * med]))


def analyse_stack(
    frames: Sequence[FrameHeader],
    *,
    spacing_rtol: float = SPACING_RTOL,
    orientation_atol: float = ORIENTATION_ATOL,
) -> StackGeometry:
    """Sort ``frames`` along their normal and measure spacing, tilt and duplicates.

    Never raises for irregular stacks (they are described); raises :class:`GeometryError`
    only when geometry is missing or the orientation vectors are unusable.
    """
    if not frames:
        raise GeometryError("Empty slice stack.")
    missing = [f.name for f in frames if f.ipp_lps_mm is None or f.iop is None or f.pixel_spacing_mm is None]
    if missing:
        raise GeometryError(
            f"{len(missing)} image(s) lack ImagePositionPatient/ImageOrientationPatient/PixelSpacing "
            f"(e.g. {missing[0]}): the patient geometry is unknown, refusing to guess an identity grid."
        )
    iop0 = np.asarray(frames[0].iop, dtype=np.float64)
    row = _unit(iop0[:3])
    col_raw = iop0[3:]
    if abs(float(np.dot(row, _unit(col_raw)))) > 1e-3:
        raise GeometryError(f"{frames[0].name}: ImageOrientationPatient rows/columns are not orthogonal: {iop0}.")
    col = _unit(col_raw - np.dot(col_raw, row) * row)
    normal = np.cross(row, col)

    orientation_error = None
    for f in frames[1:]:
        diff = float(np.max(np.abs(np.asarray(f.iop) - iop0)))
        if diff > orientation_atol:
            orientation_error = (
                f"{f.name} has orientation {np.round(f.iop, 5).tolist()} but {frames[0].name} has "
                f"{np.round(iop0, 5).tolist()} (difference {diff:.2g} > orientation_atol {orientation_atol:g})."
            )
            break

    ipp = np.array([f.ipp_lps_mm for f in frames], dtype=np.float64)
    d = ipp @ normal
    order = sorted(range(len(frames)), key=lambda i: (d[i], frames[i].instance_number, str(frames[i].path)))
    kept: list[int] = []
    duplicates: list[tuple[FrameHeader, FrameHeader]] = []
    for i in order:
        if kept and abs(d[i] - d[kept[-1]]) < POSITION_ATOL_MM and np.allclose(ipp[i], ipp[kept[-1]], atol=POSITION_ATOL_MM * 10):
            duplicates.append((frames[i], frames[kept[-1]]))
        else:
            kept.append(i)
    sorted_frames = tuple(frames[i] for i in kept)
    pos = d[kept]
    rel = ipp[kept] - ipp[kept[0]]
    offsets = np.column_stack([rel @ row, rel @ col])
    dy, dx = frames[0].pixel_spacing_mm  # type: ignore[misc]
    notes: list[str] = []
    tilt_deg = 0.0
    collinear_error = None
    uneven: list[str] = []
    if len(kept) >= 2:
        dd = pos - pos[0]
        slope = (dd @ offsets) / float(dd @ dd)
        tilt_deg = math.degrees(math.atan(float(np.hypot(*slope))))
        resid = offsets - np.outer(dd, slope)
        worst = int(np.argmax(np.linalg.norm(resid, axis=1)))
        if np.linalg.norm(resid[worst]) > COLLINEAR_ATOL_MM:
            collinear_error = (
                f"slice {sorted_frames[worst].name} at {pos[worst]:.2f} mm is "
                f"{np.linalg.norm(resid[worst]):.2f} mm off the stacking line of the other slices."
            )
        gaps = np.diff(pos)
        step = regular_step_mm(gaps)
        bad = np.flatnonzero(np.abs(gaps - step) > spacing_rtol * step)
        for j in bad:
            uneven.append(
                f"gap of {gaps[j]:.3f} mm (regular step {step:.3f} mm) between {pos[j]:.2f} mm "
                f"({sorted_frames[j].name}) and {pos[j + 1]:.2f} mm ({sorted_frames[j + 1].name})"
            )
    else:
        f0 = frames[0]
        step = f0.spacing_between_slices_mm or f0.slice_thickness_mm or 1.0
        src = "SpacingBetweenSlices" if f0.spacing_between_slices_mm else (
            "SliceThickness" if f0.slice_thickness_mm else "a default of 1 mm")
        notes.append(f"single slice: slice spacing {step:g} mm taken from {src}")
    return StackGeometry(
        frames=sorted_frames,
        duplicates=tuple(duplicates),
        row_lps=row,
        col_lps=col,
        normal_lps=normal,
        positions_mm=pos,
        inplane_offsets_mm=offsets,
        step_mm=float(step),
        pixel_spacing_mm=(float(dy), float(dx)),
        tilt_deg=tilt_deg,
        uneven_gaps=tuple(uneven),
        orientation_error=orientation_error,
        collinear_error=collinear_error,
        notes=tuple(notes),
    )


def check_stack(
    geom: StackGeometry,
    *,
    what: str,
    tilt_atol_deg: float = TILT_ATOL_DEG,
    resample_tilt: bool = False,
    resample_uneven: bool = False,
) -> None:
    """Raise the typed error for the first problem that is not repaired by an opt-in.

    ``what`` names the series in messages (hashed UID and description, never patient data).
    """
    if geom.orientation_error:
        raise GeometryError(f"Series {what}: inconsistent orientation within the series: {geom.orientation_error}")
    if geom.collinear_error:
        raise GeometryError(f"Series {what}: {geom.collinear_error}")
    if geom.tilt_deg > tilt_atol_deg and not resample_tilt:
        raise GantryTiltError(
            f"Series {what}: slices are stacked {geom.tilt_deg:.2f} degrees off their normal "
            f"(gantry tilt; tolerance {tilt_atol_deg:g} deg). Set load.resample_tilt: true to "
            "resample onto an untilted grid."
        )
    if geom.uneven_gaps and not resample_uneven:
        shown = "; ".join(geom.uneven_gaps[:8])
        more = f" (and {len(geom.uneven_gaps) - 8} more)" if len(geom.uneven_gaps) > 8 else ""
        raise SliceSpacingError(
            f"Series {what}: missing slices or uneven spacing: {shown}{more}. Set "
            "load.resample_uneven: true to interpolate onto a regular grid."
        )
