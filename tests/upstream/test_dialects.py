"""The dialects, pure: request bodies built for TGI and vLLM, their answers read back, and every
error they can send translated once (docs/protocols.md §1.2, §2.5-§2.7, §3.1). No network here.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hfgate.errors import (
    ContextLengthExceeded,
    EndpointColdStart,
    EndpointPaused,
    HfgateError,
    InvalidRequest,
    UpstreamAuthFailed,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamProtocolError,
)
from hfgate.upstream import openai_compat, tgi
from hfgate.upstream.base import finish_reason
from hfgate.values.events import Usage
from hfgate.values.request import parse_chat_request, parse_completion_request

MESSAGES = [{"role": "user", "content": "hi"}]
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
LENGTH = (
    "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8192."
    " Given: 6204 `inputs` tokens and 2047 `max_new_tokens`"
)
MAX_INPUT = "Input validation error: `inputs` must have less than 1024 tokens. Given: 1500"


def chat_request(**body: Any) -> Any:
    return parse_chat_request({"model": "m", "messages": MESSAGES, **body})


def messages_body(max_tokens: int | None = None, **body: Any) -> dict[str, Any]:
    return tgi.messages_body(chat_request(**body), max_tokens)


def generate_params(max_tokens: int | None = None, **body: Any) -> dict[str, Any]:
    return tgi.generate_body("prompt", chat_request(**body).sampling, max_tokens)["parameters"]


def tgi_error(status: int, body: Any, content_type: str = JSON) -> HfgateError:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return tgi.MessagesDialect().error(status, content_type, raw)


def vllm_error(status: int, body: Any, content_type: str = JSON) -> HfgateError:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return openai_compat.OpenAIDialect("m").error(status, content_type, raw)


# -- building TGI Messages API bodies ------------------------------------------------------------


def test_top_p_one_is_dropped() -> None:
    assert "top_p" not in messages_body(top_p=1.0)
    assert "top_p" not in generate_params(top_p=1.0)


def test_top_p_inside_the_open_interval_is_kept() -> None:
    assert messages_body(top_p=0.9)["top_p"] == 0.9
    assert generate_params(top_p=0.9)["top_p"] == 0.9


def test_top_p_zero_means_greedy() -> None:
    body = messages_body(top_p=0, temperature=0.7)
    assert "top_p" not in body
    assert body["temperature"] == 0


def test_temperature_zero_is_sent_not_dropped() -> None:
    assert messages_body(temperature=0)["temperature"] == 0


def test_nulls_are_dropped() -> None:
    body = messages_body(
        temperature=None, top_p=None, stop=None, seed=None, tools=None, response_format=None
    )
    assert None not in body.values()
    assert body == {"model": "tgi", "messages": MESSAGES, "stream": False}


def test_sampling_fields_are_forwarded() -> None:
    body = messages_body(
        30, temperature=0.5, stop=["x"], seed=7, frequency_penalty=0.1, presence_penalty=0.2
    )
    assert body["max_tokens"] == 30
    assert body["temperature"] == 0.5
    assert body["stop"] == ["x"]
    assert body["seed"] == 7
    assert body["frequency_penalty"] == 0.1
    assert body["presence_penalty"] == 0.2


def test_stop_string_becomes_a_list() -> None:
    assert messages_body(stop="END")["stop"] == ["END"]


def test_streams_always_ask_for_usage() -> None:
    assert messages_body(stream=True)["stream_options"] == {"include_usage": True}
    assert "stream_options" not in messages_body(stream=False)


def test_model_is_tgi() -> None:
    assert messages_body()["model"] == "tgi"


def test_json_schema_response_format_becomes_a_grammar() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = messages_body(
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    )
    assert body["response_format"] == {"type": "json", "value": schema}


def test_json_object_response_format_becomes_an_object_grammar() -> None:
    grammar = messages_body(response_format={"type": "json_object"})["response_format"]
    assert grammar["type"] == "json"
    assert grammar["value"]["type"] == "object"


def test_text_response_format_is_not_sent() -> None:
    assert "response_format" not in messages_body(response_format={"type": "text"})


def test_tgi_grammar_response_format_passes_through() -> None:
    grammar = {"type": "regex", "value": "[0-9]+"}
    assert messages_body(response_format=grammar)["response_format"] == grammar


def test_json_schema_without_a_schema_is_the_callers_error() -> None:
    with pytest.raises(InvalidRequest) as caught:
        messages_body(response_format={"type": "json_schema", "json_schema": {"name": "x"}})
    assert caught.value.param == "response_format"


# -- building TGI /generate bodies ---------------------------------------------------------------


def test_generate_body_asks_for_details_and_no_prompt_echo() -> None:
    body = tgi.generate_body("the prompt", chat_request().sampling, 12)
    assert body["inputs"] == "the prompt"
    params = body["parameters"]
    assert params["details"] is True
    assert params["return_full_text"] is False
    assert params["max_new_tokens"] == 12
    assert params["do_sample"] is True
    assert None not in params.values()


def test_generate_body_greedy_when_temperature_is_zero() -> None:
    params = generate_params(temperature=0)
    assert params["do_sample"] is False
    assert "temperature" not in params  # TGI refuses temperature 0 on /generate


def test_generate_body_forwards_sampling() -> None:
    params = generate_params(temperature=0.7, stop=["a", "b"], seed=3, frequency_penalty=0.5)
    assert params["temperature"] == 0.7
    assert params["stop"] == ["a", "b"]
    assert params["seed"] == 3
    assert params["frequency_penalty"] == 0.5
    assert "max_new_tokens" not in params


def test_generate_dialect_routes() -> None:
    dialect = tgi.GenerateDialect()
    plain = dialect.chat_call(chat_request(), 5, "<s>[INST] hi [/INST]")
    streamed = dialect.chat_call(chat_request(stream=True), 5, "<s>[INST] hi [/INST]")
    assert (plain.path, plain.stream) == ("/generate", False)
    assert (streamed.path, streamed.stream) == ("/generate_stream", True)
    assert plain.body["inputs"] == "<s>[INST] hi [/INST]"


def test_messages_dialect_routes() -> None:
    dialect = tgi.MessagesDialect()
    assert dialect.chat_call(chat_request(), None, None).path == "/v1/chat/completions"
    completion = parse_completion_request({"model": "m", "prompt": "p", "stream": True})
    call = dialect.completion_call(completion, 4)
    assert (call.path, call.body["inputs"]) == ("/generate_stream", "p")


# -- building vLLM bodies ------------------------------------------------------------------------


def test_vllm_chat_body_names_the_served_model_and_keeps_top_p_one() -> None:
    call = openai_compat.OpenAIDialect("org/served").chat_call(
        chat_request(top_p=1.0, stream=True, temperature=None), 9, None
    )
    assert call.path == "/v1/chat/completions"
    assert call.body["model"] == "org/served"
    assert call.body["top_p"] == 1.0
    assert call.body["max_tokens"] == 9
    assert call.body["stream_options"] == {"include_usage": True}
    assert None not in call.body.values()


def test_vllm_completion_body() -> None:
    request = parse_completion_request({"model": "m", "prompt": "p", "stop": "x"})
    call = openai_compat.OpenAIDialect("org/served").completion_call(request, None)
    assert call.path == "/v1/completions"
    assert call.body == {"model": "org/served", "prompt": "p", "stream": False, "stop": ["x"]}


def test_vllm_response_format_passes_as_openai_sent_it() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    call = openai_compat.OpenAIDialect("m").chat_call(chat_request(response_format=fmt), 1, None)
    assert call.body["response_format"] == fmt


# -- reading answers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upstream", "openai"),
    [
        ("stop", "stop"),
        ("eos_token", "stop"),
        ("stop_sequence", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        (None, None),
        ("", None),
    ],
)
def test_finish_reasons_are_openais(upstream: str | None, openai: str | None) -> None:
    assert finish_reason(upstream) == openai


def test_parse_openai_chat() -> None:
    body = {
        "id": "",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi."},
                "finish_reason": "stop_sequence",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }
    result = tgi.MessagesDialect().parse_chat(body)
    assert result.text == "Hi."
    assert result.finish_reason == "stop"
    assert result.usage == Usage(7, 3)
    assert result.usage.to_dict() == {
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "total_tokens": 10,
    }


def test_parse_generate_and_compat_list() -> None:
    answer = {
        "generated_text": " world",
        "details": {"finish_reason": "eos_token", "generated_tokens": 2, "seed": None},
    }
    for body in (answer, [answer]):
        result = tgi.GenerateDialect().parse_chat(body)
        assert result.text == " world"
        assert result.finish_reason == "stop"
        assert result.usage.completion_tokens == 2


def test_parse_generate_event_tokens_and_final() -> None:
    dialect = tgi.GenerateDialect()
    token = {"index": 1, "token": {"id": 5, "text": " a", "logprob": -1, "special": False}}
    delta = dialect.parse_event(orjson.dumps({**token, "generated_text": None, "details": None}))
    assert delta is not None
    assert (delta.text, delta.finish_reason, delta.usage) == (" a", None, None)

    final = {
        "index": 2,
        "token": {"id": 2, "text": "</s>", "logprob": -0.1, "special": True},
        "generated_text": " a",
        "details": {"finish_reason": "eos_token", "generated_tokens": 2, "input_length": 9},
    }
    delta = dialect.parse_event(orjson.dumps(final))
    assert delta is not None
    assert delta.text == ""  # a special token is not text
    assert delta.finish_reason == "stop"
    assert delta.usage == Usage(9, 2)


def test_parse_openai_usage_chunk() -> None:
    chunk = {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}}
    delta = tgi.MessagesDialect().parse_event(orjson.dumps(chunk))
    assert delta is not None
    assert (delta.text, delta.finish_reason, delta.usage) == ("", None, Usage(4, 2))


def test_parse_openai_chunk_with_finish() -> None:
    chunk = {
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": "."}, "finish_reason": "length"}
        ],
        "usage": None,
    }
    delta = tgi.MessagesDialect().parse_event(orjson.dumps(chunk))
    assert delta is not None
    assert (delta.text, delta.finish_reason, delta.usage) == (".", "length", None)


def test_parse_text_completion_chunk_from_tgi_uses_eos_token() -> None:
    final = {
        "object": "text_completion",
        "choices": [{"index": 0, "text": "</s>", "logprobs": None, "finish_reason": "eos_token"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }
    delta = openai_compat.parse_event(orjson.dumps(final))
    assert delta is not None
    assert delta.finish_reason == "stop"
    assert delta.usage == Usage(3, 5)


def test_parse_vllm_text_completion() -> None:
    body = {
        "choices": [{"index": 0, "text": " ok", "finish_reason": "length", "stop_reason": None}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
    }
    result = openai_compat.OpenAIDialect("m").parse_completion(body)
    assert (result.text, result.finish_reason, result.usage) == (" ok", "length", Usage(2, 1))


# -- the platform's answers (any engine) ---------------------------------------------------------


@pytest.mark.parametrize("error", [tgi_error, vllm_error], ids=["tgi", "vllm"])
@pytest.mark.parametrize("status", [401, 403])
def test_rejected_token_is_upstream_auth_failed(error: Any, status: int) -> None:
    result = error(status, b"UNAUTHORIZED", TEXT)
    assert isinstance(result, UpstreamAuthFailed)
    assert (result.status, result.code) == (502, "upstream_auth_failed")
    assert f"HTTP {status}" in result.message


@pytest.mark.parametrize("error", [tgi_error, vllm_error], ids=["tgi", "vllm"])
def test_paused_is_endpoint_paused(error: Any) -> None:
    body = b"Bad Request: The endpoint is paused, ask a maintainer to restart it"
    result = error(400, body, TEXT)
    assert isinstance(result, EndpointPaused)
    assert (result.status, result.code) == (503, "endpoint_paused")


@pytest.mark.parametrize("error", [tgi_error, vllm_error], ids=["tgi", "vllm"])
@pytest.mark.parametrize("status", [502, 503, 504])
def test_non_json_5xx_is_a_cold_start(error: Any, status: int) -> None:
    result = error(status, b"<html>503 Service Unavailable</html>", "text/html")
    assert isinstance(result, EndpointColdStart)
    assert result.code == "endpoint_cold_start"


def test_empty_503_is_a_cold_start() -> None:
    assert isinstance(tgi_error(503, b"", ""), EndpointColdStart)


def test_json_503_from_the_engine_is_not_a_cold_start() -> None:
    result = tgi_error(503, {"error": "unhealthy", "error_type": "healthcheck"})
    assert not isinstance(result, EndpointColdStart)
    assert isinstance(result, UpstreamError)


# -- TGI's own errors ----------------------------------------------------------------------------


def test_overloaded_429_has_a_retry_after() -> None:
    result = tgi_error(429, {"error": "Model is overloaded", "error_type": "overloaded"})
    assert isinstance(result, UpstreamOverloaded)
    assert (result.status, result.code) == (429, "upstream_overloaded")
    assert result.retry_after is not None and result.retry_after >= 1


def test_length_422_is_context_length_exceeded_with_the_numbers() -> None:
    result = tgi_error(422, {"error": LENGTH, "error_type": "validation"})
    assert isinstance(result, ContextLengthExceeded)
    assert (result.status, result.code) == (400, "context_length_exceeded")
    for number in ("8,192", "6,204", "2,047"):
        assert number in result.message


def test_max_input_422_is_context_length_exceeded_too() -> None:
    """TGI's other length refusal (docs/protocols.md §2.7): the prompt is over
    ``max_input_tokens``."""
    result = tgi_error(422, {"error": MAX_INPUT, "error_type": "validation"})
    assert isinstance(result, ContextLengthExceeded)
    assert "1,024" in result.message or "1024" in result.message
    assert "1,500" in result.message or "1500" in result.message


def test_other_validation_422_is_the_request_refused() -> None:
    message = "Input validation error: `top_p` must be > 0.0 and < 1.0"
    result = tgi_error(422, {"error": message, "error_type": "validation"})
    assert isinstance(result, UpstreamBadRequest)
    assert (result.status, result.code) == (400, "upstream_rejected_request")
    assert "top_p" in result.message


def test_template_error_422_is_the_request_refused() -> None:
    body = {"error": "Template error: template not found", "error_type": "template_error"}
    result = tgi_error(422, body)
    assert isinstance(result, UpstreamBadRequest)
    assert "template not found" in result.message


def test_axum_text_422_is_the_request_refused() -> None:
    body = b"Failed to deserialize the JSON body into the target type: stream: invalid type: null"
    result = tgi_error(422, body, TEXT)
    assert isinstance(result, UpstreamBadRequest)
    assert "Failed to deserialize" in result.message


def test_payload_too_large_413_is_the_request_refused() -> None:
    result = tgi_error(413, b"Failed to buffer the request body: length limit exceeded", TEXT)
    assert isinstance(result, UpstreamBadRequest)


def test_empty_404_is_a_protocol_error() -> None:
    result = tgi_error(404, b"", "")
    assert isinstance(result, UpstreamProtocolError)
    assert result.status == 502 and "404" in result.message


def test_generation_424_is_the_endpoints_failure() -> None:
    body = {
        "error": "Request failed during generation: Server error: CUDA OOM",
        "error_type": "generation",
    }
    result = tgi_error(424, body)
    assert type(result) is UpstreamError
    assert (result.status, result.code, result.type) == (502, "upstream_error", "upstream_error")
    assert "CUDA OOM" in result.message


def test_incomplete_generation_500_is_the_endpoints_failure() -> None:
    result = tgi_error(
        500, {"error": "Incomplete generation", "error_type": "incomplete_generation"}
    )
    assert type(result) is UpstreamError and result.status == 502


# -- errors inside a 200 stream ------------------------------------------------------------------


def raised(parse: Any, payload: dict[str, Any]) -> HfgateError:
    with pytest.raises(HfgateError) as caught:
        parse(orjson.dumps(payload))
    return caught.value


NATIVE_EVENTS = [
    ({"error": LENGTH, "error_type": "validation"}, ContextLengthExceeded),
    ({"error": "Input validation error: `seed` …", "error_type": "validation"}, UpstreamBadRequest),
    ({"error": "Model is overloaded", "error_type": "overloaded"}, UpstreamOverloaded),
    ({"error": "Request failed during generation: x", "error_type": "generation"}, UpstreamError),
    (
        {"error": "Incomplete generation stream", "error_type": "incomplete_generation_stream"},
        UpstreamError,
    ),
    ({"error": "Template error: boom", "error_type": "template_error"}, UpstreamBadRequest),
]


@pytest.mark.parametrize(("payload", "expected"), NATIVE_EVENTS)
def test_native_stream_error_events(payload: dict[str, Any], expected: type) -> None:
    error = raised(tgi.GenerateDialect().parse_event, payload)
    assert type(error) is expected


@pytest.mark.parametrize(("payload", "expected"), NATIVE_EVENTS)
def test_native_error_events_on_old_tgi_chat_routes(
    payload: dict[str, Any], expected: type
) -> None:
    """TGI 1.4 – 2.3 sent the native shape on /v1/chat/completions too (docs/protocols.md §2.5)."""
    error = raised(tgi.MessagesDialect().parse_event, payload)
    assert type(error) is expected


def openai_event(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "http_status_code": 422}}


def test_openai_style_overloaded_event_is_overloaded_despite_422() -> None:
    error = raised(tgi.MessagesDialect().parse_event, openai_event("Model is overloaded"))
    assert isinstance(error, UpstreamOverloaded)
    assert error.status == 429


def test_openai_style_length_event_is_context_length_exceeded() -> None:
    error = raised(tgi.MessagesDialect().parse_event, openai_event(LENGTH))
    assert isinstance(error, ContextLengthExceeded)
    assert "6,204" in error.message


def test_openai_style_validation_event_is_the_request_refused() -> None:
    message = "Input validation error: `top_n_tokens` must be >= 0 and <= 5. Given: 9"
    error = raised(tgi.MessagesDialect().parse_event, openai_event(message))
    assert isinstance(error, UpstreamBadRequest)


def test_openai_style_generation_failure_is_the_endpoints_fault() -> None:
    """``http_status_code`` is always 422 in TGI's OpenAI-style events (``infer/mod.rs``):
    the message, not the number, says a generation failed on the server."""
    message = "Request failed during generation: Server error: CUDA out of memory"
    error = raised(tgi.MessagesDialect().parse_event, openai_event(message))
    assert type(error) is UpstreamError
    assert error.type == "upstream_error"
    assert "CUDA out of memory" in error.message


def test_openai_style_incomplete_generation_is_the_endpoints_fault() -> None:
    error = raised(tgi.MessagesDialect().parse_event, openai_event("Incomplete generation stream"))
    assert type(error) is UpstreamError


# -- vLLM's errors -------------------------------------------------------------------------------


def vllm_body(message: str, kind: str, code: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def test_vllm_context_length_400() -> None:
    message = (
        "This model's maximum context length is 4096 tokens. However, you requested 5000"
        " tokens (4000 in the messages, 1000 in the completion)."
    )
    result = vllm_error(400, vllm_body(message, "BadRequestError", 400))
    assert isinstance(result, ContextLengthExceeded)
    assert "4096" in result.message


def test_vllm_legacy_error_shape() -> None:
    body = {"object": "error", "message": "temperature must be >= 0", "type": "BadRequestError"}
    result = vllm_error(400, body)
    assert isinstance(result, UpstreamBadRequest)
    assert "temperature must be" in result.message


def test_vllm_unknown_model_404() -> None:
    result = vllm_error(404, vllm_body("The model `x` does not exist.", "NotFoundError", 404))
    assert isinstance(result, UpstreamProtocolError)
    assert "does not exist" in result.message


def test_vllm_fastapi_404() -> None:
    result = vllm_error(404, {"detail": "Not Found"})
    assert isinstance(result, UpstreamProtocolError)
    assert "Not Found" in result.message


def test_vllm_429_and_500() -> None:
    assert isinstance(vllm_error(429, vllm_body("busy", "RateLimitError", 429)), UpstreamOverloaded)
    server = vllm_error(500, vllm_body("boom", "InternalServerError", 500))
    assert type(server) is UpstreamError and "boom" in server.message


def test_vllm_stream_error_event() -> None:
    payload = vllm_body("simulated failure", "InternalServerError", 500)
    error = raised(openai_compat.parse_event, payload)
    assert type(error) is UpstreamError
    assert "simulated failure" in error.message


def test_vllm_stream_error_event_legacy_shape() -> None:
    payload = {"object": "error", "message": "bad stop", "type": "BadRequestError", "code": 400}
    error = raised(openai_compat.parse_event, payload)
    assert isinstance(error, UpstreamBadRequest)


def test_vllm_model_list_parsing() -> None:
    body = {"object": "list", "data": [{"id": "org/m", "max_model_len": 8192}, {"id": "x"}]}
    models = openai_compat.parse_models(body)
    assert models == [
        openai_compat.ListedModel("org/m", 8192),
        openai_compat.ListedModel("x", None),
    ]
    assert openai_compat.parse_models({"detail": "Not Found"}) is None
