"""vascseg: vein segmentation, filling defects and pelvic-to-caval routes on CT/MR venography."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vascseg")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from .config import Config, load_config
from .errors import VascsegError
from .geometry import Volume

_LAZY = {"run": "pipeline", "Result": "pipeline", "write_outputs": "pipeline", "load_series": "io"}
"""Top-level API imported on first use, so ``import vascseg`` stays light (no scipy/skimage)."""


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'vascseg' has no attribute {name!r}")


__all__ = ["Config", "Result", "Volume", "VascsegError", "__version__", "load_config", "load_series",
           "run", "write_outputs"]
