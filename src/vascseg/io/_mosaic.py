"""Siemens mosaic images: one stored 2-D image that holds a grid of slices (tiles).

A mosaic file stores ``N`` slices of ``rows x cols`` side by side in a square grid of
``ceil(sqrt(N))`` tiles per side. Its ImagePositionPatient is the corner of the whole
mosaic, not of a tile; the true position of tile 0 is shifted by half the size
difference, and tile ``k`` lies ``k`` slice steps further along the slice normal
stored in the Siemens CSA image header (``SliceNormalVector``; its sign gives the
order of the tiles, which may be opposite to ``row x col``).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

_CSA_IMAGE_HEADER = (0x0029, 0x1010)
_N_IMAGES_IN_MOSAIC = (0x0019, 0x100A)


@dataclass(frozen=True)
class MosaicLayout:
    """How the tiles of one mosaic image are laid out and where they are in space.

    ``positions_lps_mm[k]`` is the centre of the first voxel of tile ``k``.
    """

    n_tiles: int
    grid: int  # tiles per row and per column of the mosaic
    tile_rows: int
    tile_cols: int
    positions_lps_mm: np.ndarray  # (n_tiles, 3)


def read_csa_tags(raw: bytes) -> dict[str, list[str]]:
    """Tag name -> list of string values from a Siemens CSA2 (``SV10``) header.

    Returns an empty dict for CSA1 or malformed headers: callers fall back to defaults.
    """
    if len(raw) < 16 or raw[:4] != b"SV10":
        return {}
    try:
        n_tags = struct.unpack_from("<I", raw, 8)[0]
        pos = 16
        tags: dict[str, list[str]] = {}
        for _ in range(min(n_tags, 1024)):
            name_b, _vm, _vr, _dt, n_items, _x = struct.unpack_from("<64si4siii", raw, pos)
            pos += 84
            values = []
            for _ in range(min(n_items, 4096)):
                item_len = struct.unpack_from("<4i", raw, pos)[1]
                pos += 16
                if item_len < 0 or pos + item_len > len(raw):
                    return tags
                value = raw[pos:pos + item_len].split(b"\0", 1)[0].decode("latin-1").strip()
                if value:
                    values.append(value)
                pos += item_len + (-item_len % 4)
            tags[name_b.split(b"\0", 1)[0].decode("latin-1")] = values
        return tags
    except struct.error:
        return {}


def _floats(values: list[str] | None) -> list[float]:
    out = []
    for v in values or ():
        try:
            out.append(float(v))
        except ValueError:
            return []
    return out


def mosaic_layout(
    ds: Any,
    *,
    ipp_lps_mm: tuple[float, float, float],
    iop: tuple[float, ...],
    pixel_spacing_mm: tuple[float, float],
    slice_step_mm: float,
) -> MosaicLayout | None:
    """The tile layout of a mosaic dataset, or None when the tile count is unknown.

    Parameters
    ----------
    ds : pydicom.Dataset
        The header (pixels not needed).
    ipp_lps_mm, iop, pixel_spacing_mm :
        ImagePositionPatient (mm), ImageOrientationPatient and PixelSpacing (dy, dx mm).
    slice_step_mm : float
        Distance between consecutive tiles along the normal (SpacingBetweenSlices,
        else SliceThickness).
    """
    elem = ds.get(_CSA_IMAGE_HEADER)
    csa = read_csa_tags(bytes(elem.value)) if elem is not None and elem.value else {}
    n_tiles = 0
    counts = _floats(csa.get("NumberOfImagesInMosaic"))
    if counts:
        n_tiles = int(counts[0])
    elif _N_IMAGES_IN_MOSAIC in ds:
        try:
            n_tiles = int(ds[_N_IMAGES_IN_MOSAIC].value)
        except (TypeError, ValueError):
            n_tiles = 0
    if n_tiles < 1:
        return None
    grid = math.ceil(math.sqrt(n_tiles))
    rows, cols = int(ds.Rows), int(ds.Columns)
    if rows % grid or cols % grid:
        return None
    tile_rows, tile_cols = rows // grid, cols // grid
    row_cos = np.asarray(iop[:3], dtype=np.float64)
    col_cos = np.asarray(iop[3:], dtype=np.float64)
    normal = np.cross(row_cos, col_cos)
    csa_normal = _floats(csa.get("SliceNormalVector"))
    if len(csa_normal) == 3 and float(np.dot(csa_normal, normal)) < 0:
        normal = -normal  # tiles are stored against row x col
    dy, dx = pixel_spacing_mm
    first = (
        np.asarray(ipp_lps_mm, dtype=np.float64)
        + col_cos * dy * (rows - tile_rows) / 2.0
        + row_cos * dx * (cols - tile_cols) / 2.0
    )
    positions = first + np.outer(np.arange(n_tiles) * slice_step_mm, normal)
    return MosaicLayout(n_tiles, grid, tile_rows, tile_cols, positions)


def untile(mosaic: np.ndarray, n_tiles: int, grid: int) -> np.ndarray:
    """Cut a (rows, cols) mosaic into its (n_tiles, rows // grid, cols // grid) slices."""
    rows, cols = mosaic.shape[-2:]
    tr, tc = rows // grid, cols // grid
    tiles = mosaic.reshape(grid, tr, grid, tc).swapaxes(1, 2).reshape(grid * grid, tr, tc)
    return tiles[:n_tiles]
