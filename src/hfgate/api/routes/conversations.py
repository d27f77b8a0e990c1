"""Conversation history for the web workspace: ``/api/conversations``.

Bodies are checked here, at the edge, field by field, so each refusal names its ``param``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from hfgate.api import wire
from hfgate.api.bodies import OBJECT_BODY, SSE_HEADERS, json_body
from hfgate.api.deps import caller, generation_caller, services
from hfgate.conversations import ConversationService
from hfgate.conversations.export import FORMATS, render
from hfgate.conversations.parts import Question, parse_content
from hfgate.errors import InvalidRequest
from hfgate.textcheck import plain_text
from hfgate.values.principal import Principal
from hfgate.values.request import parse_sampling

router = APIRouter(prefix="/api/conversations", tags=["conversations"])

TITLE_LIMIT = 200
SEARCH_LIMIT = 200
CREATE_FIELDS = frozenset({"model", "title", "system"})
UPDATE_FIELDS = frozenset({"model", "title", "system"})
SAMPLING_FIELDS = frozenset(
    {
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "seed",
        "frequency_penalty",
        "presence_penalty",
    }
)
CHAT_FIELDS = frozenset({"content", "model"}) | SAMPLING_FIELDS


class ClosingStreamingResponse(StreamingResponse):
    """A streaming response that closes its generator as soon as the response ends.

    When the browser goes away while the generator waits at a ``yield``, Starlette abandons
    it, and its ``finally`` (which stores the interrupted answer) would run whenever the
    garbage collector gets to it.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()


# -- bodies ------------------------------------------------------------------------------------


def _fields(body: Any, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidRequest("the request body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidRequest(
            f"unknown field {unknown[0]!r}: this route takes {', '.join(sorted(allowed))}",
            param=unknown[0],
        )
    return body


def _string(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string, not {type(value).__name__}", param=name)
    return value


def _model(body: Mapping[str, Any], required: bool) -> str | None:
    model = _string(body, "model")
    if model == "" or (model is None and required):
        raise InvalidRequest(
            "model is required: one of the ids listed by GET /v1/models", param="model"
        )
    return model


def _title(body: Mapping[str, Any]) -> str | None:
    title = _string(body, "title")
    if title is None:
        return None
    return plain_text(" ".join(title.split()), "title", TITLE_LIMIT)


def _content(body: Mapping[str, Any]) -> Question | None:
    """Text, OpenAI content parts (text and attached images), or null: regenerate."""
    return parse_content(body.get("content"))


def _search(q: str | None) -> str | None:
    if q is None or not q.strip():
        return None
    return plain_text(q, "q", SEARCH_LIMIT)


def _conversations(request: Request) -> ConversationService:
    return services(request).conversations


# -- routes ------------------------------------------------------------------------------------


@router.get("")
async def list_conversations(
    request: Request, q: str | None = None, principal: Principal = Depends(caller)
) -> dict[str, Any]:
    """The caller's conversations, most recently active first; ``q`` keeps those whose title
    or messages contain it (any case)."""
    search = _search(q)
    return {"data": await _conversations(request).list_for(principal.user_id, search)}


@router.post("", status_code=201, openapi_extra=OBJECT_BODY)
async def create_conversation(
    request: Request, principal: Principal = Depends(caller)
) -> dict[str, Any]:
    body = _fields(await json_body(request), CREATE_FIELDS)
    model, title, system = _model(body, True), _title(body), _string(body, "system")
    assert model is not None
    return await _conversations(request).create(principal.user_id, model, title, system)


@router.get("/{conversation_id}")
async def get_conversation(
    conversation_id: str, request: Request, principal: Principal = Depends(caller)
) -> dict[str, Any]:
    return await _conversations(request).get(principal.user_id, conversation_id)


@router.patch("/{conversation_id}", openapi_extra=OBJECT_BODY)
async def update_conversation(
    conversation_id: str, request: Request, principal: Principal = Depends(caller)
) -> dict[str, Any]:
    body = _fields(await json_body(request), UPDATE_FIELDS)
    title, model, system = _title(body), _model(body, False), _string(body, "system")
    service = _conversations(request)
    return await service.update(principal.user_id, conversation_id, title, model, system)


@router.delete("/{conversation_id}")
async def delete_conversation(
    conversation_id: str, request: Request, principal: Principal = Depends(caller)
) -> dict[str, Any]:
    await _conversations(request).delete(principal.user_id, conversation_id)
    return {"id": conversation_id, "deleted": True}


@router.delete("/{conversation_id}/messages/{message_id}")
async def delete_messages_from(
    conversation_id: str,
    message_id: str,
    request: Request,
    principal: Principal = Depends(caller),
) -> dict[str, Any]:
    """Remove a message and every later one (regenerate, edit and resend)."""
    service = _conversations(request)
    deleted = await service.delete_from(principal.user_id, conversation_id, message_id)
    return {"deleted": deleted}


@router.post("/{conversation_id}/messages/{message_id}/select")
async def select_version(
    conversation_id: str,
    message_id: str,
    request: Request,
    principal: Principal = Depends(caller),
) -> dict[str, Any]:
    """Show this version of an answer; the conversation continues from it."""
    service = _conversations(request)
    return await service.select(principal.user_id, conversation_id, message_id)


@router.post("/{conversation_id}/chat", openapi_extra=OBJECT_BODY)
async def chat(
    conversation_id: str, request: Request, principal: Principal = Depends(generation_caller)
) -> Response:
    """Ask (or, with ``content: null``, re-ask: a new version of the last answer) and stream
    the answer as OpenAI chunks. ``content`` is text or OpenAI content parts (images as
    ``data:`` URLs, for models that take images).

    The first event is ``event: hfgate`` with the ids the turn is stored under and the
    context it used; ``event: waiting`` says the endpoint is waking. The answer is stored
    when the stream ends, however it ends.
    """
    body = _fields(await json_body(request), CHAT_FIELDS)
    content, model, sampling = _content(body), _model(body, False), parse_sampling(body)
    service = _conversations(request)
    turn = await service.start_chat(principal, conversation_id, content, model, sampling)
    start = turn.start() | wire.context_info(turn.prepared)
    stream = wire.WorkspaceStream(turn.prepared.model.name).stream(start, service.relay(turn))
    headers = SSE_HEADERS | wire.fit_headers(turn.prepared)
    return ClosingStreamingResponse(stream, media_type="text/event-stream", headers=headers)


@router.get("/{conversation_id}/export")
async def export_conversation(
    conversation_id: str,
    request: Request,
    kind: str = Query("markdown", alias="format"),
    principal: Principal = Depends(caller),
) -> Response:
    if kind not in FORMATS:
        raise InvalidRequest(
            f"format must be one of {', '.join(FORMATS)}; got {kind!r}", param="format"
        )
    conversation = await _conversations(request).get(principal.user_id, conversation_id)
    body, media_type, name = render(conversation, kind)
    disposition = f'attachment; filename="{name}"'
    return Response(body, media_type=media_type, headers={"Content-Disposition": disposition})
