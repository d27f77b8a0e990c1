"""``/api/integrations``: paste a credential, see its validation report, manage what is stored.

The body of ``POST /api/integrations`` is the credential JSON itself, exactly as pasted, so it
is read raw: the parser reports JSON syntax errors with line and column.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from hfgate.api.deps import admin, services
from hfgate.api.errors import error_response
from hfgate.auth import Principal
from hfgate.errors import InvalidRequest
from hfgate.integrations.report import Outcome, Report

router = APIRouter(prefix="/api/integrations", tags=["integrations"])

CREDENTIAL_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["api_key", "endpoint", "model_name", "context_window"],
                    "properties": {
                        "api_key": {"type": "string"},
                        "endpoint": {"type": "string"},
                        "model_name": {"type": "string"},
                        "context_window": {"type": "integer"},
                        "name": {"type": "string"},
                    },
                }
            }
        },
    }
}
STATUS_BY_OUTCOME = {
    Outcome.VALID: 201,
    Outcome.PENDING: 202,
    Outcome.FAILED: 422,
    Outcome.INVALID: 400,
}
MAX_WAIT = 900.0


def _report_response(
    report: Report, integration: dict[str, Any] | None, *, dry_run: bool = False
) -> Response:
    status = STATUS_BY_OUTCOME[report.outcome]
    if dry_run and status in (201, 202):
        status = 200
    body: dict[str, Any] = {"report": report.to_dict(), "integration": integration}
    if status >= 400:
        code = "invalid_credential" if status == 400 else "validation_failed"
        body["error"] = {
            "message": report.summary(),
            "type": "invalid_request_error",
            "param": None,
            "code": code,
        }
    return error_response(status, body)


def _wait_seconds(wait: float) -> float:
    if not 0 <= wait <= MAX_WAIT:
        raise InvalidRequest(f"wait must be between 0 and {MAX_WAIT:g} seconds", param="wait")
    return wait


@router.post("", openapi_extra=CREDENTIAL_BODY, status_code=201)
async def add_integration(
    request: Request,
    wait: float = Query(0.0, description="seconds to wait for a cold endpoint"),
    actor: Principal = Depends(admin),
) -> Response:
    report, integration = await services(request).integrations.add(
        await request.body(), actor, wait=_wait_seconds(wait)
    )
    return _report_response(report, integration)


@router.post("/validate", openapi_extra=CREDENTIAL_BODY)
async def validate_integration(
    request: Request, wait: float = Query(0.0), _actor: Principal = Depends(admin)
) -> Response:
    report, _ = await services(request).integrations.check(
        await request.body(), wait=_wait_seconds(wait)
    )
    return _report_response(report, None, dry_run=True)


@router.get("")
async def list_integrations(request: Request, _actor: Principal = Depends(admin)) -> dict[str, Any]:
    return {"data": await services(request).integrations.list()}


@router.get("/{integration_id}")
async def get_integration(
    request: Request, integration_id: str, _actor: Principal = Depends(admin)
) -> dict[str, Any]:
    return await services(request).integrations.get(integration_id)


@router.patch(
    "/{integration_id}",
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}
    },
)
async def update_integration(
    request: Request, integration_id: str, actor: Principal = Depends(admin)
) -> dict[str, Any]:
    changes = await _json_body(request)
    report, integration = await services(request).integrations.update(
        integration_id, changes, actor
    )
    return {"integration": integration, "report": report.to_dict() if report else None}


@router.post("/{integration_id}/revalidate")
async def revalidate_integration(
    request: Request, integration_id: str, actor: Principal = Depends(admin)
) -> dict[str, Any]:
    report, integration = await services(request).integrations.revalidate(integration_id, actor)
    return {"integration": integration, "report": report.to_dict()}


@router.delete("/{integration_id}")
async def remove_integration(
    request: Request, integration_id: str, actor: Principal = Depends(admin)
) -> dict[str, Any]:
    return await services(request).integrations.remove(integration_id, actor)


async def _json_body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from None
