"""Find the image series under a path from headers only (no pixel data is read).

DICOM files are grouped by SeriesInstanceUID, then each group is split into the stacks
it really holds (orientation, matrix size, echo, image type, repeated positions = time
points). Localizers are dropped with a note. File names and order carry no meaning.
Nothing here ever shows a patient name, ID, birth date or accession number; series are
named by the SHA-256 of their UID.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._util import hash_uid
from ..config import LoadConfig
from ..errors import GeometryError, InputError
from ..geometry import orientation_code
from ._headers import FrameHeader, NotDicomError, frame_headers
from ._images import image_info, is_image_file
from ._stack import POSITION_ATOL_MM, analyse_stack

ORIENTATION_GROUP_ATOL = 0.05
"""Images whose direction cosines differ by more than this belong to different stacks."""

LOCALIZER_MAX_SLICES = 12
"""A series of orthogonal stacks is taken for a localizer when no stack has more slices."""

MAX_NOTES_PER_KIND = 10
"""Skipped files listed one by one in the notes before the rest are counted."""


@dataclass(frozen=True)
class SeriesInfo:
    """One loadable series (a 3-D volume, or several when ``n_volumes > 1``).

    ``id`` is what ``load_series(series=...)`` accepts (besides the UID itself): the UID's
    SHA-256, with ``":k"`` appended for the k-th volume of a split multi-volume series.
    """

    id: str
    uid_sha256: str
    kind: str  # "dicom" or "image"
    modality: str
    description: str
    n_files: int
    n_frames: int
    shape_zyx: tuple[int, int, int] | None
    spacing_mm: tuple[float, float, float] | None
    orientation: str
    problems: tuple[str, ...]
    n_volumes: int = 1
    series_number: str = ""
    path: Path | None = None
    notes: tuple[str, ...] = ()
    uid: str = field(default="", repr=False)
    volumes: tuple[tuple[FrameHeader, ...], ...] = field(default=(), repr=False)

    @property
    def short_id(self) -> str:
        """First 12 hex digits of the hashed UID (plus the volume suffix, if any)."""
        part = self.id[len(self.uid_sha256):]
        return self.uid_sha256[:12] + part

    def matches(self, key: str) -> bool:
        """True when ``key`` is this series' UID, its SHA-256, ``id`` or a prefix of ``id``."""
        key = key.strip()
        if not key:
            return False
        if key in (self.uid, self.uid_sha256, self.id):
            return True
        head, _, part = key.lower().partition(":")
        my_part = self.id[len(self.uid_sha256) + 1:]
        return len(head) >= 4 and self.uid_sha256.startswith(head) and (not part or part == my_part)

    def summary_line(self) -> str:
        """One line for ``vascseg info``: no patient data, no raw UID."""
        shape = "x".join(str(s) for s in self.shape_zyx) if self.shape_zyx else "?"
        spacing = "x".join(f"{s:.3g}" for s in self.spacing_mm) if self.spacing_mm else "?"
        count = f"{self.n_frames} {'frames' if self.kind == 'dicom' else 'slices'}"
        if self.n_volumes > 1:
            count += f" in {self.n_volumes} volumes"
        problems = "; ".join(self.problems) if self.problems else "ok"
        desc = self.description or (self.path.name if self.path else "")
        return (
            f"{self.short_id}  {self.modality:<2}  {desc!r}  {count}  shape(z,y,x)={shape}  "
            f"spacing(z,y,x)={spacing} mm  {self.orientation or '?'}  problems: {problems}"
        )


@dataclass(frozen=True)
class Discovery:
    """The result of :func:`find_series`."""

    series: list[SeriesInfo]
    notes: list[str]
    skipped: list[Path]
    n_without_geometry: int = 0


def _ground_truth_dirs(path: Path) -> set[Path]:
    """Folders of phantom ground truth (``truth.json`` beside ``truth_veins.nii.gz``): label
    maps describing the image, not series of their own."""
    return {p.parent for p in path.rglob("truth.json") if (p.parent / "truth_veins.nii.gz").is_file()}


def _list_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    truth = _ground_truth_dirs(path)
    return sorted(p for p in path.rglob("*") if p.is_file() and not any(d in p.parents for d in truth))


def _iop_cluster(frames: Sequence[FrameHeader]) -> list[list[FrameHeader]]:
    clusters: list[tuple[np.ndarray, list[FrameHeader]]] = []
    for f in frames:
        v = np.asarray(f.iop)
        for ref, members in clusters:
            if np.max(np.abs(ref - v)) <= ORIENTATION_GROUP_ATOL:
                members.append(f)
                break
        else:
            clusters.append((v, [f]))
    return [m for _, m in clusters]


def _normal(f: FrameHeader) -> np.ndarray:
    v = np.asarray(f.iop)
    return np.cross(v[:3], v[3:])


def _is_localizer(stacks: list[list[FrameHeader]]) -> bool:
    if len(stacks) < 2 or max(len(s) for s in stacks) > LOCALIZER_MAX_SLICES:
        return False
    normals = [_normal(s[0]) for s in stacks]
    return all(
        abs(float(np.dot(a, b))) < 0.2 for i, a in enumerate(normals) for b in normals[i + 1:]
    )


def _split_time_points(frames: list[FrameHeader]) -> list[list[FrameHeader]]:
    """Split a stack whose positions all repeat k times into k volumes (4-D)."""
    unique: dict[str, FrameHeader] = {}
    copies: list[FrameHeader] = []
    for f in frames:
        if f.sop_uid and f.sop_uid in unique:
            copies.append(f)  # the same image twice: left for the duplicate check
        else:
            unique[f.sop_uid or f"{f.path}#{f.frame}"] = f
    uniq = list(unique.values())
    keyed = defaultdict(list)
    for f in uniq:
        keyed[tuple(np.round(np.asarray(f.ipp_lps_mm) / (POSITION_ATOL_MM * 10)).astype(int))].append(f)
    counts = {len(v) for v in keyed.values()}
    if len(counts) != 1 or counts == {1}:
        return [frames]  # no repeats, or partial repeats (duplicates: checked at load)
    order = sorted(
        uniq,
        key=lambda f: (
            f.temporal_position if f.temporal_position is not None else -1,
            f.trigger_time_ms if f.trigger_time_ms is not None else -1.0,
            f.acquisition_number if f.acquisition_number is not None else -1,
            int(f.series_number) if f.series_number.lstrip("-").isdigit() else 0,
            f.instance_number,
            f.frame if f.frame is not None else -1,
            str(f.path),
        ),
    )
    seen: dict[tuple, int] = defaultdict(int)
    volumes: dict[int, list[FrameHeader]] = defaultdict(list)
    for f in order:
        k = tuple(np.round(np.asarray(f.ipp_lps_mm) / (POSITION_ATOL_MM * 10)).astype(int))
        volumes[seen[k]].append(f)
        seen[k] += 1
    out = [volumes[i] for i in sorted(volumes)]
    by_sop = {f.sop_uid: i for i, vol in enumerate(out) for f in vol}
    for c in copies:
        out[by_sop.get(c.sop_uid, 0)].append(c)
    return out


def _stacks_of_group(frames: list[FrameHeader]) -> tuple[list[list[FrameHeader]], str | None]:
    """Split one UID group into volumes; return (volumes, localizer reason or None)."""
    by_key: dict[tuple, list[FrameHeader]] = defaultdict(list)
    for f in frames:
        key = (f.rows, f.cols, f.echo_number, f.echo_time_ms, f.image_type[:3], f.mosaic, f.stack_id)
        by_key[key].append(f)
    stacks: list[list[FrameHeader]] = []
    for members in by_key.values():
        stacks.extend(_iop_cluster(members))
    if _is_localizer(_iop_cluster(frames)):
        return [], "orthogonal stacks of few slices"
    volumes: list[list[FrameHeader]] = []
    for s in stacks:
        volumes.extend(_split_time_points(s))
    return volumes, None


def _describe(frames: Sequence[FrameHeader], cfg: LoadConfig) -> tuple[tuple | None, tuple | None, str, list[str]]:
    try:
        geom = analyse_stack(frames, spacing_rtol=cfg.spacing_rtol, orientation_atol=cfg.orientation_atol)
    except GeometryError as exc:
        return None, None, "", [str(exc)]
    problems = geom.problems()
    if geom.tilt_deg <= cfg.tilt_atol_deg:
        problems = [p for p in problems if not p.startswith("gantry tilt")]
    if frames[0].mosaic and not frames[0].mosaic_grid:
        problems.append("Siemens mosaic without a tile count (not supported)")
    return geom.shape_zyx, geom.spacing_mm, orientation_code(geom.direction), problems


def _image_series(path: Path) -> SeriesInfo:
    info = image_info(path)
    d_xyz = info["direction_xyz"]
    orient = orientation_code(d_xyz[:, ::-1]) if d_xyz.shape == (3, 3) else "?"
    size = info["size_xyz"]
    uid = str(path.resolve())
    digest = hash_uid(uid)
    return SeriesInfo(
        id=digest, uid_sha256=digest, kind="image", modality="OT", description=path.name,
        n_files=1, n_frames=size[2] if len(size) > 2 else 1,
        shape_zyx=tuple(size[::-1]) if len(size) == 3 else None,
        spacing_mm=tuple(info["spacing_xyz_mm"][::-1]) if len(size) == 3 else None,
        orientation=orient, problems=tuple(info["problems"]), n_volumes=info["n_volumes"],
        path=path, uid=uid,
    )


def find_series(path: str | Path, *, config: LoadConfig | None = None) -> Discovery:
    """List the image series under ``path`` (a folder tree or a single file).

    Reads headers only. Non-DICOM, truncated or unreadable files are skipped and listed
    in ``skipped`` and ``notes``; localizers are dropped with a note.

    Parameters
    ----------
    path : str or Path
        A folder (searched recursively), a DICOM file or a NIfTI/NRRD/MHA file.
    config : LoadConfig, optional
        Tolerances and ``split_multivolume``.

    Raises
    ------
    InputError
        When ``path`` does not exist.
    """
    cfg = config or LoadConfig()
    root = Path(path)
    if not root.exists():
        raise InputError(f"Path {root} does not exist.")
    notes: list[str] = []
    skipped: list[Path] = []
    series: list[SeriesInfo] = []
    groups: dict[str, list[FrameHeader]] = defaultdict(list)
    no_uid: dict[str, int] = defaultdict(int)
    no_geometry: list[Path] = []
    for f in _list_files(root):
        if is_image_file(f):
            try:
                series.append(_image_series(f))
            except InputError as exc:
                skipped.append(f)
                notes.append(f"skipped {f.name}: {exc}")
            continue
        try:
            headers = frame_headers(f)
        except NotDicomError as exc:
            skipped.append(f)
            if len(skipped) <= MAX_NOTES_PER_KIND:
                notes.append(f"skipped {f.name}: {exc}")
            continue
        if any(h.ipp_lps_mm is None or h.iop is None for h in headers):
            no_geometry.append(f)
            continue
        for h in headers:
            key = h.series_uid
            if not key:
                key = f"no-uid|{h.study_uid}|{h.series_number}|{h.modality}|{h.description}"
                no_uid[key] += 1
            groups[key].append(h)
    if len(skipped) > MAX_NOTES_PER_KIND:
        notes.append(f"... and {len(skipped) - MAX_NOTES_PER_KIND} more files skipped (see Discovery.skipped)")
    if no_geometry:
        skipped.extend(no_geometry)
        notes.append(
            f"skipped {len(no_geometry)} image file(s) without patient position/orientation "
            f"(projection, secondary capture or stripped headers), e.g. {no_geometry[0].name}"
        )
    for key, frames in groups.items():
        digest = hash_uid(key)
        f0 = frames[0]
        label = f"{digest[:12]} {f0.description!r}"
        if key in no_uid:
            notes.append(
                f"{no_uid[key]} image(s) have an empty SeriesInstanceUID: grouped by study, series "
                f"number, modality and description instead (series {digest[:12]})"
            )
        kept = [h for h in frames if "LOCALIZER" not in h.image_type]
        if len(kept) < len(frames):
            notes.append(f"dropped localizer images of series {label} ({len(frames) - len(kept)} images)")
        if not kept:
            continue
        volumes, why = _stacks_of_group(kept)
        if why:
            notes.append(f"dropped localizer series {label} ({len(kept)} images: {why})")
            continue
        n_files = len({h.path for h in kept})
        common = dict(uid_sha256=digest, kind="dicom", modality=f0.modality, description=f0.description,
                      series_number=f0.series_number, uid=key)
        if len(volumes) > 1 and cfg.split_multivolume:
            for i, vol in enumerate(volumes, start=1):
                shape, spacing, orient, problems = _describe(vol, cfg)
                series.append(SeriesInfo(
                    id=f"{digest}:{i}", n_files=len({h.path for h in vol}), n_frames=len(vol),
                    shape_zyx=shape, spacing_mm=spacing, orientation=orient,
                    problems=(f"volume {i} of {len(volumes)}", *problems), volumes=(tuple(vol),), **common,
                ))
            continue
        shape, spacing, orient, problems = _describe(volumes[0], cfg)
        if len(volumes) > 1:
            problems.insert(0, f"multi-volume ({len(volumes)} volumes: time points, echoes or stacks)")
        series.append(SeriesInfo(
            id=digest, n_files=n_files, n_frames=len(kept), shape_zyx=shape, spacing_mm=spacing,
            orientation=orient, problems=tuple(problems), n_volumes=len(volumes),
            volumes=tuple(tuple(v) for v in volumes), **common,
        ))

    def _order(s: SeriesInfo) -> tuple:
        num = int(s.series_number) if s.series_number.lstrip("-").isdigit() else 0
        part = s.id[len(s.uid_sha256) + 1:]
        return (s.kind, num, s.description, s.uid_sha256, int(part) if part.isdigit() else 0)

    series.sort(key=_order)
    return Discovery(series=series, notes=notes, skipped=skipped, n_without_geometry=len(no_geometry))
