"""The vein vocabulary, label numbers, colours and the default pelvic-to-caval routes.

Label numbers are fixed by the report contract (``report.json`` ``segments[].label``):
they never change without a schema version bump.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Vein(StrEnum):
    """Named vein segments, in label order (label = position + 1)."""

    IVC = "ivc"
    RENAL_VEIN_LEFT = "renal_vein_left"
    RENAL_VEIN_RIGHT = "renal_vein_right"
    GONADAL_VEIN_LEFT = "gonadal_vein_left"
    GONADAL_VEIN_RIGHT = "gonadal_vein_right"
    COMMON_ILIAC_VEIN_LEFT = "common_iliac_vein_left"
    COMMON_ILIAC_VEIN_RIGHT = "common_iliac_vein_right"
    EXTERNAL_ILIAC_VEIN_LEFT = "external_iliac_vein_left"
    EXTERNAL_ILIAC_VEIN_RIGHT = "external_iliac_vein_right"
    INTERNAL_ILIAC_VEIN_LEFT = "internal_iliac_vein_left"
    INTERNAL_ILIAC_VEIN_RIGHT = "internal_iliac_vein_right"
    UTERINE_VEIN_LEFT = "uterine_vein_left"
    UTERINE_VEIN_RIGHT = "uterine_vein_right"


VEIN_NAMES: tuple[str, ...] = tuple(v.value for v in Vein)
"""All segment names in label order."""

LABELS: dict[str, int] = {name: i + 1 for i, name in enumerate(VEIN_NAMES)}
"""Segment name -> label value in ``veins.nii.gz`` (0 is background)."""

NAMES_BY_LABEL: dict[int, str] = {v: k for k, v in LABELS.items()}

COLOURS: dict[str, tuple[int, int, int]] = {
    "ivc": (0, 90, 255),
    "renal_vein_left": (0, 200, 200),
    "renal_vein_right": (0, 150, 150),
    "gonadal_vein_left": (160, 80, 255),
    "gonadal_vein_right": (120, 40, 200),
    "common_iliac_vein_left": (40, 200, 60),
    "common_iliac_vein_right": (20, 140, 40),
    "external_iliac_vein_left": (180, 230, 50),
    "external_iliac_vein_right": (120, 170, 20),
    "internal_iliac_vein_left": (255, 200, 0),
    "internal_iliac_vein_right": (210, 150, 0),
    "uterine_vein_left": (255, 120, 200),
    "uterine_vein_right": (220, 60, 150),
}
"""Fixed RGB (0-255) display colour of each segment; defects are drawn in DEFECT_COLOUR."""

DEFECT_COLOUR: tuple[int, int, int] = (255, 40, 0)

# Which segment each segment drains into (towards the heart); the IVC drains to the atrium.
DRAINS_INTO: dict[str, str | None] = {
    "ivc": None,
    "renal_vein_left": "ivc",
    "renal_vein_right": "ivc",
    "gonadal_vein_left": "renal_vein_left",
    "gonadal_vein_right": "ivc",
    "common_iliac_vein_left": "ivc",
    "common_iliac_vein_right": "ivc",
    "external_iliac_vein_left": "common_iliac_vein_left",
    "external_iliac_vein_right": "common_iliac_vein_right",
    "internal_iliac_vein_left": "common_iliac_vein_left",
    "internal_iliac_vein_right": "common_iliac_vein_right",
    "uterine_vein_left": "internal_iliac_vein_left",
    "uterine_vein_right": "internal_iliac_vein_right",
}


@dataclass(frozen=True)
class RouteDef:
    """A pelvic-to-caval route: segment names, pelvic end first, IVC last."""

    name: str
    segments: tuple[str, ...]
    reference_segment: str | None = None
    """Normal segment whose median diameter is the stenosis reference (None: no stenosis)."""
    stenosis_segments: tuple[str, ...] = ()
    """Segments searched for the minimal diameter (e.g. the common iliac vein for May-Thurner)."""

    def __post_init__(self) -> None:
        unknown = [s for s in self.segments if s not in LABELS]
        if unknown:
            raise ValueError(f"route {self.name!r}: unknown segments {unknown}; known: {VEIN_NAMES}")
        if self.reference_segment is not None and self.reference_segment not in LABELS:
            raise ValueError(f"route {self.name!r}: unknown reference segment {self.reference_segment!r}")
        for s in self.stenosis_segments:
            if s not in self.segments:
                raise ValueError(f"route {self.name!r}: stenosis segment {s!r} is not on the route")
        for a, b in zip(self.segments, self.segments[1:], strict=False):
            if DRAINS_INTO.get(a) != b:
                raise ValueError(f"route {self.name!r}: {a} does not drain into {b}")


DEFAULT_ROUTES: tuple[RouteDef, ...] = (
    RouteDef("uterine-iliac-caval-left",
             ("uterine_vein_left", "internal_iliac_vein_left", "common_iliac_vein_left", "ivc"),
             "external_iliac_vein_left", ("common_iliac_vein_left",)),
    RouteDef("uterine-iliac-caval-right",
             ("uterine_vein_right", "internal_iliac_vein_right", "common_iliac_vein_right", "ivc"),
             "external_iliac_vein_right", ("common_iliac_vein_right",)),
    RouteDef("ovarian-renal-caval-left", ("gonadal_vein_left", "renal_vein_left", "ivc"), None),
    RouteDef("ovarian-caval-right", ("gonadal_vein_right", "ivc"), None),
    RouteDef("iliac-caval-left",
             ("external_iliac_vein_left", "common_iliac_vein_left", "ivc"),
             "external_iliac_vein_left", ("common_iliac_vein_left",)),
    RouteDef("iliac-caval-right",
             ("external_iliac_vein_right", "common_iliac_vein_right", "ivc"),
             "external_iliac_vein_right", ("common_iliac_vein_right",)),
)

ROUTES_BY_NAME: dict[str, RouteDef] = {r.name: r for r in DEFAULT_ROUTES}
