"""``/api/hf``: connect Hugging Face accounts, see their Inference Endpoints, import and operate.

Admins only. An import answers exactly as ``POST /api/integrations`` does (201 stored, 202
pending, 422 a live check failed, with the report), since it is that same validation.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from hfgate.api.bodies import json_body
from hfgate.api.deps import admin, services
from hfgate.api.routes.integrations import (
    event_stream,
    report_response,
    wait_seconds,
    wants_events,
)
from hfgate.errors import InvalidRequest
from hfgate.integrations.report import Listener, Report
from hfgate.values.principal import Principal

# Operation ids from the function names alone: FastAPI's default (name + path) would read
# "…_api_hf_accounts_get", which looks like a Hugging Face token to any secret scanner.
router = APIRouter(
    prefix="/api/hf",
    tags=["hugging face"],
    generate_unique_id_function=lambda route: f"hf-{route.name}",
)
ACCOUNT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["token"],
                    "properties": {"token": {"type": "string"}, "namespace": {"type": "string"}},
                }
            }
        },
    }
}
IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "context_window": {"type": "integer"},
                        "api_key": {"type": "string"},
                    },
                }
            }
        },
    }
}


@router.post("/accounts", openapi_extra=ACCOUNT_BODY, status_code=201)
async def connect_account(request: Request, actor: Principal = Depends(admin)) -> dict[str, Any]:
    """Check a token live and store it (encrypted); ``namespace`` defaults to all of them."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object with `token` (and `namespace`)")
    return await services(request).hf.connect(body.get("token"), body.get("namespace"), actor)


@router.get("/accounts")
async def list_accounts(request: Request, _actor: Principal = Depends(admin)) -> dict[str, Any]:
    return {"data": await services(request).hf.accounts()}


@router.delete("/accounts/{account_id}")
async def disconnect_account(
    request: Request, account_id: str, actor: Principal = Depends(admin)
) -> dict[str, Any]:
    return await services(request).hf.disconnect(account_id, actor)


@router.get("/endpoints")
async def list_endpoints(
    request: Request,
    refresh: bool = Query(False, description="read Hugging Face now, not the last few seconds"),
    _actor: Principal = Depends(admin),
) -> dict[str, Any]:
    """Every endpoint of the connected namespaces; reading them never wakes one."""
    return await services(request).hf.endpoints(refresh=refresh)


@router.post("/endpoints/import-all")
async def import_all(request: Request, actor: Principal = Depends(admin)) -> dict[str, Any]:
    return await services(request).hf.import_all(actor)


@router.post("/endpoints/{namespace}/{name}/import", openapi_extra=IMPORT_BODY)
async def import_endpoint(
    request: Request,
    namespace: str,
    name: str,
    wait: float = Query(0.0, description="seconds to wait for a cold endpoint"),
    actor: Principal = Depends(admin),
) -> Response:
    """Import without JSON: optional ``{"name", "context_window", "api_key"}``."""
    options = await json_body(request) if await request.body() else None
    seconds, hf = wait_seconds(wait), services(request).hf

    async def run(listener: Listener | None) -> tuple[Report, dict[str, Any] | None]:
        return await hf.import_endpoint(
            namespace, name, options, actor, wait=seconds, listener=listener
        )

    if wants_events(request):
        return event_stream(run, dry_run=False)
    return report_response(*await run(None))


@router.post("/endpoints/{namespace}/{name}/{action}")
async def operate_endpoint(
    request: Request, namespace: str, name: str, action: str, actor: Principal = Depends(admin)
) -> dict[str, Any]:
    """``resume``, ``pause`` or ``scale-to-zero`` (audited); the record as it is now."""
    return await services(request).hf.act(namespace, name, action, actor)
