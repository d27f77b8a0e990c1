"""Text-generation-inference: what its answers mean (pure; no I/O here).

Protocol facts (docs/protocols.md §2): ``/info`` renamed ``max_input_length`` to
``max_input_tokens`` in v2.1.0; the Messages API exists since v1.4.0 and ``/chat_tokenize``
since v2.3.0; ``router == "text-generation-router"`` since v2.0.3.
"""

from __future__ import annotations

import re
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
from hfgate.upstream.platform import json_object, platform_error
from hfgate.values.events import Usage
from hfgate.values.request import ChatRequest, CompletionRequest, Sampling
from hfgate.values.served import ServedModel

ROUTER = "text-generation-router"
MESSAGES_API_SINCE = (1, 4, 0)
CHAT_TOKENIZE_SINCE = (2, 3, 0)


@dataclass(frozen=True, slots=True)
class TgiInfo:
    model_id: str
    pipeline_tag: str | None
    max_total_tokens: int
    max_input_tokens: int | None
    version: str | None

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        return version_tuple(self.version)

    @property
    def has_messages_api(self) -> bool:
        return self.version_tuple >= MESSAGES_API_SINCE

    @property
    def has_chat_tokenize(self) -> bool:
        return self.version_tuple >= CHAT_TOKENIZE_SINCE


def version_tuple(version: str | None) -> tuple[int, int, int]:
    """``"3.3.6-dev0"`` → (3, 3, 6). Unknown versions count as new: TGI ≥ 2 always reports one."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version or "")
    if not match:
        return (99, 0, 0)
    major, minor, patch = (int(part) for part in match.groups())
    return (major, minor, patch)


def looks_like_tgi(body: Any) -> bool:
    return isinstance(body, Mapping) and (
        body.get("router") == ROUTER or isinstance(body.get("max_total_tokens"), int)
    )


def parse_info(body: Mapping[str, Any]) -> TgiInfo:
    max_input = body.get("max_input_tokens", body.get("max_input_length"))
    return TgiInfo(
        model_id=str(body.get("model_id") or ""),
        pipeline_tag=body.get("model_pipeline_tag"),
        max_total_tokens=int(body["max_total_tokens"]),
        max_input_tokens=int(max_input) if isinstance(max_input, int) else None,
        version=body.get("version"),
    )


# -- errors ------------------------------------------------------------------------------------

STATUS_BY_ERROR_TYPE = {
    "validation": 422,
    "template_error": 422,
    "tool_error": 422,
    "overloaded": 429,
    "generation": 424,
    "incomplete_generation": 500,
    "incomplete_generation_stream": 500,
}
_LENGTH_ERROR = re.compile(r"must be <= (\d+)\. Given: (\d+) `inputs` tokens and (\d+)")
_INPUT_ERROR = re.compile(r"`inputs` must have less than (\d+) tokens\. Given: (\d+)")
# TGI's OpenAI-style stream errors always say 422: the message prefix tells what happened.
STATUS_BY_PREFIX = (
    ("Input validation error", 422),
    ("Template error", 422),
    ("Tool error", 422),
    ("Model is overloaded", 429),
    ("Request failed during generation", 424),
    ("Incomplete generation", 500),
)


def engine_error(status: int, message: str, error_type: str | None = None) -> HfgateError:
    """TGI's own errors (after the platform's), as hfgate errors; the message is TGI's text."""
    if error_type == "overloaded" or status == 429 or message == "Model is overloaded":
        return UpstreamOverloaded(
            "the endpoint is at its concurrency limit (TGI: Model is overloaded): retry shortly",
            retry_after=1,
        )
    too_long = _length_error(message)
    if too_long is not None:
        return too_long
    if status in (400, 413, 415, 422):
        return UpstreamBadRequest(f"the endpoint refused the request: {message}")
    if status == 404:
        return UpstreamProtocolError(
            "the endpoint has no such route (HTTP 404): it may run another engine now;"
            " an admin can revalidate the integration"
        )
    return UpstreamError(f"the endpoint failed (HTTP {status}): {message or 'no details'}")


def _length_error(message: str) -> ContextLengthExceeded | None:
    if length := _LENGTH_ERROR.search(message):
        limit, prompt, completion = (int(group) for group in length.groups())
        return ContextLengthExceeded(
            f"the endpoint allows {limit:,} tokens in total; this request needs {prompt:,} for the"
            f" prompt and {completion:,} for the completion",
            param="messages",
        )
    if inputs := _INPUT_ERROR.search(message):
        limit, prompt = (int(group) for group in inputs.groups())
        return ContextLengthExceeded(
            f"the endpoint accepts prompts of at most {limit:,} tokens; this one has {prompt:,}",
            param="messages",
        )
    return None


def error_from_reply(status: int, content_type: str, body: bytes) -> HfgateError:
    text = body[:2000].decode("utf-8", "replace")
    platform = platform_error(status, text)
    if platform is not None:
        return platform
    payload = json_object(content_type, body)
    if payload is not None and isinstance(payload.get("error"), str):
        return engine_error(status, payload["error"], payload.get("error_type"))
    return engine_error(status, text.strip()[:300])


def error_from_event(payload: Mapping[str, Any]) -> HfgateError:
    """An error that arrived inside a 200 SSE stream (native or OpenAI-style framing)."""
    error = payload["error"]
    if isinstance(error, Mapping):  # OpenAI routes: http_status_code is always 422 in TGI
        message = str(error.get("message", ""))
        status = next(
            (code for prefix, code in STATUS_BY_PREFIX if message.startswith(prefix)), 500
        )
        return engine_error(status, message)
    error_type = payload.get("error_type")
    return engine_error(STATUS_BY_ERROR_TYPE.get(str(error_type), 500), str(error), error_type)


# -- request building ----------------------------------------------------------------------------


def _top_p(value: float | None) -> float | None:
    # TGI requires 0 < top_p < 1; OpenAI clients send 1.0 by default, which means "off".
    return value if value is not None and 0 < value < 1 else None


def _temperature(sampling: Sampling) -> float | None:
    if sampling.top_p == 0:  # OpenAI: only the most likely token, i.e. greedy
        return 0.0
    return sampling.temperature


JSON_OBJECT = {"type": "object", "properties": {}, "additionalProperties": True}


def _response_format(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI's ``response_format`` → TGI's grammar (``{"type": "json", "value": schema}``);
    TGI's own shapes (``json``, ``json_schema`` or ``regex`` with a ``value``) pass as sent."""
    if value is None or "value" in value:
        return None if value is None else dict(value)
    if value.get("type") == "json_schema":
        return {"type": "json", "value": dict(value["json_schema"]["schema"])}
    # json_object: any object. TGI refuses a schema without "properties" ("Grammar must have
    # a 'properties' field", router/src/validation.rs), and empty properties alone would close
    # the object ("only {}"): so no properties, and any others allowed.
    return {"type": "json", "value": JSON_OBJECT}


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    # TGI rejects explicit nulls for several fields (e.g. "stream": null): send only values.
    return {key: value for key, value in body.items() if value is not None}


def messages_body(request: ChatRequest, max_tokens: int | None) -> dict[str, Any]:
    sampling = request.sampling
    return _drop_none(
        {
            "model": "tgi",
            "messages": request.messages,
            "stream": request.stream,
            "stream_options": {"include_usage": True} if request.stream else None,
            "max_tokens": max_tokens,
            "temperature": _temperature(sampling),
            "top_p": _top_p(sampling.top_p),
            "stop": sampling.stop or None,
            "seed": sampling.seed,
            "frequency_penalty": sampling.frequency_penalty,
            "presence_penalty": sampling.presence_penalty,
            "logprobs": request.logprobs,
            "top_logprobs": request.top_logprobs,
            "tools": request.tools,
            "tool_choice": request.tool_choice,
            "tool_prompt": request.tool_prompt,
            "response_format": _response_format(request.response_format),
        }
    )


def generate_body(
    prompt: str, sampling: Sampling, max_tokens: int | None, top_n: int | None = None
) -> dict[str, Any]:
    """``top_n``: alternatives per token (OpenAI's legacy ``logprobs``); TGI lists them only
    when asked for at least one, so ``logprobs: 0`` asks for one and shows none."""
    temperature = _temperature(sampling)
    greedy = temperature == 0
    parameters = _drop_none(
        {
            "max_new_tokens": max_tokens,
            "do_sample": not greedy,
            "temperature": None if greedy else temperature,
            "top_p": _top_p(sampling.top_p),
            "stop": sampling.stop or None,
            "seed": sampling.seed,
            "frequency_penalty": sampling.frequency_penalty,
            "details": True,
            "return_full_text": False,
            "top_n_tokens": None if top_n is None else max(1, top_n),
        }
    )
    return {"inputs": prompt, "parameters": parameters}


# -- response parsing ------------------------------------------------------------------------------


def openai_usage(usage: Any) -> Usage | None:
    if not isinstance(usage, dict):  # not Mapping: an ABC check costs per token
        return None
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


def parse_openai_chat(body: Any) -> Completion:
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    return Completion(
        text=message.get("content"),
        finish_reason=finish_reason(choice.get("finish_reason")),
        usage=openai_usage(body.get("usage")) or Usage(),
        tool_calls=message.get("tool_calls"),
        logprobs=choice.get("logprobs"),
    )


def openai_delta(payload: Mapping[str, Any]) -> Delta:
    """One OpenAI chunk (chat or text completion) as a delta."""
    delta = Delta(usage=openai_usage(payload.get("usage")))
    choices = payload.get("choices") or []
    if choices:
        choice = choices[0]
        part = choice.get("delta") or {}
        delta.text = part.get("content") or choice.get("text") or ""
        delta.tool_calls = part.get("tool_calls")
        delta.finish_reason = finish_reason(choice.get("finish_reason"))
        delta.logprobs = choice.get("logprobs")
    return delta


def parse_openai_event(data: bytes) -> Delta | None:
    payload = orjson.loads(data)
    if payload.get("error") is not None:
        raise error_from_event(payload)
    return openai_delta(payload)


def _generate_usage(details: Any) -> Usage:
    details = details if isinstance(details, dict) else {}
    return Usage(int(details.get("input_length") or 0), int(details.get("generated_tokens") or 0))


def legacy_logprobs(tokens: list[Any], tops: list[Any] | None) -> dict[str, Any]:
    """TGI's token details → OpenAI's completions ``logprobs`` (tokens, their logprobs, the
    alternatives at each position, and where each token starts in the text)."""
    offsets, at = [], 0
    for token in tokens:
        offsets.append(at)
        at += len(token.get("text") or "")
    return {
        "tokens": [token.get("text") for token in tokens],
        "token_logprobs": [token.get("logprob") for token in tokens],
        "top_logprobs": [
            {top.get("text"): top.get("logprob") for top in alternatives}
            for alternatives in tops or [[] for _ in tokens]
        ],
        "text_offset": offsets,
    }


def parse_generate(body: Any, headers: Mapping[str, str] | None = None) -> Completion:
    if isinstance(body, list):  # POST / wraps the answer in a list
        body = body[0]
    details = body.get("details") or {}
    usage = _generate_usage(details)
    if not usage.prompt_tokens and headers is not None:
        # Non-streaming /generate reports the prompt's length only in a header.
        usage.prompt_tokens = int(headers.get("x-prompt-tokens") or 0)
    tops = details.get("top_tokens")
    return Completion(
        text=body.get("generated_text", ""),
        finish_reason=finish_reason(details.get("finish_reason") or "stop"),
        usage=usage,
        logprobs=legacy_logprobs(details.get("tokens") or [], tops) if tops else None,
    )


def parse_generate_event(data: bytes) -> Delta | None:
    payload = orjson.loads(data)
    if payload.get("error") is not None:
        raise error_from_event(payload)
    token = payload.get("token") or {}
    delta = Delta(text="" if token.get("special") else str(token.get("text", "")))
    if "top_tokens" in payload:  # only there when logprobs were asked for
        delta.logprobs = legacy_logprobs([token], [payload["top_tokens"]])
    if payload.get("generated_text") is not None:
        details = payload.get("details") or {}
        delta.finish_reason = finish_reason(details.get("finish_reason") or "stop")
        delta.usage = _generate_usage(details)
    return delta


class MessagesDialect:
    """TGI ≥ 1.4 with a chat template: chat through the Messages API, completions natively."""

    name = "tgi"
    renders_prompt = False  # TGI applies the chat template itself

    def chat_call(self, request: ChatRequest, max_tokens: int | None, prompt: str | None) -> Call:
        return Call("/v1/chat/completions", messages_body(request, max_tokens), request.stream)

    echoes = False  # TGI's stream never repeats the prompt: hfgate echoes it

    def completion_call(self, request: CompletionRequest, max_tokens: int | None) -> Call:
        path = "/generate_stream" if request.stream else "/generate"
        body = generate_body(request.prompt, request.sampling, max_tokens, request.logprobs)
        return Call(path, body, request.stream)

    def parse_chat(self, body: Any, headers: Mapping[str, str] | None = None) -> Completion:
        return parse_openai_chat(body)

    def parse_completion(self, body: Any, headers: Mapping[str, str] | None = None) -> Completion:
        return parse_generate(body, headers)

    def parse_event(self, data: bytes) -> Delta | None:
        return parse_openai_event(data)

    def parse_completion_event(self, data: bytes) -> Delta | None:
        return parse_generate_event(data)

    def error(self, status: int, content_type: str, body: bytes) -> HfgateError:
        return error_from_reply(status, content_type, body)


class GenerateDialect(MessagesDialect):
    """Old TGI, or a model without a chat template: hfgate renders the prompt, TGI generates."""

    name = "tgi-generate"
    renders_prompt = True

    def chat_call(self, request: ChatRequest, max_tokens: int | None, prompt: str | None) -> Call:
        assert prompt is not None, "the generate dialect needs a rendered prompt"
        path = "/generate_stream" if request.stream else "/generate"
        return Call(path, generate_body(prompt, request.sampling, max_tokens), request.stream)

    def parse_chat(self, body: Any, headers: Mapping[str, str] | None = None) -> Completion:
        return parse_generate(body, headers)

    def parse_event(self, data: bytes) -> Delta | None:
        return parse_generate_event(data)


MESSAGES = MessagesDialect()
GENERATE = GenerateDialect()


def dialect_for(model: ServedModel) -> MessagesDialect:
    """Old TGI, or a model without a chat template, is called through ``/generate``."""
    return GENERATE if model.chat_route == "generate" else MESSAGES
