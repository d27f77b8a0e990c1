"""Liveness and readiness, for load balancers and ``hfgate`` itself."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hfgate import __version__

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}
