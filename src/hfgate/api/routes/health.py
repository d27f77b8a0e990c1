"""Liveness, readiness (draining on shutdown) and Prometheus metrics."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from hfgate import __version__, metrics, shutdown

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, Any]:
    """The process is alive."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """Ready for traffic; 503 ``draining`` once shutdown has begun (take it out of the pool).

    Still ready while Redis is lost (each process serves on with its own state), with the
    reason in ``degraded``."""
    if shutdown.draining():
        return Response(b'{"status": "draining"}', 503, media_type="application/json")
    health = getattr(getattr(request.app.state, "services", None), "redis_health", None)
    detail = health.detail() if health is not None else None
    if detail is None:
        return Response(b'{"status": "ready"}', media_type="application/json")
    body = orjson.dumps({"status": "ready", "degraded": [detail]})
    return Response(body, media_type="application/json")


@router.get("/metrics")
async def prometheus() -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
