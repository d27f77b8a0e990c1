"""``/api/integrations``: paste a credential, see its validation report, manage what is stored.

The body of ``POST /api/integrations`` is the credential JSON itself, exactly as pasted, so it
is read raw: the parser reports JSON syntax errors with line and column.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response, StreamingResponse

from hfgate.api.bodies import json_body
from hfgate.api.deps import admin, services
from hfgate.api.errors import error_response
from hfgate.errors import HfgateError, InvalidRequest
from hfgate.integrations.report import Listener, Outcome, Report
from hfgate.values.principal import Principal

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
Runner = Callable[[Listener | None], Awaitable[tuple[Report, dict[str, Any] | None]]]


def _status(report: Report, dry_run: bool) -> int:
    status = STATUS_BY_OUTCOME[report.outcome]
    return 200 if dry_run and status in (201, 202) else status


def report_response(
    report: Report, integration: dict[str, Any] | None, *, dry_run: bool = False
) -> Response:
    status = _status(report, dry_run)
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


def wait_seconds(wait: float) -> float:
    if not 0 <= wait <= MAX_WAIT:
        raise InvalidRequest(f"wait must be between 0 and {MAX_WAIT:g} seconds", param="wait")
    return wait


def wants_events(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def _event(kind: str, payload: Any) -> bytes:
    return f"event: {kind}\ndata: ".encode() + orjson.dumps(payload) + b"\n\n"


def event_stream(run: Runner, *, dry_run: bool) -> StreamingResponse:
    """``check`` and ``waiting`` events as validation goes, then one ``result`` (or ``error``)."""
    queue: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue()

    async def run_then_close() -> tuple[Report, dict[str, Any] | None]:
        try:
            return await run(lambda kind, payload: queue.put_nowait((kind, payload)))
        finally:
            queue.put_nowait(None)

    async def events() -> AsyncIterator[bytes]:
        task = asyncio.create_task(run_then_close())
        try:
            while (item := await queue.get()) is not None:
                yield _event(*item)
            report, integration = task.result()
            result = {"status": _status(report, dry_run), "report": report.to_dict()}
            yield _event("result", result | {"integration": integration})
        except HfgateError as exc:
            yield _event("error", {"status": exc.status} | exc.to_body())
        finally:
            task.cancel()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@router.post("", openapi_extra=CREDENTIAL_BODY, status_code=201)
async def add_integration(
    request: Request,
    wait: float = Query(0.0, description="seconds to wait for a cold endpoint"),
    actor: Principal = Depends(admin),
) -> Response:
    """Validate and store; with ``Accept: text/event-stream`` the checklist streams live."""
    body, seconds = await request.body(), wait_seconds(wait)
    integrations = services(request).integrations

    async def run(listener: Listener | None) -> tuple[Report, dict[str, Any] | None]:
        return await integrations.add(body, actor, wait=seconds, listener=listener)

    if wants_events(request):
        return event_stream(run, dry_run=False)
    return report_response(*await run(None))


@router.post("/validate", openapi_extra=CREDENTIAL_BODY)
async def validate_integration(
    request: Request, wait: float = Query(0.0), _actor: Principal = Depends(admin)
) -> Response:
    """The same checks, storing nothing (200 when the credential would be stored)."""
    body, seconds = await request.body(), wait_seconds(wait)
    integrations = services(request).integrations

    async def run(listener: Listener | None) -> tuple[Report, dict[str, Any] | None]:
        report, _ = await integrations.check(body, wait=seconds, listener=listener)
        return report, None

    if wants_events(request):
        return event_stream(run, dry_run=True)
    return report_response(*await run(None), dry_run=True)


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
    changes = await json_body(request)
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
