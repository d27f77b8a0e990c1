"""TGI-compatible routes per model: ``/tgi/{model}`` (compat), ``/info``, ``/health``,
``/generate``, ``/generate_stream``, ``/tokenize``. The model id is a path, slashes and all
(docs/protocols.md).

Errors here take TGI's own shape, ``{"error", "error_type"}``, because the clients that call
these routes (``text_generation``, ``huggingface_hub``) parse that shape.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from hfgate.api import wire
from hfgate.api.bodies import SSE_HEADERS, json_body
from hfgate.api.deps import authenticate, generation_caller, services
from hfgate.api.disconnect import cancel_on_disconnect
from hfgate.api.routes.openai import chat_response, completion_response
from hfgate.chat.lifecycle import Caller
from hfgate.chat.native import USABLE
from hfgate.endpoints.state import StatusEntry
from hfgate.errors import HfgateError, InvalidRequest
from hfgate.values.principal import Principal

router = APIRouter(tags=["tgi"])
OPENAI_ROUTES = {"v1/chat/completions": chat_response, "v1/completions": completion_response}
ROUTES = (
    "v1/chat/completions",
    "v1/completions",
    "generate_stream",
    "generate",
    "info",
    "health",
    "tokenize",
)
# TGI's own answer when it cannot serve (router/src/server.rs ``health``).
UNHEALTHY = orjson.dumps({"error": "unhealthy", "error_type": "healthcheck"})


def split_path(rest: str) -> tuple[str, str]:
    """``meta-llama/Llama-2-7b-chat-hf/generate`` → (model, "generate"); no suffix → compat."""
    for route in ROUTES:
        if rest.endswith("/" + route):
            return rest[: -len(route) - 1], route
    return rest.rstrip("/"), ""


def _tgi_error_response(exc: HfgateError) -> Response:
    status, body = wire.tgi_error(exc)
    headers = {"Retry-After": str(max(1, int(exc.retry_after)))} if exc.retry_after else None
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


@router.get("/tgi/{rest:path}", name="tgi_get")
async def tgi_get(request: Request, rest: str) -> Response:
    """``/tgi/{model}/info`` and ``/health``, answered from what hfgate knows: they wake
    nothing and keep nothing awake."""
    return await _tgi(request, rest)


@router.post("/tgi/{rest:path}", name="tgi_post")
async def tgi_post(request: Request, rest: str) -> Response:
    """``/tgi/{model}`` (compat), ``/generate``, ``/generate_stream``, ``/tokenize``, and the
    OpenAI routes that ``InferenceClient.chat_completion`` appends to a base URL."""
    name, route = split_path(rest)
    if route in OPENAI_ROUTES:  # OpenAI's routes keep OpenAI's error shape
        principal = await generation_caller(request)
        body = await json_body(request)
        if isinstance(body, dict):
            body["model"] = name  # clients send a placeholder here: the path names the model
        return await OPENAI_ROUTES[route](request, principal, body)
    return await _tgi(request, rest)


async def _tgi(request: Request, rest: str) -> Response:
    try:
        principal = await authenticate(request)
        await services(request).limiter.acquire(principal)
        return await _dispatch(request, rest, principal)
    except HfgateError as exc:
        return _tgi_error_response(exc)


async def _dispatch(request: Request, rest: str, principal: Principal) -> Response:
    native = services(request).native
    name, route = split_path(rest)
    principal.require_model(name)
    if route == "health":  # any engine: what hfgate knows of an endpoint is engine-neutral
        return _health(await native.health(name))
    model = await native.model(name)
    if route == "info":
        return Response(orjson.dumps(wire.tgi_info(model)), media_type="application/json")
    if request.method != "POST":
        raise InvalidRequest(f"use POST for /tgi/{name}/{route}".rstrip("/"))
    if route == "tokenize":
        tokenized = native.tokenize(model, await json_body(request), Caller(principal, "tokenize"))
        answer: Any = await cancel_on_disconnect(request, tokenized)
        return Response(orjson.dumps(answer), media_type="application/json")
    body, prompt = await native.fit(model, await json_body(request))
    stream = route == "generate_stream" or (route == "" and body.get("stream") is True)
    path, who = "/" + route, Caller(principal, "tgi")
    if stream:
        relay = wire.tgi_sse(native.stream(model, path, body, who, prompt))
        return StreamingResponse(relay, media_type="text/event-stream", headers=SSE_HEADERS)
    answer = await cancel_on_disconnect(request, native.generate(model, path, body, who, prompt))
    return Response(orjson.dumps(answer), media_type="application/json")


def _health(entry: StatusEntry) -> Response:
    """200 and no body when a call would work, else TGI's 503 (``native.USABLE`` says which
    states are which, and why a sleeping endpoint is usable); the status in a header."""
    headers = {"X-Hfgate-Status": entry.status.value}
    if entry.status in USABLE:
        return Response(b"", 200, headers=headers)
    return Response(UNHEALTHY, 503, headers=headers, media_type="application/json")
