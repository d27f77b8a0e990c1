"""The HTTP boundary for errors: every failure leaves as one OpenAI-shaped body.

``HfgateError`` carries its own status and code; framework errors (404 route, 405, request
validation) and unexpected exceptions are mapped here too, so no other shape ever escapes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from hfgate.errors import HfgateError
from hfgate.storage.db import unavailable

log = logging.getLogger("hfgate.api")

# A page for browsers that reach an unknown path, registered by the web layer (``install``'s
# ``not_found_page``): given the request, a response, or None to answer the JSON error.
NotFoundPage = Callable[[Request], Response | None]


def error_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


def openai_error(
    status: int, message: str, type_: str, code: str, param: str | None = None
) -> Response:
    return error_response(
        status, {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )


def hfgate_error_response(exc: HfgateError) -> Response:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return error_response(exc.status, exc.to_body(), headers)


async def _on_hfgate_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HfgateError)
    return hfgate_error_response(exc)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        page: NotFoundPage | None = getattr(request.app.state, "not_found_page", None)
        if page is not None and (html := page(request)) is not None:
            return html
        message = f"no route {request.method} {request.url.path}"
        return openai_error(404, message, "invalid_request_error", "route_not_found")
    if exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
        return openai_error(405, message, "invalid_request_error", "method_not_allowed")
    return openai_error(exc.status_code, str(exc.detail), "invalid_request_error", "http_error")


async def _on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query"))
    message = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return openai_error(400, message, "invalid_request_error", "invalid_request", where or None)


def unexpected_error_response(request: Request, exc: Exception) -> Response:
    # Log the type and route only: exception text may contain upstream bodies or secrets.
    if unavailable(exc):  # not a bug: the database is down, restarting or full
        log.error(
            "the database is unavailable (%s) on %s %s",
            type(exc).__name__,
            request.method,
            request.url.path,
        )
        body = {
            "error": {
                "message": "the database is unavailable just now: retry in a few seconds",
                "type": "server_error",
                "param": None,
                "code": "database_unavailable",
            }
        }
        return error_response(503, body, {"Retry-After": "5"})
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return openai_error(
        500, "internal error: see the hfgate server log", "server_error", "internal_error"
    )


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    return unexpected_error_response(request, exc)


# What every error answer looks like, for the OpenAPI schema (so clients and fuzzers can
# check them): OpenAI's shape everywhere, TGI's own on the TGI-compatible routes.
OPENAI_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string", "minLength": 1},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
TGI_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "error_type"],
    "properties": {"error": {"type": "string"}, "error_type": {"type": "string"}},
}
ERROR_STATUSES = {
    "400": "The request cannot be read or is invalid (the message names the field)",
    "401": "No hfgate key or session, or one that is not valid",
    "403": "The caller may not do this (an admin route, another person's data, a model not"
    " allowed to the key)",
    "404": "No such model, integration, person, key or conversation",
    "409": "It conflicts with what exists (a name or email already taken)",
    "413": "The body is larger than HFGATE_MAX_BODY_BYTES",
    "422": "A live check of an endpoint failed (the report says which)",
    "429": "Over a rate limit, or the endpoint is overloaded (with Retry-After)",
    "502": "The endpoint failed or answered something hfgate cannot read",
    "503": "Unavailable for now: the endpoint is waking, paused or failed, or the database is"
    " unavailable (with Retry-After)",
}


def document_errors(app: FastAPI) -> None:
    """List the error answers of every operation in ``/openapi.json``, in their real shape
    (FastAPI's own 422 describes a body hfgate never sends: a request it cannot read is a 400)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for path, operations in schema.get("paths", {}).items():
            body = TGI_ERROR_SCHEMA if path.startswith("/tgi/") else OPENAI_ERROR_SCHEMA
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in ERROR_STATUSES.items():
                    content = {"application/json": {"schema": body}}
                    responses[status] = {"description": description, "content": content}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI, *, not_found_page: NotFoundPage | None = None) -> None:
    app.state.not_found_page = not_found_page
    app.add_exception_handler(HfgateError, _on_hfgate_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
    document_errors(app)
