"""Usage recorded per request, off the hot path, summed by model and by key.

This module has a gateway of its own, so the totals are exactly this module's requests.
Records are written in batches (every 0.5 s), so the summary is polled.
"""

from __future__ import annotations

from typing import Any

from hfgate.sim import tokenizer
from tests.chat.support import Peers, chat, chat_tokens, sse_payloads, wait_for


def _summary(peers: Peers) -> dict[str, Any]:
    with peers.client() as client:
        answer = client.get("/api/usage")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _model_row(peers: Peers, requests: int) -> dict[str, Any] | None:
    rows = [r for r in _summary(peers)["by_model"] if r["key"] == peers.model]
    return rows[0] if rows and rows[0]["requests"] == requests else None


def test_usage_by_model_and_by_key(peers: Peers) -> None:
    first = [{"role": "user", "content": "first question"}]
    second = [{"role": "user", "content": "a second, longer question about tokens"}]
    third = [{"role": "user", "content": "a streamed one"}]
    with peers.client() as client:
        a = chat(client, peers.model, messages=first).json()["usage"]
        b = chat(client, peers.model, messages=second, max_tokens=5).json()["usage"]
        streamed = chat(client, peers.model, messages=third, stream=True)  # no include_usage
    assert sse_payloads(streamed.text)[-1] == "[DONE]"
    assert (a["completion_tokens"], b["completion_tokens"]) == (16, 5)

    row = wait_for(lambda: _model_row(peers, 3), timeout=5)

    prompt = chat_tokens(first) + chat_tokens(second) + chat_tokens(third)
    assert (
        row["prompt_tokens"]
        == prompt
        == a["prompt_tokens"] + b["prompt_tokens"] + chat_tokens(third)
    )
    assert row["completion_tokens"] == 16 + 5 + 16
    assert row["avg_latency_ms"] > 0
    assert row["avg_ttft_ms"] is not None and row["avg_ttft_ms"] > 0  # the stream had a first token
    by_key = _summary(peers)["by_key"]
    assert len(by_key) == 1
    assert by_key[0]["key"] is not None
    assert (by_key[0]["requests"], by_key[0]["prompt_tokens"]) == (3, prompt)
    assert by_key[0]["completion_tokens"] == 37

    # A failed request is recorded too, with no completion tokens.
    peers.sim.patch(state="paused")
    with peers.client() as client:
        assert chat(client, peers.model, messages=first).status_code == 503
    row = wait_for(lambda: _model_row(peers, 4), timeout=5)
    assert row["completion_tokens"] == 37


def test_usage_needs_a_key(peers: Peers) -> None:
    with peers.client(key="hfg_not_a_key") as client:
        answer = client.get("/api/usage")

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_api_key"


def test_tgi_routes_are_accounted_like_the_openai_ones(peers: Peers) -> None:
    """/tgi/… calls count in usage, metrics and token limits: generated tokens from TGI's
    ``details`` (asked for, then taken out of the answer) or from the stream's token events."""
    prompt = "The gateway streams"
    before = next((r for r in _summary(peers)["by_model"] if r["key"] == peers.model), None)
    requests, prompt_tokens, completion_tokens = (
        (before["requests"], before["prompt_tokens"], before["completion_tokens"])
        if before
        else (0, 0, 0)
    )
    with peers.client() as client:
        plain = client.post(
            f"/tgi/{peers.model}/generate",
            json={"inputs": prompt, "parameters": {"max_new_tokens": 3}},
        )
        streamed = client.post(
            f"/tgi/{peers.model}/generate_stream",
            json={"inputs": prompt, "parameters": {"max_new_tokens": 4}},
        )
        metrics = client.get("/metrics").text
    assert plain.status_code == 200 and "details" not in plain.json()
    assert len(sse_payloads(streamed.text)) == 4
    sent = [s.json() for s in peers.sim.recorder.generation_calls()]
    assert sent[0]["parameters"]["details"] is True  # asked for, to count the tokens
    assert "details" not in sent[1]["parameters"]  # a stream counts its token events

    row = wait_for(lambda: _model_row(peers, requests + 2), timeout=5)
    assert row["completion_tokens"] - completion_tokens == 3 + 4
    # A short prompt is not counted by the endpoint (it surely fits): its usage is estimated.
    exact = tokenizer.input_length(prompt, add_bos=True)
    assert 2 * exact <= row["prompt_tokens"] - prompt_tokens <= 2 * (len(prompt) + 1)
    assert f'hfgate_requests_total{{code="200",model="{peers.model}",route="tgi"}}' in metrics
    assert f'hfgate_upstream_seconds_count{{model="{peers.model}"}}' in metrics
