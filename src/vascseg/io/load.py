"""``load_series``: one validated :class:`~vascseg.geometry.Volume` from DICOM or image files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .._util import hash_uid
from ..config import LoadConfig
from ..errors import (
    GeometryError,
    InputError,
    MemoryLimitError,
    MultiVolumeError,
    SeriesSelectionError,
)
from ..geometry import Volume
from ._images import image_info, is_image_file, load_image_file
from ._pixels import ValueRangeError, decode_frame, decode_frames_into, output_dtype
from ._resample import regular_positions_mm, reslice_regular, untilt, untilt_padding
from ._stack import analyse_stack, check_stack
from .discovery import Discovery, SeriesInfo, find_series

_GIB = 2**30


def _listing(series: list[SeriesInfo]) -> str:
    lines = []
    for s in series:
        problems = f"  [{'; '.join(s.problems)}]" if s.problems else ""
        lines.append(f"  {s.short_id}  {s.modality:<2} {s.description!r}  {s.n_frames} images{problems}")
    return "\n".join(lines)


def _key_for_message(key: str) -> str:
    if re.fullmatch(r"[0-9a-f]{4,64}(:\d+)?", key.strip().lower()):
        return repr(key)
    return f"with UID sha256 {hash_uid(key)[:12]}"


def select_series(found: Discovery, series: str | None, *, where: Path) -> SeriesInfo:
    """Pick one series from a discovery by UID, SHA-256 or unique prefix of its ``id``.

    Raises
    ------
    SeriesSelectionError
        None or several series match (the message lists hashed UIDs, descriptions, counts).
    InputError
        Nothing loadable was found at all (the message repeats the discovery notes).
    """
    candidates = found.series
    if not candidates:
        notes = "\n  ".join(found.notes) or "(no files)"
        only_no_geometry = found.n_without_geometry and len(found.skipped) == found.n_without_geometry
        cls = GeometryError if only_no_geometry else InputError
        raise cls(f"No loadable image series under {where}:\n  {notes}")
    if series is None:
        if len(candidates) == 1:
            return candidates[0]
        raise SeriesSelectionError(
            f"{len(candidates)} series found under {where}; choose one with series=/--series "
            f"(hashed UID or a unique prefix):\n{_listing(candidates)}"
        )
    exact = [s for s in candidates if series.strip() in (s.id, s.uid, s.uid_sha256)]
    matched = exact if len(exact) == 1 else [s for s in candidates if s.matches(series)]
    if len(matched) == 1:
        return matched[0]
    what = "No series matches" if not matched else f"{len(matched)} series match"
    shown = matched or candidates
    raise SeriesSelectionError(f"{what} the series key {_key_for_message(series)} under {where}:\n{_listing(shown)}")


def _check_memory(n_bytes: int, cfg: LoadConfig, what: str, detail: str) -> None:
    if n_bytes > cfg.max_memory_gb * _GIB:
        raise MemoryLimitError(
            f"Series {what} needs about {n_bytes / _GIB:.2f} GiB ({detail}), above "
            f"load.max_memory_gb = {cfg.max_memory_gb:g}; nothing was allocated."
        )


def _itemsize_of_image(path: Path) -> int:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    probe = sitk.Image([1, 1, 1], reader.GetPixelID(), reader.GetNumberOfComponents())
    return int(sitk.GetArrayFromImage(probe).itemsize) * max(1, reader.GetNumberOfComponents())


def _load_image(path: Path, cfg: LoadConfig) -> Volume:
    info = image_info(path)
    n_vox = int(np.prod(info["size_xyz"])) * info["n_volumes"]
    _check_memory(n_vox * _itemsize_of_image(path), cfg, path.name, f"{n_vox} voxels")
    return load_image_file(path)


def _decode_stack(frames, shape_zyx: tuple[int, int, int], safe: np.dtype) -> np.ndarray:
    """Decode into int16 when the values allow (checked per slice), else into ``safe``."""
    first = output_dtype(frames, optimistic=True)
    if first != safe:
        try:
            array = np.empty(shape_zyx, dtype=first)
            decode_frames_into(array, frames)
            return array
        except ValueRangeError:
            del array
    array = np.empty(shape_zyx, dtype=safe)
    decode_frames_into(array, frames)
    return array


def _load_dicom(info: SeriesInfo, cfg: LoadConfig) -> Volume:
    what = f"{info.short_id} {info.description!r}"
    if info.n_volumes > 1:
        raise MultiVolumeError(
            f"Series {what} holds {info.n_volumes} volumes (time points, echoes or stacks). "
            f"Set load.split_multivolume: true and choose one, e.g. --series {info.uid_sha256[:12]}:1."
        )
    frames = info.volumes[0]
    if frames[0].mosaic and not frames[0].mosaic_grid:
        raise InputError(
            f"Series {what} is a Siemens mosaic without NumberOfImagesInMosaic, so its tiles cannot "
            "be placed; convert it with dcm2niix first."
        )
    try:
        geom = analyse_stack(frames, spacing_rtol=cfg.spacing_rtol, orientation_atol=cfg.orientation_atol)
    except GeometryError as exc:
        raise GeometryError(f"Series {what}: {exc}") from None
    check_stack(geom, what=what, tilt_atol_deg=cfg.tilt_atol_deg,
                resample_tilt=cfg.resample_tilt, resample_uneven=cfg.resample_uneven)
    tilted = geom.tilt_deg > cfg.tilt_atol_deg
    uneven = bool(geom.uneven_gaps)
    dtype = output_dtype(geom.frames)  # the safe type, used for the memory check
    nz, ny, nx = geom.shape_zyx
    need = nz * ny * nx * dtype.itemsize
    if tilted or uneven:
        nz_out = regular_positions_mm(geom.positions_mm, geom.step_mm).size if uneven else nz
        y_lo, y_hi, x_lo, x_hi = untilt_padding(geom) if tilted else (0, 0, 0, 0)
        ny_out, nx_out = ny + y_lo + y_hi, nx + x_lo + x_hi
        need += nz * ny_out * nx_out * 4 + nz_out * ny_out * nx_out * 4
    _check_memory(need, cfg, what, f"{nz}x{ny}x{nx} voxels of {dtype}")

    warnings = list(geom.notes)
    if geom.duplicates:
        for dup, kept in geom.duplicates:
            if not np.array_equal(decode_frame(dup, dtype), decode_frame(kept, dtype)):
                raise GeometryError(
                    f"Series {what}: {dup.name} and {kept.name} are at the same position "
                    f"{np.round(dup.ipp_lps_mm, 3).tolist()} mm but hold different pixels."
                )
        names = ", ".join(d.name for d, _ in geom.duplicates[:5])
        warnings.append(f"dropped {len(geom.duplicates)} duplicate image(s) identical to another at the same position ({names})")

    array = _decode_stack(geom.frames, (nz, ny, nx), dtype)
    origin = geom.origin_lps_mm
    if tilted:
        array, origin = untilt(array, geom)
        warnings.append(
            f"resampled a gantry tilt of {geom.tilt_deg:.2f} deg onto an untilted grid (linear interpolation)"
        )
    step = geom.step_mm
    if uneven:
        gaps = np.diff(geom.positions_mm)
        array = reslice_regular(array, geom.positions_mm, step)
        warnings.append(
            f"resampled uneven slice gaps ({gaps.min():.3f}-{gaps.max():.3f} mm) onto a regular "
            f"{step:.3f} mm grid (linear interpolation): {nz} -> {array.shape[0]} slices"
        )
    sources = tuple(dict.fromkeys(str(f.path) for f in geom.frames))
    return Volume(
        array=array,
        spacing_mm=(step, *geom.pixel_spacing_mm),
        origin_lps_mm=origin,
        direction=geom.direction,
        modality=info.modality if info.modality in ("CT", "MR") else (info.modality or "OT"),
        series_uid_sha256=info.uid_sha256,
        description=info.description,
        source_files=sources,
        warnings=tuple(warnings),
    )


def load_series(
    path: str | Path, *, series: str | SeriesInfo | None = None, config: LoadConfig | None = None
) -> Volume:
    """Load one series as a validated :class:`Volume` (array z, y, x; LPS mm geometry).

    Parameters
    ----------
    path : str or Path
        A DICOM folder (searched recursively) or file, or a NIfTI (.nii, .nii.gz), NRRD
        or MetaImage (.mha/.mhd) file.
    series : str or SeriesInfo, optional
        SeriesInstanceUID, its SHA-256, or a unique prefix of the hash (``"<hash>:k"``
        for the k-th volume of a split multi-volume series). Needed when ``path`` holds
        several series. A :class:`SeriesInfo` from :func:`find_series` on ``path`` (with
        the same config) is loaded without reading the headers again.
    config : LoadConfig, optional
        Tolerances, memory cap and opt-in repairs (resampling, splitting).

    Returns
    -------
    Volume
        CT in HU (rescale applied per slice), MR in scanner units; int16 when the values
        fit, float32 when the rescale is fractional or the stack was resampled.

    Raises
    ------
    SeriesSelectionError, SliceSpacingError, GantryTiltError, GeometryError,
    MultiVolumeError, MemoryLimitError, DecodeError, InputError
    """
    cfg = config or LoadConfig()
    p = Path(path)
    if not p.exists():
        raise InputError(f"Path {p} does not exist.")
    if isinstance(series, SeriesInfo):
        return _load_image(series.path, cfg) if series.kind == "image" else _load_dicom(series, cfg)  # type: ignore[arg-type]
    if p.is_file() and is_image_file(p):
        return _load_image(p, cfg)
    found = find_series(p, config=cfg)
    info = select_series(found, series, where=p)
    if info.kind == "image":
        return _load_image(info.path, cfg)  # type: ignore[arg-type]
    return _load_dicom(info, cfg)
