"""Budgets: a key's (``PATCH /api/keys/{id}``), a person's (``PUT /api/users/{id}/budgets``,
admins) and the caller's own as a person (``GET /api/me/budgets``). Bodies take
``budget_tokens`` and ``budget_usd`` (a number with ``budget_period``, or ``"N/day"`` /
``"N/month"``; null removes one); budgets not named are kept. See docs/budgets.md."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from hfgate.api.bodies import OBJECT_BODY, json_body
from hfgate.api.deps import admin, caller, services
from hfgate.values.principal import Principal

router = APIRouter(tags=["budgets"])


@router.get("/api/me/budgets")
async def my_budgets(request: Request, actor: Principal = Depends(caller)) -> dict[str, Any]:
    """Your budgets as a person (across all your keys and chats), with what you spent."""
    return {"data": await services(request).budgets.mine(actor)}


@router.patch("/api/keys/{key_id}", openapi_extra=OBJECT_BODY)
async def set_key_budgets(
    request: Request, key_id: int, actor: Principal = Depends(caller)
) -> dict[str, Any]:
    """Change a key's budgets (its owner or an admin)."""
    body = await json_body(request)
    return await services(request).key_manager.set_budgets(actor, key_id, body)


@router.put("/api/users/{user_id}/budgets", openapi_extra=OBJECT_BODY)
async def set_person_budgets(
    request: Request, user_id: int, actor: Principal = Depends(admin)
) -> dict[str, Any]:
    """Set a person's budgets, which count every key of theirs and their chats."""
    svc = services(request)
    answer = await svc.budgets.set_person(actor, user_id, await json_body(request))
    svc.keys.forget()  # their keys carry the person's budgets: apply the change at once
    return answer
