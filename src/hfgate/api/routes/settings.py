"""``GET /api/settings``: the facts of the running server an admin may need, read-only.

They come from the environment and the command line (``hfgate serve``, ``HFGATE_*``), which
the workspace cannot change for a running process; showing them spares the terminal. Nothing
secret: the number of encryption keys, never a key; the database's kind, never its URL (which
may hold a password).
"""

from __future__ import annotations

import os
import platform
from typing import Any

from fastapi import APIRouter, Depends, Request

from hfgate import __version__
from hfgate.api.deps import admin, services
from hfgate.values.principal import Principal

router = APIRouter(tags=["settings"])


def _database_kind(url: str) -> str:
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    return {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(scheme, scheme)


def _redis(request: Request) -> dict[str, Any]:
    svc = services(request)
    if not svc.settings.redis_url:
        return {"state": "off", "detail": "not configured: each process keeps its own limits"}
    detail = svc.redis_health.detail() if svc.redis_health is not None else None
    return {"state": "degraded" if detail else "ok", "detail": detail or "connected"}


def _keys(count: int) -> str:
    if count == 0:
        return "secret.key in the data folder"
    return f"HFGATE_SECRET_KEY ({count} key{'s' if count > 1 else ''}; the first encrypts)"


@router.get("/api/settings")
async def server_settings(request: Request, _actor: Principal = Depends(admin)) -> dict[str, Any]:
    settings = services(request).settings
    return {
        "version": __version__,
        "python": platform.python_version(),
        "database": _database_kind(settings.database_url),
        "redis": _redis(request),
        # ``hfgate serve --workers N`` shares metrics through this folder when N > 1.
        "processes": "several" if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else "one",
        "data_folder": str(settings.home),
        "encryption_keys": _keys(len(settings.secret_keys)),
        "cold_start_timeout_s": settings.cold_start_timeout,
        "max_body_bytes": settings.max_body_bytes,
        "allow_hosts": list(settings.allow_hosts),
        "hub_url": settings.hub_url,
    }
