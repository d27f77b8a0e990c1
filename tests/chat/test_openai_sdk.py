"""The official OpenAI SDK and LangChain, unchanged, against hfgate in front of simulated TGI.

Every answer is compared with what the simulator generates for the same prompt, so a reply
that was cut, doubled or re-tokenized on the way shows up as a wrong string or a wrong count.
"""

from __future__ import annotations

import time

import openai
import pytest

from hfgate.sim import tokenizer
from tests.chat.support import Peers, chat_tokens, expected_chat, expected_generate, wait_for
from tests.support.peers import ADMIN_KEY

HELLO = [{"role": "user", "content": "Say hello to the gateway."}]


def test_chat_completion_matches_the_endpoint_reply(peers: Peers) -> None:
    reply = peers.openai().chat.completions.create(model=peers.model, messages=HELLO)

    plan = expected_chat(HELLO)
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == plan.text
    assert choice.finish_reason == "stop"
    assert reply.object == "chat.completion"
    assert reply.model == peers.model
    assert reply.id.startswith("chatcmpl-") and len(reply.id) > len("chatcmpl-") + 8
    assert abs(reply.created - time.time()) < 60
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == chat_tokens(HELLO)
    assert reply.usage.completion_tokens == plan.generated_tokens
    assert reply.usage.total_tokens == chat_tokens(HELLO) + plan.generated_tokens


def test_chat_stream_with_include_usage_ends_with_a_usage_chunk(peers: Peers) -> None:
    stream = peers.openai().chat.completions.create(
        model=peers.model,
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    plan = expected_chat(HELLO)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == plan.text
    assert chunks[0].choices[0].delta.role == "assistant"
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert [r for r in reasons if r] == ["stop"]
    assert reasons[-1] == "stop"
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.prompt_tokens == chat_tokens(HELLO)
    assert usage_chunk.usage.completion_tokens == plan.generated_tokens
    assert all(c.usage is None for c in chunks[:-1])
    ids = {c.id for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    assert all(c.object == "chat.completion.chunk" and c.created > 0 for c in chunks)


def test_chat_stream_without_include_usage_has_no_usage_chunk(peers: Peers) -> None:
    chunks = list(
        peers.openai().chat.completions.create(model=peers.model, messages=HELLO, stream=True)
    )

    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected_chat(HELLO).text


def test_completions_create(peers: Peers) -> None:
    prompt = "Once upon a time"
    reply = peers.openai().completions.create(model=peers.model, prompt=prompt, max_tokens=5)

    plan = expected_generate(prompt, max_new_tokens=5)
    assert reply.choices[0].text == plan.text
    assert reply.choices[0].finish_reason == "length"
    assert reply.object == "text_completion"
    assert reply.id.startswith("cmpl-")
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 5
    request = peers.sim.last_request()
    assert request["inputs"] == prompt
    assert request["parameters"]["max_new_tokens"] == 5


def test_completion_usage_counts_the_prompt(peers: Peers) -> None:
    """TGI's /generate details carry no input_length: the prompt must be counted elsewhere."""
    prompt = "Once upon a time"
    reply = peers.openai().completions.create(model=peers.model, prompt=prompt, max_tokens=5)

    assert reply.usage is not None
    assert reply.usage.prompt_tokens == tokenizer.input_length(prompt, add_bos=True)


def test_completions_stream(peers: Peers) -> None:
    prompt = "Once upon a time"
    chunks = list(
        peers.openai().completions.create(
            model=peers.model,
            prompt=prompt,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    plan = expected_generate(prompt)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == plan.text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == tokenizer.input_length(prompt, add_bos=True)
    assert chunks[-1].usage.completion_tokens == plan.generated_tokens


def test_models_list_has_hfgate_fields(peers: Peers) -> None:
    models = {m.id: m for m in peers.openai().models.list()}

    model = models[peers.model]
    extra = model.model_extra or {}
    assert model.object == "model"
    assert extra["context_window"] == 4096
    assert extra["engine"] == "tgi"
    assert extra["model_name"] == peers.model
    assert extra["status"] == "ready"


# -- errors, as the SDK's exception classes ------------------------------------------------------


def test_unknown_model_is_not_found_listing_the_available_ones(peers: Peers) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        peers.openai().chat.completions.create(model="nobody/nothing", messages=HELLO)

    error = caught.value
    assert error.status_code == 404
    assert error.code == "model_not_found"
    assert error.param == "model"
    assert peers.model in error.message
    assert peers.sim.recorder.generation_calls() == []


def test_prompt_over_the_window_is_context_length_exceeded(peers: Peers) -> None:
    long = [{"role": "user", "content": "word " * 5000}]
    with pytest.raises(openai.BadRequestError) as caught:
        peers.openai().chat.completions.create(model=peers.model, messages=long)

    error = caught.value
    assert error.code == "context_length_exceeded"
    body = error.body
    assert isinstance(body, dict)
    assert body["context_window"] == 4096
    assert body["prompt_tokens"] == chat_tokens(long)
    assert f"{chat_tokens(long):,}" in error.message and "4,096" in error.message
    assert peers.sim.recorder.generation_calls() == []


def test_rejected_endpoint_token_is_a_502_for_the_admin(peers: Peers) -> None:
    peers.sim.patch(token="hf_someone_rotated_it")
    with pytest.raises(openai.APIStatusError) as caught:
        peers.openai().chat.completions.create(model=peers.model, messages=HELLO)

    error = caught.value
    assert not isinstance(error, openai.AuthenticationError)
    assert error.status_code == 502
    assert error.code == "upstream_auth_failed"
    assert "hf_someone" not in error.message
    assert peers.status() == "auth_failed"


def test_overloaded_endpoint_is_a_rate_limit_error_with_retry_after(peers: Peers) -> None:
    peers.sim.patch(overloaded=True)
    with pytest.raises(openai.RateLimitError) as caught:
        peers.openai().chat.completions.create(model=peers.model, messages=HELLO)

    assert caught.value.status_code == 429
    assert int(caught.value.response.headers["retry-after"]) >= 1


def test_paused_endpoint_fails_fast_and_shows_paused(peers: Peers) -> None:
    peers.sim.patch(state="paused")
    client = peers.openai()
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=peers.model, messages=HELLO)

    assert time.monotonic() - started < 1.0
    assert caught.value.status_code == 503
    assert caught.value.code == "endpoint_paused"
    assert "resume" in caught.value.message
    assert peers.status() == "paused"
    assert peers.sim.stats()["wakeups"] == 0


def test_status_returns_to_ready_after_a_success(peers: Peers) -> None:
    peers.sim.patch(state="paused")
    with pytest.raises(openai.APIStatusError):
        peers.openai().chat.completions.create(model=peers.model, messages=HELLO)
    assert peers.status() == "paused"

    peers.sim.patch(state="running")
    peers.openai().chat.completions.create(model=peers.model, messages=HELLO)
    assert wait_for(lambda: peers.status() == "ready")


# -- LangChain -----------------------------------------------------------------------------------


def _langchain(peers: Peers) -> object:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=peers.gateway.url + "/v1", api_key=ADMIN_KEY, model=peers.model, max_retries=0
    )


def test_langchain_invoke(peers: Peers) -> None:
    llm = _langchain(peers)
    message = llm.invoke("Say hello to the gateway.")  # type: ignore[attr-defined]

    greedy = peers.sim.last_request().get("temperature") == 0
    assert message.content == expected_chat(HELLO, greedy=greedy).text
    assert message.response_metadata["finish_reason"] == "stop"


def test_langchain_stream(peers: Peers) -> None:
    llm = _langchain(peers)
    chunks = list(llm.stream("Say hello to the gateway."))  # type: ignore[attr-defined]

    greedy = peers.sim.last_request().get("temperature") == 0
    assert len(chunks) > 3
    assert "".join(str(c.content) for c in chunks) == expected_chat(HELLO, greedy=greedy).text
