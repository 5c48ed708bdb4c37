"""Pixel decoding straight into a preallocated (z, y, x) array, rescaled per slice.

Uncompressed single-frame files take a fast path: the pixel bytes are located at the end
of the file (checked against the PixelData element header) and read with numpy, without
parsing the header a second time. Everything else goes through pydicom 3 and its
pylibjpeg/openjpeg plugins (RLE, JPEG lossless, JPEG-LS, JPEG 2000). Only one file's
pixel data is held at a time.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import UID

from ..errors import DecodeError
from ._headers import FrameHeader
from ._mosaic import untile

_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_IMPLICIT_LE = "1.2.840.10008.1.2"
_BIG_ENDIAN = "1.2.840.10008.1.2.2"


def output_dtype(frames: Sequence[FrameHeader], *, optimistic: bool = False) -> np.dtype:
    """Dtype of the rescaled values: int16, else int32, float32 if the rescale is fractional.

    Decided from headers alone (stored bit depth, slope and intercept of every slice), so
    the output can be allocated before any pixel is decoded. With ``optimistic`` an
    integer rescale gives int16 even when the stored bit depth could overflow it: the
    decoder then checks every slice and raises :class:`ValueRangeError` on overflow.
    """
    lo_all, hi_all = np.inf, -np.inf
    for f in frames:
        s, b = f.rescale_slope, f.rescale_intercept
        if not (float(s).is_integer() and float(b).is_integer()):
            return np.dtype(np.float32)
        bits = f.bits_stored
        lo, hi = ((-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if f.pixel_signed else (0, 2**bits - 1))
        vals = (lo * s + b, hi * s + b)
        lo_all, hi_all = min(lo_all, *vals), max(hi_all, *vals)
    if optimistic or (lo_all >= -(2**15) and hi_all < 2**15):
        return np.dtype(np.int16)
    if lo_all >= -(2**31) and hi_all < 2**31:
        return np.dtype(np.int32)
    return np.dtype(np.float32)


def _stored_dtype(f: FrameHeader, big_endian: bool) -> np.dtype | None:
    if f.bits_allocated not in (8, 16, 32) or f.samples_per_pixel != 1:
        return None
    kind = "i" if f.pixel_signed else "u"
    return np.dtype(f"{'>' if big_endian else '<'}{kind}{f.bits_allocated // 8}")


def _fix_bits(raw: np.ndarray, f: FrameHeader) -> np.ndarray:
    """Sign-extend or mask when fewer bits are stored than allocated."""
    unused = f.bits_allocated - f.bits_stored
    if unused <= 0:
        return raw
    raw = np.array(raw, copy=True)
    if f.pixel_signed:
        raw <<= unused
        raw >>= unused
    else:
        raw &= (1 << f.bits_stored) - 1
    return raw


def _stored_shape(f: FrameHeader) -> tuple[int, int, int]:
    """(frames, rows, cols) of the pixel data as stored (a mosaic is one big frame)."""
    g = f.mosaic_grid or 1
    return (f.n_frames_in_file, f.rows * g, f.cols * g)


def _read_tail(path: Path, f: FrameHeader) -> np.ndarray | None:
    """Read uncompressed little-endian pixel data from the end of the file, or None."""
    if f.transfer_syntax not in (_EXPLICIT_LE, _IMPLICIT_LE):
        return None
    dt = _stored_dtype(f, big_endian=False)
    if dt is None:
        return None
    shape = _stored_shape(f)
    nbytes = shape[0] * shape[1] * shape[2] * dt.itemsize
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        head = 12 if f.transfer_syntax == _EXPLICIT_LE else 8
        if size < nbytes + head:
            return None
        fh.seek(size - nbytes - head)
        elem = fh.read(head)
        tag = struct.unpack("<HH", elem[:4])
        length = struct.unpack("<I", elem[-4:])[0]
        if tag != (0x7FE0, 0x0010) or length != nbytes:
            return None  # something follows the pixel data, or it is padded: use pydicom
        buf = fh.read(nbytes)
    return np.frombuffer(buf, dtype=dt).reshape(shape)


def _decode_file(path: Path, f: FrameHeader) -> np.ndarray:
    """All frames (or mosaic tiles) of one file as (n, rows, cols) stored values."""
    raw = _decode_stored(path, f)
    if f.mosaic_grid:
        return untile(raw[0], f.mosaic_grid**2, f.mosaic_grid)  # indexed by tile number
    return raw


def _decode_stored(path: Path, f: FrameHeader) -> np.ndarray:
    """The pixel data of one file as stored: (frames, rows, cols)."""
    shape = _stored_shape(f)
    raw = _read_tail(path, f)
    if raw is not None:
        return _fix_bits(raw, f)
    try:
        ds = pydicom.dcmread(path)
        if f.transfer_syntax in (_EXPLICIT_LE, _IMPLICIT_LE, _BIG_ENDIAN) and "PixelData" in ds:
            dt = _stored_dtype(f, big_endian=f.transfer_syntax == _BIG_ENDIAN)
            if dt is not None:
                arr = np.frombuffer(ds.PixelData, dtype=dt, count=shape[0] * shape[1] * shape[2])
                return _fix_bits(arr.reshape(shape), f)
        arr = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - any decoder failure is reported the same way
        name = UID(f.transfer_syntax).name if f.transfer_syntax else "unknown transfer syntax"
        raise DecodeError(
            f"Cannot decode the pixel data of {path} ({name}, {f.transfer_syntax}): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != shape[1:]:
        raise DecodeError(
            f"{path}: decoded pixel array has shape {arr.shape}; expected frames of "
            f"{shape[1]}x{shape[2]} (colour images are not supported)."
        )
    return arr


class ValueRangeError(Exception):
    """Internal: a rescaled slice does not fit the integer output dtype."""


def _rescale_into(dst: np.ndarray, raw: np.ndarray, f: FrameHeader) -> None:
    s, b = f.rescale_slope, f.rescale_intercept
    if dst.dtype.kind == "i" and raw.size:
        lo, hi = float(raw.min()) * s + b, float(raw.max()) * s + b
        info = np.iinfo(dst.dtype)
        if min(lo, hi) < info.min or max(lo, hi) > info.max:
            raise ValueRangeError(f"{f.name}: values {min(lo, hi):g}..{max(lo, hi):g} do not fit {dst.dtype}")
    work = np.float64 if dst.dtype.kind == "f" else np.int64
    if s == 1.0:
        np.add(raw, work(b), out=dst, dtype=work, casting="unsafe")
    else:
        np.multiply(raw, work(s), out=dst, dtype=work, casting="unsafe")
        if b:
            np.add(dst, work(b), out=dst, dtype=work, casting="unsafe")


def decode_frames_into(out: np.ndarray, frames: Sequence[FrameHeader]) -> None:
    """Decode ``frames`` (in output order) into ``out[k]``, applying each slice's rescale.

    Parameters
    ----------
    out : (Z, Y, X) ndarray
        Preallocated output; ``Z == len(frames)``.
    frames : sequence of FrameHeader
        One header per output slice; frames of one multi-frame file are decoded together.

    Raises
    ------
    DecodeError
        Naming the file, when its pixel data cannot be decoded.
    """
    by_file: dict[Path, list[tuple[int, FrameHeader]]] = defaultdict(list)
    for k, f in enumerate(frames):
        by_file[f.path].append((k, f))
    for path, items in by_file.items():
        raw = _decode_file(path, items[0][1])
        for k, f in items:
            _rescale_into(out[k], raw[f.frame or 0], f)
        del raw


def decode_frame(f: FrameHeader, dtype: np.dtype) -> np.ndarray:
    """One rescaled frame as a new (rows, cols) array (duplicate checks)."""
    out = np.empty((1, f.rows, f.cols), dtype=dtype)
    decode_frames_into(out, [f])
    return out[0]
