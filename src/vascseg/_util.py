"""Small shared helpers: atomic file writing, UID hashing, progress bars."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path


def hash_uid(uid: str | None) -> str:
    """SHA-256 hex digest of a DICOM UID (what vascseg shows and saves instead of the UID)."""
    return hashlib.sha256((uid or "").strip().encode()).hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    Readers never see a half-written file, and a failure leaves no partial output. The
    temporary name keeps the target's suffixes (``.nii.gz``) so writers that look at the
    extension work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def progress(iterable, *, desc: str, total: int | None = None, enabled: str = "auto"):
    """Wrap ``iterable`` in a tqdm bar on stderr when interactive (``enabled``: auto/on/off)."""
    show = enabled == "on" or (enabled == "auto" and sys.stderr.isatty())
    if not show:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, file=sys.stderr)
