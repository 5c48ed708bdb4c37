"""Lesions, continuity and stenosis along the traced routes."""

from .measure import measure_routes
from .result import (
    Continuity,
    CranialExtent,
    Lesion,
    LesionSummary,
    MeasureResult,
    RouteMeasure,
    Stenosis,
)

__all__ = ["Continuity", "CranialExtent", "Lesion", "LesionSummary", "MeasureResult",
           "RouteMeasure", "Stenosis", "measure_routes"]
