"""OpenAI-compatible generation: ``POST /v1/chat/completions`` and ``POST /v1/completions``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from hfgate.api import choices, wire
from hfgate.api.bodies import OBJECT_BODY, SSE_HEADERS, json_body
from hfgate.api.deps import generation_caller, services
from hfgate.api.disconnect import cancel_on_disconnect
from hfgate.chat.lifecycle import Caller
from hfgate.chat.service import Prepared
from hfgate.values.principal import Principal
from hfgate.values.request import (
    ChatRequest,
    CompletionRequest,
    ContextPolicy,
    check_policy,
    parse_chat_request,
    parse_completion_request,
)

router = APIRouter(tags=["openai"])


def context_policy(request: Request, principal: Principal) -> ContextPolicy:
    """``X-Hfgate-Context: trim|strict`` (``X-Hfgate-Strict: 1``, the older form, is strict);
    API keys default to strict, as OpenAI's API behaves; a browser session to trim."""
    asked = request.headers.get("x-hfgate-context")
    if asked is None and request.headers.get("x-hfgate-strict", "").lower() in ("1", "true"):
        asked = "strict"
    return ContextPolicy(
        check_policy(asked and asked.strip().lower(), "X-Hfgate-Context"),
        principal.context_policy,
        "strict" if principal.key_id is not None else "trim",
    )


async def _respond(
    request: Request, prepared: Prepared, who: Caller, asked: ChatRequest | CompletionRequest
) -> Response:
    if asked.n > 1:  # n calls side by side; n = 1 stays the plain path below
        return await choices.respond(request, prepared, who, asked)
    stream = asked.stream
    chat = services(request).chat
    headers = wire.fit_headers(prepared)
    render = wire.OpenAIStream(prepared.model.name, prepared.kind, prepared.include_usage)
    if stream:
        batches = chat.stream(prepared, who)
        body = render.sse(batches, await wire.first_batch(batches))
        return StreamingResponse(
            body, media_type="text/event-stream", headers=SSE_HEADERS | headers
        )
    result = await cancel_on_disconnect(request, chat.complete(prepared, who))
    return Response(
        orjson.dumps(render.completion(result)), media_type="application/json", headers=headers
    )


async def chat_response(request: Request, principal: Principal, body: Any) -> Response:
    chat_request = parse_chat_request(body)
    principal.require_model(chat_request.model)
    prepared = await services(request).chat.prepare_chat(
        chat_request, context_policy(request, principal)
    )
    return await _respond(request, prepared, Caller(principal, "chat"), chat_request)


async def completion_response(request: Request, principal: Principal, body: Any) -> Response:
    completion_request = parse_completion_request(body)
    principal.require_model(completion_request.model)
    chat = services(request).chat
    prepared = await chat.prepare_completion(completion_request, context_policy(request, principal))
    who = Caller(principal, "completion")
    return await _respond(request, prepared, who, completion_request)


# These two are also served by the fast lane (api/fastlane.py): they take only the request.
@router.post("/v1/chat/completions", openapi_extra=OBJECT_BODY)
async def chat_completions(request: Request) -> Response:
    principal = await generation_caller(request)
    return await chat_response(request, principal, await json_body(request))


@router.post("/v1/completions", openapi_extra=OBJECT_BODY)
async def completions(request: Request) -> Response:
    principal = await generation_caller(request)
    return await completion_response(request, principal, await json_body(request))
