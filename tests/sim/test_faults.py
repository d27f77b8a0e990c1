"""Faults of the container: overload, errors and cuts mid-stream, slow tokens, keep-alives,
old framing, and clients that leave early."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from tests.sim.support import OpenAPI, Sim, sse_data, sse_json

OVERLOADED = {"error": "Model is overloaded", "error_type": "overloaded"}
GENERATE = {"inputs": "Tell me a story", "parameters": {"details": True}}
CHAT = {"messages": [{"role": "user", "content": "Hi"}], "stream": True}


def test_overloaded_is_429_json_and_an_sse_event(sim: Sim, openapi: OpenAPI) -> None:
    sim.patch(overloaded=True)
    with sim.client() as client:
        plain = client.post("/generate", json=GENERATE)
        stream = client.post("/generate_stream", json=GENERATE)
        chat = client.post("/v1/chat/completions", json=CHAT)
        info = client.get("/info")
    assert (plain.status_code, plain.json()) == (429, OVERLOADED)
    openapi.validate("ErrorResponse", plain.json())
    assert stream.status_code == 200 and sse_json(stream.text) == [OVERLOADED]
    assert chat.status_code == 200
    assert sse_json(chat.text) == [
        {"error": {"message": "Model is overloaded", "http_status_code": 422}},
        "[DONE]",
    ]
    assert info.status_code == 200  # only generations take a permit
    assert sim.stats()["failures"] == {"overloaded": 3}


async def test_max_concurrent_requests_is_a_real_limit(sim: Sim) -> None:
    sim.patch(max_concurrent_requests=2, token_delay=0.05, reply_tokens=4)
    body = {"inputs": "hi", "parameters": {}}
    async with sim.aclient() as client:
        responses = await asyncio.gather(*(client.post("/generate", json=body) for _ in range(3)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 200, 429]
        assert (await client.post("/generate", json=body)).status_code == 200  # permits back


def test_stream_error_after_n_tokens(sim: Sim, openapi: OpenAPI) -> None:
    sim.patch(stream_error_after=3)
    with sim.client() as client:
        stream = client.post("/generate_stream", json=GENERATE)
        plain = client.post("/generate", json=GENERATE)
        short = client.post(
            "/generate_stream", json={"inputs": "x", "parameters": {"max_new_tokens": 3}}
        )
        chat = client.post("/v1/chat/completions", json=CHAT)
    events = sse_json(stream.text)
    assert len(events) == 4
    for event in events[:3]:
        openapi.validate("StreamResponse", event)
        assert event["generated_text"] is None
    assert events[3]["error_type"] == "generation"
    assert events[3]["error"].startswith("Request failed during generation: ")
    assert plain.status_code == 424 and plain.json()["error_type"] == "generation"
    assert "error" not in sse_json(short.text)[-1]  # finished before the fault
    chat_events = sse_json(chat.text)
    assert len(chat_events) == 5 and chat_events[-1] == "[DONE]"
    assert chat_events[3]["error"]["http_status_code"] == 422


def test_drop_after_cuts_the_connection_without_a_final_event(sim: Sim) -> None:
    sim.patch(drop_after=3, token_delay=0.01)
    lines: list[str] = []
    with (
        sim.client() as client,
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", "/generate_stream", json=GENERATE) as response,
    ):
        assert response.status_code == 200
        for line in response.iter_lines():
            lines.append(line)
    events = [json.loads(p) for p in sse_data("\n".join(lines))]
    assert len(events) == 3
    assert all(e["generated_text"] is None for e in events)
    assert sim.wait_stats(lambda s: s["dropped"] == 1)["dropped"] == 1


def test_drop_after_zero_tokens(sim: Sim) -> None:
    sim.patch(drop_after=0)
    with sim.client() as client, pytest.raises(httpx.RemoteProtocolError):
        client.post("/v1/chat/completions", json=CHAT)
    with sim.client() as client:  # the server itself is fine
        assert client.get("/health").status_code == 200


def test_token_delay_paces_the_stream(sim: Sim) -> None:
    sim.patch(token_delay=0.03, reply_tokens=5)
    arrivals = []
    started = time.monotonic()
    with sim.client() as client, client.stream("POST", "/generate_stream", json=GENERATE) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 5
    # Five tokens 30 ms apart cannot all be there sooner; when they arrive together is up to
    # the client's scheduling (a loaded machine may read them in one go), so it is not checked.
    assert arrivals[-1] >= 0.14


def test_keepalive_comments_during_silence(sim: Sim) -> None:
    sim.patch(keepalive_interval=0.05, token_delay=0.13, reply_tokens=3)
    with sim.client() as client:
        text = client.post("/generate_stream", json=GENERATE).text
    assert ":\n\n" in text
    lines = text.split("\n")
    assert lines.count(":") >= 4
    assert len(sse_json(text)) == 3  # comments are not events


@pytest.mark.parametrize("knob", [{"sse_no_space": True}, {"tgi_version": "2.0.4"}])
def test_old_framing_has_no_space(sim: Sim, knob: dict) -> None:
    sim.patch(**knob)
    with sim.client() as client:
        text = client.post("/generate_stream", json=GENERATE).text
    assert text.startswith('data:{"index":1,')
    assert "data: " not in text
    assert sse_json(text)[-1]["details"]["finish_reason"] == "eos_token"


async def test_client_disconnect_is_counted_as_cancelled(sim: Sim) -> None:
    sim.patch(token_delay=0.05, reply_tokens=40)
    async with (
        sim.aclient() as client,
        client.stream("POST", "/generate_stream", json=GENERATE) as response,
    ):
        seen = 0
        async for line in response.aiter_lines():
            seen += line.startswith("data:")
            if seen == 2:
                break
    started = time.monotonic()
    stats = await asyncio.to_thread(sim.wait_stats, lambda s: s["cancelled"] == 1)
    assert stats["cancelled"] == 1 and stats["completed"] == 0
    assert time.monotonic() - started < 0.5  # noticed at once, not at the end of the stream
    assert sim.state()["in_flight"] == 0  # the permit came back


async def test_chat_client_disconnect_is_counted_too(sim: Sim) -> None:
    sim.patch(token_delay=0.05, reply_tokens=40)
    async with (
        sim.aclient() as client,
        client.stream("POST", "/v1/chat/completions", json=CHAT) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                break
    stats = await asyncio.to_thread(sim.wait_stats, lambda s: s["cancelled"] == 1)
    assert stats["cancelled"] == 1
