"""TGI-compatible routes per model: ``/tgi/{model}`` (compat), ``/info``, ``/generate``,
``/generate_stream``. The model id is a path, slashes and all (DESIGN §7).

Errors here take TGI's own shape, ``{"error", "error_type"}``, because the clients that call
these routes (``text_generation``, ``huggingface_hub``) parse that shape.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from hfgate.api.deps import authenticate, services
from hfgate.api.disconnect import cancel_on_disconnect
from hfgate.api.routes.openai import SSE_HEADERS, json_body
from hfgate.auth import Principal
from hfgate.chat.native import split_path
from hfgate.errors import HfgateError, InvalidRequest

router = APIRouter(tags=["tgi"])
ERROR_TYPES = {400: "validation", 422: "validation", 429: "overloaded", 424: "generation"}


def tgi_error(exc: HfgateError) -> Response:
    status = 422 if exc.status == 400 else exc.status
    body = {"error": exc.message, "error_type": ERROR_TYPES.get(status, exc.code)}
    headers = {"Retry-After": str(max(1, int(exc.retry_after)))} if exc.retry_after else None
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


@router.api_route("/tgi/{rest:path}", methods=["GET", "POST"])
async def tgi_route(request: Request, rest: str) -> Response:
    try:
        principal = await authenticate(request)
        await services(request).limiter.acquire(principal)
        return await _dispatch(request, rest, principal)
    except HfgateError as exc:
        return tgi_error(exc)


async def _dispatch(request: Request, rest: str, principal: Principal) -> Response:
    native = services(request).native
    name, route = split_path(rest)
    principal.require_model(name)
    await services(request).catalog.find(name)
    model = native.model(name)
    if route == "info":
        return Response(orjson.dumps(native.info(model)), media_type="application/json")
    if request.method != "POST":
        raise InvalidRequest(f"use POST for /tgi/{name}/{route}".rstrip("/"))
    body = await native.fit(model, await json_body(request))
    stream = route == "generate_stream" or (route == "" and body.get("stream") is True)
    path = "/" + route
    if stream:
        return StreamingResponse(
            native.stream(model, path, body), media_type="text/event-stream", headers=SSE_HEADERS
        )
    answer: Any = await cancel_on_disconnect(request, native.generate(model, path, body))
    return Response(orjson.dumps(answer), media_type="application/json")
