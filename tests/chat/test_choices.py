"""``n`` > 1 served by fan-out (``chat/fanout.py``): how the n calls behave together.

tests/chat/test_parameters.py proves the choices themselves with the OpenAI SDK; here, what
the merged stream and the calls do when the client leaves, when one call fails before
anything was sent (the whole request gets that call's HTTP status) or after (an error event
ends the stream and the other calls), and that the choices' chunks interleave as they arrive.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import openai
import pytest

from tests.chat.support import Peers, chat, expected_chat, sse_payloads, wait_for

MESSAGES = [{"role": "user", "content": "Stream me a long answer."}]


def _stream(peers: Peers, **body: Any) -> list[Any]:
    with peers.client() as client:
        answer = chat(client, peers.model, messages=MESSAGES, stream=True, **body)
    assert answer.status_code == 200, answer.text
    return sse_payloads(answer.text)


def test_choices_chunks_interleave_as_they_arrive(peers: Peers) -> None:
    peers.sim.patch(token_delay=0.05, reply_tokens=8)

    payloads = _stream(peers, n=2, seed=1)

    order = [p["choices"][0]["index"] for p in payloads[:-1]]
    switches = sum(a != b for a, b in itertools.pairwise(order))
    assert switches >= 4, order  # not all of choice 0, then all of choice 1
    assert payloads[-1] == "[DONE]"
    for i in range(2):
        text = "".join(
            p["choices"][0]["delta"].get("content") or ""
            for p in payloads[:-1]
            if p["choices"][0]["index"] == i
        )
        assert text == expected_chat(MESSAGES, seed=1 + i, reply_tokens=8).text


def test_every_chunk_names_its_choice_and_the_fingerprint(peers: Peers) -> None:
    payloads = _stream(peers, n=3, seed=5)

    chunks = payloads[:-1]
    assert {c["choices"][0]["index"] for c in chunks} == {0, 1, 2}
    assert all(c["system_fingerprint"].startswith("hfgate-") for c in chunks)
    assert all(len(c["choices"]) == 1 for c in chunks)
    assert "usage" not in str(chunks)  # not asked for: no usage chunk


def test_closing_the_stream_cancels_every_call(peers: Peers) -> None:
    peers.sim.patch(token_delay=0.2, reply_tokens=50)
    body = {"model": peers.model, "messages": MESSAGES, "stream": True, "n": 3}

    with peers.client() as client, client.stream("POST", "/v1/chat/completions", json=body) as r:
        received = 0
        for line in r.iter_lines():
            received += line.startswith("data:")
            if received == 4:
                break

    stats = peers.sim.wait_stats(lambda s: s["cancelled"] == 3, timeout=3.0)
    assert stats["completed"] == 0


def test_abandoning_a_non_streamed_answer_cancels_every_call(peers: Peers) -> None:
    peers.sim.patch(token_delay=0.05, reply_tokens=30)  # each answer would take 1.5 s

    with peers.client(timeout=0.3) as client, pytest.raises(httpx.ReadTimeout):
        chat(client, peers.model, messages=MESSAGES, n=2)

    calls = peers.sim.recorder.generation_calls()
    assert len(calls) == 2
    assert wait_for(lambda: all(call.abandoned for call in calls), timeout=2.0)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_one_call_refused_before_anything_was_sent_is_the_requests_status(
    peers: Peers, stream: bool
) -> None:
    # One permit: of two calls side by side, the second is "overloaded" (429) at once. (An
    # abandoned answer of an earlier test may still hold it: the simulator finishes those.)
    wait_for(lambda: peers.sim.state()["in_flight"] == 0, timeout=5.0)
    peers.sim.reset()  # … and count when it ends
    peers.sim.patch(max_concurrent_requests=1, token_delay=0.25, reply_tokens=8)

    with pytest.raises(openai.RateLimitError) as caught:
        answer = peers.openai().chat.completions.create(
            model=peers.model, messages=MESSAGES, n=2, stream=stream
        )
        list(answer) if stream else None

    assert caught.value.status_code == 429
    calls = peers.sim.recorder.generation_calls()
    assert len(calls) == 2
    assert peers.sim.stats()["failures"] == {"overloaded": 1}
    # The admitted call is not left generating for nobody:
    if stream:  # the admitted call's stream is closed, which cancels its generation
        stats = peers.sim.wait_stats(lambda s: s["cancelled"] == 1, timeout=3.0)
        assert stats["completed"] == 0
    else:  # the admitted call is abandoned before its answer
        print([(c.route, c.abandoned, c.responded) for c in peers.sim.recorder.seen])
        assert wait_for(lambda: any(call.abandoned for call in calls), timeout=3.0)


def test_a_failure_mid_stream_is_an_error_event_that_ends_every_choice(peers: Peers) -> None:
    peers.sim.patch(stream_error_after=3, token_delay=0.01)

    payloads = _stream(peers, n=2, seed=9, stream_options={"include_usage": True})

    errors = [p for p in payloads if isinstance(p, dict) and "error" in p]
    chunks = [p for p in payloads if isinstance(p, dict) and "choices" in p]
    assert len(errors) == 1 and payloads[-2] == errors[0]
    assert payloads[-1] == "[DONE]"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    assert not any("usage" in c for c in chunks)  # a broken answer has no usage chunk


def test_the_tgi_base_url_serves_n_too(peers: Peers) -> None:
    with peers.client() as client:
        answer = client.post(
            f"/tgi/{peers.model}/v1/chat/completions",
            json={"model": "tgi", "messages": MESSAGES, "n": 2, "seed": 11},
        )

    assert answer.status_code == 200, answer.text
    contents = [c["message"]["content"] for c in answer.json()["choices"]]
    assert contents == [expected_chat(MESSAGES, seed=11 + i).text for i in range(2)]


def _usage(peers: Peers, requests: int | None = None) -> dict[str, Any] | None:
    """The model's usage so far (once it counts ``requests``: records are written in batches)."""
    with peers.client() as client:
        rows = client.get("/api/usage").json()["by_model"]
    row = next((r for r in rows if r["key"] == peers.model), None)
    if row is None:
        row = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
    return row if requests is None or row["requests"] == requests else None


def test_each_call_is_recorded_like_any_call(peers: Peers) -> None:
    before = _usage(peers)
    assert before is not None

    with peers.client() as client:
        reply = chat(client, peers.model, messages=MESSAGES, n=3, seed=2).json()

    after = wait_for(lambda: _usage(peers, requests=before["requests"] + 3))
    assert (
        after["completion_tokens"] - before["completion_tokens"]
        == (reply["usage"]["completion_tokens"])
    )
    assert after["prompt_tokens"] - before["prompt_tokens"] == reply["usage"]["prompt_tokens"]


def test_n_calls_waiting_for_one_cold_start_keep_the_stream_alive_once(
    peers: Peers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hfgate.chat.lifecycle.KEEPALIVE_SECONDS", 0.5)
    peers.sim.patch(state="scaled_to_zero", cold_start=2.0)

    with peers.client() as client:
        answer = chat(client, peers.model, messages=MESSAGES, stream=True, n=3, seed=4)

    lines = [line for line in answer.text.split("\n") if line.strip()]
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data:"))
    comments = lines[:first_data]
    assert all(line.startswith(": ") for line in comments), comments
    # One comment per tick (0.5 s over a 2 s wake), not one per call and tick.
    assert 2 <= len(comments) <= 2.0 / 0.5 + 1, comments
    assert peers.sim.stats()["wakeups"] == 1
    texts = ["", "", ""]
    for payload in sse_payloads(answer.text)[:-1]:
        choice = payload["choices"][0]
        texts[choice["index"]] += choice["delta"].get("content") or ""
    assert texts == [expected_chat(MESSAGES, seed=4 + i).text for i in range(3)]
