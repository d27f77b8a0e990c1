"""TGI's OpenAI-compatible routes: chat, completions, models, chat_tokenize."""

from __future__ import annotations

from typing import Any

import pytest

from hfgate.sim import tokenizer
from hfgate.sim.config import CHATML_TEMPLATE
from tests.sim.support import OpenAPI, Sim, sse_json

MESSAGES = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "What is deep learning?"},
]
RENDERED = (
    "<|im_start|>system\nYou are helpful.<|im_end|>\n"
    "<|im_start|>user\nWhat is deep learning?<|im_end|>\n"
    "<|im_start|>assistant\n"
)


def chat(sim: Sim, **body: Any) -> Any:
    with sim.client() as client:
        return client.post("/v1/chat/completions", json={"messages": MESSAGES, **body})


def test_chat_completion(sim: Sim, openapi: OpenAPI) -> None:
    response = chat(sim, model="tgi", max_tokens=100)
    assert response.status_code == 200
    result = response.json()
    openapi.validate("ChatCompletion", result)
    assert result["object"] == "chat.completion" and result["id"] == ""
    assert result["model"] == "meta-llama/Llama-2-7b-chat-hf"
    assert result["system_fingerprint"].startswith("3.3.6-dev0-")
    choice = result["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop"  # EOS on an OpenAI route
    assert not choice["message"]["content"].startswith(" ")
    prompt_tokens = tokenizer.count(RENDERED)  # chat prompts get no BOS
    assert result["usage"] == {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": 16,
        "total_tokens": prompt_tokens + 16,
    }
    assert response.headers["x-prompt-tokens"] == str(prompt_tokens)


def test_chat_echoes_other_model_names_and_reports_length(sim: Sim) -> None:
    result = chat(sim, model="my-adapter", max_tokens=3).json()
    assert result["model"] == "my-adapter"  # TGI echoes it (a LoRA adapter id)
    assert result["choices"][0]["finish_reason"] == "length"
    assert result["usage"]["completion_tokens"] == 3


def test_chat_logprobs(sim: Sim, openapi: OpenAPI) -> None:
    result = chat(sim, max_tokens=2, logprobs=True, top_logprobs=2).json()
    openapi.validate("ChatCompletion", result)
    content = result["choices"][0]["logprobs"]["content"]
    assert len(content) == 2 and all(len(c["top_logprobs"]) == 2 for c in content)


def test_chat_tokenize_matches_usage(sim: Sim, openapi: OpenAPI) -> None:
    with sim.client() as client:
        response = client.post("/chat_tokenize", json={"messages": MESSAGES})
    result = response.json()
    openapi.validate("ChatTokenizeResponse", result)
    assert result["templated_text"] == RENDERED
    assert len(result["tokenize_response"]) == tokenizer.count(RENDERED)
    assert result["tokenize_response"][0]["text"] == "<|im_start|>"  # no BOS: the template's job


def test_chat_stream(sim: Sim, openapi: OpenAPI) -> None:
    response = chat(sim, stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200
    events = sse_json(response.text)
    assert events[-1] == "[DONE]"
    chunks, usage = events[:-2], events[-2]
    for chunk in [*chunks, usage]:
        openapi.validate("ChatCompletionChunk", chunk)
    assert len(chunks) == 16
    assert all(c["choices"][0]["delta"]["role"] == "assistant" for c in chunks)
    assert all(c["id"] == "" and c["usage"] is None for c in chunks)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * 15 + ["stop"]
    assert chunks[-1]["choices"][0]["delta"]["content"] == ""  # EOS is special: empty content
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 16
    text = "".join(c["choices"][0]["delta"]["content"] for c in chunks)
    assert text == chat(sim).json()["choices"][0]["message"]["content"]


def test_chat_stream_without_usage(sim: Sim) -> None:
    events = sse_json(chat(sim, stream=True, max_tokens=2).text)
    assert len(events) == 3 and events[-1] == "[DONE]"
    assert events[-2]["choices"][0]["finish_reason"] == "length"


def test_prefill_when_the_last_message_is_the_assistants(sim: Sim) -> None:
    messages = [*MESSAGES, {"role": "assistant", "content": "Deep learning is"}]
    with sim.client() as client:
        result = client.post("/chat_tokenize", json={"messages": messages}).json()
    assert result["templated_text"].endswith("<|im_start|>assistant\nDeep learning is")


def test_content_chunks_are_flattened(sim: Sim) -> None:
    content = [
        {"type": "text", "text": "Look: "},
        {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
    ]
    with sim.client() as client:
        result = client.post(
            "/chat_tokenize", json={"messages": [{"role": "user", "content": content}]}
        ).json()
    assert "Look: ![](https://x/cat.png)" in result["templated_text"]


def test_no_chat_template_is_a_422_even_when_streaming(sim: Sim, openapi: OpenAPI) -> None:
    sim.patch(chat_template=None)
    expected = {"error": "Template error: template not found", "error_type": "template_error"}
    for body in ({}, {"stream": True}):
        response = chat(sim, **body)
        assert response.status_code == 422
        assert response.json() == expected
        openapi.validate("ErrorResponse", response.json())
    with sim.client() as client:
        tokenize = client.post("/chat_tokenize", json={"messages": MESSAGES})
    assert (tokenize.status_code, tokenize.json()) == (422, expected)
    assert sim.stats()["failures"]["template"] == 3


def test_template_raise_exception_is_a_template_error(sim: Sim) -> None:
    strict = (
        "{% if messages[0]['role'] != 'user' %}"
        "{{ raise_exception('Conversation roles must alternate "
        "user/assistant/user/assistant/...') }}"
        "{% endif %}" + CHATML_TEMPLATE
    )
    sim.patch(chat_template=strict)
    response = chat(sim)
    assert response.status_code == 422
    assert response.json()["error"] == (
        "Template error: syntax error: "
        "Conversation roles must alternate user/assistant/user/assistant/..."
    )


def test_chat_validation_errors(sim: Sim) -> None:
    response = chat(sim, top_p=1.0)  # what OpenAI clients send by default
    assert response.status_code == 422
    assert response.json()["error"] == "Input validation error: `top_p` must be > 0.0 and < 1.0"
    assert (
        chat(sim, temperature=-1)
        .json()["error"]
        .endswith("`temperature` must be strictly positive")
    )
    assert (
        chat(sim, presence_penalty=-2.0)
        .json()["error"]
        .endswith(
            "`repetition_penalty` must be strictly positive"  # presence_penalty + 2.0
        )
    )
    assert chat(sim, temperature=0).status_code == 200  # 0 means greedy, not an error


def test_chat_stream_errors_are_openai_events_then_done(sim: Sim) -> None:
    long = [{"role": "user", "content": "x" + " x" * 4199}]
    with sim.client() as client:
        body = {"messages": long, "stream": True, "max_tokens": 10}
        response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    events = sse_json(response.text)
    prompt = tokenizer.count("<|im_start|>user\n" + long[0]["content"] + "<|im_end|>\n")
    prompt += tokenizer.count("<|im_start|>assistant\n")
    assert prompt == 4207
    assert events == [
        {
            "error": {
                "message": "Input validation error: `inputs` tokens + `max_new_tokens` must be "
                f"<= 4096. Given: {prompt} `inputs` tokens and 10 `max_new_tokens`",
                "http_status_code": 422,
            }
        },
        "[DONE]",
    ]


def test_chat_shape_errors(sim: Sim) -> None:
    with sim.client() as client:
        missing = client.post("/v1/chat/completions", json={"model": "tgi"})
        null_stream = client.post("/v1/chat/completions", json={"messages": [], "stream": None})
        null_options = client.post(
            "/v1/chat/completions", json={"messages": MESSAGES, "stream_options": None}
        )
    assert missing.status_code == 422 and "missing field `messages`" in missing.text
    assert null_stream.status_code == 422 and "stream: invalid type: null" in null_stream.text
    assert null_options.status_code == 200  # Option<StreamOptions> in the spec


def test_tools_with_response_format_are_a_tool_error(sim: Sim) -> None:
    tools = [{"type": "function", "function": {"name": "f", "arguments": {}}}]
    fmt = {"type": "json", "value": {"properties": {}}}
    response = chat(sim, tools=tools, response_format=fmt)
    assert response.status_code == 422
    assert response.json() == {
        "error": "Tool error: Grammar and tools are mutually exclusive",
        "error_type": "tool_error",
    }


def test_completions(sim: Sim, openapi: OpenAPI) -> None:
    with sim.client() as client:
        response = client.post("/v1/completions", json={"prompt": "Once upon", "max_tokens": 100})
        two = client.post("/v1/completions", json={"prompt": ["a", "b"], "max_tokens": 2})
    result = response.json()
    openapi.validate("CompletionFinal", result)
    assert result["object"] == "text_completion" and result["id"] == ""
    assert result["choices"][0]["finish_reason"] == "stop"
    prompt_tokens = tokenizer.input_length("Once upon", add_bos=True)
    assert result["usage"]["prompt_tokens"] == prompt_tokens == 3
    assert [c["index"] for c in two.json()["choices"]] == [0, 1]
    assert two.json()["usage"]["completion_tokens"] == 4


def test_completions_stream_final_chunk_says_eos_token(sim: Sim, openapi: OpenAPI) -> None:
    with sim.client() as client:
        response = client.post("/v1/completions", json={"prompt": "Once upon", "stream": True})
    events = sse_json(response.text)
    assert events[-1] == "[DONE]"
    chunks, final = events[:-2], events[-2]
    # The spec's Completion is a oneOf of Chunk and CompletionFinal, but every CompletionFinal
    # is also a valid Chunk, so oneOf always fails: validate each against its own schema.
    for chunk in chunks:
        openapi.validate("Chunk", chunk)
        assert chunk["choices"][0]["finish_reason"] == "" and "usage" not in chunk
    openapi.validate("CompletionFinal", final)
    assert final["choices"][0]["finish_reason"] == "eos_token"  # to_string(), not "stop"
    assert final["choices"][0]["text"] == "</s>"  # the EOS token's own text
    assert final["usage"]["completion_tokens"] == 16


def test_completions_guards(sim: Sim) -> None:
    with sim.client() as client:
        suffix = client.post("/v1/completions", json={"prompt": "a", "suffix": "b"})
        batch = client.post("/v1/completions", json={"prompt": ["a"] * 5})
        empty = client.post("/v1/completions", json={"prompt": []})
    assert (suffix.status_code, suffix.json()["error_type"]) == (422, "suffix not supported")
    assert batch.json() == {
        "error": "Number of prompts exceeds the maximum allowed batch size of 4",
        "error_type": "batch size exceeded",
    }
    assert empty.status_code == 422 and "Empty array detected" in empty.text


def test_models_is_a_list_object(sim: Sim, openapi: OpenAPI) -> None:
    with sim.client() as client:
        result = client.get("/v1/models").json()
    # The spec says ModelInfo; TGI returns {"object": "list", "data": [ModelInfo]}
    # (docs/protocols.md §2.10).
    assert result["object"] == "list" and len(result["data"]) == 1
    openapi.validate("ModelInfo", result["data"][0])
    assert result["data"][0]["owned_by"] == "meta-llama/Llama-2-7b-chat-hf"


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/completions", "/"])
def test_invocations_dispatches_like_sagemaker(sim: Sim, route: str) -> None:
    bodies = {
        "/v1/chat/completions": {"messages": MESSAGES, "max_tokens": 2},
        "/v1/completions": {"prompt": "hi", "max_tokens": 2},
        "/": {"inputs": "hi", "parameters": {"max_new_tokens": 2, "return_full_text": False}},
    }
    with sim.client() as client:
        direct = client.post(route, json=bodies[route]).json()
        via = client.post("/invocations", json=bodies[route]).json()
    for result in (direct, via):
        if isinstance(result, dict):
            result.pop("created")
    assert via == direct
