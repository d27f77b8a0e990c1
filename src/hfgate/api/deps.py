"""Request dependencies: the process's services and the authenticated caller.

A caller is identified by an hfgate API key (``Authorization: Bearer hfg_…``) or, for the web
workspace, by the session cookie — in which case requests that change state must carry the
session's CSRF token.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from hfgate.auth.sessions import COOKIE, LIFETIME, check_csrf
from hfgate.services import Services
from hfgate.values.principal import Principal


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def authenticate(request: Request) -> Principal:
    svc = services(request)
    key = bearer(request)
    cookie = request.cookies.get(COOKIE)
    if key is None and cookie:
        principal, csrf = await svc.sessions.principal(cookie)
        check_csrf(request.method, csrf, request.headers.get("x-csrf-token"))
        return principal
    return await svc.keys.authenticate(key)


async def caller(request: Request) -> Principal:
    return await authenticate(request)


async def admin(request: Request) -> Principal:
    principal = await authenticate(request)
    principal.require_admin()
    return principal


async def generation_caller(request: Request) -> Principal:
    """A caller of the generation routes, within its key's rate limits."""
    principal = await authenticate(request)
    await services(request).limiter.acquire(principal)
    return principal


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """The browser session's cookie: ``HttpOnly``, ``SameSite=Lax``, ``Secure`` behind TLS."""
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(LIFETIME.total_seconds()),
        httponly=True,
        secure=secure,
        samesite="lax",
    )
