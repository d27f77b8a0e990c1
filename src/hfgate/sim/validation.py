"""TGI's request validation: body shapes (serde, as axum reports them) and parameter rules.

``check_shape`` mirrors what serde does before a handler runs: a wrong type or a missing field is
a 422 ``text/plain`` "Failed to deserialize …" (the caller builds that response). serde's
`` at line L column C`` suffix is left out: the sim does not track positions.

``validate`` mirrors ``router/src/validation.rs`` (v3.3.x): the same checks in the same order,
with the same messages, raised as ``TGIError`` (``Input validation error: …``, 422).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hfgate.sim.config import SimConfig
from hfgate.sim.versions import Features

DEFAULT_GENERATION_LENGTH = 1024


class TGIError(Exception):
    """A TGI error: JSON ``{"error", "error_type"}`` with a status, or an SSE event in streams."""

    def __init__(self, message: str, error_type: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.message, "error_type": self.error_type}


def invalid(detail: str) -> TGIError:
    return TGIError(f"Input validation error: {detail}", "validation", 422)


OVERLOADED = TGIError("Model is overloaded", "overloaded", 429)
GENERATION_FAILED = TGIError(
    "Request failed during generation: Server error: simulated failure (stream_error_after)",
    "generation",
    424,
)


class ShapeError(Exception):
    """The body does not deserialize into the route's request type."""


# A field spec is a type name, "?" suffixed when JSON null is accepted (Rust ``Option``), or a
# nested ``Struct``. ``[string]`` is a list of strings; ``any`` accepts everything.
@dataclass(frozen=True)
class Struct:
    name: str
    fields: dict[str, Any]
    required: tuple[str, ...] = ()


GENERATE_PARAMETERS = Struct(
    "GenerateParameters",
    {
        "best_of": "usize?", "temperature": "f32?", "repetition_penalty": "f32?",
        "frequency_penalty": "f32?", "top_k": "i32?", "top_p": "f32?", "typical_p": "f32?",
        "do_sample": "bool", "max_new_tokens": "u32?", "return_full_text": "bool?",
        "stop": "[string]", "truncate": "usize?", "watermark": "bool", "details": "bool",
        "decoder_input_details": "bool", "seed": "u64?", "top_n_tokens": "u32?",
        "grammar": "any?", "adapter_id": "string?",
    },
)  # fmt: skip
GENERATE_REQUEST = Struct(
    "GenerateRequest", {"inputs": "string", "parameters": GENERATE_PARAMETERS}, ("inputs",)
)
COMPAT_REQUEST = Struct(
    "CompatGenerateRequest",
    {"inputs": "string", "parameters": GENERATE_PARAMETERS, "stream": "bool"},
    ("inputs",),
)
CHAT_REQUEST = Struct(
    "ChatRequest",
    {
        "model": "string?", "messages": "[message]", "frequency_penalty": "f32?",
        "logit_bias": "any?", "logprobs": "bool?", "top_logprobs": "u32?", "max_tokens": "u32?",
        "max_completion_tokens": "u32?", "n": "u32?", "presence_penalty": "f32?",
        "stream": "bool", "seed": "u64?", "temperature": "f32?", "top_p": "f32?",
        "tools": "any?", "tool_prompt": "string?", "tool_choice": "any?",
        "response_format": "any?", "stop": "[string]?",
        "stream_options": Struct("StreamOptions", {"include_usage": "bool"}),
    },
    ("messages",),
)  # fmt: skip
COMPLETION_REQUEST = Struct(
    "CompletionRequest",
    {
        "model": "string?", "prompt": "prompt", "max_tokens": "u32?", "temperature": "f32?",
        "top_p": "f32?", "stream": "bool", "seed": "u64?", "suffix": "string?",
        "repetition_penalty": "f32?", "frequency_penalty": "f32?", "stop": "[string]?",
    },
    ("prompt",),
)  # fmt: skip

_INT_RANGES = {"u32": (0, 2**32 - 1), "u64": (0, 2**64 - 1), "usize": (0, 2**64 - 1)}
_INT_RANGES["i32"] = (-(2**31), 2**31 - 1)
_EXPECTED = {"string": "a string", "bool": "a boolean", "f32": "f32", "[string]": "a sequence"}


def _found(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f'string "{value}"'
    return "sequence" if isinstance(value, list) else "map"


def check_shape(value: Any, spec: Struct) -> None:
    """Raise ``ShapeError`` with serde's message when ``value`` is not a ``spec``."""
    _check_struct(value, spec, "")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _fail(path: str, message: str) -> ShapeError:
    return ShapeError(f"{path}: {message}" if path else message)


def _check_struct(value: Any, spec: Struct, path: str) -> None:
    if not isinstance(value, dict):
        raise _fail(path, f"invalid type: {_found(value)}, expected struct {spec.name}")
    for name in spec.required:
        if name not in value:
            raise _fail(path, f"missing field `{name}`")
    for name, field_spec in spec.fields.items():
        if name in value:
            _check_field(value[name], field_spec, _join(path, name))


def _check_field(value: Any, spec: Any, path: str) -> None:
    if isinstance(spec, Struct):
        # stream_options is an Option (the spec marks it nullable); parameters is not.
        if value is not None or spec.name != "StreamOptions":
            _check_struct(value, spec, path)
        return
    nullable = isinstance(spec, str) and spec.endswith("?")
    kind = spec[:-1] if nullable else spec
    if value is None and nullable:
        return
    if kind == "any":
        return
    _check_kind(value, kind, path)


def _check_kind(value: Any, kind: str, path: str) -> None:
    if kind in _INT_RANGES:
        _check_int(value, kind, path)
    elif kind == "f32":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(path, f"invalid type: {_found(value)}, expected f32")
    elif kind in ("string", "bool"):
        if not isinstance(value, str if kind == "string" else bool):
            raise _fail(path, f"invalid type: {_found(value)}, expected {_EXPECTED[kind]}")
    elif kind == "[string]":
        _check_list(value, path, lambda item, at: _check_kind(item, "string", at))
    elif kind == "[message]":
        _check_list(value, path, _check_message)
    elif kind == "prompt":
        _check_prompt(value, path)


def _check_int(value: Any, kind: str, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, f"invalid type: {_found(value)}, expected {kind}")
    low, high = _INT_RANGES[kind]
    if not low <= value <= high:
        raise _fail(path, f"invalid value: integer `{value}`, expected {kind}")


def _check_list(value: Any, path: str, item_check: Any) -> None:
    if not isinstance(value, list):
        raise _fail(path, f"invalid type: {_found(value)}, expected a sequence")
    for i, item in enumerate(value):
        item_check(item, f"{path}[{i}]")


def _check_message(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise _fail(path, f"invalid type: {_found(value)}, expected struct Message")
    if "role" not in value:
        raise _fail(path, "missing field `role`")
    _check_kind(value["role"], "string", _join(path, "role"))
    content = value.get("content")
    if content is None and value.get("tool_calls") is not None:
        return
    if not isinstance(content, str | list):
        raise _fail(path, "data did not match any variant of untagged enum MessageBody")


def _check_prompt(value: Any, path: str) -> None:
    if isinstance(value, str):
        return
    if isinstance(value, list) and not value:
        raise _fail(path, "Empty array detected. Do not use an empty array for the prompt.")
    _check_list(value, path, lambda item, at: _check_kind(item, "string", at))


@dataclass(slots=True)
class Valid:
    """A request that passed validation: what generation needs."""

    input_length: int
    max_new_tokens: int  # how many tokens may be generated in total
    stop: list[str]
    seed: int | None
    sampling: bool
    top_n_tokens: int


def sampling_requested(params: dict[str, Any]) -> bool:
    return bool(params.get("do_sample")) or any(
        params.get(k) is not None for k in ("temperature", "top_k", "top_p", "typical_p")
    )


def best_of_of(params: dict[str, Any]) -> int:
    """``best_of.unwrap_or(1)`` (an explicit 0 stays 0)."""
    best_of = params.get("best_of")
    return 1 if best_of is None else int(best_of)


def check_best_of(params: dict[str, Any], config: SimConfig) -> int:
    """``validate_best_of``: runs before the other checks on ``/generate``."""
    best_of = best_of_of(params)
    if best_of > 1 and config.max_best_of == 1:
        raise invalid("`best_of` != 1 is not allowed for this endpoint")
    if best_of > config.max_best_of:
        raise invalid(f"`best_of` must be > 0 and <= {config.max_best_of}. Given: {best_of}")
    return best_of


def _check_sampling(params: dict[str, Any], best_of: int) -> None:
    if best_of > 1 and not sampling_requested(params):
        raise invalid("you must use sampling when `best_of` is > 1")
    _positive(params, "temperature")
    _positive(params, "repetition_penalty")
    frequency_penalty = params.get("frequency_penalty")
    if frequency_penalty is not None and not -2.0 <= frequency_penalty <= 2.0:
        raise invalid("`frequency_penalty` must be >= -2.0 and <= 2.0")
    for name in ("top_p", "typical_p"):
        value = params.get(name)
        if value is not None and not 0.0 < value < 1.0:
            raise invalid(f"`{name}` must be > 0.0 and < 1.0")
    top_k = params.get("top_k")
    if top_k is not None and top_k <= 0:
        raise invalid("`top_k` must be strictly positive")


def _positive(params: dict[str, Any], name: str) -> None:
    value = params.get(name)
    if value is not None and value <= 0.0:
        raise invalid(f"`{name}` must be strictly positive")


def _check_limits(params: dict[str, Any], config: SimConfig, best_of: int) -> None:
    if params.get("max_new_tokens") == 0:
        raise invalid("`max_new_tokens` must be strictly positive")
    stop = params.get("stop") or []
    if len(stop) > config.max_stop_sequences:
        raise invalid(
            f"`stop` supports up to {config.max_stop_sequences} stop sequences. Given: {len(stop)}"
        )
    if best_of > 1 and params.get("seed") is not None:
        raise invalid("`seed` must not be set when `best_of` > 1")
    top_n = params.get("top_n_tokens")
    if top_n is not None and top_n > config.max_top_n_tokens:
        raise invalid(
            f"`top_n_tokens` must be >= 0 and <= {config.max_top_n_tokens}. Given: {top_n}"
        )


def validate(
    inputs: str,
    length: int,
    params: dict[str, Any],
    config: SimConfig,
    features: Features,
    best_of: int = 1,
) -> Valid:
    """Check ``params`` for a prompt of ``length`` tokens in TGI's order; raise ``TGIError``."""
    _check_sampling(params, best_of)
    _check_limits(params, config, best_of)
    if not inputs:
        raise invalid("`inputs` cannot be empty")
    truncate = params.get("truncate")
    if truncate is not None and not 0 < truncate <= config.max_input_tokens:
        raise invalid(
            "`truncate` must be strictly positive and less than "
            f"{config.max_input_tokens}. Given: {truncate}"
        )
    input_length = min(length, truncate) if truncate else length
    budget = _check_tokens(input_length, params.get("max_new_tokens"), config, features)
    return Valid(
        input_length=input_length,
        max_new_tokens=budget,
        stop=list(params.get("stop") or []),
        seed=params.get("seed"),
        sampling=sampling_requested(params),
        top_n_tokens=params.get("top_n_tokens") or 0,
    )


def _check_tokens(
    input_length: int, requested: int | None, config: SimConfig, features: Features
) -> int:
    """TGI's order (docs/protocols.md §2.7): the total check first, then the input check.
    Returns the generation budget."""
    total = config.max_total_tokens
    if requested is None and features.auto_max_new_tokens:
        budget = max(total - input_length, 0)
        checked = min(budget, DEFAULT_GENERATION_LENGTH)
    else:
        budget = requested if requested is not None else features.default_max_new_tokens
        capped = features.cap_max_new_tokens and requested is not None
        checked = min(budget, DEFAULT_GENERATION_LENGTH) if capped else budget
    if input_length + checked > total:
        raise invalid(
            f"`inputs` tokens + `max_new_tokens` must be <= {total}. "
            f"Given: {input_length} `inputs` tokens and {checked} `max_new_tokens`"
        )
    if input_length > config.max_input_tokens:
        raise invalid(
            f"`inputs` must have less than {config.max_input_tokens} tokens. Given: {input_length}"
        )
    return budget
