"""TGI's native routes, checked against docs/protocols.md §2 and tests/data/tgi-openapi.json."""

from __future__ import annotations

import httpx
import pytest

from hfgate.sim import generation, tokenizer
from tests.sim.support import AUTH, OpenAPI, Sim, sse_json


def test_info_is_the_v3_shape(sim: Sim, openapi: OpenAPI) -> None:
    with sim.client() as client:
        info = client.get("/info").json()
    openapi.validate("Info", info)
    assert info["router"] == "text-generation-router"
    assert info["model_id"] == "meta-llama/Llama-2-7b-chat-hf"
    assert info["model_pipeline_tag"] == "text-generation"
    assert (info["max_input_tokens"], info["max_total_tokens"]) == (4095, 4096)
    assert info["version"] == "3.3.6-dev0"
    assert "max_input_length" not in info and "model_dtype" not in info


def test_info_on_inference_endpoints_says_repository(sim: Sim, openapi: OpenAPI) -> None:
    sim.patch(model_id_repository=True)
    with sim.client() as client:
        info = client.get("/info").json()
        models = client.get("/v1/models").json()
    openapi.validate("Info", info)
    assert (info["model_id"], info["model_sha"], info["model_pipeline_tag"]) == (
        "/repository",
        None,
        None,
    )
    assert models["data"][0]["id"] == "/repository"


def test_health_metrics_and_unknown_routes(sim: Sim) -> None:
    with sim.client() as client:
        health = client.get("/health")
        assert (health.status_code, health.content) == (200, b"")
        assert client.get("/").status_code == 200  # GET / is health; POST / generates
        client.post("/generate", json={"inputs": "x", "parameters": {"max_new_tokens": 1}})
        metrics = client.get("/metrics")
        missing, wrong_method = client.get("/nope"), client.get("/generate")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "tgi_request_success 1" in metrics.text
    assert "tgi_request_count" in metrics.text and "tgi_queue_size 0" in metrics.text
    # axum: empty 404 / 405
    assert (missing.status_code, missing.content) == (404, b"")
    assert (wrong_method.status_code, wrong_method.content) == (405, b"")


def test_generate_with_details(sim: Sim, openapi: OpenAPI) -> None:
    body = {
        "inputs": "What is Deep Learning?",
        "parameters": {"max_new_tokens": 5, "details": True},
    }
    with sim.client() as client:
        response = client.post("/generate", json=body)
    assert response.status_code == 200
    result = response.json()
    openapi.validate("GenerateResponse", result)
    details = result["details"]
    assert details["finish_reason"] == "length" and details["generated_tokens"] == 5
    assert details["seed"] is None and details["prefill"] == []
    expected = generation.plan(
        "What is Deep Learning?", input_length=6, max_new_tokens=5, natural=16
    )
    assert result["generated_text"] == expected.text
    assert [t["text"] for t in details["tokens"]] == [t.text for t in expected.tokens]
    prompt_tokens = tokenizer.input_length("What is Deep Learning?", add_bos=True)
    assert response.headers["x-prompt-tokens"] == str(prompt_tokens) == "6"
    assert response.headers["x-generated-tokens"] == "5"
    for header in ("x-compute-type", "x-compute-time", "x-total-time", "x-time-per-token"):
        assert header in response.headers


def test_generate_without_details_and_natural_end(sim: Sim, openapi: OpenAPI) -> None:
    with sim.client() as client:
        result = client.post("/generate", json={"inputs": "Hi", "parameters": {}}).json()
        sampled = client.post("/generate", json={"inputs": "Hi"}).json()
    assert list(result) == ["generated_text"]  # no details key at all
    assert tokenizer.count(result["generated_text"]) == 15  # 16 tokens, the last is EOS
    assert "details" not in sampled  # parameters omitted: default_parameters() (sampling)


def test_generate_extras_prefill_top_tokens_best_of(sim: Sim, openapi: OpenAPI) -> None:
    params = {
        "max_new_tokens": 3,
        "decoder_input_details": True,
        "top_n_tokens": 2,
        "best_of": 2,
        "do_sample": True,
    }
    with sim.client() as client:
        result = client.post("/generate", json={"inputs": "Say hi", "parameters": params}).json()
    openapi.validate("GenerateResponse", result)
    details = result["details"]
    assert [p["text"] for p in details["prefill"]] == ["<s>", "Say", " hi"]
    assert details["prefill"][0]["logprob"] is None
    assert len(details["top_tokens"]) == 3 and all(len(t) == 2 for t in details["top_tokens"])
    assert len(details["best_of_sequences"]) == 1
    assert isinstance(details["seed"], int)  # sampling reports the seed it drew
    assert sim.state()["in_flight"] == 0  # both permits (one per sequence) came back


def test_stop_sequence_is_kept_in_the_text(sim: Sim) -> None:
    full = generation.plan("Tell me", input_length=3, max_new_tokens=100, natural=16)
    stop = full.tokens[3].text
    body = {"inputs": "Tell me", "parameters": {"stop": [stop], "details": True}}
    with sim.client() as client:
        result = client.post("/generate", json=body).json()
    assert result["details"]["finish_reason"] == "stop_sequence"
    assert result["generated_text"].endswith(stop)


def test_generate_stream_events(sim: Sim, openapi: OpenAPI) -> None:
    body = {"inputs": "Stream please", "parameters": {"max_new_tokens": 20, "details": True}}
    with sim.client() as client:
        response = client.post("/generate_stream", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache"
    assert "data: {" in response.text  # axum 0.7 framing
    events = sse_json(response.text)
    assert "[DONE]" not in events  # /generate_stream never sends [DONE]
    for event in events:
        openapi.validate("StreamResponse", event)
    assert [e["index"] for e in events] == list(range(1, 17))
    assert all(e["generated_text"] is None and e["details"] is None for e in events[:-1])
    last = events[-1]
    assert last["token"]["special"] and last["token"]["text"] == "</s>"
    assert last["details"]["finish_reason"] == "eos_token"
    assert last["details"]["input_length"] == tokenizer.input_length("Stream please", True)
    text = "".join(e["token"]["text"] for e in events if not e["token"]["special"])
    assert last["generated_text"] == text


def test_compat_route_returns_a_list_and_echoes_the_prompt(sim: Sim, openapi: OpenAPI) -> None:
    with sim.client() as client:
        echoed = client.post("/", json={"inputs": "Echo me", "parameters": {"max_new_tokens": 2}})
        plain = client.post(
            "/", json={"inputs": "Echo me", "parameters": {"return_full_text": False}}
        )
        streamed = client.post("/", json={"inputs": "Echo me", "stream": True})
    assert isinstance(echoed.json(), list) and len(echoed.json()) == 1
    openapi.validate("GenerateResponse", echoed.json()[0])
    assert echoed.json()[0]["generated_text"].startswith("Echo me ")  # return_full_text default
    assert not plain.json()[0]["generated_text"].startswith("Echo me")
    assert sse_json(streamed.text)[-1]["generated_text"].startswith("Echo me")


def test_compat_default_is_false_for_other_tasks(sim: Sim) -> None:
    sim.patch(pipeline_tag="text2text-generation")
    with sim.client() as client:
        result = client.post("/", json={"inputs": "Echo me"}).json()
    assert not result[0]["generated_text"].startswith("Echo me")


def test_tokenize_adds_bos_with_byte_offsets(sim: Sim, openapi: OpenAPI) -> None:
    with sim.client() as client:
        tokens = client.post("/tokenize", json={"inputs": "What is it?"}).json()
    openapi.validate("TokenizeResponse", tokens)
    assert tokens[0] == {"id": 1, "text": "", "start": 0, "stop": 0}
    assert [(t["text"], t["start"], t["stop"]) for t in tokens[1:]] == [
        ("What", 0, 4),
        (" is", 4, 7),
        (" it", 7, 10),
        ("?", 10, 11),
    ]


VALIDATION_CASES = [
    ({"top_p": 1.0}, "`top_p` must be > 0.0 and < 1.0"),
    ({"top_p": 0.0}, "`top_p` must be > 0.0 and < 1.0"),
    ({"temperature": 0}, "`temperature` must be strictly positive"),
    ({"max_new_tokens": 0}, "`max_new_tokens` must be strictly positive"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "`stop` supports up to 4 stop sequences. Given: 5"),
    ({"frequency_penalty": 2.5}, "`frequency_penalty` must be >= -2.0 and <= 2.0"),
    ({"repetition_penalty": 0}, "`repetition_penalty` must be strictly positive"),
    ({"top_k": 0}, "`top_k` must be strictly positive"),
    ({"typical_p": 1.0}, "`typical_p` must be > 0.0 and < 1.0"),
    ({"best_of": 3, "do_sample": True}, "`best_of` must be > 0 and <= 2. Given: 3"),
    ({"best_of": 2}, "you must use sampling when `best_of` is > 1"),
    ({"best_of": 2, "do_sample": True, "seed": 1}, "`seed` must not be set when `best_of` > 1"),
    ({"top_n_tokens": 6}, "`top_n_tokens` must be >= 0 and <= 5. Given: 6"),
    ({"truncate": 5000}, "`truncate` must be strictly positive and less than 4095. Given: 5000"),
]


@pytest.mark.parametrize(("params", "message"), VALIDATION_CASES)
def test_validation_messages(sim: Sim, openapi: OpenAPI, params: dict, message: str) -> None:
    with sim.client() as client:
        response = client.post("/generate", json={"inputs": "Hi", "parameters": params})
    assert response.status_code == 422
    openapi.validate("ErrorResponse", response.json())
    assert response.json() == {
        "error": f"Input validation error: {message}",
        "error_type": "validation",
    }


def _long_prompt(tokens: int) -> str:
    # "x" then " x"…: exactly `tokens` tokens, plus BOS when sent to /generate
    return "x" + " x" * (tokens - 1)


def _limit_error(client: httpx.Client, prompt: str, max_new_tokens: int | None) -> str:
    params = {} if max_new_tokens is None else {"max_new_tokens": max_new_tokens}
    response = client.post("/generate", json={"inputs": prompt, "parameters": params})
    assert response.status_code == 422
    return response.json()["error"]


def test_token_limit_messages_in_tgi_order(sim: Sim) -> None:
    total = "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. "
    with sim.client() as client:
        prompt = _long_prompt(4999)  # 5000 tokens with BOS
        assert tokenizer.input_length(prompt, add_bos=True) == 5000
        assert _limit_error(client, prompt, None) == (
            total + "Given: 5000 `inputs` tokens and 0 `max_new_tokens`"
        )
        assert _limit_error(client, _long_prompt(3999), 200) == (
            total + "Given: 4000 `inputs` tokens and 200 `max_new_tokens`"
        )
        # A requested max_new_tokens is checked as min(n, 1024) since v3.1.1
        assert _limit_error(client, _long_prompt(3499), 2000) == (
            total + "Given: 3500 `inputs` tokens and 1024 `max_new_tokens`"
        )
    sim.patch(max_input_tokens=1024, max_total_tokens=2048)
    with sim.client() as client:
        assert _limit_error(client, _long_prompt(1499), 100) == (
            "Input validation error: `inputs` must have less than 1024 tokens. Given: 1500"
        )
        ok = client.post("/generate", json={"inputs": _long_prompt(1023), "parameters": {}})
    assert ok.status_code == 200  # exactly max_input_tokens is allowed ("less than" is loose)


def test_truncate_keeps_the_prompt_within_limits(sim: Sim) -> None:
    body = {"inputs": _long_prompt(4999), "parameters": {"truncate": 100, "details": True}}
    with sim.client() as client:
        response = client.post("/generate", json=body)
    assert response.status_code == 200
    assert response.headers["x-prompt-tokens"] == "100"


AXUM_CASES = [
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "parse"),
    ({"content": b"", "headers": {"content-type": "application/json"}}, 400, "parse"),
    ({"json": {"parameters": {}}}, 422, "missing field `inputs`"),
    ({"json": {"inputs": 1}}, 422, "inputs: invalid type: integer `1`, expected a string"),
    (
        {"json": {"inputs": "x", "parameters": {"max_new_tokens": "5"}}},
        422,
        'parameters.max_new_tokens: invalid type: string "5", expected u32',
    ),
    (
        {"json": {"inputs": "x", "parameters": {"max_new_tokens": -1}}},
        422,
        "parameters.max_new_tokens: invalid value: integer `-1`, expected u32",
    ),
    ({"json": {"inputs": "x", "parameters": {"stop": None}}}, 422, "expected a sequence"),
    (
        {"content": b'{"inputs": "x"}', "headers": {"content-type": "text/plain"}},
        415,
        "Content-Type",
    ),
]


@pytest.mark.parametrize(("request_kwargs", "status", "fragment"), AXUM_CASES)
def test_axum_rejections_are_text_plain(
    sim: Sim, request_kwargs: dict, status: int, fragment: str
) -> None:
    with sim.client() as client:
        response = client.post("/generate", **request_kwargs)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/plain")
    assert fragment in response.text
    if status == 422:
        assert response.text.startswith(
            "Failed to deserialize the JSON body into the target type: "
        )
    if status == 400:
        assert response.text.startswith("Failed to parse the request body as JSON: ")


def test_payload_limit_is_413(sim: Sim) -> None:
    body = b'{"inputs": "' + b"x" * 2_000_001 + b'"}'
    with sim.client() as client:
        response = client.post(
            "/generate", content=body, headers={**AUTH, "content-type": "application/json"}
        )
    assert response.status_code == 413
    assert response.text == "Failed to buffer the request body: length limit exceeded"


def test_stream_validation_errors_arrive_inside_a_200(sim: Sim, openapi: OpenAPI) -> None:
    with sim.client() as client:
        bad = client.post("/generate_stream", json={"inputs": "x", "parameters": {"top_p": 1.0}})
        best_of = client.post(
            "/generate_stream", json={"inputs": "x", "parameters": {"best_of": 2}}
        )
    assert bad.status_code == 200
    events = sse_json(bad.text)
    assert len(events) == 1
    openapi.validate("ErrorResponse", events[0])
    assert events[0]["error_type"] == "validation"
    assert sse_json(best_of.text)[0]["error"] == (
        "Input validation error: `best_of` != 1 is not supported when streaming tokens"
    )
