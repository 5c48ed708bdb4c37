"""vascseg: vein segmentation, filling defects and pelvic-to-caval routes on CT/MR venography."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vascseg")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from .config import Config, load_config
from .errors import VascsegError
from .geometry import Volume

__all__ = ["Config", "Volume", "VascsegError", "__version__", "load_config"]
