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
IGNORED = frozenset({"user", "logit_bias", "store", "metadata", "service_tier"})
MAX_N = 16  # choices per request; each is one upstream call, run concurrently
IMAGE_SCHEMES = ("https://", "http://", "data:image/")
# OpenAI's and TGI's response_format types; a dialect translates each to its engine's shape.
FORMAT_TYPES = frozenset({"text", "json_object", "json_schema", "json", "regex"})


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
    n: int = 1
    tool_prompt: str | None = None
    parallel_tool_calls: bool | None = None
    images: int = 0  # image parts across all messages (they stay content lists)


@dataclass(slots=True)
class CompletionRequest:
    model: str
    prompt: str
    sampling: Sampling
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    echo: bool = False
    logprobs: int | None = None  # OpenAI's legacy form: how many alternatives per token


def bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def as_object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidRequest("the request body must be a JSON object")
    return body


def _number(body: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(f"{name} must be a number, not {type(value).__name__}", name)
    if not low <= value <= high:
        raise bad(f"{name} must be between {low:g} and {high:g}; got {value:g}", name)
    return float(value)


def _integer(body: Mapping[str, Any], name: str, low: int, high: int = 2**31) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{name} must be an integer, not {type(value).__name__}", name)
    if not low <= value <= high:
        limit = f"at least {low}" if high == 2**31 else f"between {low} and {high}"
        raise bad(f"{name} must be {limit}; got {value}", name)
    return value


def boolean_field(body: Mapping[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise bad(f"{name} must be true or false", name)


def _stop(value: Any) -> list[str]:
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise bad("stop must be a non-empty string or a list of non-empty strings", "stop")
    return list(stops)


def model_field(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("model is required: one of the ids listed by GET /v1/models", "model")
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
        raise bad('stream_options must be an object like {"include_usage": true}', "stream_options")
    if not stream:
        raise bad("stream_options is only allowed when stream is true", "stream_options")
    return bool(boolean_field(options, "include_usage"))


def _n(body: Mapping[str, Any]) -> int:
    return _integer(body, "n", 1, MAX_N) or 1


def _message(index: int, message: Any) -> tuple[dict[str, Any], int]:
    """The message as sent upstream, and how many image parts it carries."""
    where = f"messages[{index}]"
    if not isinstance(message, Mapping):
        raise bad(f"{where} must be an object with role and content", where)
    role = message.get("role")
    if role not in ROLES:
        raise bad(
            f"{where}.role must be one of {', '.join(sorted(ROLES))}; got {role!r}", f"{where}.role"
        )
    content, images = message.get("content"), 0
    if content is None and role == "assistant" and message.get("tool_calls"):
        return dict(message), 0
    if isinstance(content, list):
        content, images = _parts(where, content)
    if not isinstance(content, (str, list)):
        raise bad(
            f"{where}.content must be a string or a list of content parts", f"{where}.content"
        )
    result = dict(message)
    result["role"] = "system" if role == "developer" else role
    result["content"] = content
    return result, images


def _parts(where: str, parts: list[Any]) -> tuple[str | list[dict[str, Any]], int]:
    """Text-only part lists become one string (what every engine and counter reads); a list
    with images is kept, checked, for the engines that take images."""
    images = 0
    for i, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            continue
        if kind == "image_url":
            _image(f"{where}.content[{i}]", part.get("image_url"))
            images += 1
            continue
        raise bad(
            f"{where}.content[{i}] must be a text part {{type: text, text}} or an image part"
            " {type: image_url, image_url: {url}}; other kinds (audio, files) are not supported"
            " by Inference Endpoints' engines",
            f"{where}.content",
        )
    if not images:
        return "".join(part["text"] for part in parts), 0
    return [dict(part) for part in parts], images


def _image(where: str, image: Any) -> None:
    url = image.get("url") if isinstance(image, Mapping) else None
    if not isinstance(url, str) or not url.startswith(IMAGE_SCHEMES):
        raise bad(
            f"{where}.image_url.url must be an https:// URL or a data:image/…;base64 URL",
            f"{where}.image_url",
        )


def _response_format(body: Mapping[str, Any]) -> dict[str, Any] | None:
    value = body.get("response_format")
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind not in FORMAT_TYPES:
        raise bad(
            "response_format must be an object whose type is one of"
            f" {', '.join(sorted(FORMAT_TYPES))}",
            "response_format",
        )
    assert isinstance(value, Mapping)
    if kind == "json_schema" and "value" not in value:
        schema = value.get("json_schema")
        if not isinstance(schema, Mapping) or not isinstance(schema.get("schema"), Mapping):
            raise bad(
                "response_format.json_schema.schema must be a JSON Schema object",
                "response_format",
            )
    if kind in ("json", "regex") and "value" not in value:
        raise bad(f"response_format of type {kind} needs a value", "response_format")
    return None if kind == "text" else dict(value)


def _tools(body: Mapping[str, Any]) -> list[Any] | None:
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise bad("tools must be a list", "tools")
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise bad(
                f"tools[{i}] must be {{type: function, function: {{name, parameters}}}}",
                f"tools[{i}]",
            )
    return tools or None


def _string(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    raise bad(f"{name} must be a string", name)


def parse_chat_request(body: Any) -> ChatRequest:
    body = as_object(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("messages must be a non-empty list of {role, content} objects", "messages")
    stream = bool(boolean_field(body, "stream"))
    parsed = [_message(i, m) for i, m in enumerate(messages)]
    return ChatRequest(
        model=model_field(body),
        messages=[message for message, _ in parsed],
        sampling=parse_sampling(body),
        stream=stream,
        include_usage=_stream_options(body, stream),
        logprobs=boolean_field(body, "logprobs"),
        top_logprobs=_integer(body, "top_logprobs", 0, 20),
        tools=_tools(body),
        tool_choice=body.get("tool_choice"),
        response_format=_response_format(body),
        n=_n(body),
        tool_prompt=_string(body, "tool_prompt"),
        parallel_tool_calls=boolean_field(body, "parallel_tool_calls"),
        images=sum(images for _, images in parsed),
    )


def parse_completion_request(body: Any) -> CompletionRequest:
    body = as_object(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise bad("prompt must be a string (one prompt per request)", "prompt")
    if body.get("suffix"):
        raise bad("suffix is not supported by text-generation endpoints", "suffix")
    stream = bool(boolean_field(body, "stream"))
    return CompletionRequest(
        model=model_field(body),
        prompt=prompt,
        sampling=parse_sampling(body),
        stream=stream,
        include_usage=_stream_options(body, stream),
        n=_n(body),
        echo=bool(boolean_field(body, "echo")),
        logprobs=_integer(body, "logprobs", 0, 5),
    )


# -- context policy ------------------------------------------------------------------------------

POLICIES = ("trim", "strict")


def check_policy(value: str | None, where: str) -> str | None:
    if value is None or value in POLICIES:
        return value
    raise bad(f"{where} must be trim or strict; got {value[:40]!r}", where)


@dataclass(frozen=True, slots=True)
class ContextPolicy:
    """What to do with a request too long for the context window: ``trim`` (drop the oldest
    turns, clamp ``max_tokens``; reported in ``X-Hfgate-*`` headers) or ``strict`` (refuse with
    ``context_length_exceeded``, as OpenAI does). The request's ``X-Hfgate-Context`` header
    wins, then the API key's setting, then the model's, then the caller's default."""

    asked: str | None = None
    key: str | None = None
    default: str = "trim"

    def strict_for(self, model_policy: str | None) -> bool:
        return (self.asked or self.key or model_policy or self.default) == "strict"


WORKSPACE_POLICY = ContextPolicy()
