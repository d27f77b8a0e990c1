"""Image parts through the OpenAI SDK: a vision-language model gets them as sent; a text model
gets nothing, and the caller a precise 400 ``images_not_supported``."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest

from tests.chat.support import Peers
from tests.clients.support import sent_all

# A 1×1 PNG, as clients build data URLs from files.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2bd8a"
        "7e0000000049454e44ae426082"
    )
).decode()
IMAGE: dict[str, Any] = {
    "type": "image_url",
    "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"},
}
LOOK: list[Any] = [
    {"role": "user", "content": [{"type": "text", "text": "What is in this picture?"}, IMAGE]}
]


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_a_vision_model_gets_the_image(vision: Peers, stream: bool) -> None:
    client = vision.openai()
    if stream:
        chunks = list(
            client.chat.completions.create(model=vision.model, messages=LOOK, stream=True)
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        reasons = [c.choices[0].finish_reason for c in chunks if c.choices]
        assert [r for r in reasons if r] == ["stop"]
    else:
        reply = client.chat.completions.create(model=vision.model, messages=LOOK)
        text = reply.choices[0].message.content or ""
        assert reply.choices[0].finish_reason == "stop"
        text_only = client.chat.completions.create(
            model=vision.model,
            messages=[{"role": "user", "content": "What is in this picture?"}],
        )
        # The engine counts the image's tokens (its vision encoder's), and hfgate reports them.
        assert reply.usage is not None and text_only.usage is not None
        assert reply.usage.prompt_tokens > text_only.usage.prompt_tokens + 16
    assert text
    parts = sent_all(vision)[0]["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "What is in this picture?"}
    assert parts[1]["type"] == "image_url"
    assert parts[1]["image_url"]["url"] == IMAGE["image_url"]["url"]


def test_a_vision_model_lists_vision(vision: Peers) -> None:
    entry = vision.openai().models.retrieve(vision.model).model_dump()
    assert entry["capabilities"]["vision"] is True


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_an_image_for_a_text_model_is_a_400(peers: Peers, stream: bool) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        peers.openai().chat.completions.create(model=peers.model, messages=LOOK, stream=stream)

    assert caught.value.status_code == 400
    assert caught.value.code == "images_not_supported"
    assert caught.value.param == "messages"
    assert peers.model in caught.value.message
    assert peers.sim.recorder.generation_calls() == []
    entry = peers.openai().models.retrieve(peers.model).model_dump()
    assert entry["capabilities"]["vision"] is False
