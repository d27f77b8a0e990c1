"""The TGI base URL (``/tgi/{model}``) as Hugging Face's clients use it: ``/health``,
``/tokenize`` and ``text_generation.Client.chat``.

``/health`` is answered from hfgate's status board and never reaches the endpoint: a probe is
traffic, which would keep a scaled-to-zero endpoint billed. A sleeping endpoint is healthy
there — a call wakes it and hfgate holds the call — so a client that waits for "healthy"
before calling does not wait forever (``chat/native.py`` ``USABLE``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import InferenceClient

from hfgate.endpoints.state import ModelStatus
from hfgate.sim import tokenizer
from tests.chat.support import (
    ADMIN_KEY,
    Peers,
    chat_tokens,
    deployment,
    expected_chat,
    sse_payloads,
    wait_for,
)
from tests.support.peers import SIM_TOKEN

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # text_generation announces its own deprecation
    import text_generation
    from text_generation.types import Message

PROMPT = "The gateway counts tokens"
HELLO = [{"role": "user", "content": "hello there"}]


def _base(peers: Peers) -> str:
    return f"{peers.gateway.url}/tgi/{peers.model}"


def _hub(peers: Peers, key: str = ADMIN_KEY) -> InferenceClient:
    # huggingface_hub 0.36 checks health only for provider "hf-inference" (else a ValueError
    # before any request); with a base URL the provider is otherwise unset.
    return InferenceClient(base_url=_base(peers), api_key=key, provider="hf-inference")


def _text_generation(peers: Peers) -> text_generation.Client:
    return text_generation.Client(
        _base(peers), headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    )


def _board_says(peers: Peers, status: ModelStatus) -> None:
    peers.gateway.services.board.set(peers.model, status, f"set by the test: {status}")


# -- /health -------------------------------------------------------------------------------------

# Every status, decided: a status added later fails here until someone says what it answers.
HEALTH = {
    ModelStatus.READY: 200,
    ModelStatus.IDLE: 200,
    ModelStatus.SCALED_TO_ZERO: 200,  # a call wakes it, and hfgate holds the call meanwhile
    ModelStatus.WAKING: 200,
    ModelStatus.INITIALIZING: 200,
    ModelStatus.PAUSED: 503,  # it will not wake by itself: a call fails
    ModelStatus.FAILED: 503,
    ModelStatus.DELETED: 503,
    ModelStatus.UNREACHABLE: 503,
    ModelStatus.AUTH_FAILED: 503,
    ModelStatus.PENDING: 503,
}


def test_every_status_has_a_health_answer() -> None:
    assert set(HEALTH) == set(ModelStatus)


@pytest.mark.parametrize("status", list(HEALTH), ids=[s.value for s in HEALTH])
def test_health_answers_from_the_board_like_tgi(peers: Peers, status: ModelStatus) -> None:
    peers.sim.patch(state="scaled_to_zero")  # a request would have to wake it
    _board_says(peers, status)

    healthy = _hub(peers).health_check()
    with peers.client() as client:
        answer = client.get(f"/tgi/{peers.model}/health")

    assert healthy is (HEALTH[status] == 200)
    assert answer.status_code == HEALTH[status]
    assert answer.headers["x-hfgate-status"] == status.value
    if answer.status_code == 200:
        assert answer.content == b""
    else:
        assert answer.json() == {"error": "unhealthy", "error_type": "healthcheck"}
    assert peers.sim.recorder.seen == []  # nothing reached the endpoint: nothing woke
    assert peers.sim.stats()["wakeups"] == 0


def test_health_of_a_model_never_called_is_healthy(peers: Peers) -> None:
    assert _hub(peers).health_check() is True
    assert peers.sim.recorder.seen == []


def test_health_does_not_make_an_idle_endpoint_look_used(peers: Peers) -> None:
    _board_says(peers, ModelStatus.IDLE)
    before = peers.gateway.services.board.get(peers.model).last_traffic

    assert _hub(peers).health_check() is True
    assert peers.gateway.services.board.get(peers.model).last_traffic == before
    assert peers.status() == "idle"


def test_health_of_an_unknown_model_or_with_a_wrong_key_is_false(peers: Peers) -> None:
    unknown = InferenceClient(
        base_url=f"{peers.gateway.url}/tgi/no/such-model",
        api_key=ADMIN_KEY,
        provider="hf-inference",
    )
    assert unknown.health_check() is False
    assert _hub(peers, key="hfg_" + "x" * 43).health_check() is False
    with peers.client() as client:
        missing = client.get("/tgi/no/such-model/health")
    assert missing.status_code == 404
    assert set(missing.json()) == {"error", "error_type"}


# -- /tokenize -----------------------------------------------------------------------------------


def _usage_row(peers: Peers, requests: int | None = None) -> dict[str, Any] | None:
    """The model's usage so far (once it counts ``requests``: records are written in batches)."""
    with peers.client() as client:
        rows = client.get("/api/usage").json()["by_model"]
    row = next((r for r in rows if r["key"] == peers.model), None)
    return row if requests is None or (row and row["requests"] == requests) else None


def test_tokenize_relays_tgis_tokens_and_spends_no_tokens(peers: Peers) -> None:
    before = _usage_row(peers) or {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
    with peers.client() as client:
        answer = client.post(f"/tgi/{peers.model}/tokenize", json={"inputs": PROMPT})

    assert answer.status_code == 200, answer.text
    assert answer.json() == [t.as_dict() for t in tokenizer.encode(PROMPT, add_bos=True)]
    (call,) = peers.sim.recorder.seen
    assert call.route == "POST /tokenize"
    assert call.json() == {"inputs": PROMPT}
    # Recorded as a call (the lifecycle ran), with no tokens used.
    row = wait_for(lambda: _usage_row(peers, requests=before["requests"] + 1))
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        before["prompt_tokens"],
        before["completion_tokens"],
    )


@pytest.mark.parametrize(
    "body", [[PROMPT], {"inputs": 3}, {"inputs": PROMPT, "parameters": "x"}], ids=str
)
def test_tokenize_refuses_what_is_not_a_generate_body(peers: Peers, body: Any) -> None:
    with peers.client() as client:
        answer = client.post(f"/tgi/{peers.model}/tokenize", json=body)

    assert answer.status_code == 422
    assert answer.json()["error_type"] == "validation"
    assert peers.sim.recorder.seen == []


def test_tokenize_on_a_tgi_without_it_says_so(tmp_path: Path) -> None:
    # TGI added /tokenize in 1.4.0: on an older one, the caller learns why rather than a 404.
    with deployment(tmp_path / "home", tgi_version="1.3.0") as old:
        old.sim.recorder.seen.clear()
        with old.client() as client:
            answer = client.post(f"/tgi/{old.model}/tokenize", json={"inputs": PROMPT})

        assert answer.status_code == 404
        assert "1.4.0" in answer.json()["error"]
        assert old.sim.recorder.seen == []


# -- text_generation.Client.chat and system_fingerprint ------------------------------------------


def test_text_generation_client_chat(peers: Peers) -> None:
    reply = _text_generation(peers).chat([Message(role="user", content="hello there")])

    assert reply.system_fingerprint == "hfgate-0.1.0"
    assert reply.choices[0].message.content == expected_chat(HELLO).text
    assert reply.usage["prompt_tokens"] == chat_tokens(HELLO)


def test_every_chunk_carries_the_fingerprint(peers: Peers) -> None:
    body = {
        "model": peers.model,
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with peers.client() as client:
        answer = client.post("/v1/chat/completions", json=body)
    chunks = sse_payloads(answer.text)[:-1]

    assert len(chunks) > 3  # the role chunk, plain text chunks (the fast path), the end, usage
    assert {c["system_fingerprint"] for c in chunks} == {"hfgate-0.1.0"}
    assert chunks[-1]["usage"] is not None


@pytest.mark.xfail(
    strict=True,
    raises=(AttributeError, ValueError),
    reason="text_generation 0.7.0 needs `role` and `tool_calls` in every delta and parses"
    " `[DONE]` as JSON: its streamed chat fails the same way on TGI 3.3 itself",
)
def test_text_generation_client_chat_stream(peers: Peers) -> None:
    chunks = list(_text_generation(peers).chat([Message(role="user", content="hi")], stream=True))

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_text_generation_streamed_chat_fails_on_the_endpoint_itself(peers: Peers) -> None:
    """Why the test above cannot pass: the same client against the simulated TGI directly."""
    direct = text_generation.Client(
        peers.sim.url, headers={"Authorization": f"Bearer {SIM_TOKEN}"}, timeout=30
    )
    with pytest.raises(AttributeError):  # its parse_error reads resp.status, not status_code
        list(direct.chat([Message(role="user", content="hi")], stream=True))
    with httpx.Client(base_url=peers.sim.url) as client:
        body = {"model": "tgi", "messages": HELLO, "stream": True, "max_tokens": 2}
        headers = {"Authorization": f"Bearer {SIM_TOKEN}"}
        first = sse_payloads(client.post("/v1/chat/completions", json=body, headers=headers).text)
    assert "tool_calls" not in first[0]["choices"][0]["delta"]  # what the client requires
