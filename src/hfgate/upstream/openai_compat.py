"""OpenAI-compatible servers (vLLM, SGLang) on Inference Endpoints (pure; no I/O here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from hfgate.errors import (
    ContextLengthExceeded,
    HfgateError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamProtocolError,
)
from hfgate.upstream.base import Call, Completion, Delta, finish_reason
from hfgate.upstream.platform import platform_error
from hfgate.upstream.tgi import openai_delta, openai_usage, parse_openai_chat
from hfgate.values.events import Usage
from hfgate.values.request import ChatRequest, CompletionRequest
from hfgate.values.served import ServedModel


@dataclass(frozen=True, slots=True)
class ListedModel:
    """One entry of an engine's `GET /v1/models`."""

    id: str
    max_model_len: int | None


def parse_models(body: Any) -> list[ListedModel] | None:
    """``GET /v1/models`` → the served models, or None when the body is not a model list."""
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
        return None
    models = []
    for item in body["data"]:
        if isinstance(item, Mapping) and isinstance(item.get("id"), str):
            length = item.get("max_model_len")
            models.append(ListedModel(item["id"], length if isinstance(length, int) else None))
    return models


# -- the dialect -------------------------------------------------------------------------------

# A prompt over the model's length, as each server words it (docs/protocols.md §3.1): vLLM
# "This model's maximum context length is …" and "The decoder prompt (length N) is longer than
# the maximum model length of M"; SGLang "… is longer than the model's context length (…)",
# "Requested token count exceeds the model's maximum context length …" and "Input length (N
# tokens) exceeds the maximum allowed length (M tokens)" (its max_req_input_len).
TOO_LONG = ("context length", "maximum model length", "exceeds the maximum allowed length")


def error_from_reply(status: int, content_type: str, body: bytes) -> HfgateError:
    text = body[:2000].decode("utf-8", "replace")
    platform = platform_error(status, text)
    if platform is not None:
        return platform
    message = _error_message(body) if content_type.startswith("application/json") else None
    message = message or text.strip()[:300] or "no details"
    if status == 429:
        return UpstreamOverloaded(f"the endpoint is overloaded: {message}", retry_after=1)
    if status in (400, 413, 422):
        if any(phrase in message for phrase in TOO_LONG):
            return ContextLengthExceeded(f"the endpoint refused the prompt as too long: {message}")
        return UpstreamBadRequest(f"the endpoint refused the request: {message}")
    if status == 404:
        return UpstreamProtocolError(
            f"the endpoint has no such route or model (HTTP 404): {message}"
        )
    return UpstreamError(f"the endpoint failed (HTTP {status}): {message}")


def _error_message(body: bytes) -> str | None:
    """Old vLLM and SGLang answer ``{"object": "error", "message", "type", "code"}``
    (``ErrorResponse`` in their ``protocol.py``); newer vLLM ``{"error": {"message", …}}``."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, Mapping):
        return None
    error = payload.get("error", payload)
    if isinstance(error, Mapping):
        return str(error.get("message") or "") or None
    return str(error)


def _common_body(
    request: ChatRequest | CompletionRequest, max_tokens: int | None, served_model: str
) -> dict[str, Any]:
    sampling = request.sampling
    body: dict[str, Any] = {
        "model": served_model,
        "stream": request.stream,
        "max_tokens": max_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "stop": sampling.stop or None,
        "seed": sampling.seed,
        "frequency_penalty": sampling.frequency_penalty,
        "presence_penalty": sampling.presence_penalty,
    }
    if request.stream:  # always ask for usage: hfgate records it
        body["stream_options"] = {"include_usage": True}
    return body


def _without_nulls(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


def response_format(value: dict[str, Any] | None) -> dict[str, Any]:
    """TGI's grammar shapes → what vLLM/SGLang take; OpenAI's own shapes pass as sent.

    ``regex`` has no OpenAI form: vLLM ≥ 0.12 reads ``structured_outputs`` (SGLang reads
    ``regex``), so both are sent and each server ignores the one it does not know."""
    if value is None or "value" not in value:
        return {"response_format": value}
    if value["type"] == "regex":
        return {"structured_outputs": {"regex": value["value"]}, "regex": value["value"]}
    if value["type"] == "json_schema":  # TGI's: {"value": {"name"?, "schema"}}
        inner = value["value"] if isinstance(value["value"], dict) else {}
        schema = {"name": inner.get("name") or "response", "schema": inner.get("schema")}
    else:
        schema = {"name": "response", "schema": value["value"]}
    return {"response_format": {"type": "json_schema", "json_schema": schema}}


def chat_body(request: ChatRequest, max_tokens: int | None, served_model: str) -> dict[str, Any]:
    body = (
        _common_body(request, max_tokens, served_model)
        | {
            "messages": request.messages,
            "logprobs": request.logprobs,
            "top_logprobs": request.top_logprobs,
            "tools": request.tools,
            "tool_choice": request.tool_choice,
            "parallel_tool_calls": request.parallel_tool_calls,
        }
        | response_format(request.response_format)
    )
    return _without_nulls(body)


def completion_body(
    request: CompletionRequest, max_tokens: int | None, served_model: str
) -> dict[str, Any]:
    extra = {"prompt": request.prompt, "echo": request.echo or None, "logprobs": request.logprobs}
    return _without_nulls(_common_body(request, max_tokens, served_model) | extra)


def parse_text_completion(body: Any) -> Completion:
    choice = (body.get("choices") or [{}])[0]
    return Completion(
        text=choice.get("text", ""),
        finish_reason=finish_reason(choice.get("finish_reason")),
        usage=openai_usage(body.get("usage")) or Usage(),
        logprobs=choice.get("logprobs"),
    )


def parse_event(data: bytes) -> Delta | None:
    payload = orjson.loads(data)
    if payload.get("error") is not None or payload.get("object") == "error":
        error = payload.get("error")
        status = error.get("code") if isinstance(error, Mapping) else payload.get("code")
        raise error_from_reply(
            int(status) if isinstance(status, int) else 500, "application/json", data
        )
    return openai_delta(payload)


class OpenAIDialect:
    """vLLM / SGLang: OpenAI's own routes; the model field must be the served model's id."""

    name = "openai"
    renders_prompt = False
    echoes = True  # vLLM and SGLang take "echo" themselves

    def __init__(self, served_model: str) -> None:
        self.served_model = served_model

    def chat_call(self, request: ChatRequest, max_tokens: int | None, prompt: str | None) -> Call:
        return Call(
            "/v1/chat/completions",
            chat_body(request, max_tokens, self.served_model),
            request.stream,
        )

    def completion_call(self, request: CompletionRequest, max_tokens: int | None) -> Call:
        body = completion_body(request, max_tokens, self.served_model)
        return Call("/v1/completions", body, request.stream)

    def parse_chat(self, body: Any, headers: Mapping[str, str] | None = None) -> Completion:
        return parse_openai_chat(body)

    def parse_completion(self, body: Any, headers: Mapping[str, str] | None = None) -> Completion:
        return parse_text_completion(body)

    def parse_event(self, data: bytes) -> Delta | None:
        return parse_event(data)

    def parse_completion_event(self, data: bytes) -> Delta | None:
        return parse_event(data)

    def error(self, status: int, content_type: str, body: bytes) -> HfgateError:
        return error_from_reply(status, content_type, body)


def dialect_for(model: ServedModel) -> OpenAIDialect:
    return OpenAIDialect(model.served_model)
