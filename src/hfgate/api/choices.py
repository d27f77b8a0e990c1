"""The edge of ``n`` > 1 on the OpenAI routes: n calls side by side (``chat.fanout``), one
answer with n choices — a body, or one SSE stream whose chunks say which choice they are."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hfgate.api import wire
from hfgate.api.bodies import SSE_HEADERS
from hfgate.api.deps import services
from hfgate.api.disconnect import cancel_on_disconnect
from hfgate.chat import fanout
from hfgate.chat.lifecycle import Caller
from hfgate.chat.service import Prepared
from hfgate.values.request import ChatRequest, CompletionRequest


async def respond(
    request: Request, prepared: Prepared, who: Caller, asked: ChatRequest | CompletionRequest
) -> Response:
    chat = services(request).chat
    headers = wire.fit_headers(prepared)
    answer = wire.OpenAIStream(prepared.model.name, prepared.kind, prepared.include_usage)
    each = fanout.choices(prepared, asked)
    if asked.stream:
        parts = fanout.stream(chat, each, who)
        body = wire.ChoicesStream(answer, asked.n).sse(parts, await wire.first_parts(parts))
        return StreamingResponse(
            body, media_type="text/event-stream", headers=SSE_HEADERS | headers
        )
    results = await cancel_on_disconnect(request, fanout.complete(chat, each, who))
    return Response(
        orjson.dumps(answer.completions(results)), media_type="application/json", headers=headers
    )
