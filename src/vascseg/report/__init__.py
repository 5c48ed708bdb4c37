"""Report writers: ``report.json`` (validated against the shipped schema), route CSVs, HTML."""

from .html import render_html, write_html
from .report_json import (
    SCHEMA_VERSION,
    ReportSchemaError,
    build_report,
    load_report_schema,
    validate_report,
    write_report_json,
)
from .route_csv import CSV_COLUMNS, write_route_csvs

__all__ = ["CSV_COLUMNS", "SCHEMA_VERSION", "ReportSchemaError", "build_report", "load_report_schema",
           "render_html", "validate_report", "write_html", "write_report_json", "write_route_csvs"]
