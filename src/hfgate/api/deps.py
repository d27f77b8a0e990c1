"""Request dependencies: the process's services and the authenticated caller."""

from __future__ import annotations

from fastapi import Request

from hfgate.auth import Principal
from hfgate.services import Services


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def caller(request: Request) -> Principal:
    return await services(request).keys.authenticate(bearer(request))


async def admin(request: Request) -> Principal:
    principal = await caller(request)
    principal.require_admin()
    return principal
