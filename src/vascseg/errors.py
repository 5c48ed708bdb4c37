"""Typed errors. Every error names the file or series it is about and what to do.

All vascseg errors derive from :class:`VascsegError`, so scripts can catch one type.
Messages never contain patient names, IDs, birth dates or accession numbers; series
are named by the SHA-256 of their UID (see :func:`vascseg.io.hash_uid`).
"""

from __future__ import annotations


class VascsegError(Exception):
    """Base class of every error raised on purpose by vascseg."""


class InputError(VascsegError):
    """The input cannot be used as given (missing path, unknown format, bad option)."""


class SeriesSelectionError(InputError):
    """Several series were found and none was chosen; the message lists them."""


class GeometryError(InputError):
    """The image geometry is inconsistent (orientation, shear, duplicates)."""


class SliceSpacingError(GeometryError):
    """Slices are missing or unevenly spaced; the message names the gaps."""


class GantryTiltError(GeometryError):
    """Slices are stacked along a direction that is not normal to them (gantry tilt)."""


class MultiVolumeError(InputError):
    """A series holds several volumes (time points, echoes); the message gives the count."""


class MemoryLimitError(InputError):
    """The volume would exceed the configured memory cap; nothing was allocated."""


class DecodeError(InputError):
    """Pixel data could not be decoded (unsupported or corrupt transfer syntax)."""


class ConfigError(VascsegError):
    """A configuration file is invalid; the message names the file and the field."""


class SegmentationError(VascsegError):
    """Segmentation could not proceed (no vein found, prior on another patient...)."""


class LandmarkError(InputError):
    """A landmarks file is invalid or a landmark lies outside the image."""
