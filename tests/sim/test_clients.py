"""Hugging Face's own clients against the sim: if they work, the wire format is right."""

from __future__ import annotations

import pytest
import text_generation
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError
from text_generation import errors as tg_errors

from hfgate.sim import generation, tokenizer
from tests.sim.support import AUTH, TOKEN, Sim

PROMPT = "What is Deep Learning?"


def expected_text(max_new_tokens: int) -> str:
    length = tokenizer.input_length(PROMPT, add_bos=True)
    return generation.plan(
        PROMPT, input_length=length, max_new_tokens=max_new_tokens, natural=16
    ).text


async def test_text_generation_generate(sim: Sim) -> None:
    client = text_generation.AsyncClient(sim.url, headers=AUTH)
    response = await client.generate(PROMPT, max_new_tokens=5)
    assert response.generated_text == expected_text(5)
    assert response.details.finish_reason == text_generation.types.FinishReason.Length
    assert response.details.generated_tokens == 5
    assert sim.stats()["requests"] == {"POST /": 1}  # the client posts to the compat route


async def test_text_generation_stream(sim: Sim) -> None:
    client = text_generation.AsyncClient(sim.url, headers=AUTH)
    responses = [r async for r in client.generate_stream(PROMPT, max_new_tokens=50)]
    assert len(responses) == 16
    assert responses[-1].generated_text == expected_text(50)
    assert responses[-1].details.finish_reason.value == "eos_token"
    assert responses[-1].token.special


async def test_text_generation_old_framing(sim: Sim) -> None:
    sim.patch(tgi_version="1.4.2")
    client = text_generation.AsyncClient(sim.url, headers=AUTH)
    responses = [r async for r in client.generate_stream(PROMPT, max_new_tokens=3)]
    assert len(responses) == 3 and responses[-1].generated_text == expected_text(3)


async def test_text_generation_error_mapping(sim: Sim) -> None:
    client = text_generation.AsyncClient(sim.url, headers=AUTH)
    with pytest.raises(tg_errors.ValidationError, match="must be <= 4096"):
        await client.generate("x" + " x" * 4099, max_new_tokens=10)
    sim.patch(overloaded=True)
    with pytest.raises(tg_errors.OverloadedError):
        await client.generate(PROMPT)
    with pytest.raises(tg_errors.OverloadedError):  # an SSE event inside a 200
        async for _ in client.generate_stream(PROMPT):
            pass
    sim.patch(overloaded=False, stream_error_after=2)
    with pytest.raises(tg_errors.GenerationError):
        async for _ in client.generate_stream(PROMPT):
            pass


def hub_client(sim: Sim) -> InferenceClient:
    # huggingface_hub 0.36 leaves provider None for a URL; get_endpoint_info() and
    # health_check() then refuse to run, so name the provider that URLs really use.
    return InferenceClient(base_url=sim.url, api_key=TOKEN, provider="hf-inference")


def test_inference_client_text_generation(sim: Sim) -> None:
    client = hub_client(sim)
    text = client.text_generation(PROMPT, max_new_tokens=5)
    # POST / defaults return_full_text to true for text-generation models: the prompt is echoed
    assert text == PROMPT + expected_text(5)
    details = client.text_generation(PROMPT, max_new_tokens=5, details=True, return_full_text=False)
    assert details.generated_text == expected_text(5)
    assert details.details.finish_reason == "length" and details.details.generated_tokens == 5
    tokens = list(client.text_generation(PROMPT, max_new_tokens=4, stream=True))
    assert "".join(tokens) == expected_text(4)
    streamed = list(client.text_generation(PROMPT, max_new_tokens=4, stream=True, details=True))
    assert streamed[-1].details.finish_reason == "length"


def test_inference_client_chat_completion(sim: Sim) -> None:
    client = hub_client(sim)
    messages = [{"role": "user", "content": "Hello"}]
    output = client.chat_completion(messages, max_tokens=5)
    assert output.choices[0].finish_reason == "length"
    assert output.usage.completion_tokens == 5
    content = output.choices[0].message.content
    chunks = list(client.chat_completion(messages, max_tokens=5, stream=True))
    assert "".join(c.choices[0].delta.content for c in chunks) == content
    assert chunks[-1].choices[0].finish_reason == "length"


def test_inference_client_endpoint_info_and_health(sim: Sim) -> None:
    client = hub_client(sim)
    info = client.get_endpoint_info()
    assert info["router"] == "text-generation-router" and info["max_total_tokens"] == 4096
    assert client.health_check() is True
    sim.patch(state="scaled_to_zero", cold_start=30)
    assert client.health_check() is False


def test_inference_client_errors(sim: Sim) -> None:
    client = hub_client(sim)
    with pytest.raises(Exception) as validation:
        client.text_generation("x" + " x" * 4099, max_new_tokens=10)
    assert type(validation.value).__name__ == "ValidationError"
    sim.patch(state="paused")
    with pytest.raises(HfHubHTTPError) as paused:
        client.chat_completion([{"role": "user", "content": "Hello"}])
    assert paused.value.response.status_code == 400
    assert "endpoint is paused" in paused.value.response.text
