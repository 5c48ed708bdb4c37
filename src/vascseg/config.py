"""Typed, validated configuration.

Defaults live in the models below; ``configs/default.yaml`` at the repository root is the
same set written out (a test keeps them identical). A user file overrides any subset::

    measure:
      gap_tolerance_mm: 15

Unknown keys are errors (a typo never silently does nothing).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .anatomy import DEFAULT_ROUTES, RouteDef
from .errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoadConfig(_Section):
    """DICOM loading: tolerances and opt-in repairs."""

    max_memory_gb: float = Field(8.0, gt=0, description="Refuse volumes larger than this (GiB) before allocating.")
    spacing_rtol: float = Field(0.05, gt=0, description="Allowed relative deviation of slice gaps from their median.")
    orientation_atol: float = Field(1e-3, gt=0, description="Allowed difference of direction cosines between slices.")
    tilt_atol_deg: float = Field(0.05, gt=0, description="Largest angle (deg) between stacking direction and slice normal before a series counts as gantry-tilted.")
    resample_uneven: bool = Field(False, description="Resample unevenly spaced slices onto a regular grid (warned).")
    resample_tilt: bool = Field(False, description="Resample gantry-tilted series onto an untilted grid (warned).")
    split_multivolume: bool = Field(False, description="Split 4-D/multi-echo series instead of refusing them.")


class SegmentConfig(_Section):
    """Vein lumen, names and filling defects."""

    ct_lumen_min_hu: float = Field(120.0, description="Lowest HU of enhanced venous lumen (CT).")
    ct_lumen_max_hu: float = Field(500.0, description="Highest HU of enhanced lumen (above: bone/calcium).")
    ct_defect_min_hu: float = Field(-10.0, description="Lowest HU of a filling defect (below: fat).")
    mr_defect_min_hu: float = Field(-50.0, description="MR, pseudo-HU (body median -> 40, vessels -> 180): lowest value of a filling defect (below: muscle).")
    mr_defect_max_hu: float = Field(20.0, description="MR, pseudo-HU: highest value of a filling defect (above: fat on T1 without fat suppression).")
    smoothing_sigma_mm: float = Field(0.7, ge=0, description="Gaussian smoothing before thresholds (mm).")
    vessel_radius_max_mm: float = Field(16.0, gt=0, description="Largest vein radius expected (IVC with tumour).")
    min_defect_volume_ml: float = Field(0.05, ge=0, description="Smaller defect components are dropped (noise).")
    max_occlusion_bridge_mm: float = Field(120.0, gt=0, description="Longest completely occluded stretch bridged between lumen stumps.")


class TraceConfig(_Section):
    """Centrelines and cross-sections."""

    step_mm: float = Field(1.0, gt=0, description="Arc-length step of route sampling and cross-sections.")
    section_radius_mm: float = Field(25.0, gt=0, description="Half-width of each cross-section plane.")
    section_pixel_mm: float = Field(0.5, gt=0, description="Pixel size of the cross-section planes.")
    smoothing_mm: float = Field(3.0, ge=0, description="Gaussian smoothing of centrelines along arc length.")


class MeasureConfig(_Section):
    """Lesions, continuity and stenosis."""

    gap_tolerance_mm: float = Field(10.0, ge=0, description="Defect runs closer than this along a route are one lesion.")
    min_lesion_length_mm: float = Field(3.0, ge=0, description="Shorter defect runs are ignored.")
    min_occlusion_pct: float = Field(5.0, ge=0, le=100, description="A section counts as defect above this occlusion.")
    stenosis_threshold_pct: float = Field(61.0, gt=0, lt=100, description="Diameter stenosis flagged above this (IVUS).")
    confluence_margin_mm: float = Field(8.0, ge=0, description="Sections this close to a confluence are not used for stenosis.")
    min_segment_overlap_mm: float = Field(5.0, ge=0, description="A lesion involves a segment when it covers at least this much of it (shorter: the confluence).")


class RouteConfig(_Section):
    name: str
    segments: tuple[str, ...]
    reference_segment: str | None = None
    stenosis_segments: tuple[str, ...] = ()

    def to_def(self) -> RouteDef:
        return RouteDef(self.name, self.segments, self.reference_segment, self.stenosis_segments)


def _default_routes() -> tuple[RouteConfig, ...]:
    return tuple(
        RouteConfig(name=r.name, segments=r.segments, reference_segment=r.reference_segment,
                    stenosis_segments=r.stenosis_segments)
        for r in DEFAULT_ROUTES
    )


class Config(_Section):
    """The whole configuration of a run."""

    load: LoadConfig = LoadConfig()
    segment: SegmentConfig = SegmentConfig()
    trace: TraceConfig = TraceConfig()
    measure: MeasureConfig = MeasureConfig()
    routes: tuple[RouteConfig, ...] = Field(default_factory=_default_routes)
    progress: Literal["auto", "on", "off"] = "auto"

    @field_validator("routes")
    @classmethod
    def _routes_valid(cls, routes: tuple[RouteConfig, ...]) -> tuple[RouteConfig, ...]:
        names = [r.name for r in routes]
        if len(set(names)) != len(names):
            raise ValueError(f"route names must be unique; got {names}")
        for r in routes:
            r.to_def()  # raises ValueError naming the route
        return routes

    @property
    def route_defs(self) -> tuple[RouteDef, ...]:
        return tuple(r.to_def() for r in self.routes)

    def sha256(self) -> str:
        """Digest of the effective configuration (recorded in report provenance)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def load_config(path: str | Path | None = None, *, routes_path: str | Path | None = None) -> Config:
    """Read a YAML config (any subset of fields) over the defaults.

    ``routes_path`` names a YAML file ``{"routes": [...]}`` that replaces the route list.
    Raises :class:`ConfigError` naming the file and the field on any problem.
    """
    data: dict[str, Any] = {}
    for p, key in ((path, None), (routes_path, "routes")):
        if p is None:
            continue
        p = Path(p)
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"Config file {p} does not exist.") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"Config file {p} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"Config file {p} must hold a mapping at the top level.")
        if key == "routes" and "routes" not in loaded:
            raise ConfigError(f"Routes file {p} must hold a top-level 'routes' list.")
        data = _deep_merge(data, loaded)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        where = ", ".join(str(x) for x in (path, routes_path) if x) or "defaults"
        raise ConfigError(f"Invalid configuration in {where}:\n{exc}") from None


def default_config_yaml() -> str:
    """The defaults, less the routes, as YAML: the content of ``configs/default.yaml``."""
    data = Config().model_dump(mode="json")
    data.pop("routes")
    return (
        "# vascseg default configuration (generated from vascseg.config; a test keeps it in sync).\n"
        "# Copy any subset into your own file and pass it with --config. Routes: configs/routes.yaml.\n"
        + yaml.safe_dump(data, sort_keys=False)
    )


def default_routes_yaml() -> str:
    """The default routes as YAML: the content of ``configs/routes.yaml``."""
    routes = Config().model_dump(mode="json")["routes"]
    return (
        "# Pelvic-to-caval routes, pelvic end first (generated from vascseg.anatomy).\n"
        "# Pass a edited copy with --config (top-level 'routes' key) to change them.\n"
        + yaml.safe_dump({"routes": routes}, sort_keys=False)
    )
