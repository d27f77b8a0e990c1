"""What the endpoints cost: the ledger's report, the advice on scale-to-zero timeouts, and
applying one (docs/costs.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from hfgate.api.bodies import OBJECT_BODY, json_body
from hfgate.api.deps import admin, caller, services
from hfgate.costs.service import as_csv
from hfgate.errors import InvalidRequest
from hfgate.values.principal import Principal

router = APIRouter(tags=["costs"])


def wants_csv(request: Request, format: str | None) -> bool:
    return format == "csv" or "text/csv" in request.headers.get("accept", "")


@router.get("/api/costs")
async def costs(
    request: Request,
    days: int = Query(7, ge=1, le=366),
    group: str = Query("day", pattern="^(day|hour)$"),
    view: str = Query("endpoints", pattern="^(endpoints|attribution)$"),
    format: str | None = Query(None, pattern="^(csv|json)$"),
    actor: Principal = Depends(caller),
) -> Any:
    """Per endpoint and period: serving, idle and starting dollars and seconds; and the
    serving dollars attributed to people and keys. Members see only their own lines.
    ``Accept: text/csv`` (or ``format=csv``) answers the ``view`` as CSV."""
    report = await services(request).costs.report(actor, days, group)
    if wants_csv(request, format):
        return Response(as_csv(report, view), media_type="text/csv; charset=utf-8")
    return report


@router.get("/api/costs/advice")
async def advice(
    request: Request, days: int = Query(7), actor: Principal = Depends(admin)
) -> dict[str, Any]:
    """The scale-to-zero timeout that would have cost least over the last 7 or 30 days."""
    return await services(request).costs.advice(days)


@router.post("/api/costs/advice/{model:path}/apply", openapi_extra=OBJECT_BODY)
async def apply_advice(
    request: Request, model: str, actor: Principal = Depends(admin)
) -> dict[str, Any]:
    """Set the endpoint's scale-to-zero timeout on Hugging Face (audited)."""
    body = await json_body(request)
    if not isinstance(body, dict) or set(body) != {"timeout_minutes"}:
        raise InvalidRequest('send {"timeout_minutes": N}', param="timeout_minutes")
    source = services(request).cost_source
    return await source.apply_timeout(model, body["timeout_minutes"], actor)
