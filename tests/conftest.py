"""Shared fixtures.

Real public data is found through one setting, ``VASCSEG_TEST_DATA`` (default
``../shared/data`` relative to the repository root). Tests that need it skip when it is
absent on a user's machine, but under ``CI=true`` its absence is a failure.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    return Path(os.environ.get("VASCSEG_TEST_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the read-only public test data; skip (fail under CI=true) when absent."""
    root = _data_root()
    if not (root / "README.md").is_file():
        _absent(f"public test data not found at {root} (set VASCSEG_TEST_DATA)")
    return root


def _absent(msg: str) -> NoReturn:
    """Skip on a user's machine; fail under CI=true, where absence is a broken setup."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg + " - under CI=true a missing requirement is a failure, not a skip")
    pytest.skip(msg)


def require(path: Path) -> Path:
    """Return ``path`` if it exists; else skip, or fail under CI=true."""
    if not path.exists():
        _absent(f"test data {path} is missing")
    return path


def require_module(name: str, *, package: str | None = None) -> ModuleType:
    """Import and return module ``name``; else skip, or fail under CI=true.

    Use instead of ``pytest.importorskip``, which skips silently in CI too. ``package``
    names what to install when it differs from the module (``pydicom-data``).
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        _absent(f"module {name!r} is not importable ({exc}); install {package or name}")


def require_tool(name: str) -> str:
    """Path of executable ``name`` (next to the interpreter first, then PATH); else skip/fail."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.is_file() and os.access(beside, os.X_OK) else shutil.which(name)
    if not found:
        _absent(f"command-line tool {name!r} is not installed (pip install {name})")
    return found


def require_testdata_file(name: str) -> Path:
    """A file of the pydicom / pydicom-data test sets by name; else skip, or fail under CI=true."""
    from pydicom.data import get_testdata_file

    try:
        path = get_testdata_file(name)
    except Exception as exc:  # noqa: BLE001 - pydicom-data download/lookup failures
        _absent(f"pydicom test file {name} unavailable ({type(exc).__name__}); install pydicom-data")
    if path is None:
        _absent(f"pydicom test file {name} unavailable; install pydicom-data")
    return Path(path)


@pytest.fixture(autouse=True, scope="session")
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """napari and Qt write to ~/.config and ~/.cache: keep tests off the user's home."""
    base = tmp_path_factory.mktemp("xdg")
    os.environ.setdefault("XDG_CONFIG_HOME", str(base / "config"))
    os.environ.setdefault("XDG_CACHE_HOME", str(base / "cache"))
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def pydicom_strict():
    """Read and write DICOM in strict mode (invalid values raise) for files vascseg writes.

    Not autouse: the loader must tolerate imperfect real data (empty UIDs and the like).
    """
    from pydicom import config

    old = (config.settings.reading_validation_mode, config.settings.writing_validation_mode)
    config.settings.reading_validation_mode = config.RAISE
    config.settings.writing_validation_mode = config.RAISE
    yield
    config.settings.reading_validation_mode, config.settings.writing_validation_mode = old
