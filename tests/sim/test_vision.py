"""Images in chat messages: TGI keeps them as markdown for a text model and counts image tokens
for a vision one; vLLM refuses them for a text model. ``SimConfig.vision`` (``vision.py``)."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
from huggingface_hub import InferenceClient

from hfgate.sim import tokenizer
from hfgate.sim.vision import IMAGE_TOKENS
from tests.sim.support import TOKEN, Sim, chat_post, sse_json

URL = "https://example.com/cat.png"
DATA = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()


def parts(*urls: str, text: str = "What is in the picture?") -> list[dict[str, Any]]:
    images = [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    return [{"role": "user", "content": [{"type": "text", "text": text}, *images]}]


def chatml(content: str) -> str:
    return f"<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n"


def tokenize(sim: Sim, messages: list[dict[str, Any]]) -> dict[str, Any]:
    with sim.client() as client:
        response = client.post("/chat_tokenize", json={"messages": messages})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_tgi_text_model_keeps_images_as_markdown(sim: Sim) -> None:
    messages = parts(URL)
    result = chat_post(sim, messages=messages).json()  # no refusal
    text = chatml(f"What is in the picture?![]({URL})")
    assert tokenize(sim, messages)["templated_text"] == text
    assert result["usage"]["prompt_tokens"] == tokenizer.count(text)
    with sim.client() as client:
        info = client.get("/info").json()
    assert info["model_pipeline_tag"] == "text-generation"


def test_tgi_vision_model_counts_image_tokens(sim: Sim) -> None:
    sim.patch(vision=True)
    messages = parts(URL, DATA)
    result = chat_post(sim, messages=messages).json()
    text_only = tokenizer.count(chatml("What is in the picture?"))
    assert result["usage"]["prompt_tokens"] == text_only + 2 * IMAGE_TOKENS
    tokens = tokenize(sim, messages)
    assert len(tokens["tokenize_response"]) == result["usage"]["prompt_tokens"]
    assert tokens["templated_text"] == chatml(f"What is in the picture?![]({URL})![]({DATA})")
    image = [t for t in tokens["tokenize_response"] if t["text"] == "<image>"]
    assert len(image) == 2 * IMAGE_TOKENS and {t["id"] for t in image} == {32002}
    events = sse_json(chat_post(sim, messages=messages, stream=True).text)
    assert events[-1] == "[DONE]" and events[-2]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://example.com/cat.png", "invalid image content: ![](ftp://example.com/cat.png)"),
        ("data:image/png,abc", "invalid image content: image/png,abc"),
        ("data:image/png;abc", "invalid image content: abc"),
        ("data:image/png;base64,@@@", "base64 encoding is invalid: "),
    ],
)
def test_tgi_vision_refuses_unreadable_images(sim: Sim, url: str, error: str) -> None:
    sim.patch(vision=True)
    response = chat_post(sim, messages=parts(url))
    assert response.status_code == 422
    assert response.json()["error_type"] == "validation"
    assert response.json()["error"].startswith(f"Input validation error: {error}")
    events = sse_json(chat_post(sim, messages=parts(url), stream=True).text)
    assert events[0]["error"]["message"].startswith("Input validation error: ")
    assert events[-1] == "[DONE]"


def test_vision_task_on_info_and_hub(sim: Sim) -> None:
    sim.patch(vision=True)
    with sim.client() as client:
        info = client.get("/info").json()
        hub = client.get(f"/api/models/{info['model_id']}").json()
    assert info["model_pipeline_tag"] == "image-text-to-text"
    assert hub["pipeline_tag"] == "image-text-to-text" and "image-text-to-text" in hub["tags"]
    sim.patch(model_id_repository=True)  # on Inference Endpoints TGI skips the Hub
    with sim.client() as client:
        assert client.get("/info").json()["model_pipeline_tag"] is None


def test_vllm_text_model_refuses_images(sim: Sim) -> None:
    sim.patch(engine="vllm")
    response = chat_post(sim, messages=parts(URL))
    assert response.status_code == 400
    model = sim.state()["model_id"]
    assert response.json()["error"] == {
        "message": f"{model} is not a multimodal model None",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }


def test_vllm_vision_model_counts_image_tokens(sim: Sim) -> None:
    sim.patch(engine="vllm", vision=True)
    messages = parts(URL)
    result = chat_post(sim, messages=messages).json()
    placeholder = chatml("<image>\nWhat is in the picture?")
    expected = tokenizer.count(placeholder) - 1 + IMAGE_TOKENS
    assert result["usage"]["prompt_tokens"] == expected
    with sim.client() as client:
        counted = client.post("/tokenize", json={"messages": messages}).json()
    assert counted["count"] == expected


def test_clients_send_images_to_a_vision_model(sim: Sim) -> None:
    sim.patch(vision=True)
    hub = InferenceClient(base_url=sim.url, api_key=TOKEN, provider="hf-inference")
    output = hub.chat_completion(parts(URL), max_tokens=4)
    assert output.usage.prompt_tokens > IMAGE_TOKENS
    sim.patch(engine="vllm")
    sdk = openai.OpenAI(base_url=f"{sim.url}/v1", api_key=TOKEN, max_retries=0)
    model = sim.state()["model_id"]
    reply = sdk.chat.completions.create(model=model, messages=parts(DATA), max_tokens=4)
    assert reply.usage is not None and reply.usage.prompt_tokens > IMAGE_TOKENS
    sim.patch(vision=False)
    with pytest.raises(openai.BadRequestError, match="is not a multimodal model"):
        sdk.chat.completions.create(model=model, messages=parts(DATA))
