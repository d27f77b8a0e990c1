"""llama.cpp's server (``llama-server``), Inference Endpoints' engine for GGUF models (pure).

Protocol facts (docs/protocols.md §3.4), read from ``ggml-org/llama.cpp``
(``tools/server/README.md``, ``server.cpp``, ``server-common.cpp``), not from a live endpoint:

* No ``/info``: 404 ``{"error": {"code": 404, "message": "File Not Found", …}}``.
* ``GET /props``: ``default_generation_settings.n_ctx`` (the context of one slot, so of one
  request), ``total_slots``, ``chat_template`` (the GGUF's; ``""`` when it has none, and chats
  are then formatted as ChatML), ``build_info`` (``"b{number}-{commit}"``), ``modalities``.
* ``GET /v1/models``: one model, ``owned_by: "llamacpp"``, ``id`` the GGUF's path (or
  ``--alias``), ``meta.n_ctx_train``.
* ``POST /tokenize`` ``{content, add_special, parse_special}`` → ``{"tokens": [ids]}``;
  ``POST /apply-template`` ``{messages, tools…}`` → ``{"prompt"}``: the text a chat is tokenized
  from, with ``add_special`` and ``parse_special`` on (``/completion`` tokenizes prompts so too).
* While the model loads, every route but ``/v1/models`` answers 503 ``{"error": {"code": 503,
  "message": "Loading model", "type": "unavailable_error"}}`` (the HTML page too, as HTML).
* Errors are ``{"error": {"code", "message", "type"}}``. A prompt over the context is 400
  ``exceed_context_size_error`` "request (N tokens) exceeds the available context size (M
  tokens), try increasing it", with ``n_prompt_tokens`` and ``n_ctx`` (older builds: "the
  request exceeds the available context size, try increasing the context size or enable
  context shift"). Inside a stream, newer builds send ``data: {"error": {…}}``; older ones an
  ``error: {…}`` line, which an SSE reader skips: the stream then ends cut, never complete.
* ``/v1/completions`` refuses ``echo`` ("Only no echo is supported"): hfgate echoes itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from hfgate.errors import (
    ContextLengthExceeded,
    EndpointColdStart,
    HfgateError,
    InvalidRequest,
    UpstreamOverloaded,
)
from hfgate.upstream import openai_compat
from hfgate.upstream.base import Call, Delta
from hfgate.upstream.platform import platform_error
from hfgate.upstream.tgi import openai_delta
from hfgate.values.request import ChatRequest, CompletionRequest
from hfgate.values.served import ServedModel

OWNED_BY = "llamacpp"  # what its /v1/models says of each model
LOADING = "Loading model"
CONTEXT_ERROR = "exceed_context_size_error"


@dataclass(frozen=True, slots=True)
class Props:
    """What ``GET /props`` tells about the server."""

    n_ctx: int | None  # tokens one request may use (one slot's context)
    total_slots: int | None  # requests served side by side (--parallel)
    chat_template: str  # "" when the GGUF has none
    build: str | None  # "b6500-1a2b3c4d"
    vision: bool


def looks_like_props(body: Any) -> bool:
    return isinstance(body, Mapping) and isinstance(
        body.get("default_generation_settings"), Mapping
    )


def parse_props(body: Mapping[str, Any]) -> Props:
    settings = body.get("default_generation_settings") or {}
    n_ctx = settings.get("n_ctx", body.get("n_ctx"))  # older builds also said it at the top
    slots = body.get("total_slots")
    modalities = body.get("modalities")
    template = body.get("chat_template")
    build = body.get("build_info")
    return Props(
        n_ctx=n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None,
        total_slots=slots if isinstance(slots, int) else None,
        chat_template=template if isinstance(template, str) else "",
        build=build if isinstance(build, str) and build else None,
        vision=isinstance(modalities, Mapping) and modalities.get("vision") is True,
    )


# -- counting tokens (chat/tokens.py sends these) ------------------------------------------------


def tokenize_body(text: str) -> dict[str, Any]:
    """Special tokens on, as ``/completion`` and the chat routes tokenize their prompts."""
    return {"content": text, "add_special": True, "parse_special": True}


def template_body(
    messages: list[dict[str, Any]], tools: Mapping[str, Any] | None
) -> dict[str, Any]:
    # tool_prompt is TGI's: llama.cpp's template renders the tools themselves
    return {"messages": messages, **({"tools": tools["tools"]} if tools else {})}


def token_count(answer: Any) -> int | None:
    tokens = answer.get("tokens") if isinstance(answer, Mapping) else None
    return len(tokens) if isinstance(tokens, list) else None


def templated_prompt(answer: Any) -> str | None:
    prompt = answer.get("prompt") if isinstance(answer, Mapping) else None
    return prompt if isinstance(prompt, str) else None


# -- errors --------------------------------------------------------------------------------------


def _error_object(body: bytes) -> Mapping[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    error = payload.get("error") if isinstance(payload, Mapping) else None
    return error if isinstance(error, Mapping) else {}


def is_loading(status: int, body: bytes | str) -> bool:
    """The server is up but still loading the GGUF: a cold start seen from inside."""
    if status != 503:
        return False
    raw = body.encode() if isinstance(body, str) else body
    return _error_object(raw).get("message") == LOADING


def error_from_reply(status: int, content_type: str, body: bytes) -> HfgateError:
    platform = platform_error(status, body[:2000].decode("utf-8", "replace"))
    if platform is not None:
        return platform
    error = _error_object(body)
    message = str(error.get("message") or "")
    if is_loading(status, body):
        return EndpointColdStart("the endpoint's llama.cpp server is still loading the model")
    if error.get("type") == CONTEXT_ERROR or "exceeds the available context size" in message:
        return _too_long(error, message)
    if status == 503:  # no free slot (only with fail_on_no_slot) or shutting down
        return UpstreamOverloaded(f"the endpoint is busy: {message or 'HTTP 503'}", retry_after=1)
    return openai_compat.error_from_reply(status, content_type, body)


def _too_long(error: Mapping[str, Any], message: str) -> ContextLengthExceeded:
    prompt, limit = error.get("n_prompt_tokens"), error.get("n_ctx")
    if isinstance(prompt, int) and isinstance(limit, int):
        message = f"the endpoint's context holds {limit:,} tokens; this prompt has {prompt:,}"
    else:
        message = f"the endpoint refused the prompt as too long: {message}"
    return ContextLengthExceeded(message, param="messages")


def parse_event(data: bytes) -> Delta | None:
    payload = orjson.loads(data)
    error = payload.get("error")
    if isinstance(error, Mapping):
        code = error.get("code")
        raise error_from_reply(code if isinstance(code, int) else 500, "application/json", data)
    return openai_delta(payload)


# -- the dialect ---------------------------------------------------------------------------------


class LlamaCppDialect(openai_compat.OpenAIDialect):
    """llama.cpp's OpenAI routes: ``/v1/chat/completions`` and ``/v1/completions``."""

    name = "llamacpp"
    echoes = False

    def chat_call(self, request: ChatRequest, max_tokens: int | None, prompt: str | None) -> Call:
        shape = request.response_format
        if shape is not None and shape.get("type") == "regex":
            raise InvalidRequest(
                "llama.cpp cannot constrain output to a regex: give a JSON schema instead",
                param="response_format",
            )
        return super().chat_call(request, max_tokens, prompt)

    def completion_call(self, request: CompletionRequest, max_tokens: int | None) -> Call:
        call = super().completion_call(request, max_tokens)
        call.body.pop("echo", None)  # refused by llama.cpp; the chat service echoes instead
        return call

    def parse_event(self, data: bytes) -> Delta | None:
        return parse_event(data)

    def parse_completion_event(self, data: bytes) -> Delta | None:
        return parse_event(data)

    def error(self, status: int, content_type: str, body: bytes) -> HfgateError:
        return error_from_reply(status, content_type, body)


def dialect_for(model: ServedModel) -> LlamaCppDialect:
    return LlamaCppDialect(model.served_model)
