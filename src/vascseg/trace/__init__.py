"""Centrelines, the segment graph, pelvic-to-caval routes and cross-sections."""

from .result import PROFILE_FIELDS, Profile, RouteTrace, SegmentTrace, TraceResult
from .routes import trace_routes

__all__ = ["PROFILE_FIELDS", "Profile", "RouteTrace", "SegmentTrace", "TraceResult", "trace_routes"]
