"""Engines other than a current TGI with a chat template (docs/protocols.md §2.9, §3.1, §4.2).

* TGI 1.3 (no Messages API, old ``data:{…}`` framing, no ``/tokenize``): hfgate renders the
  chat template and calls ``/generate`` / ``/generate_stream``; Llama-2 models get ``[INST]``.
* TGI 3.x serving a model without a chat template: the same route, ChatML as the fallback, or
  the model's own template when the Hub has its ``tokenizer_config.json``.
* A vLLM-like server: OpenAI routes, with the served model's id in ``model``.

One gateway serves all four simulated endpoints; a small Hub beside them serves one template.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hfgate._server import BackgroundServer
from hfgate.sim import tokenizer
from tests.chat.support import (
    MODEL,
    TRIM,
    Peers,
    chat,
    chunk_text,
    expected_chat,
    expected_generate,
    sse_lines,
    sse_payloads,
    started_sim,
)
from tests.support.peers import running_gateway

ZEPHYR = "HuggingFaceH4/zephyr-7b-beta"
MISTRAL = "mistralai/Mistral-7B-Instruct-v0.1"
QWEN = "Qwen/Qwen2.5-7B-Instruct"
HUB_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}[{{ m['role'] | upper }}] {{ m['content'] }}\n"
    "{% endfor %}[ASSISTANT]"
)
WINDOWS = {MODEL: 2048, ZEPHYR: 512, MISTRAL: 4096, QWEN: 4096}
SMALL_QWEN = "qwen-small"  # the same vLLM endpoint, registered with a 512-token window


@dataclass
class Engines:
    old: Peers  # TGI 1.3.0, Llama-2
    plain: Peers  # TGI 3.x, no chat template, no template on the Hub
    hub: Peers  # TGI 3.x, no chat template, the model's template on the Hub
    vllm: Peers
    small_vllm: Peers
    hub_requests: list[dict[str, str]]

    def all(self) -> list[Peers]:
        return [self.old, self.plain, self.hub, self.vllm]


def hub_app(configs: dict[str, dict[str, Any]], seen: list[dict[str, str]]) -> Starlette:
    async def tokenizer_config(request: Request) -> JSONResponse:
        seen.append(dict(request.headers))
        config = configs.get(request.path_params["repo"])
        if config is None:
            return JSONResponse({"error": "Entry not found"}, 404)
        return JSONResponse(config)

    route = Route("/{repo:path}/resolve/main/tokenizer_config.json", tokenizer_config)
    return Starlette(routes=[route])


@pytest.fixture(scope="module")
def module_engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    seen: list[dict[str, str]] = []
    configs = {MISTRAL: {"chat_template": HUB_TEMPLATE, "bos_token": {"content": "<s>"}}}
    with contextlib.ExitStack() as stack:
        hub = stack.enter_context(BackgroundServer(hub_app(configs, seen)))
        sims = {
            MODEL: stack.enter_context(started_sim(tgi_version="1.3.0")),
            ZEPHYR: stack.enter_context(started_sim(model_id=ZEPHYR, chat_template=None)),
            MISTRAL: stack.enter_context(started_sim(model_id=MISTRAL, chat_template=None)),
            QWEN: stack.enter_context(started_sim(model_id=QWEN, engine="vllm")),
        }
        home = tmp_path_factory.mktemp("engines") / "home"
        gateway = stack.enter_context(running_gateway(home, hub_url=hub.url))
        peers = {}
        for name, sim in sims.items():
            answer = gateway.add(sim.credential(model_name=name, context_window=WINDOWS[name]))
            assert answer.status_code == 201, answer.text
            peers[name] = Peers(sim, gateway, name)
        small = sims[QWEN].credential(model_name=QWEN, context_window=512, name=SMALL_QWEN)
        assert gateway.add(small).status_code == 201
        yield Engines(
            peers[MODEL],
            peers[ZEPHYR],
            peers[MISTRAL],
            peers[QWEN],
            Peers(sims[QWEN], gateway, SMALL_QWEN),
            seen,
        )


@pytest.fixture
def engines(module_engines: Engines) -> Engines:
    for peers in module_engines.all():
        peers.restore()
    return module_engines


HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
LLAMA2_HELLO = "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello there [/INST]"


def _sent(peers: Peers) -> dict[str, Any]:
    calls = peers.sim.recorder.generation_calls()
    assert len(calls) == 1, [c.route for c in calls]
    return {"route": calls[0].route, **calls[0].json()}


# -- TGI 1.3: no Messages API --------------------------------------------------------------------


def test_old_tgi_chat_uses_generate_with_the_llama2_template(engines: Engines) -> None:
    old = engines.old
    with old.client() as client:
        answer = chat(client, old.model, messages=HELLO)

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-hfgate-chat-template"] == "fallback (llama-2)"
    sent = _sent(old)
    assert sent["route"] == "POST /generate"
    assert sent["inputs"] == LLAMA2_HELLO
    assert sent["parameters"]["details"] is True
    assert sent["parameters"]["return_full_text"] is False
    body = answer.json()
    assert body["choices"][0]["message"]["content"] == expected_generate(LLAMA2_HELLO).text
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 16


def test_old_tgi_chat_usage_counts_the_prompt(engines: Engines) -> None:
    with engines.old.client() as client:
        answer = chat(client, engines.old.model, messages=HELLO)

    usage = answer.json()["usage"]
    assert usage["prompt_tokens"] == tokenizer.input_length(LLAMA2_HELLO, add_bos=True)


def test_old_tgi_multi_turn_llama2_format(engines: Engines) -> None:
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "U2"},
    ]
    with engines.old.client() as client:
        answer = chat(client, engines.old.model, messages=messages)

    assert answer.status_code == 200, answer.text
    expected = "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST]"
    assert _sent(engines.old)["inputs"] == expected


def test_old_tgi_chat_stream_with_old_framing(engines: Engines) -> None:
    old = engines.old
    with old.client() as client:
        answer = chat(
            client, old.model, messages=HELLO, stream=True, stream_options={"include_usage": True}
        )

    assert answer.headers["x-hfgate-chat-template"] == "fallback (llama-2)"
    sent = _sent(old)
    assert sent["route"] == "POST /generate_stream"
    assert sent["inputs"] == LLAMA2_HELLO
    payloads = sse_payloads(answer.text)
    assert chunk_text(payloads) == expected_generate(LLAMA2_HELLO).text
    reasons = [p["choices"][0]["finish_reason"] for p in payloads[:-2]]
    assert [r for r in reasons if r] == ["stop"]
    usage = payloads[-2]["usage"]
    assert usage["prompt_tokens"] == tokenizer.input_length(LLAMA2_HELLO, add_bos=True)
    assert usage["completion_tokens"] == 16
    assert payloads[-1] == "[DONE]"


def test_old_tgi_stream_cut_without_a_final_event_is_an_error(engines: Engines) -> None:
    """``/generate_stream`` has no [DONE]: only the final event says the answer is complete."""
    engines.old.sim.patch(drop_after=3, token_delay=0.05)
    with engines.old.client() as client:
        answer = chat(client, engines.old.model, messages=HELLO, stream=True)

    payloads = sse_payloads(answer.text)
    assert all(p["choices"][0]["finish_reason"] is None for p in payloads[:-2])
    assert chunk_text(payloads[:-2]) == "".join(
        t.text for t in expected_generate(LLAMA2_HELLO).tokens[:3]
    )
    assert payloads[-2]["error"]["code"] in ("upstream_unreachable", "upstream_protocol_error")
    assert payloads[-1] == "[DONE]"


def test_old_tgi_native_error_event_is_translated(engines: Engines) -> None:
    engines.old.sim.patch(stream_error_after=2)
    with engines.old.client() as client:
        answer = chat(client, engines.old.model, messages=HELLO, stream=True)

    payloads = sse_payloads(answer.text)
    assert len(payloads) == 4
    error = payloads[2]["error"]
    assert error["code"] == "upstream_error"
    assert "generation" in error["message"]
    assert payloads[-1] == "[DONE]"


def test_old_tgi_trims_with_an_estimate_and_stays_in_the_window(engines: Engines) -> None:
    """TGI 1.3 cannot count tokens for hfgate: trimming works from an estimate."""
    messages = [HELLO[0]]
    for i in range(30):
        messages += [
            {"role": "user", "content": f"Question {i}: " + "tell me more " * 7},
            {"role": "assistant", "content": f"Answer {i}: " + "here is more " * 7},
        ]
    messages.append({"role": "user", "content": "Hello there"})
    with engines.old.client() as client:
        answer = chat(client, engines.old.model, messages=messages, max_tokens=40, headers=TRIM)

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-hfgate-token-count"] == "estimate"
    trimmed = int(answer.headers["x-hfgate-trimmed-messages"])
    assert trimmed > 0
    sent = _sent(engines.old)
    assert sent["inputs"].startswith("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n")
    assert sent["inputs"].endswith("Hello there [/INST]")
    assert sent["inputs"].count("[INST]") == 30 - trimmed // 2 + 1
    prompt = tokenizer.input_length(sent["inputs"], add_bos=True)
    assert prompt + sent["parameters"]["max_new_tokens"] <= WINDOWS[MODEL]


def test_old_tgi_completion(engines: Engines) -> None:
    reply = engines.old.openai().completions.create(
        model=engines.old.model, prompt="Once upon", max_tokens=4
    )

    assert reply.choices[0].text == expected_generate("Once upon", max_new_tokens=4).text
    assert reply.choices[0].finish_reason == "length"


# -- TGI 3.x serving a model without a chat template ---------------------------------------------


def test_model_without_template_gets_chatml(engines: Engines) -> None:
    plain = engines.plain
    with plain.client() as client:
        answer = chat(client, plain.model)
        stream = chat(client, plain.model, stream=True)

    prompt = "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
    for response in (answer, stream):
        assert response.status_code == 200, response.text
        assert response.headers["x-hfgate-chat-template"] == "fallback (chatml)"
    calls = plain.sim.recorder.generation_calls()
    assert [c.route for c in calls] == ["POST /generate", "POST /generate_stream"]
    assert all(c.json()["inputs"] == prompt for c in calls)
    text = expected_generate(prompt).text
    assert answer.json()["choices"][0]["message"]["content"] == text
    assert chunk_text(sse_payloads(stream.text)) == text
    assert "/v1/chat/completions" not in {c.path for c in plain.sim.recorder.seen}


def test_model_without_template_counts_exactly_with_tokenize(engines: Engines) -> None:
    plain = engines.plain
    messages = []
    for i in range(10):
        messages += [
            {"role": "user", "content": f"Question {i}: " + "tell me more " * 7},
            {"role": "assistant", "content": f"Answer {i}: " + "here is more " * 7},
        ]
    messages.append({"role": "user", "content": "And now?"})
    with plain.client() as client:
        answer = chat(client, plain.model, messages=messages, max_tokens=40, headers=TRIM)

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-hfgate-token-count"] == "exact"
    sent = _sent(plain)
    prompt = tokenizer.input_length(sent["inputs"], add_bos=True)
    assert answer.headers["x-hfgate-prompt-tokens"] == str(prompt)
    assert prompt + sent["parameters"]["max_new_tokens"] <= WINDOWS[ZEPHYR]
    assert sent["inputs"].endswith("<|im_start|>user\nAnd now?<|im_end|>\n<|im_start|>assistant\n")


def test_model_template_from_the_hub_is_used(engines: Engines) -> None:
    hub = engines.hub
    with hub.client() as client:
        answer = chat(client, hub.model, messages=HELLO)

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-hfgate-chat-template"] == "model"
    assert _sent(hub)["inputs"] == "<s>[SYSTEM] Be brief.\n[USER] Hello there\n[ASSISTANT]"
    asked = [h for h in engines.hub_requests if h.get("authorization")]
    assert asked and asked[-1]["authorization"].startswith("Bearer hf_")


# -- a vLLM-like engine --------------------------------------------------------------------------


def test_vllm_chat_sends_the_served_model_name(engines: Engines) -> None:
    vllm = engines.vllm
    reply = vllm.openai().chat.completions.create(model=vllm.model, messages=HELLO, top_p=1.0)

    sent = _sent(vllm)
    assert sent["route"] == "POST /v1/chat/completions"
    assert sent["model"] == QWEN
    assert sent["top_p"] == 1.0  # vLLM accepts it; nothing to translate
    assert reply.choices[0].message.content == expected_chat(HELLO).text
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == vllm.model
    assert reply.usage is not None and reply.usage.completion_tokens == 16


def test_vllm_chat_stream(engines: Engines) -> None:
    vllm = engines.vllm
    chunks = list(
        vllm.openai().chat.completions.create(
            model=vllm.model,
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    assert _sent(vllm)["model"] == QWEN
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected_chat(HELLO).text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 16
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_vllm_stop_is_removed_once(engines: Engines) -> None:
    vllm = engines.vllm
    words = expected_chat(HELLO).text.split()
    stop = " " + words[4]
    reply = vllm.openai().chat.completions.create(model=vllm.model, messages=HELLO, stop=[stop])

    full = expected_chat(HELLO).text
    assert reply.choices[0].message.content == full[: full.find(stop)]


def test_vllm_completion(engines: Engines) -> None:
    vllm = engines.vllm
    reply = vllm.openai().completions.create(model=vllm.model, prompt="Once upon", max_tokens=4)

    sent = _sent(vllm)
    assert sent["route"] == "POST /v1/completions" and sent["model"] == QWEN
    assert reply.choices[0].text == expected_generate("Once upon", max_new_tokens=4).text
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.prompt_tokens == 3


def test_vllm_context_error_is_context_length_exceeded(engines: Engines) -> None:
    vllm = engines.vllm
    vllm.sim.patch(max_total_tokens=40, max_input_tokens=39)
    with pytest.raises(openai.BadRequestError) as caught:
        vllm.openai().chat.completions.create(model=vllm.model, messages=HELLO, max_tokens=30)

    assert caught.value.code == "context_length_exceeded"
    assert "maximum context length is 40" in caught.value.message


def test_vllm_stream_error_event_is_translated(engines: Engines) -> None:
    vllm = engines.vllm
    vllm.sim.patch(stream_error_after=2)
    with vllm.client() as client:
        answer = chat(client, vllm.model, messages=HELLO, stream=True)

    payloads = sse_payloads(answer.text)
    assert len(payloads) == 4
    assert payloads[2]["error"]["code"] == "upstream_error"
    assert payloads[-1] == "[DONE]"
    assert all(line.startswith("data: ") for line in sse_lines(answer.text))


def test_a_small_window_without_exact_counts_still_serves_a_short_chat(engines: Engines) -> None:
    """hfgate never asks vLLM to count (its /tokenize is unused), so only the byte bound decides.

    "Be brief." + "Hello there" is 24 tokens; the bound (256 + 64 per message + bytes) plus the
    default 256-token reserve is more than 512, and the chat is refused as too long.
    """
    small = engines.small_vllm
    with small.client() as client:
        answer = chat(client, small.model, messages=HELLO)

    assert answer.status_code == 200, answer.text
    assert _sent(small)["model"] == QWEN
