"""Header-only DICOM reading: one :class:`FrameHeader` per 2-D image (slice or frame).

No pixel data is read here. Classic single-frame files give one header each; enhanced
multi-frame files (Enhanced CT/MR) give one header per frame, with the position,
orientation, spacing and rescale of that frame taken from the per-frame functional
groups (falling back to the shared ones).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from ._mosaic import mosaic_layout

UNCOMPRESSED_SYNTAXES = frozenset(
    {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
)
"""Transfer syntaxes whose pixel data size is known from the header (truncation check)."""

_SKIP_NAMES = frozenset({"DICOMDIR"})


class NotDicomError(Exception):
    """Internal: the file is not a DICOM image (reason in the message)."""


@dataclass(frozen=True)
class FrameHeader:
    """What vascseg needs to know about one 2-D image, without its pixels.

    ``ipp_lps_mm``/``iop`` are ``None`` when the file carries no patient geometry.
    """

    path: Path
    frame: int | None  # frame index in a multi-frame file, None for single-frame files
    series_uid: str
    study_uid: str
    sop_uid: str
    series_number: str
    modality: str
    description: str
    image_type: tuple[str, ...]
    rows: int
    cols: int
    pixel_spacing_mm: tuple[float, float] | None  # (row spacing = dy, column spacing = dx)
    ipp_lps_mm: tuple[float, float, float] | None
    iop: tuple[float, ...] | None
    slice_thickness_mm: float | None
    spacing_between_slices_mm: float | None
    rescale_slope: float
    rescale_intercept: float
    instance_number: int
    acquisition_number: int | None
    temporal_position: int | None
    trigger_time_ms: float | None
    echo_number: int | None
    echo_time_ms: float | None
    stack_id: str | None
    transfer_syntax: str
    bits_allocated: int
    bits_stored: int
    pixel_signed: bool
    samples_per_pixel: int
    n_frames_in_file: int
    mosaic: bool
    gantry_tilt_deg: float | None
    mosaic_grid: int = 0  # Siemens mosaic unpacked: tiles per side of the stored image (0: not)

    @property
    def name(self) -> str:
        """File name (with the frame number for multi-frame files), for messages."""
        return self.path.name if self.frame is None else f"{self.path.name}[frame {self.frame + 1}]"


def _num(value: Any, cast=float) -> Any:
    if value is None or value == "":
        return None
    try:
        return cast(value)
    except (TypeError, ValueError):
        return None


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _first_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, bytes, int, float)):
        return value
    try:
        return value[0] if len(value) else None
    except TypeError:
        return value


def _first(ds: Any, seq_name: str) -> Any:
    seq = ds.get(seq_name) if ds is not None else None
    if seq is None or len(seq) == 0:
        return None
    return seq[0]


def _group_item(per_frame: Any, shared: Any, seq_name: str) -> Any:
    item = _first(per_frame, seq_name)
    return item if item is not None else _first(shared, seq_name)


def _vec(value: Any, n: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        v = tuple(float(x) for x in value)
    except (TypeError, ValueError):
        return None
    return v if len(v) == n and all(np.isfinite(v)) else None


def read_dataset_header(path: Path) -> pydicom.Dataset:
    """Read a DICOM header (no pixels); raise :class:`NotDicomError` if it is not one.

    Files without the ``DICM`` preamble are accepted only when a forced read finds an
    image (SOP Class UID and Rows) in them: text files and the like are refused.
    """
    if path.name in _SKIP_NAMES:
        raise NotDicomError("DICOMDIR index file")
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        except Exception as exc:  # noqa: BLE001 - any parse failure means "not DICOM"
            raise NotDicomError(f"not DICOM ({type(exc).__name__})") from None
        if "SOPClassUID" not in ds or "Rows" not in ds:
            raise NotDicomError("not DICOM") from None
    except Exception as exc:  # noqa: BLE001 - truncated or corrupt header
        raise NotDicomError(f"unreadable DICOM header ({type(exc).__name__}: {exc})") from None
    if "Rows" not in ds or "Columns" not in ds:
        raise NotDicomError("DICOM without an image (no Rows/Columns)")
    return ds


def _check_size(path: Path, ds: pydicom.Dataset, ts: str, n_frames: int) -> None:
    if ts not in UNCOMPRESSED_SYNTAXES:
        return
    bits = int(ds.get("BitsAllocated", 16) or 16)
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    need = int(ds.Rows) * int(ds.Columns) * n_frames * spp * bits // 8
    if os.path.getsize(path) < need:
        raise NotDicomError(f"truncated: pixel data needs {need} bytes, file has {os.path.getsize(path)}")


def _classic_fields(ds: pydicom.Dataset) -> dict[str, Any]:
    """Per-image fields of a classic (not enhanced) image header."""
    return dict(
        slice_thickness_mm=_num(ds.get("SliceThickness")),
        spacing_between_slices_mm=_num(ds.get("SpacingBetweenSlices")),
        rescale_slope=_coalesce(_num(ds.get("RescaleSlope")), 1.0),
        rescale_intercept=_coalesce(_num(ds.get("RescaleIntercept")), 0.0),
        temporal_position=_num(ds.get("TemporalPositionIdentifier"), int),
        trigger_time_ms=_num(ds.get("TriggerTime")),
        echo_number=_num(_first_value(ds.get("EchoNumbers")), int),
        echo_time_ms=_num(ds.get("EchoTime")),
        stack_id=None,
    )


def _mosaic_headers(
    ds: pydicom.Dataset, sop: str, pixel_spacing: tuple[float, ...] | None, common: dict[str, Any]
) -> list[FrameHeader]:
    """One header per tile of a Siemens mosaic, or [] when its layout is unknown."""
    ipp = _vec(ds.get("ImagePositionPatient"), 3)
    iop = _vec(ds.get("ImageOrientationPatient"), 6)
    fields = _classic_fields(ds)
    step = fields["spacing_between_slices_mm"] or fields["slice_thickness_mm"]
    if ipp is None or iop is None or pixel_spacing is None or not step:
        return []
    layout = mosaic_layout(ds, ipp_lps_mm=ipp, iop=iop, pixel_spacing_mm=pixel_spacing, slice_step_mm=step)
    if layout is None:
        return []
    tile_common = {**common, "rows": layout.tile_rows, "cols": layout.tile_cols}
    return [
        FrameHeader(
            frame=k,
            sop_uid=f"{sop}#{k}",
            pixel_spacing_mm=pixel_spacing,  # type: ignore[arg-type]
            ipp_lps_mm=tuple(float(v) for v in layout.positions_lps_mm[k]),  # type: ignore[arg-type]
            iop=iop,
            mosaic_grid=layout.grid,
            **fields,
            **tile_common,
        )
        for k in range(layout.n_tiles)
    ]


def frame_headers(path: str | Path) -> list[FrameHeader]:
    """All 2-D image headers in one file (one per frame). Raises :class:`NotDicomError`."""
    path = Path(path)
    ds = read_dataset_header(path)
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if not ts:
        ts = "1.2.840.10008.1.2"  # no meta: implicit VR little endian
    n_frames = _num(ds.get("NumberOfFrames"), int) or 1
    _check_size(path, ds, ts, n_frames)

    image_type = tuple(str(x).upper() for x in (ds.get("ImageType") or ()))
    pixel_spacing = _vec(ds.get("PixelSpacing"), 2)
    common: dict[str, Any] = dict(
        path=path,
        series_uid=str(ds.get("SeriesInstanceUID", "") or "").strip(),
        study_uid=str(ds.get("StudyInstanceUID", "") or "").strip(),
        series_number=str(ds.get("SeriesNumber", "") or ""),
        modality=str(ds.get("Modality", "") or "OT"),
        description=str(ds.get("SeriesDescription", "") or ""),
        image_type=image_type,
        rows=int(ds.Rows),
        cols=int(ds.Columns),
        instance_number=_num(ds.get("InstanceNumber"), int) or 0,
        acquisition_number=_num(ds.get("AcquisitionNumber"), int),
        transfer_syntax=ts,
        bits_allocated=int(ds.get("BitsAllocated", 16) or 16),
        bits_stored=int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16),
        pixel_signed=int(ds.get("PixelRepresentation", 0) or 0) == 1,
        samples_per_pixel=int(ds.get("SamplesPerPixel", 1) or 1),
        n_frames_in_file=n_frames,
        mosaic="MOSAIC" in image_type,
        gantry_tilt_deg=_num(ds.get("GantryDetectorTilt")),
    )
    sop = str(ds.get("SOPInstanceUID", "") or "")
    per_frame_seq = ds.get("PerFrameFunctionalGroupsSequence")
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    if per_frame_seq is None and shared is None:
        if common["mosaic"] and n_frames == 1:
            tiles = _mosaic_headers(ds, sop, pixel_spacing, common)
            if tiles:
                return tiles
        # classic image (one frame), or a multi-frame file without functional groups
        frames = [None] if n_frames == 1 else list(range(n_frames))
        return [
            FrameHeader(
                frame=i,
                sop_uid=sop if i is None else f"{sop}#{i}",
                pixel_spacing_mm=pixel_spacing,
                ipp_lps_mm=_vec(ds.get("ImagePositionPatient"), 3),
                iop=_vec(ds.get("ImageOrientationPatient"), 6),
                **_classic_fields(ds),
                **common,
            )
            for i in frames
        ]
    out = []
    for i in range(n_frames):
        pf = per_frame_seq[i] if per_frame_seq is not None and i < len(per_frame_seq) else None
        pos = _group_item(pf, shared, "PlanePositionSequence")
        ori = _group_item(pf, shared, "PlaneOrientationSequence")
        meas = _group_item(pf, shared, "PixelMeasuresSequence")
        pvt = _group_item(pf, shared, "PixelValueTransformationSequence")
        content = _group_item(pf, shared, "FrameContentSequence")
        echo = _group_item(pf, shared, "MREchoSequence")
        ipp = _vec(pos.get("ImagePositionPatient"), 3) if pos is not None else None
        iop = _vec(ori.get("ImageOrientationPatient"), 6) if ori is not None else None
        out.append(
            FrameHeader(
                frame=i,
                sop_uid=f"{sop}#{i}",
                pixel_spacing_mm=_vec(meas.get("PixelSpacing"), 2) if meas is not None else pixel_spacing,
                ipp_lps_mm=ipp,
                iop=iop,
                slice_thickness_mm=_num(meas.get("SliceThickness")) if meas is not None else None,
                spacing_between_slices_mm=_coalesce(
                    _num(meas.get("SpacingBetweenSlices")) if meas is not None else None,
                    _num(ds.get("SpacingBetweenSlices")),
                ),
                rescale_slope=_coalesce(
                    _num(pvt.get("RescaleSlope")) if pvt is not None else None,
                    _num(ds.get("RescaleSlope")),
                    1.0,
                ),
                rescale_intercept=_coalesce(
                    _num(pvt.get("RescaleIntercept")) if pvt is not None else None,
                    _num(ds.get("RescaleIntercept")),
                    0.0,
                ),
                temporal_position=_num(content.get("TemporalPositionIndex"), int) if content is not None else None,
                trigger_time_ms=None,
                echo_number=None,
                echo_time_ms=_num(echo.get("EffectiveEchoTime")) if echo is not None else None,
                stack_id=str(content.get("StackID")) if content is not None and "StackID" in content else None,
                **common,
            )
        )
    return out
