"""Streams that go wrong upstream, and callers that leave (docs/protocols.md §2.4, §2.5, §8).

An answer that was cut must never look complete: no ``finish_reason`` chunk, an OpenAI error
event, then ``data: [DONE]``. A caller that leaves cancels the generation at once.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.chat.support import (
    Peers,
    chat,
    chunk_text,
    expected_chat,
    sse_lines,
    sse_payloads,
    wait_for,
)

MESSAGES = [{"role": "user", "content": "Stream me a long answer."}]


def _stream(peers: Peers, **body: Any) -> list[Any]:
    with peers.client() as client:
        answer = chat(client, peers.model, messages=MESSAGES, stream=True, **body)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    return sse_payloads(answer.text)


def _split(payloads: list[Any]) -> tuple[list[dict], list[dict]]:
    chunks = [p for p in payloads if isinstance(p, dict) and "choices" in p]
    errors = [p["error"] for p in payloads if isinstance(p, dict) and "error" in p]
    return chunks, errors


def _assert_cut_after_three(payloads: list[Any]) -> dict[str, Any]:
    chunks, errors = _split(payloads)
    assert len(chunks) == 3
    assert chunk_text(chunks) == "".join(t.text for t in expected_chat(MESSAGES).tokens[:3])
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    assert len(errors) == 1
    assert set(errors[0]) >= {"message", "type", "param", "code"}
    assert payloads[-2] == {"error": errors[0]}
    assert payloads[-1] == "[DONE]"
    return errors[0]


def test_error_event_mid_stream_becomes_an_openai_error_event(peers: Peers) -> None:
    peers.sim.patch(stream_error_after=3)

    _assert_cut_after_three(_stream(peers))


def test_generation_failure_mid_stream_is_reported_as_the_endpoints_fault(peers: Peers) -> None:
    """TGI sends every in-stream error with ``http_status_code: 422`` (docs/protocols.md §2.5),
    even a generation failure; hfgate must not tell the caller their request was invalid."""
    peers.sim.patch(stream_error_after=3)

    error = _assert_cut_after_three(_stream(peers))

    assert error["type"] != "invalid_request_error", error
    assert error["code"] == "upstream_error", error
    assert "generation" in error["message"]


def test_generation_failure_without_streaming_is_a_502(peers: Peers) -> None:
    peers.sim.patch(stream_error_after=3)
    with peers.client() as client:
        answer = chat(client, peers.model, messages=MESSAGES)

    assert answer.status_code == 502
    error = answer.json()["error"]
    assert error["code"] == "upstream_error"
    assert "generation" in error["message"]


def test_sdk_raises_on_the_error_event_after_the_first_tokens(peers: Peers) -> None:
    peers.sim.patch(stream_error_after=3)
    stream = peers.openai().chat.completions.create(
        model=peers.model, messages=MESSAGES, stream=True
    )
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content)

    assert len(received) == 3


def test_dropped_connection_is_an_error_not_a_short_answer(peers: Peers) -> None:
    peers.sim.patch(drop_after=3, token_delay=0.05)  # the tokens arrive before the cut

    error = _assert_cut_after_three(_stream(peers))

    assert error["code"] == "upstream_unreachable"
    assert "dropped" in error["message"] or "closed" in error["message"]
    assert wait_for(lambda: peers.sim.stats()["dropped"] == 1)


def test_stream_ending_without_a_finish_is_an_error(peers: Peers) -> None:
    """TGI 2.4.0 dropped in-stream errors silently: the stream just ends with [DONE]."""
    peers.sim.patch(tgi_version="2.4.0", stream_error_after=3)

    error = _assert_cut_after_three(_stream(peers))

    assert error["code"] == "upstream_protocol_error"


def test_old_sse_framing_without_the_space_is_parsed(peers: Peers) -> None:
    peers.sim.patch(sse_no_space=True)

    payloads = _stream(peers, stream_options={"include_usage": True})

    chunks, errors = _split(payloads)
    assert errors == []
    assert chunk_text(chunks) == expected_chat(MESSAGES).text
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 16
    assert payloads[-1] == "[DONE]"


def test_upstream_keepalive_comments_are_ignored(peers: Peers) -> None:
    peers.sim.patch(keepalive_interval=0.03, token_delay=0.08, reply_tokens=5)

    with peers.client() as client:
        answer = chat(client, peers.model, messages=MESSAGES, stream=True)

    assert chunk_text(sse_payloads(answer.text)) == expected_chat(MESSAGES, reply_tokens=5).text
    assert sse_payloads(answer.text)[-1] == "[DONE]"
    assert all(line.startswith("data: ") for line in sse_lines(answer.text))


def test_every_chunk_of_a_stream_shares_one_id(peers: Peers) -> None:
    chunks, _ = _split(_stream(peers))

    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["id"].startswith("chatcmpl-")
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert {c["created"] for c in chunks} == {chunks[0]["created"]}
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"
    assert all(c["model"] == peers.model for c in chunks)


# -- a caller that leaves ------------------------------------------------------------------------


def test_closing_a_stream_cancels_the_generation(peers: Peers) -> None:
    peers.sim.patch(token_delay=0.2, reply_tokens=50)
    body = {"model": peers.model, "messages": MESSAGES, "stream": True}

    with peers.client() as client, client.stream("POST", "/v1/chat/completions", json=body) as r:
        received = 0
        for line in r.iter_lines():
            received += line.startswith("data:")
            if received == 2:
                break

    stats = peers.sim.wait_stats(lambda s: s["cancelled"] == 1, timeout=2.0)
    assert stats["cancelled"] == 1
    assert stats["completed"] == 0


def test_abandoning_a_non_streaming_request_cancels_the_upstream_call(peers: Peers) -> None:
    peers.sim.patch(token_delay=0.05, reply_tokens=30)  # the answer would take 1.5 s

    with peers.client(timeout=0.3) as client, pytest.raises(httpx.ReadTimeout):
        chat(client, peers.model, messages=MESSAGES)

    calls = peers.sim.recorder.generation_calls()
    assert len(calls) == 1
    assert wait_for(lambda: calls[0].abandoned, timeout=2.0)
