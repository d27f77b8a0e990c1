"""The simulator's llama.cpp face (``engine="llamacpp"``), against llama.cpp's server sources
(``tools/server/server.cpp``, ``server-http.cpp``, ``server-context.cpp``, ``server-task.cpp``,
``server-common.cpp``, ``README.md``), and through the ``openai`` SDK."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from hfgate.sim import chat, tokenizer
from hfgate.sim.config import CHATML_TEMPLATE
from hfgate.sim.llamacpp import BUILD
from tests.sim.support import TOKEN, Sim, sse_json

MODEL = "meta-llama/Llama-2-7b-chat-hf"
CHAT = {"messages": [{"role": "user", "content": "Hi"}]}
LOADING = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}


def llama(sim: Sim, **changes: Any) -> httpx.Client:
    sim.patch(engine="llamacpp", **changes)
    return sim.client()


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """A chat's prompt: the template's text tokenized with special tokens (BOS added)."""
    text = chat.render(CHATML_TEMPLATE, messages, "<s>", "</s>")
    return tokenizer.input_length(text, add_bos=True)


# -- health and loading ----------------------------------------------------------------------


def test_health_and_the_loading_window(sim: Sim) -> None:
    with llama(sim, loading=0.4) as client:  # the replica just started (the patch set running)
        health = client.get("/health")
        models = client.get("/v1/models")
        props = client.get("/props")
        chat_ = client.post("/v1/chat/completions", json=CHAT)
        unknown = client.get("/info")
        time.sleep(0.45)
        ready = client.get("/health")
        loaded = client.get("/v1/models")
        also = client.get("/v1/health")
    for answer in (health, props, chat_, unknown):
        assert (answer.status_code, answer.json()) == (503, LOADING)
    assert models.status_code == 200 and models.json()["data"][0]["meta"] is None
    assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
    assert loaded.json()["data"][0]["meta"]["n_ctx"] == 4096
    assert also.json() == {"status": "ok"}


def test_loading_follows_a_wake_up(sim: Sim) -> None:
    """The proxy holds the request until the replica runs; the server then loads the GGUF."""
    with llama(sim, state="scaled_to_zero", cold_start=0.2, loading=0.3) as client:
        cold = client.get("/health")
        held = client.get("/health", headers={"X-Scale-Up-Timeout": "5"})
        time.sleep(0.35)
        ready = client.get("/health")
    assert cold.status_code == 503 and cold.headers["content-type"].startswith("text/html")
    assert (held.status_code, held.json()) == (503, LOADING)  # JSON: the engine, not the proxy
    assert ready.status_code == 200


# -- what it says about itself ---------------------------------------------------------------


def test_props(sim: Sim) -> None:
    with llama(sim, max_total_tokens=2048, max_input_tokens=2000) as client:
        props = client.get("/props").json()
    assert props["default_generation_settings"]["n_ctx"] == 2048
    assert props["chat_template"] == CHATML_TEMPLATE and props["build_info"] == BUILD
    assert props["total_slots"] == 4 and props["modalities"]["vision"] is False
    assert props["model_path"].endswith(".gguf") and props["bos_token"] == "<s>"


def test_models(sim: Sim) -> None:
    with llama(sim) as client:
        listing = client.get("/v1/models").json()
        same = client.get("/models").json()
    entry = listing["data"][0]
    assert listing["object"] == "list" and len(listing["data"]) == 1
    assert (entry["id"], entry["owned_by"], entry["object"]) == (MODEL, "llamacpp", "model")
    assert entry["meta"]["n_ctx"] == 4096 and entry["meta"]["n_vocab"] == 32000
    assert same["data"][0]["id"] == MODEL and listing["models"][0]["model"] == MODEL


def test_metrics_need_a_flag(sim: Sim) -> None:
    with llama(sim) as client:
        answer = client.get("/metrics")
    assert answer.status_code == 501 and answer.json()["error"]["type"] == "not_supported_error"


# -- chat --------------------------------------------------------------------------------------


def test_chat(sim: Sim) -> None:
    with llama(sim) as client:
        answer = client.post("/v1/chat/completions", json={**CHAT, "model": "anything"})
    body = answer.json()
    choice = body["choices"][0]
    assert answer.status_code == 200 and body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-") and body["system_fingerprint"] == BUILD
    assert body["model"] == MODEL  # the server's model, whatever the request said
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    assert body["usage"] == {
        "completion_tokens": 16,  # reply_tokens, EOS included
        "prompt_tokens": prompt_tokens(CHAT["messages"]),
        "total_tokens": 16 + prompt_tokens(CHAT["messages"]),
    }
    timings = body["timings"]
    assert (timings["prompt_n"], timings["predicted_n"]) == (body["usage"]["prompt_tokens"], 16)
    assert {"cache_n", "prompt_ms", "predicted_per_second"} <= set(timings)


def test_chat_stream(sim: Sim) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with llama(sim) as client:
        whole = client.post("/v1/chat/completions", json=CHAT).json()
        stream = client.post("/v1/chat/completions", json=body)
    events = sse_json(stream.text)
    assert stream.text.startswith("data: {") and events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == whole["choices"][0]["message"]["content"]
    finish, usage = chunks[-2], chunks[-1]
    assert finish["choices"] == [{"finish_reason": "stop", "index": 0, "delta": {}}]
    assert usage["choices"] == [] and usage["usage"] == whole["usage"]
    assert "timings" in usage and "timings" not in finish  # on the last chunk only
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}


def test_stop_strings_are_left_out(sim: Sim) -> None:
    with llama(sim) as client:
        plain = client.post("/v1/chat/completions", json=CHAT).json()
        text = plain["choices"][0]["message"]["content"]
        word = text.split()[2]
        stopped = client.post("/v1/chat/completions", json={**CHAT, "stop": [word]}).json()
    content = stopped["choices"][0]["message"]["content"]
    assert word not in content and text.startswith(content)
    assert stopped["choices"][0]["finish_reason"] == "stop"


def test_context_overflow(sim: Sim) -> None:
    long = {"messages": [{"role": "user", "content": "word " * 80}]}
    tokens = prompt_tokens(long["messages"])
    with llama(sim, max_total_tokens=64, max_input_tokens=63) as client:
        refused = client.post("/v1/chat/completions", json=long)
        streamed = client.post("/v1/chat/completions", json={**long, "stream": True})
    expected = {
        "error": {
            "code": 400,
            "message": f"request ({tokens} tokens) exceeds the available context size (64"
            " tokens), try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": tokens,
            "n_ctx": 64,
        }
    }
    assert (refused.status_code, refused.json()) == (400, expected)
    assert (streamed.status_code, streamed.json()) == (400, expected)  # the first result


def test_a_full_context_ends_the_reply(sim: Sim) -> None:
    """Context shift is off: the reply stops when the context is full, ``length``."""
    room = 24 - tokenizer.input_length("Once upon a time", add_bos=True) - 1
    with llama(sim, max_total_tokens=24, max_input_tokens=23, reply_tokens=100) as client:
        chat_ = client.post("/v1/chat/completions", json=CHAT).json()
        native = client.post("/completion", json={"prompt": "Once upon a time"}).json()
    assert chat_["choices"][0]["finish_reason"] == "length"
    assert (native["tokens_predicted"], native["truncated"]) == (room, True)
    assert native["stop_type"] == "limit"


def test_request_errors(sim: Sim) -> None:
    with llama(sim) as client:
        no_messages = client.post("/v1/chat/completions", json={"model": "x"})
        not_list = client.post("/v1/chat/completions", json={"messages": "hi"})
        image = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
        no_mmproj = client.post("/v1/chat/completions", json={"messages": [image]})
        not_json = client.post(
            "/v1/chat/completions", content=b"{oops", headers={"content-type": "application/json"}
        )
        missing = client.get("/info")
        wrong_method = client.get("/v1/chat/completions")
    assert (no_messages.status_code, no_messages.json()) == (
        400,
        {
            "error": {
                "code": 400,
                "message": "'messages' is required",
                "type": "invalid_request_error",
            }
        },
    )
    assert not_list.json()["error"]["message"] == "Expected 'messages' to be an array"
    assert no_mmproj.status_code == 500  # a runtime_error, not an invalid_argument
    assert no_mmproj.json()["error"]["message"].startswith("image input is not supported")
    assert not_json.status_code == 500 and not_json.json()["error"]["type"] == "server_error"
    assert not_json.json()["error"]["message"].startswith("[json.exception.parse_error.101]")
    not_found = {"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}}
    assert (missing.status_code, missing.json()) == (404, not_found)
    assert (wrong_method.status_code, wrong_method.json()) == (404, not_found)


def test_a_failure_mid_stream(sim: Sim) -> None:
    with llama(sim, stream_error_after=2) as client:
        stream = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
        whole = client.post("/v1/chat/completions", json=CHAT)
    events = sse_json(stream.text)
    assert events[-1]["error"]["code"] == 500 and "[DONE]" not in events  # the stream just ends
    assert whole.status_code == 500 and whole.json()["error"]["type"] == "server_error"


# -- completions -----------------------------------------------------------------------------


def test_openai_completions(sim: Sim) -> None:
    with llama(sim) as client:
        whole = client.post("/v1/completions", json={"prompt": "Once upon", "max_tokens": 3})
        stream = client.post(
            "/v1/completions", json={"prompt": "Once upon", "max_tokens": 3, "stream": True}
        )
        echo = client.post("/v1/completions", json={"prompt": "x", "echo": True})
        suffix = client.post("/v1/completions", json={"prompt": "x", "suffix": "y"})
    body = whole.json()
    assert body["object"] == "text_completion" and body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["prompt_tokens"] == tokenizer.input_length("Once upon", add_bos=True)
    assert body["usage"]["completion_tokens"] == 3 and "timings" in body
    events = sse_json(stream.text)
    assert events[-1] == "[DONE]" and events[-2]["choices"][0]["finish_reason"] == "length"
    streamed = "".join(e["choices"][0]["text"] for e in events[:-1])
    assert streamed == body["choices"][0]["text"] and "usage" in events[-2]
    assert (echo.status_code, echo.json()["error"]["message"]) == (500, "Only no echo is supported")
    assert suffix.json()["error"]["message"] == "Unsupported param: suffix"


def test_native_completion(sim: Sim) -> None:
    with llama(sim) as client:
        whole = client.post("/completion", json={"prompt": "Once upon", "n_predict": 5}).json()
        stream = client.post(
            "/completion", json={"prompt": "Once upon", "n_predict": 5, "stream": True}
        )
        no_prompt = client.post("/completion", json={"n_predict": 5})
    assert whole["stop"] is True and whole["tokens_predicted"] == 5
    assert whole["tokens_evaluated"] == tokenizer.input_length("Once upon", add_bos=True)
    assert (whole["stop_type"], whole["truncated"]) == ("limit", False)
    assert whole["generation_settings"]["n_predict"] == 5 and whole["prompt"] == "<s>Once upon"
    events = sse_json(stream.text)
    assert "[DONE]" not in events and events[-1]["stop"] is True  # the final object ends it
    assert "".join(e["content"] for e in events) == whole["content"]
    assert [e["tokens_predicted"] for e in events[:-1]] == [1, 2, 3, 4, 5]
    assert no_prompt.status_code == 400
    assert (
        no_prompt.json()["error"]["message"]
        == "[json.exception.out_of_range.403] key 'prompt' not found"
    )


def test_native_completion_stop_word(sim: Sim) -> None:
    with llama(sim) as client:
        text = client.post("/completion", json={"prompt": "Once upon"}).json()["content"]
        word = text.split()[1]
        stopped = client.post("/completion", json={"prompt": "Once upon", "stop": [word]}).json()
    assert (stopped["stop_type"], stopped["stopping_word"]) == ("word", word)
    assert word not in stopped["content"]


# -- tokens and templates --------------------------------------------------------------------


def test_tokenize_detokenize_and_apply_template(sim: Sim) -> None:
    with llama(sim) as client:
        bare = client.post("/tokenize", json={"content": "hello world"}).json()
        special = client.post(
            "/tokenize", json={"content": "hello world", "add_special": True, "with_pieces": True}
        ).json()
        text = client.post("/detokenize", json={"tokens": bare["tokens"]}).json()
        template = client.post("/apply-template", json=CHAT).json()
        counted = client.post(
            "/tokenize",
            json={"content": template["prompt"], "add_special": True, "parse_special": True},
        ).json()
        usage = client.post("/v1/chat/completions", json=CHAT).json()["usage"]
    assert bare == {"tokens": [tokenizer.token_id("hello"), tokenizer.token_id(" world")]}
    assert special["tokens"][0] == {"id": 1, "piece": "<s>"}
    assert special["tokens"][2] == {"id": tokenizer.token_id(" world"), "piece": " world"}
    assert text == {"content": "hello world"}
    assert template["prompt"] == chat.render(CHATML_TEMPLATE, CHAT["messages"], "<s>", "</s>")
    assert len(counted["tokens"]) == usage["prompt_tokens"]  # how a gateway counts exactly


# -- the openai SDK ----------------------------------------------------------------------------


def test_openai_sdk(sim: Sim) -> None:
    llama(sim, max_total_tokens=64, max_input_tokens=63).close()
    client = openai.OpenAI(base_url=sim.url + "/v1", api_key=TOKEN, max_retries=0)
    reply = client.chat.completions.create(model="gguf", messages=CHAT["messages"])
    assert reply.choices[0].finish_reason == "stop" and reply.usage is not None
    assert reply.system_fingerprint == BUILD
    chunks = list(
        client.chat.completions.create(
            model="gguf",
            messages=CHAT["messages"],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == reply.choices[0].message.content
    assert (
        chunks[-1].usage is not None and chunks[-1].usage.total_tokens == reply.usage.total_tokens
    )
    completion = client.completions.create(model="gguf", prompt="Once upon", max_tokens=2)
    assert completion.usage is not None and completion.usage.completion_tokens == 2
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="gguf", messages=[{"role": "user", "content": "word " * 80}]
        )
    error = refused.value.body
    assert isinstance(error, dict) and error["type"] == "exceed_context_size_error"
    assert error["n_ctx"] == 64 and error["n_prompt_tokens"] > 64
