"""People, keys, sign-in and the audit log (who may do what: SECURITY.md)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from hfgate.api.bodies import OBJECT_BODY, json_body
from hfgate.api.deps import admin, bearer, caller, services, set_session_cookie
from hfgate.audit import AuditFilter, audit_csv, read_audit
from hfgate.auth.keys import key_view
from hfgate.auth.sessions import COOKIE
from hfgate.errors import AuthenticationRequired, InvalidRequest
from hfgate.values.principal import Principal

router = APIRouter(tags=["people"])


def _me(principal: Principal, csrf: str | None) -> dict[str, Any]:
    user = {"id": principal.user_id, "email": principal.email, "role": principal.role}
    return {"user": user, "csrf_token": csrf}


@router.post("/auth/login", openapi_extra=OBJECT_BODY)
async def login(request: Request) -> Response:
    if not request.headers.get("content-type", "").startswith("application/json"):
        # A cross-site form can post text/plain but not JSON: this stops login CSRF.
        raise InvalidRequest("send the credentials as JSON (Content-Type: application/json)")
    body = await json_body(request)
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("email"), str)
        or not isinstance(body.get("password"), str)
    ):
        raise InvalidRequest('send {"email": …, "password": …}')
    token, principal, csrf = await services(request).sessions.sign_in(
        body["email"], body["password"]
    )
    response = Response(orjson.dumps(_me(principal, csrf)), media_type="application/json")
    set_session_cookie(request, response, token)
    return response


@router.post("/auth/logout")
async def logout(request: Request) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        await services(request).sessions.sign_out(token)
    response = Response(b'{"signed_out": true}', media_type="application/json")
    response.delete_cookie(COOKIE)
    return response


@router.get("/auth/me")
async def me(request: Request) -> dict[str, Any]:
    token = request.cookies.get(COOKIE)
    if bearer(request) is None and token:
        principal, csrf = await services(request).sessions.principal(token)
        return _me(principal, csrf)
    if bearer(request) is None:
        raise AuthenticationRequired("not signed in")
    return _me(await services(request).keys.authenticate(bearer(request)), None)


@router.get("/api/users")
async def list_users(request: Request, actor: Principal = Depends(admin)) -> dict[str, Any]:
    return {"data": await services(request).users.list(actor)}


@router.post("/api/users", status_code=201, openapi_extra=OBJECT_BODY)
async def add_user(request: Request, actor: Principal = Depends(admin)) -> dict[str, Any]:
    return await services(request).users.add(actor, await json_body(request))


@router.post("/api/users/invite", status_code=201, openapi_extra=OBJECT_BODY)
async def invite_user(request: Request, actor: Principal = Depends(admin)) -> dict[str, Any]:
    """A person without a password, and a one-time link (7 days) to pass on to them."""
    user, link = await services(request).users.invite(actor, await json_body(request))
    return {"user": user} | link.view(str(request.base_url))


@router.post("/api/users/{user_id}/reset-link")
async def reset_link(
    request: Request, user_id: int, actor: Principal = Depends(admin)
) -> dict[str, Any]:
    """A one-time link (24 hours) with which the person chooses a new password."""
    link = await services(request).users.reset_link(actor, user_id)
    return link.view(str(request.base_url))


@router.patch("/api/users/{user_id}", openapi_extra=OBJECT_BODY)
async def update_user(
    request: Request, user_id: int, actor: Principal = Depends(caller)
) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict) or not set(body) <= {"role", "password", "disabled"} or not body:
        raise InvalidRequest('send {"role": …}, {"password": …} and/or {"disabled": true|false}')
    users = services(request).users
    if "disabled" in body:
        actor.require_admin()
        if not isinstance(body["disabled"], bool):
            raise InvalidRequest("disabled must be true or false", param="disabled")
    if "password" in body:
        await users.set_password(actor, user_id, body["password"])
    result: dict[str, Any] = {"id": user_id, "password_changed": True}
    if "role" in body:
        result = await users.set_role(actor, user_id, body["role"])
    if "disabled" in body:
        result = await users.set_disabled(actor, user_id, body["disabled"])
    return result


@router.delete("/api/users/{user_id}")
async def remove_user(
    request: Request, user_id: int, actor: Principal = Depends(admin)
) -> dict[str, Any]:
    return await services(request).users.remove(actor, user_id)


@router.get("/api/keys")
async def list_keys(request: Request, actor: Principal = Depends(caller)) -> dict[str, Any]:
    return {"data": await services(request).key_manager.list(actor)}


@router.post("/api/keys", status_code=201, openapi_extra=OBJECT_BODY)
async def create_key(request: Request, actor: Principal = Depends(caller)) -> dict[str, Any]:
    created = await services(request).key_manager.create(actor, await json_body(request))
    return key_view(created.row, created.owner) | {"key": created.key}


@router.delete("/api/keys/{key_id}")
async def revoke_key(
    request: Request, key_id: int, actor: Principal = Depends(caller)
) -> dict[str, Any]:
    return await services(request).key_manager.revoke(actor, key_id)


@router.get("/api/audit")
async def audit(
    request: Request,
    limit: int = Query(200, ge=1, le=1000),
    actor_filter: str | None = Query(None, alias="actor", description="who (substring)"),
    action: str | None = Query(None, description="what, e.g. user.disable (substring)"),
    target: str | None = Query(None, description="on what (substring)"),
    since: str | None = Query(None, description="ISO 8601, inclusive"),
    until: str | None = Query(None, description="ISO 8601, exclusive"),
    before_id: int | None = Query(None, ge=1, description="the next page: rows older than this id"),
    actor: Principal = Depends(admin),
) -> Response:
    """Newest first; ``Accept: text/csv`` answers the same rows as CSV."""
    where = AuditFilter.parse(
        actor=actor_filter, action=action, target=target, since=since, until=until,
        before_id=before_id, limit=limit,
    )  # fmt: skip
    page = await read_audit(services(request).db, actor, where)
    if "text/csv" in request.headers.get("accept", ""):
        headers = {"Content-Disposition": 'attachment; filename="hfgate-audit.csv"'}
        return Response(audit_csv(page["data"]), media_type="text/csv", headers=headers)
    return Response(orjson.dumps(page), media_type="application/json")
