"""What validation's facts make of a served model: the dialect each engine gets (the registry),
llama.cpp's errors and stream, vLLM's and SGLang's error wordings, and exact token counts by
``tokenize_route`` (docs/protocols.md §3, §5). Pure, or against a fake transport: no network.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from tests.integrations.engine_answers import (
    ENDPOINT,
    LLAMACPP_LOADING,
    TOKEN,
    FakeEndpoint,
    Route,
    tokenized,
)

from hfgate.chat.tokens import TokenCounter
from hfgate.errors import (
    ContextLengthExceeded,
    EndpointColdStart,
    HfgateError,
    InvalidRequest,
    UpstreamAuthFailed,
    UpstreamBadRequest,
    UpstreamOverloaded,
)
from hfgate.upstream import llamacpp, openai_compat, tei
from hfgate.upstream.registry import dialect_for
from hfgate.values.request import parse_chat_request, parse_completion_request
from hfgate.values.served import ServedModel

JSON = "application/json"
MESSAGES = [{"role": "user", "content": "hi"}]


def model(engine: str, tokenize_route: str | None = None, served: str = "m") -> ServedModel:
    return ServedModel(
        name="m",
        integration_id="i",
        model_name="org/m",
        endpoint=ENDPOINT,
        api_key=TOKEN,
        context_window=4096,
        engine=engine,
        tokenize_route=tokenize_route,
        served_model=served,
    )


def llamacpp_error(status: int, body: Any, content_type: str = JSON) -> HfgateError:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return llamacpp.LlamaCppDialect("m").error(status, content_type, raw)


# ---- the registry --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "dialect"),
    [
        ("llamacpp", llamacpp.LlamaCppDialect),
        ("openai", openai_compat.OpenAIDialect),
        ("tei", tei.TeiDialect),
    ],
)
def test_each_engine_fact_has_a_dialect(engine: str, dialect: type) -> None:
    assert type(dialect_for(model(engine))) is dialect


# ---- llama.cpp -----------------------------------------------------------------------------


def test_llamacpp_loading_model_is_a_cold_start() -> None:
    error = llamacpp_error(*LLAMACPP_LOADING)
    assert isinstance(error, EndpointColdStart)
    assert "still loading the model" in error.message
    assert llamacpp.is_loading(*LLAMACPP_LOADING[:1], orjson.dumps(LLAMACPP_LOADING[1]))


def test_llamacpp_context_overflow_with_numbers() -> None:
    body = {
        "error": {
            "code": 400,
            "message": "request (9412 tokens) exceeds the available context size (8192 tokens),"
            " try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 9412,
            "n_ctx": 8192,
        }
    }
    error = llamacpp_error(400, body)
    assert isinstance(error, ContextLengthExceeded)
    assert error.message == "the endpoint's context holds 8,192 tokens; this prompt has 9,412"


def test_llamacpp_older_context_overflow_wording() -> None:
    message = (
        "the request exceeds the available context size, try increasing the context size or"
        " enable context shift"
    )
    error = llamacpp_error(400, {"error": {"code": 400, "message": message, "type": "x"}})
    assert isinstance(error, ContextLengthExceeded)
    assert message in error.message


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, {"error": {"code": 400, "message": "bad", "type": "invalid_request_error"}}, UpstreamBadRequest),
        (503, b"503 Service Unavailable", EndpointColdStart),  # the proxy: no replica yet
        (401, b"UNAUTHORIZED", UpstreamAuthFailed),
        (503, {"error": {"code": 503, "message": "no slot", "type": "unavailable_error"}}, UpstreamOverloaded),
    ],
)  # fmt: skip
def test_llamacpp_other_errors(status: int, body: Any, kind: type) -> None:
    content_type = JSON if isinstance(body, dict) else "text/plain"
    assert type(llamacpp_error(status, body, content_type)) is kind


def test_llamacpp_stream_error_event_is_raised() -> None:
    event = orjson.dumps(
        {
            "error": {
                "code": 400,
                "message": "request (9 tokens) exceeds the available context size (8 tokens)",
                "type": "exceed_context_size_error",
            }
        }
    )
    with pytest.raises(ContextLengthExceeded):
        llamacpp.parse_event(event)
    chunk = {"choices": [{"delta": {"content": "Hi"}, "finish_reason": None, "index": 0}]}
    delta = llamacpp.parse_event(orjson.dumps(chunk))
    assert delta is not None and delta.text == "Hi"


def test_llamacpp_completions_never_send_echo() -> None:
    request = parse_completion_request({"model": "m", "prompt": "Once", "echo": True})
    dialect = llamacpp.LlamaCppDialect("m")
    call = dialect.completion_call(request, 16)
    assert call.path == "/v1/completions" and "echo" not in call.body
    assert dialect.echoes is False  # the chat service repeats the prompt itself


def test_llamacpp_chat_goes_to_its_openai_route_and_refuses_a_regex() -> None:
    dialect = llamacpp.LlamaCppDialect("/repository/m.gguf")
    call = dialect.chat_call(parse_chat_request({"model": "m", "messages": MESSAGES}), 32, None)
    assert call.path == "/v1/chat/completions"
    assert call.body["model"] == "/repository/m.gguf"
    regex = {"type": "regex", "value": "[a-z]+"}
    request = parse_chat_request({"model": "m", "messages": MESSAGES, "response_format": regex})
    with pytest.raises(InvalidRequest) as refused:
        dialect.chat_call(request, 32, None)
    assert refused.value.param == "response_format"


def test_llamacpp_props() -> None:
    props = llamacpp.parse_props(
        {
            "default_generation_settings": {"n_ctx": 4096},
            "total_slots": 2,
            "chat_template": "",
            "build_info": "b4000-abc",
            "modalities": {"vision": True},
        }
    )
    assert props == llamacpp.Props(4096, 2, "", "b4000-abc", True)


# ---- vLLM and SGLang error wordings ----------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        # vLLM < 0.6
        {"object": "error", "message": "The decoder prompt (length 5000) is longer than the maximum model length of 4096.", "type": "BadRequestError", "param": None, "code": 400},
        # vLLM's OpenAI-shaped error
        {"error": {"message": "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.", "type": "BadRequestError", "param": None, "code": 400}},
        # SGLang ErrorResponse
        {"object": "error", "message": "The input (5000 tokens) is longer than the model's context length (4096 tokens).", "type": "BadRequestError", "param": None, "code": 400},
        {"object": "error", "message": "Input length (5000 tokens) exceeds the maximum allowed length (4090 tokens). Use a shorter input or enable --allow-auto-truncate.", "type": "BadRequestError", "param": None, "code": 400},
    ],
)  # fmt: skip
def test_openai_servers_context_overflow_wordings(body: dict[str, Any]) -> None:
    error = openai_compat.OpenAIDialect("m").error(400, JSON, orjson.dumps(body))
    assert isinstance(error, ContextLengthExceeded), error


def test_sglang_stream_error_event() -> None:
    event = {
        "error": {
            "message": "The input (5000 tokens) is longer than the model's context length (4096 tokens).",
            "type": "BadRequestError",
            "code": 400,
        }
    }
    with pytest.raises(ContextLengthExceeded):
        openai_compat.parse_event(orjson.dumps(event))


# ---- exact token counts by tokenize_route ------------------------------------------------------


def counter(routes: dict[str, Route]) -> tuple[TokenCounter, FakeEndpoint]:
    fake = FakeEndpoint(routes)
    return TokenCounter(fake), fake  # type: ignore[arg-type]


async def test_vllm_counts_a_chat_in_one_call() -> None:
    count, fake = counter({"POST /tokenize": (200, tokenized(12))})
    tools = {"tools": [{"type": "function", "function": {"name": "f"}}], "tool_prompt": "x"}
    assert await count.count_chat(model("openai", "vllm", "Qwen/Q"), MESSAGES, tools) == 12
    assert fake.asked("POST", "/tokenize") == [
        {"model": "Qwen/Q", "messages": MESSAGES, "tools": tools["tools"]}
    ]
    assert await count.count_text(model("openai", "vllm", "Qwen/Q"), "Once") == 12
    assert fake.asked("POST", "/tokenize")[-1] == {"model": "Qwen/Q", "prompt": "Once"}


async def test_llamacpp_counts_a_chat_as_its_template_renders_it() -> None:
    routes: dict[str, Route] = {
        "POST /apply-template": (200, {"prompt": "<|user|>hi<|assistant|>"}),
        "POST /tokenize": (200, {"tokens": [1, 2, 3, 4, 5]}),
    }
    count, fake = counter(routes)
    served = model("llamacpp", "llamacpp")
    assert await count.count_chat(served, MESSAGES) == 5
    assert fake.asked("POST", "/apply-template") == [{"messages": MESSAGES}]
    assert fake.asked("POST", "/tokenize") == [
        {"content": "<|user|>hi<|assistant|>", "add_special": True, "parse_special": True}
    ]
    assert await count.count_chat(served, MESSAGES) == 5
    assert len(fake.asked("POST", "/tokenize")) == 1  # remembered


async def test_sglang_counts_a_chat_in_one_call() -> None:
    count, fake = counter({"POST /tokenize": (200, tokenized(7))})
    assert await count.count_chat(model("openai", "sglang", "/repository"), MESSAGES) == 7
    assert fake.asked("POST", "/tokenize") == [{"model": "/repository", "messages": MESSAGES}]


async def test_an_older_sglang_counts_text_but_not_chats() -> None:
    count, fake = counter({"POST /tokenize": (200, tokenized(3))})
    served = model("openai", "sglang-text", "/repository")
    assert await count.count_chat(served, MESSAGES) is None
    assert fake.seen == []
    assert await count.count_text(served, "Once") == 3
    assert fake.asked("POST", "/tokenize") == [{"model": "/repository", "prompt": "Once"}]


async def test_no_tokenize_route_costs_nothing() -> None:
    count, fake = counter({})
    assert await count.count_chat(model("openai", None), MESSAGES) is None
    assert await count.count_text(model("openai", None), "x") is None
    assert fake.seen == []


async def test_a_llamacpp_still_loading_is_not_counted() -> None:
    count, _ = counter({"POST /apply-template": LLAMACPP_LOADING})
    assert await count.count_chat(model("llamacpp", "llamacpp"), MESSAGES) is None
