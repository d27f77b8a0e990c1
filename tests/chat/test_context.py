"""Never sending more than the context window (docs/protocols.md §5), with exact token counts.

The model is registered with ``context_window: 512`` in front of a 4,096-token TGI, so hfgate's
window is the limit. Counts are computed with the simulator's tokenizer over the prompt its
chat template renders — the same numbers TGI's ``/chat_tokenize`` reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.chat.support import (
    Peers,
    chat,
    chat_tokens,
    chunk_text,
    deployment,
    sse_payloads,
)

WINDOW = 512
SYSTEM = {"role": "system", "content": "You are a careful assistant who answers briefly."}


@pytest.fixture(scope="module")
def module_peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    home = tmp_path_factory.mktemp("context") / "home"
    with deployment(home, credential={"context_window": WINDOW}) as peers:
        yield peers


def trimming(peers: Peers) -> httpx.Client:
    """A client that asks for the trim policy (API keys default to strict)."""
    client = peers.client()
    client.headers["X-Hfgate-Context"] = "trim"
    return client


def conversation(turns: int, *, system: bool = True, last: str = "And what now?") -> list[dict]:
    messages: list[dict[str, Any]] = [SYSTEM] if system else []
    for i in range(turns):
        messages.append({"role": "user", "content": f"Question {i}: " + "tell me more " * 7})
        messages.append({"role": "assistant", "content": f"Answer {i}: " + "here is more " * 7})
    messages.append({"role": "user", "content": last})
    return messages


def expected_fit(messages: list[dict], reserve: int) -> tuple[list[dict], int]:
    """Drop the oldest (user, assistant) turns until the prompt leaves ``reserve`` tokens."""
    head = [m for m in messages[:1] if m["role"] == "system"]
    rest = messages[len(head) :]
    dropped = 0
    while chat_tokens(head + rest) + reserve > WINDOW:
        assert rest[0]["role"] == "user" and rest[1]["role"] == "assistant"
        rest = rest[2:]
        dropped += 2  # the header counts messages: a user turn and its answer
    return head + rest, dropped


@pytest.mark.parametrize("system", [True, False], ids=["with-system", "no-system"])
def test_oldest_turns_are_dropped_exactly(peers: Peers, system: bool) -> None:
    messages = conversation(12, system=system)
    assert chat_tokens(messages) > WINDOW
    kept, dropped = expected_fit(messages, reserve=50)
    assert dropped > 0

    with trimming(peers) as client:
        answer = chat(client, peers.model, messages=messages, max_tokens=50)

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-hfgate-trimmed-messages"] == str(dropped)
    assert answer.headers["x-hfgate-token-count"] == "exact"
    assert answer.headers["x-hfgate-prompt-tokens"] == str(chat_tokens(kept))
    sent = peers.sim.last_request()
    assert sent["messages"] == kept
    assert sent["messages"][-1] == messages[-1]
    assert (sent["messages"][0] == SYSTEM) is system
    assert sent["max_tokens"] == 50
    usage = answer.json()["usage"]
    assert usage["prompt_tokens"] == chat_tokens(kept)
    assert usage["prompt_tokens"] + sent["max_tokens"] <= WINDOW


def test_keeping_one_more_turn_would_not_fit(peers: Peers) -> None:
    messages = conversation(12)
    kept, dropped = expected_fit(messages, reserve=50)
    restored = [SYSTEM, *messages[1:][dropped - 2 :]]
    assert chat_tokens(restored) + 50 > WINDOW

    with trimming(peers) as client:
        chat(client, peers.model, messages=messages, max_tokens=50)

    assert len(peers.sim.last_request()["messages"]) == len(kept) == len(restored) - 2


def test_without_max_tokens_the_completion_gets_the_rest_of_the_window(peers: Peers) -> None:
    messages = conversation(12)
    kept, dropped = expected_fit(messages, reserve=WINDOW // 2)

    with trimming(peers) as client:
        answer = chat(client, peers.model, messages=messages)

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-hfgate-trimmed-messages"] == str(dropped)
    sent = peers.sim.last_request()
    assert sent["messages"] == kept
    assert chat_tokens(kept) + sent["max_tokens"] == WINDOW


def test_trimming_headers_on_a_stream(peers: Peers) -> None:
    messages = conversation(12)
    kept, dropped = expected_fit(messages, reserve=50)

    with trimming(peers) as client:
        answer = chat(client, peers.model, messages=messages, max_tokens=50, stream=True)

    assert answer.headers["x-hfgate-trimmed-messages"] == str(dropped)
    assert peers.sim.last_request()["messages"] == kept
    assert sse_payloads(answer.text)[-1] == "[DONE]"
    assert chunk_text(sse_payloads(answer.text))


def test_short_conversation_is_sent_untouched(peers: Peers) -> None:
    messages = conversation(1)
    with trimming(peers) as client:
        answer = chat(client, peers.model, messages=messages, max_tokens=20)

    assert answer.status_code == 200
    assert "x-hfgate-trimmed-messages" not in answer.headers
    assert peers.sim.last_request()["messages"] == messages


def test_too_large_max_tokens_is_clamped_to_the_room_left(peers: Peers) -> None:
    messages = conversation(1)
    room = WINDOW - chat_tokens(messages)

    with trimming(peers) as client:
        answer = chat(client, peers.model, messages=messages, max_tokens=1000)

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-hfgate-max-tokens-clamped"] == str(room)
    assert peers.sim.last_request()["max_tokens"] == room


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Hfgate-Context": "strict"}, {"X-Hfgate-Strict": "1"}],
    ids=["api-key-default", "header", "older-header"],
)
def test_too_large_max_tokens_is_refused_when_strict(peers: Peers, headers: dict) -> None:
    messages = conversation(1)
    with peers.client() as client:
        answer = client.post(
            "/v1/chat/completions",
            json={"model": peers.model, "messages": messages, "max_tokens": 1000},
            headers=headers,
        )

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert error["param"] == "max_tokens"
    assert "1,000" in error["message"]
    assert f"{chat_tokens(messages):,}" in error["message"]
    assert peers.sim.recorder.generation_calls() == []


def test_when_nothing_fits_the_answer_is_400_with_the_numbers(peers: Peers) -> None:
    messages = conversation(3, last="Summarise: " + "lots of words " * 200)
    alone = [SYSTEM, messages[-1]]
    assert chat_tokens(alone) + 50 > WINDOW

    with trimming(peers) as client:
        answer = chat(client, peers.model, messages=messages, max_tokens=50)

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "context_length_exceeded"
    assert error["prompt_tokens"] == chat_tokens(alone)
    assert error["completion_reserve"] == 50
    assert error["context_window"] == WINDOW
    assert f"{chat_tokens(alone):,}" in error["message"]
    assert "dropping the 6 oldest messages" in error["message"]
    assert peers.sim.recorder.generation_calls() == []


def test_when_nothing_fits_a_stream_is_refused_before_it_starts(peers: Peers) -> None:
    messages = conversation(0, last="lots of words " * 200)
    with trimming(peers) as client:
        answer = chat(client, peers.model, messages=messages, stream=True)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "context_length_exceeded"


def test_completion_prompt_over_the_window_is_refused(peers: Peers) -> None:
    with trimming(peers) as client:
        answer = client.post(
            "/v1/completions",
            json={"model": peers.model, "prompt": "lots of words " * 200, "max_tokens": 10},
        )

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "context_length_exceeded"
    assert peers.sim.recorder.generation_calls() == []


def test_completion_max_tokens_is_clamped(peers: Peers) -> None:
    prompt = "a short prompt"
    with trimming(peers) as client:
        answer = client.post(
            "/v1/completions",
            json={"model": peers.model, "prompt": prompt, "max_tokens": 5000},
        )

    assert answer.status_code == 200, answer.text
    sent = peers.sim.last_request()["parameters"]["max_new_tokens"]
    assert answer.headers["x-hfgate-max-tokens-clamped"] == str(sent)
    assert sent + 4 <= WINDOW  # 3 words and BOS


# -- an engine that disagrees with hfgate's numbers ----------------------------------------------


def test_upstream_length_422_reaches_the_caller_as_context_length_exceeded(peers: Peers) -> None:
    """The endpoint was redeployed with a smaller limit than the integration says."""
    peers.sim.patch(max_total_tokens=100, max_input_tokens=99)
    messages = conversation(2)
    with trimming(peers) as client:
        answer = chat(client, peers.model, messages=messages, max_tokens=50)

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "100" in error["message"]
    assert f"{chat_tokens(messages):,}" in error["message"]
    assert peers.sim.stats()["failures"] == {"validation": 1}


def test_upstream_length_error_inside_a_stream_is_translated(peers: Peers) -> None:
    peers.sim.patch(max_total_tokens=100, max_input_tokens=99)
    with trimming(peers) as client:
        answer = chat(client, peers.model, messages=conversation(2), max_tokens=50, stream=True)

    # The error event came before any output, so hfgate could still answer with a real status.
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "http_status_code" not in error


def test_estimated_count_when_the_endpoint_is_asleep_still_trims(peers: Peers) -> None:
    """Counting does not wait for a sleeping endpoint: an estimate decides what to drop."""
    peers.sim.patch(state="scaled_to_zero", cold_start=0.5)
    messages = conversation(12, system=False, last="Anything new?")  # not in the count cache

    with trimming(peers) as client:
        answer = chat(client, peers.model, messages=messages, max_tokens=50)

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-hfgate-token-count"] == "estimate"
    assert "x-hfgate-prompt-tokens" not in answer.headers
    sent = peers.sim.last_request()
    assert sent["messages"][-1] == messages[-1]
    assert sent["messages"] == messages[len(messages) - len(sent["messages"]) :]
    assert chat_tokens(sent["messages"]) + sent["max_tokens"] <= WINDOW
    dropped = len(messages) - len(sent["messages"])
    assert answer.headers["x-hfgate-trimmed-messages"] == str(dropped)
    assert peers.sim.stats()["wakeups"] == 1


def test_an_estimate_does_not_refuse_a_conversation_that_fits(peers: Peers) -> None:
    """The system prompt and the last message are ~30 tokens; the byte bound says ~465.

    Refusing with ``context_length_exceeded`` and "needs 465 prompt tokens" reports a guess as
    a fact and turns away a request the endpoint would serve: when only an estimate says it
    does not fit, count exactly once the endpoint is up (or let the endpoint judge).
    """
    peers.sim.patch(state="scaled_to_zero", cold_start=0.5)
    messages = conversation(12, last="One more question nobody asked before?")
    assert chat_tokens([SYSTEM, messages[-1]]) + 50 < WINDOW // 4

    with trimming(peers) as client:
        answer = chat(client, peers.model, messages=messages, max_tokens=50)

    assert answer.status_code == 200, answer.text
    sent = peers.sim.last_request()
    assert sent["messages"][0] == SYSTEM and sent["messages"][-1] == messages[-1]
    assert chat_tokens(sent["messages"]) + sent["max_tokens"] <= WINDOW


# -- an endpoint whose max_input_tokens is below its max_total_tokens -----------------------------


@pytest.fixture(scope="module")
def narrow_input(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    """TGI launched with ``--max-input-tokens 200 --max-total-tokens 4096``
    (docs/protocols.md §2.7)."""
    home = tmp_path_factory.mktemp("narrow") / "home"
    with deployment(home, max_input_tokens=200) as peers:
        yield peers


def test_prompt_is_fitted_under_max_input_tokens_too(narrow_input: Peers) -> None:
    """Validation keeps ``/info`` ``max_input_tokens`` "for trimming" (docs/protocols.md §4.2),
    but the window is taken from ``max_total_tokens`` alone: TGI then refuses the prompt with a
    422 ("`inputs` must have less than 200 tokens"), which reaches the caller."""
    narrow_input.restore()
    messages = conversation(12)
    assert chat_tokens(messages) > 200

    with trimming(narrow_input) as client:
        answer = chat(client, narrow_input.model, messages=messages, max_tokens=50)

    assert answer.status_code == 200, answer.text
    sent = narrow_input.sim.last_request()["messages"]
    assert sent[0] == SYSTEM and sent[-1] == messages[-1]
    assert chat_tokens(sent) <= 200
    assert narrow_input.sim.stats()["failures"] == {}
