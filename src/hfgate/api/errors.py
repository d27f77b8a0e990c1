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


def install(app: FastAPI, *, not_found_page: NotFoundPage | None = None) -> None:
    app.state.not_found_page = not_found_page
    app.add_exception_handler(HfgateError, _on_hfgate_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
