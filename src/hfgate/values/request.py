"""OpenAI request bodies, checked and normalised once at the edge (pure).

Parsing by hand rather than with a pydantic model keeps the hot path cheap and every message
precise: each refusal names the parameter (``param``) the way OpenAI's API does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hfgate.errors import InvalidRequest

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# Sent by OpenAI SDKs and tools; accepted and not forwarded (no engine here uses them).
IGNORED = frozenset(
    {"user", "logit_bias", "parallel_tool_calls", "store", "metadata", "service_tier"}
)


@dataclass(slots=True)
class Sampling:
    """What every engine understands, in OpenAI's terms."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    sampling: Sampling
    stream: bool = False
    include_usage: bool = False
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None


@dataclass(slots=True)
class CompletionRequest:
    model: str
    prompt: str
    sampling: Sampling
    stream: bool = False
    include_usage: bool = False


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidRequest("the request body must be a JSON object")
    return body


def _number(body: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f"{name} must be a number, not {type(value).__name__}", name)
    if not low <= value <= high:
        raise _bad(f"{name} must be between {low:g} and {high:g}; got {value:g}", name)
    return float(value)


def _integer(body: Mapping[str, Any], name: str, low: int, high: int = 2**31) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{name} must be an integer, not {type(value).__name__}", name)
    if not low <= value <= high:
        raise _bad(f"{name} must be at least {low}; got {value}", name)
    return value


def _boolean(body: Mapping[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise _bad(f"{name} must be true or false", name)


def _stop(value: Any) -> list[str]:
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise _bad("stop must be a non-empty string or a list of non-empty strings", "stop")
    return list(stops)


def _model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model is required: one of the ids listed by GET /v1/models", "model")
    return model


def parse_sampling(body: Mapping[str, Any]) -> Sampling:
    max_tokens = _integer(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens", 1)
    return Sampling(
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 0.0, 2.0),
        top_p=_number(body, "top_p", 0.0, 1.0),
        stop=_stop(body.get("stop")),
        seed=_integer(body, "seed", -(2**63), 2**64 - 1),
        frequency_penalty=_number(body, "frequency_penalty", -2.0, 2.0),
        presence_penalty=_number(body, "presence_penalty", -2.0, 2.0),
    )


def _stream_options(body: Mapping[str, Any], stream: bool) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, Mapping):
        raise _bad(
            'stream_options must be an object like {"include_usage": true}', "stream_options"
        )
    if not stream:
        raise _bad("stream_options is only allowed when stream is true", "stream_options")
    return bool(_boolean(options, "include_usage"))


def _n(body: Mapping[str, Any]) -> None:
    n = _integer(body, "n", 1)
    if n not in (None, 1):
        raise _bad(
            "n > 1 is not supported by Inference Endpoints' engines: send n separate requests", "n"
        )


def _message(index: int, message: Any) -> dict[str, Any]:
    where = f"messages[{index}]"
    if not isinstance(message, Mapping):
        raise _bad(f"{where} must be an object with role and content", where)
    role = message.get("role")
    if role not in ROLES:
        raise _bad(
            f"{where}.role must be one of {', '.join(sorted(ROLES))}; got {role!r}", f"{where}.role"
        )
    content = message.get("content")
    if content is None and role == "assistant" and message.get("tool_calls"):
        return dict(message)
    if isinstance(content, list):
        content = _flatten_parts(where, content)
    if not isinstance(content, str):
        raise _bad(f"{where}.content must be a string or a list of text parts", f"{where}.content")
    result = dict(message)
    result["role"] = "system" if role == "developer" else role
    result["content"] = content
    return result


def _flatten_parts(where: str, parts: list[Any]) -> str:
    texts = []
    for part in parts:
        if (
            not isinstance(part, Mapping)
            or part.get("type") != "text"
            or not isinstance(part.get("text"), str)
        ):
            raise _bad(
                f"{where}.content: only text parts are supported by text-generation endpoints",
                f"{where}.content",
            )
        texts.append(part["text"])
    return "".join(texts)


def parse_chat_request(body: Any) -> ChatRequest:
    body = _object(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages must be a non-empty list of {role, content} objects", "messages")
    stream = bool(_boolean(body, "stream"))
    _n(body)
    top_logprobs = _integer(body, "top_logprobs", 0, 20)
    response_format = body.get("response_format")
    if response_format is not None and not isinstance(response_format, Mapping):
        raise _bad("response_format must be an object", "response_format")
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise _bad("tools must be a list", "tools")
    return ChatRequest(
        model=_model(body),
        messages=[_message(i, m) for i, m in enumerate(messages)],
        sampling=parse_sampling(body),
        stream=stream,
        include_usage=_stream_options(body, stream),
        logprobs=_boolean(body, "logprobs"),
        top_logprobs=top_logprobs,
        tools=tools or None,
        tool_choice=body.get("tool_choice"),
        response_format=dict(response_format) if response_format else None,
    )


def parse_completion_request(body: Any) -> CompletionRequest:
    body = _object(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise _bad("prompt must be a string (one prompt per request)", "prompt")
    if body.get("suffix"):
        raise _bad("suffix is not supported by text-generation endpoints", "suffix")
    stream = bool(_boolean(body, "stream"))
    _n(body)
    return CompletionRequest(
        model=_model(body),
        prompt=prompt,
        sampling=parse_sampling(body),
        stream=stream,
        include_usage=_stream_options(body, stream),
    )
