"""Scale-to-zero cold starts: one wake-up for many callers, keep-alives, a deadline.

The simulator plays the Inference Endpoints proxy: scaled to zero, the first request starts one
wake-up (``stats.wakeups``); until the replica runs, requests get an HTML 503 — unless they carry
``X-Scale-Up-Timeout``, which holds them (docs/protocols.md §1.2, §1.3; hfgate's side: §8).
The recorder in front of it sees every request the gateway sent, with its headers and body, so
the tests can count per caller.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.chat.support import (
    ADMIN_KEY,
    Peers,
    chat,
    chunk_text,
    expected_chat,
    sse_lines,
    sse_payloads,
    wait_for,
)
from tests.support.peers import running_gateway

CALLERS = 20
COLD_START = 2.0


@pytest.fixture(scope="module")
def short_deadline(
    module_peers: Peers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Peers]:
    """A second gateway on the same simulator, giving up on a cold endpoint after 2 s."""
    module_peers.restore()
    home = tmp_path_factory.mktemp("deadline") / "home"
    with running_gateway(home, hub_url=module_peers.sim.url, HFGATE_COLD_START_TIMEOUT="2") as gw:
        assert gw.add(module_peers.sim.credential()).status_code == 201
        yield Peers(module_peers.sim, gw, module_peers.model)


def _caller_message(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"caller {i} says hello"}]


async def _stampede(peers: Peers) -> tuple[list[httpx.Response], list[str], float]:
    """``CALLERS`` concurrent chats while ``/v1/models`` is polled; answers, statuses, seconds."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    statuses: list[str] = []
    async with httpx.AsyncClient(base_url=peers.gateway.url, headers=headers, timeout=60) as client:

        async def one(i: int) -> httpx.Response:
            body = {"model": peers.model, "messages": _caller_message(i)}
            return await client.post("/v1/chat/completions", json=body)

        async def poll() -> None:
            while True:
                models = (await client.get("/v1/models")).json()["data"]
                statuses.append(next(m["status"] for m in models if m["id"] == peers.model))
                await asyncio.sleep(0.05)

        poller = asyncio.ensure_future(poll())
        started = time.monotonic()
        answers = await asyncio.gather(*(one(i) for i in range(CALLERS)))
        elapsed = time.monotonic() - started
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
    return answers, statuses, elapsed


def _per_caller(peers: Peers) -> Counter[str]:
    calls = peers.sim.recorder.generation_calls()
    return Counter(call.json()["messages"][-1]["content"] for call in calls)


def _check_answers(answers: list[httpx.Response]) -> None:
    for i, answer in enumerate(answers):
        assert answer.status_code == 200, answer.text
        content = answer.json()["choices"][0]["message"]["content"]
        assert content == expected_chat(_caller_message(i)).text


async def test_twenty_callers_held_by_the_proxy_share_one_wake_up(peers: Peers) -> None:
    peers.sim.patch(state="scaled_to_zero", cold_start=COLD_START)

    answers, _statuses, elapsed = await _stampede(peers)

    _check_answers(answers)
    assert COLD_START * 0.8 <= elapsed < COLD_START + 5
    stats = peers.sim.stats()
    assert stats["wakeups"] == 1
    per_caller = _per_caller(peers)
    assert set(per_caller.values()) == {1}, per_caller  # each held once, served once
    calls = peers.sim.recorder.generation_calls()
    assert all(int(c.headers["x-scale-up-timeout"]) >= 1 for c in calls)
    assert wait_for(lambda: peers.status() == "ready")


async def test_twenty_callers_wait_on_one_waker_and_see_waking(
    peers: Peers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a first hold shorter than the cold start, the 503s start hfgate's waker."""
    monkeypatch.setattr("hfgate.endpoints.waking.FIRST_HOLD", 1.0)
    peers.sim.patch(state="scaled_to_zero", cold_start=COLD_START + 0.5)

    answers, statuses, _elapsed = await _stampede(peers)

    _check_answers(answers)
    assert "waking" in statuses, statuses
    assert statuses[-1] == "ready" or wait_for(lambda: peers.status() == "ready")
    assert peers.sim.stats()["wakeups"] == 1
    per_caller = _per_caller(peers)
    assert len(per_caller) == CALLERS
    assert max(per_caller.values()) <= 2, per_caller  # no stampede: one retry at most
    seen = peers.sim.recorder.seen
    health = [s for s in seen if s.route == "GET /health"]
    assert len(health) == 1, [s.route for s in seen]  # one waker, holding one /health
    for call in [*peers.sim.recorder.generation_calls(), *health]:
        assert int(call.headers["x-scale-up-timeout"]) >= 1, call.route


def test_a_stream_gets_keepalive_comments_before_the_first_token(
    peers: Peers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hfgate.chat.lifecycle.KEEPALIVE_SECONDS", 0.5)
    peers.sim.patch(state="scaled_to_zero", cold_start=COLD_START)
    messages = _caller_message(99)

    with peers.client() as client:
        answer = chat(client, peers.model, messages=messages, stream=True)

    lines = sse_lines(answer.text)
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data:"))
    comments = lines[:first_data]
    assert len(comments) >= 2, lines[:5]
    assert all(line.startswith(":") for line in comments)
    assert not any(line.startswith(":") for line in lines[first_data:])
    payloads = sse_payloads(answer.text)
    assert chunk_text(payloads) == expected_chat(messages).text
    assert payloads[-1] == "[DONE]"
    assert peers.sim.stats()["wakeups"] == 1


def test_model_list_never_wakes_a_sleeping_endpoint(peers: Peers) -> None:
    peers.sim.patch(state="scaled_to_zero")
    for _ in range(3):
        assert peers.status() in ("ready", "scaled_to_zero")

    assert peers.sim.stats()["wakeups"] == 0
    assert peers.sim.recorder.seen == []


def test_paused_fails_fast_without_waiting(peers: Peers) -> None:
    peers.sim.patch(state="paused")
    started = time.monotonic()
    with peers.client() as client:
        answer = chat(client, peers.model)
        stream = chat(client, peers.model, stream=True)

    assert time.monotonic() - started < 1.0
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "endpoint_paused"
    if stream.status_code == 200:  # already streaming: an error event, then [DONE]
        payloads = sse_payloads(stream.text)
        assert payloads[-1] == "[DONE]"
        assert [p["error"]["code"] for p in payloads[:-1]] == ["endpoint_paused"]
    else:  # refused before the stream started, as OpenAI does
        assert stream.status_code == 503
        assert stream.json()["error"]["code"] == "endpoint_paused"
    assert peers.status() == "paused"
    assert peers.sim.stats()["wakeups"] == 0


def test_past_the_deadline_the_answer_is_503_with_retry_after(short_deadline: Peers) -> None:
    short_deadline.restore()
    short_deadline.sim.patch(state="scaled_to_zero", cold_start=30)
    started = time.monotonic()
    with short_deadline.client() as client:
        answer = chat(client, short_deadline.model)
    elapsed = time.monotonic() - started

    assert answer.status_code == 503, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == "endpoint_cold_start_timeout"
    assert int(answer.headers["retry-after"]) >= 1
    assert 1.5 <= elapsed < 6
    assert short_deadline.status() == "scaled_to_zero"
    calls = short_deadline.sim.recorder.generation_calls()
    assert calls and all(int(c.headers["x-scale-up-timeout"]) <= 2 for c in calls)


def test_past_the_deadline_a_stream_ends_with_the_error_event(
    short_deadline: Peers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hfgate.chat.lifecycle.KEEPALIVE_SECONDS", 0.5)
    short_deadline.restore()
    short_deadline.sim.patch(state="scaled_to_zero", cold_start=30)
    with short_deadline.client() as client:
        answer = chat(client, short_deadline.model, stream=True)

    lines = sse_lines(answer.text)
    assert lines[0].startswith(":")
    payloads = sse_payloads(answer.text)
    assert payloads[-1] == "[DONE]"
    errors = [p["error"] for p in payloads if isinstance(p, dict)]
    assert [e["code"] for e in errors] == ["endpoint_cold_start_timeout"]


def test_every_generation_call_carries_x_scale_up_timeout(peers: Peers) -> None:
    with peers.client() as client:
        chat(client, peers.model)
        chat(client, peers.model, stream=True)
        for stream in (False, True):
            client.post(
                "/v1/completions", json={"model": peers.model, "prompt": "hi", "stream": stream}
            )
            client.post(f"/tgi/{peers.model}", json={"inputs": "hi", "stream": stream})
        client.post(f"/tgi/{peers.model}/generate", json={"inputs": "hi"})
        client.post(f"/tgi/{peers.model}/generate_stream", json={"inputs": "hi"})

    calls = peers.sim.recorder.generation_calls()
    assert sorted(c.route for c in calls) == sorted(
        [
            "POST /v1/chat/completions",
            "POST /v1/chat/completions",
            "POST /generate",
            "POST /generate_stream",
            "POST /",
            "POST /",
            "POST /generate",
            "POST /generate_stream",
        ]
    )
    for call in calls:
        assert int(call.headers.get("x-scale-up-timeout", "0")) >= 1, call.route
