"""Shared fixtures.

Real public data is found through one setting, ``VASCSEG_TEST_DATA`` (default
``../shared/data`` relative to the repository root). Tests that need it skip when it is
absent on a user's machine, but under ``CI=true`` its absence is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    return Path(os.environ.get("VASCSEG_TEST_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the read-only public test data; skip (fail under CI=true) when absent."""
    root = _data_root()
    if not (root / "README.md").is_file():
        msg = f"public test data not found at {root} (set VASCSEG_TEST_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " - under CI=true missing data is a failure, not a skip")
        pytest.skip(msg)
    return root


def require(path: Path) -> Path:
    """Return ``path`` if it exists; else skip, or fail under CI=true."""
    if not path.exists():
        msg = f"test data {path} is missing"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


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
