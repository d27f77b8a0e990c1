"""TGI-compatible routes with Hugging Face's own clients, through the gateway.

``huggingface_hub.InferenceClient`` and ``text_generation.AsyncClient`` are pointed at
``{gateway}/tgi/{model}`` with a gateway key, exactly as they would be at an endpoint. Errors on
these routes are TGI-shaped (``{"error", "error_type"}``), which is what those clients parse
(docs/protocols.md §7).
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub import errors as hub_errors

from hfgate.sim import tokenizer
from hfgate.sim.validation import sampling_requested
from tests.chat.support import ADMIN_KEY, Peers, expected_generate, sse_lines, sse_payloads

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # text_generation announces its own deprecation
    import text_generation
    from text_generation import errors as tg_errors

PROMPT = "The gateway streams"


def _base(peers: Peers) -> str:
    return f"{peers.gateway.url}/tgi/{peers.model}"


def _hub(peers: Peers) -> InferenceClient:
    return InferenceClient(base_url=_base(peers), api_key=ADMIN_KEY, timeout=30)


def _tgi(peers: Peers, key: str = ADMIN_KEY) -> text_generation.AsyncClient:
    return text_generation.AsyncClient(
        _base(peers), headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def _expected(request: dict[str, Any]) -> str:
    """What the simulated TGI generated for the request it received (prompt echo included)."""
    params = request.get("parameters")
    params = {"do_sample": True} if params is None else params
    plan = expected_generate(
        request["inputs"],
        max_new_tokens=params.get("max_new_tokens") or 1024,
        stop=params.get("stop") or [],
        seed=params.get("seed"),
        greedy=not sampling_requested(params),
    )
    echo = params.get("return_full_text", True)  # POST / echoes the prompt by default
    return (request["inputs"] if echo else "") + plan.text


def _only_call(peers: Peers) -> str:
    calls = peers.sim.recorder.generation_calls()
    assert len(calls) == 1, [c.route for c in calls]
    return calls[0].route


# -- huggingface_hub.InferenceClient -------------------------------------------------------------


def test_inference_client_text_generation_with_details(peers: Peers) -> None:
    output = _hub(peers).text_generation(
        PROMPT, max_new_tokens=5, details=True, return_full_text=False
    )

    assert _only_call(peers) == "POST /"
    request = peers.sim.last_request()
    assert output.generated_text == _expected(request)
    assert output.details is not None
    assert output.details.generated_tokens == 5
    assert output.details.finish_reason == "length"
    assert len(output.details.tokens) == 5


def test_inference_client_text_generation_default_echo_is_tgis(peers: Peers) -> None:
    text = _hub(peers).text_generation(PROMPT, max_new_tokens=3)

    assert text == _expected(peers.sim.last_request())
    assert text.startswith(PROMPT)  # POST / returns the full text unless told otherwise


def test_inference_client_text_generation_stream(peers: Peers) -> None:
    events = list(
        _hub(peers).text_generation(
            PROMPT, max_new_tokens=6, stream=True, details=True, return_full_text=False
        )
    )

    assert _only_call(peers) == "POST /"
    assert len(events) == 6
    assert "".join(e.token.text for e in events) == _expected(peers.sim.last_request())
    final = events[-1]
    assert final.generated_text == _expected(peers.sim.last_request())
    assert final.details is not None and final.details.finish_reason == "length"
    assert all(e.generated_text is None for e in events[:-1])


def test_inference_client_get_endpoint_info_does_not_touch_the_endpoint(peers: Peers) -> None:
    peers.sim.patch(state="scaled_to_zero")
    # huggingface_hub 0.36 answers this only for provider "hf-inference" (a URL model is fine).
    client = InferenceClient(model=_base(peers), provider="hf-inference", token=ADMIN_KEY)
    info = client.get_endpoint_info()

    assert info["model_id"] == peers.model
    assert info["max_total_tokens"] == 4096
    assert info["max_input_tokens"] < 4096
    assert info["router"] == "text-generation-router"
    assert peers.sim.recorder.seen == []
    assert peers.sim.stats()["wakeups"] == 0


def test_inference_client_chat_completion(peers: Peers) -> None:
    """``chat_completion`` posts to ``{base_url}/v1/chat/completions``: with a base URL of
    ``/tgi/{model}`` that is ``/tgi/{model}/v1/chat/completions``."""
    reply = _hub(peers).chat_completion([{"role": "user", "content": "hello"}], max_tokens=5)

    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "length"
    assert _only_call(peers) == "POST /v1/chat/completions"


def test_inference_client_errors_are_tgis(peers: Peers) -> None:
    peers.sim.patch(overloaded=True)
    with pytest.raises(hub_errors.OverloadedError):
        _hub(peers).text_generation(PROMPT, max_new_tokens=3)


# -- text_generation.AsyncClient -----------------------------------------------------------------


async def test_text_generation_client_generate(peers: Peers) -> None:
    response = await _tgi(peers).generate(PROMPT, max_new_tokens=4)

    request = peers.sim.last_request()
    assert request["parameters"]["details"] is True
    assert response.generated_text == _expected(request)
    assert response.details.generated_tokens == 4
    assert response.details.finish_reason == "length"


async def test_text_generation_client_generate_stream(peers: Peers) -> None:
    events = [r async for r in _tgi(peers).generate_stream(PROMPT, max_new_tokens=20)]

    request = peers.sim.last_request()
    assert "".join(e.token.text for e in events if not e.token.special) == _expected(request)
    assert events[-1].generated_text == _expected(request)
    assert events[-1].details is not None
    assert events[-1].details.finish_reason == "eos_token"  # TGI's own value, relayed as is


async def test_text_generation_client_overloaded(peers: Peers) -> None:
    peers.sim.patch(overloaded=True)
    client = _tgi(peers)
    with pytest.raises(tg_errors.OverloadedError):
        await client.generate(PROMPT)
    with pytest.raises(tg_errors.OverloadedError):
        [r async for r in client.generate_stream(PROMPT)]


async def test_text_generation_client_prompt_over_the_window_is_a_validation_error(
    peers: Peers,
) -> None:
    with pytest.raises(tg_errors.ValidationError) as caught:
        await _tgi(peers).generate("word " * 5000, max_new_tokens=10)

    assert "4,096" in str(caught.value)
    assert peers.sim.recorder.generation_calls() == []


async def test_text_generation_client_unknown_model(peers: Peers) -> None:
    client = text_generation.AsyncClient(
        f"{peers.gateway.url}/tgi/nobody/nothing",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    with pytest.raises(tg_errors.NotFoundError) as caught:
        await client.generate(PROMPT)

    assert peers.model in str(caught.value)


async def test_text_generation_client_with_a_wrong_key(peers: Peers) -> None:
    with pytest.raises(tg_errors.UnknownError):
        await _tgi(peers, key="hfg_not_a_key").generate(PROMPT)
    assert peers.sim.recorder.seen == []


async def test_text_generation_stream_waits_out_a_cold_start_with_keepalives(
    peers: Peers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hfgate.chat.lifecycle.KEEPALIVE_SECONDS", 0.3)
    peers.sim.patch(state="scaled_to_zero", cold_start=1.2)
    events = [r async for r in _tgi(peers).generate_stream(PROMPT, max_new_tokens=3)]

    assert events[-1].generated_text == _expected(peers.sim.last_request())
    assert peers.sim.stats()["wakeups"] == 1


# -- the routes themselves -----------------------------------------------------------------------


def test_generate_route_relays_tgis_answer(peers: Peers) -> None:
    body = {"inputs": PROMPT, "parameters": {"max_new_tokens": 3, "details": True}}
    with peers.client() as client:
        answer = client.post(f"/tgi/{peers.model}/generate", json=body)

    assert answer.status_code == 200, answer.text
    assert _only_call(peers) == "POST /generate"
    result = answer.json()
    assert result["generated_text"] == expected_generate(PROMPT, max_new_tokens=3, greedy=True).text
    assert result["details"]["generated_tokens"] == 3


def test_generate_stream_route_relays_tgis_events(peers: Peers) -> None:
    body = {"inputs": PROMPT, "parameters": {"max_new_tokens": 3, "details": True}}
    with peers.client() as client:
        answer = client.post(f"/tgi/{peers.model}/generate_stream", json=body)

    assert answer.headers["content-type"].startswith("text/event-stream")
    events = sse_payloads(answer.text)
    assert len(events) == 3
    assert (
        events[-1]["generated_text"]
        == expected_generate(PROMPT, max_new_tokens=3, greedy=True).text
    )
    assert events[-1]["details"]["input_length"] == tokenizer.input_length(PROMPT, add_bos=True)


def test_too_large_max_new_tokens_is_capped_to_the_window(peers: Peers) -> None:
    body = {"inputs": PROMPT, "parameters": {"max_new_tokens": 5000}}
    with peers.client() as client:
        answer = client.post(f"/tgi/{peers.model}/generate", json=body)

    assert answer.status_code == 200, answer.text
    sent = peers.sim.last_request()["parameters"]["max_new_tokens"]
    assert sent == 4096 - tokenizer.input_length(PROMPT, add_bos=True)


def test_missing_key_is_a_tgi_shaped_401(peers: Peers) -> None:
    answer = httpx.post(f"{_base(peers)}/generate", json={"inputs": PROMPT}, timeout=10)

    assert answer.status_code == 401
    body = answer.json()
    assert set(body) == {"error", "error_type"}


def test_a_failure_before_the_stream_starts_is_a_tgi_error_event(peers: Peers) -> None:
    """TGI reports every ``/generate_stream`` failure as ``data: {"error", "error_type"}``
    (docs/protocols.md §2.4); the clients parse that. A paused endpoint must not cut the stream."""
    peers.sim.patch(state="paused")
    with peers.client() as client:
        answer = client.post(f"/tgi/{peers.model}/generate_stream", json={"inputs": PROMPT})

    events = sse_payloads(answer.text)
    assert len(events) == 1, sse_lines(answer.text)
    assert set(events[0]) == {"error", "error_type"}
    assert "paused" in events[0]["error"]


def test_a_connection_dropped_mid_stream_is_a_tgi_error_event(peers: Peers) -> None:
    peers.sim.patch(drop_after=2, token_delay=0.05)
    with peers.client() as client:
        answer = client.post(
            f"/tgi/{peers.model}/generate_stream",
            json={"inputs": PROMPT, "parameters": {"max_new_tokens": 10}},
        )

    events = sse_payloads(answer.text)
    assert len(events) == 3
    assert set(events[-1]) == {"error", "error_type"}
