"""The model catalog: ``GET /v1/models`` (OpenAI shape plus hfgate's fields) and ``/api/models``."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request

from hfgate.api.deps import caller, services
from hfgate.chat.context import token_limit
from hfgate.endpoints.state import ModelStatus, idle_detail
from hfgate.errors import NotFound
from hfgate.services import Services
from hfgate.values.principal import Principal
from hfgate.values.served import ServedModel

router = APIRouter(tags=["models"])


def _model_entry(model: ServedModel, svc: Services) -> dict[str, Any]:
    status = svc.board.get(model.name)
    created = int(model.created_at.timestamp()) if model.created_at else 0
    typical = svc.coldstarts.typical_wake(model.name)
    detail = status.detail
    if status.status is ModelStatus.IDLE:  # "since" is the last answer: say how long ago
        detail = idle_detail(time.time() - status.changed_at, typical)
    return {
        "id": model.name,
        "object": "model",
        "created": created,
        "owned_by": "hfgate",
        "model_name": model.model_name,
        "context_window": model.context_window,
        "context_length": token_limit(model),  # the name vLLM, OpenRouter and LiteLLM read
        "engine": model.engine,
        "engine_version": model.engine_version,
        "engine_flavour": model.engine_flavour,  # which OpenAI-compatible server: vllm, sglang
        "kind": model.kind,  # chat | embed | rerank | classify: which route serves it
        "capabilities": model.capabilities,
        "status": status.status,
        "status_detail": detail,
        "typical_wake_seconds": typical,
    }


@router.get("/v1/models")
async def list_models(request: Request, principal: Principal = Depends(caller)) -> dict[str, Any]:
    svc = services(request)
    models = [m for m in svc.catalog.all() if principal.may_use(m.name)]
    return {"object": "list", "data": [_model_entry(m, svc) for m in models]}


@router.get("/v1/models/{model_id:path}")
async def get_model(
    request: Request, model_id: str, principal: Principal = Depends(caller)
) -> dict[str, Any]:
    svc = services(request)
    model = await svc.catalog.find(model_id)
    if model is None or not principal.may_use(model_id):
        raise NotFound(
            f"the model {model_id!r} does not exist", param="model", code="model_not_found"
        )
    return _model_entry(model, svc)


@router.get("/api/models")
async def list_models_detailed(
    request: Request, principal: Principal = Depends(caller)
) -> dict[str, Any]:
    """Served models plus integrations still waiting for their endpoint (status ``pending``)."""
    svc = services(request)
    served = [_model_entry(m, svc) for m in svc.catalog.all() if principal.may_use(m.name)]
    pending = [
        {
            "id": row["name"],
            "object": "model",
            "model_name": row["model_name"],
            "context_window": row["context_window"],
            "engine": row["engine"],
            "engine_version": row["engine_version"],
            "status": "pending",
            "status_detail": row["status_detail"],
        }
        for row in await svc.integrations.list()
        if row["state"] == "pending" and principal.may_use(row["name"])
    ]
    return {"object": "list", "data": served + pending}


@router.post("/api/models/{model_id:path}/wake")
async def wake_on_open(
    request: Request, model_id: str, principal: Principal = Depends(caller)
) -> dict[str, Any]:
    """The workspace opened a chat with this model: start its endpoint if its admin opted in
    (``wake_on_open``). Answers whether it did, and how long waking took lately."""
    svc = services(request)
    model = await svc.catalog.find(model_id)
    if model is None or not principal.may_use(model_id):
        raise NotFound(
            f"the model {model_id!r} does not exist", param="model", code="model_not_found"
        )
    return await svc.hf.wake_on_open(model, principal)
