"""The usage report as CSV: one table per view, a header row first."""

from __future__ import annotations

import csv
import io
from typing import Any

from hfgate.errors import InvalidRequest
from hfgate.textcheck import spreadsheet_safe

PERCENTILES = ["ttft_p50_ms", "ttft_p95_ms", "latency_p50_ms", "latency_p95_ms"]
COUNTS = ["requests", "prompt_tokens", "completion_tokens", "errors"]
VIEWS: dict[str, tuple[str, list[str]]] = {
    # view: (the report's list it is made of, its columns)
    "series": ("series", ["start", "group", *COUNTS, *PERCENTILES]),
    "models": ("latency_by_model", ["model", "requests", *PERCENTILES]),
    "errors": ("error_rate", ["start", "requests", "errors", "rate"]),
    "cold_starts": (
        "cold_starts",
        [
            "model",
            "count",
            "ready",
            "timeout",
            "failed",
            "mean_seconds",
            "p95_seconds",
            "max_seconds",
        ],
    ),
}


def usage_view(view: str | None) -> str:
    chosen = view or "series"
    if chosen not in VIEWS:
        raise InvalidRequest(f"view must be one of {', '.join(VIEWS)}", param="view")
    return chosen


def usage_csv(report: dict[str, Any], view: str) -> str:
    """The ``view`` of a report; an empty figure is an empty cell. With ``by=user`` the
    ``group`` column is a person's email, with ``by=key`` a key's name."""
    source, columns = VIEWS[usage_view(view)]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(_safe(row) for row in report[source])
    return out.getvalue()


def _safe(row: dict[str, Any]) -> dict[str, Any]:
    return {field: spreadsheet_safe(value) for field, value in row.items()}
