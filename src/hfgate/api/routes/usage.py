"""``GET /api/usage``: tokens, requests, errors, latency and cold starts over time
(docs/usage.md). Members see their own usage, admins everyone's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from hfgate.api.deps import caller, services
from hfgate.reports import usage_csv, usage_query, usage_view
from hfgate.values.principal import Principal

router = APIRouter(tags=["usage"])


@router.get("/api/usage")
async def usage(
    request: Request,
    days: str | None = Query(None, description="1 to 366; default 7"),
    bucket: str | None = Query(None, description="hour or day; default hour up to 2 days"),
    by: str | None = Query(None, description="model, user or key; default model"),
    user: str | None = Query(None, description="admins: one person's id or email"),
    view: str | None = Query(None, description="CSV: series, models, errors or cold_starts"),
    format: str | None = Query(None, description="csv: the same as Accept: text/csv"),
    principal: Principal = Depends(caller),
) -> Any:
    """Per time bucket and group (model, person or key): requests, tokens, errors and the
    p50/p95 of time to first token and latency; per model over the range; the cold starts
    per endpoint; and the totals by model and by key. ``Accept: text/csv`` (or
    ``format=csv``) answers the ``view`` as CSV."""
    query = usage_query(days, bucket, by, user)
    chosen = usage_view(view)
    report = await services(request).reports.report(principal, query)
    if format == "csv" or "text/csv" in request.headers.get("accept", ""):
        return Response(usage_csv(report, chosen), media_type="text/csv; charset=utf-8")
    return report
