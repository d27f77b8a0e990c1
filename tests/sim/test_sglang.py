"""The simulator's SGLang face (``engine="sglang"``), against SGLang's sources
(``srt/entrypoints/http_server.py``, ``openai/protocol.py``, ``serving_base.py``,
``serving_chat.py``, ``sse_utils.py``, ``managers/tokenizer_manager.py``), and through the
``openai`` SDK."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from hfgate.sim import chat, tokenizer
from hfgate.sim.config import CHATML_TEMPLATE
from hfgate.sim.sglang import SGLANG_VERSION
from tests.sim.support import TOKEN, Sim, sse_json

MODEL = "meta-llama/Llama-2-7b-chat-hf"
CHAT = {"messages": [{"role": "user", "content": "Hi"}]}
LONG = {"messages": [{"role": "user", "content": "word " * 80}]}


def sglang(sim: Sim, **changes: Any) -> httpx.Client:
    sim.patch(engine="sglang", **changes)
    return sim.client()


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    text = chat.render(CHATML_TEMPLATE, messages, "<s>", "</s>")
    return tokenizer.count(text)  # the template's tokens: no BOS added on top


def error(message: str, kind: str = "BadRequestError", code: int = 400) -> dict[str, Any]:
    return {"object": "error", "message": message, "type": kind, "param": None, "code": code}


# -- what the server says about itself ---------------------------------------------------------


def test_health(sim: Sim) -> None:
    with sglang(sim, loading=0.3) as client:
        starting = [client.get(p) for p in ("/health", "/health_generate")]
        ping = client.get("/ping")
        time.sleep(0.35)
        up = [client.get(p) for p in ("/health", "/health_generate")]
    assert [(a.status_code, a.content) for a in starting] == [(503, b"")] * 2
    assert [(a.status_code, a.content) for a in up] == [(200, b"")] * 2
    assert (ping.status_code, ping.content) == (200, b"")


def test_model_and_server_info(sim: Sim) -> None:
    with sglang(sim, max_total_tokens=8192, max_input_tokens=8000) as client:
        model = client.get("/get_model_info").json()
        server = client.get("/get_server_info").json()
        listing = client.get("/v1/models").json()
        card = client.get(f"/v1/models/{MODEL}").json()
        info = client.get("/info")
    assert model == {
        "model_path": MODEL,
        "tokenizer_path": MODEL,
        "is_generation": True,
        "preferred_sampling_params": None,
        "weight_version": "default",
    }
    assert server["version"] == SGLANG_VERSION and server["max_req_input_len"] == 8191
    entry = listing["data"][0]
    assert (entry["id"], entry["owned_by"], entry["max_model_len"]) == (MODEL, "sglang", 8192)
    assert (entry["root"], entry["parent"]) == (MODEL, None) and card == entry | {
        "created": card["created"]
    }
    assert (info.status_code, info.json()) == (404, {"detail": "Not Found"})  # FastAPI's own


# -- chat --------------------------------------------------------------------------------------


def test_chat(sim: Sim) -> None:
    with sglang(sim) as client:
        default = client.post("/v1/chat/completions", json=CHAT).json()
        named = client.post("/v1/chat/completions", json={**CHAT, "model": "mine"}).json()
    choice = default["choices"][0]
    assert default["model"] == "default" and named["model"] == "mine"  # echoed, not checked
    assert default["object"] == "chat.completion" and len(default["id"]) == 32
    assert choice["message"] == {
        "role": "assistant",
        "content": choice["message"]["content"],
        "reasoning_content": None,
        "tool_calls": None,
    }
    assert (choice["finish_reason"], choice["matched_stop"]) == ("stop", tokenizer.EOS_ID)
    tokens = prompt_tokens(CHAT["messages"])
    assert default["usage"] == {
        "prompt_tokens": tokens,
        "total_tokens": tokens + 16,
        "completion_tokens": 16,
        "prompt_tokens_details": None,
        "reasoning_tokens": 0,
    }


def test_chat_stream(sim: Sim) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with sglang(sim) as client:
        whole = client.post("/v1/chat/completions", json=CHAT).json()
        stream = client.post("/v1/chat/completions", json=body)
    events = sse_json(stream.text)
    assert events[-1] == "[DONE]"
    first, *middle, finish, usage = events[:-1]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"]["content"] for c in middle)
    assert text == whole["choices"][0]["message"]["content"]
    assert finish["choices"] == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop", "matched_stop": 2}
    ]
    assert usage["choices"] == [] and usage["usage"] == whole["usage"]
    assert {e["object"] for e in events[:-1]} == {"chat.completion.chunk"}


def test_stop_strings_and_length(sim: Sim) -> None:
    with sglang(sim) as client:
        text = client.post("/v1/chat/completions", json=CHAT).json()["choices"][0]["message"][
            "content"
        ]
        word = text.split()[2]
        stopped = client.post("/v1/chat/completions", json={**CHAT, "stop": word}).json()
        short = client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 3}).json()
    assert word not in stopped["choices"][0]["message"]["content"]
    assert stopped["choices"][0]["matched_stop"] == word
    assert (short["choices"][0]["finish_reason"], short["choices"][0]["matched_stop"]) == (
        "length",
        None,
    )
    assert short["usage"]["completion_tokens"] == 3


def test_context_length_refusals(sim: Sim) -> None:
    tokens = prompt_tokens(LONG["messages"])
    small = prompt_tokens(CHAT["messages"])
    with sglang(sim, max_total_tokens=64, max_input_tokens=63) as client:
        long = client.post("/v1/chat/completions", json=LONG)
        streamed = client.post("/v1/chat/completions", json={**LONG, "stream": True})
        total = client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 60})
        fits = client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 64 - small})
    input_error = error(
        f"The input ({tokens} tokens) is longer than the model's context length (64 tokens)."
    )
    assert (long.status_code, long.json()) == (400, input_error)
    assert (streamed.status_code, streamed.json()) == (400, input_error)  # before the 200
    assert total.status_code == 400
    assert total.json()["message"] == (
        "Requested token count exceeds the model's maximum context length of 64 tokens. You"
        f" requested a total of {small + 60} tokens: {small} tokens from the input messages and"
        " 60 tokens for the completion. Please reduce the number of tokens in the input"
        " messages or the completion to fit within the limit."
    )
    assert fits.status_code == 200


def test_request_errors(sim: Sim) -> None:
    with sglang(sim) as client:
        missing = client.post("/v1/chat/completions", json={"model": "x"})
        media = client.post(
            "/v1/chat/completions", content=b"{}", headers={"content-type": "text/plain"}
        )
        not_json = client.post(
            "/v1/chat/completions", content=b"{oops", headers={"content-type": "application/json"}
        )
        wrong_method = client.get("/v1/chat/completions")
    body = missing.json()
    assert missing.status_code == 400 and (body["object"], body["type"], body["code"]) == (
        "error",
        "Bad Request",
        400,
    )
    assert "'missing'" in body["message"] and "'messages'" in body["message"]
    assert "Only 'application/json' is allowed" in media.json()["message"]
    assert not_json.status_code == 400 and "json_invalid" in not_json.json()["message"]
    assert (wrong_method.status_code, wrong_method.json()) == (
        405,
        {"detail": "Method Not Allowed"},
    )


def test_a_failure_mid_stream(sim: Sim) -> None:
    with sglang(sim, stream_error_after=2) as client:
        stream = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
        whole = client.post("/v1/chat/completions", json=CHAT)
    events = sse_json(stream.text)
    assert events[-1] == "[DONE]"
    assert events[-2] == {
        "error": error("simulated failure (stream_error_after)", "INTERNAL_SERVER_ERROR", 500)
    }
    assert whole.status_code == 500 and whole.json()["type"] == "InternalServerError"


# -- completions and tokens ------------------------------------------------------------------


def test_completions(sim: Sim) -> None:
    with sglang(sim, reply_tokens=40) as client:
        default = client.post("/v1/completions", json={"prompt": "Once upon"}).json()
        echo = client.post("/v1/completions", json={"prompt": "Once upon", "echo": True}).json()
        stream = client.post(
            "/v1/completions",
            json={"prompt": "Once upon", "stream": True, "stream_options": {"include_usage": True}},
        )
    choice = default["choices"][0]
    assert default["object"] == "text_completion" and default["usage"]["completion_tokens"] == 16
    assert (choice["finish_reason"], choice["matched_stop"]) == ("length", None)  # 16 by default
    assert default["usage"]["prompt_tokens"] == tokenizer.input_length("Once upon", add_bos=True)
    assert echo["choices"][0]["text"] == "Once upon" + choice["text"]
    events = sse_json(stream.text)
    assert events[-1] == "[DONE]" and events[-2]["usage"]["completion_tokens"] == 16
    assert "".join(e["choices"][0]["text"] for e in events[:-3]) == choice["text"]
    assert events[-3]["choices"][0]["finish_reason"] == "length"


def test_tokenize_and_detokenize(sim: Sim) -> None:
    with sglang(sim) as client:
        one = client.post("/tokenize", json={"model": MODEL, "prompt": "hello world"}).json()
        many = client.post(
            "/v1/tokenize", json={"prompt": ["hi", "hello world"], "add_special_tokens": False}
        ).json()
        chat_ = client.post("/v1/tokenize", json=CHAT).json()
        both = client.post("/tokenize", json={"prompt": "a", **CHAT})
        text = client.post("/detokenize", json={"tokens": one["tokens"]}).json()
        usage = client.post("/v1/chat/completions", json=CHAT).json()["usage"]
    assert one == {
        "tokens": [1, tokenizer.token_id("hello"), tokenizer.token_id(" world")],
        "count": 3,
        "max_model_len": 4096,
    }
    assert many["count"] == [1, 2]
    assert chat_["count"] == usage["prompt_tokens"]  # a chat counted as it is run
    assert (
        both.status_code == 400
        and "Exactly one of 'prompt' or 'messages'" in both.json()["message"]
    )
    assert text == {"text": "hello world"}  # skip_special_tokens by default


# -- the openai SDK ----------------------------------------------------------------------------


def test_openai_sdk(sim: Sim) -> None:
    sglang(sim, max_total_tokens=64, max_input_tokens=63).close()
    client = openai.OpenAI(base_url=sim.url + "/v1", api_key=TOKEN, max_retries=0)
    reply = client.chat.completions.create(model=MODEL, messages=CHAT["messages"])
    assert reply.model == MODEL and reply.choices[0].finish_reason == "stop"
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=CHAT["messages"],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == reply.choices[0].message.content
    assert (
        chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == reply.usage.prompt_tokens
    )
    completion = client.completions.create(model=MODEL, prompt="Once upon", max_tokens=2)
    assert completion.choices[0].finish_reason == "length"
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=MODEL, messages=LONG["messages"])
    assert refused.value.status_code == 400
    assert "longer than the model's context length (64 tokens)" in str(refused.value)
    assert isinstance(refused.value.body, dict) and refused.value.body["object"] == "error"
