"""Questions with attached images: OpenAI content parts, checked at the edge, stored with the
question, sent to a model that takes images, refused for one that does not."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from hfgate.conversations.parts import MAX_IMAGE_BYTES, parse_content
from hfgate.errors import InvalidRequest
from tests.conversations.support import chat, messages, new_conversation
from tests.support.peers import Gateway, running_sim

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 32).decode()


def _image(url: str = PNG) -> dict[str, object]:
    return {"type": "image_url", "image_url": {"url": url}}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("   ", "must not be empty"),
        ([], "non-empty list of content parts"),
        (7, "got int"),
        ([{"type": "text", "text": "  "}], "must not be empty"),
        ([{"type": "audio"}], "content[0] must be a text part"),
        ([_image("https://example.com/cat.png")], "links to pictures elsewhere are not fetched"),
        ([_image("data:text/html;base64,PGI+")], "not a base64 PNG, JPEG, GIF or WebP"),
        ([_image("data:image/png;base64,@@@")], "not a base64 PNG, JPEG, GIF or WebP"),
        ([_image()] * 5, "at most 4 images"),
        ([_image("data:image/png;base64," + "A" * (MAX_IMAGE_BYTES * 4 // 3 + 100))], "5 MB"),
    ],
)
def test_content_is_checked_part_by_part(content: object, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_content(content)
    assert fragment in refused.value.message and refused.value.param == "content"


def test_text_parts_alone_are_plain_text_and_images_stay_parts() -> None:
    assert parse_content(None) is None
    plain = parse_content([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    assert plain is not None and (plain.text, plain.parts) == ("a\n\nb", None)
    pictured = parse_content([{"type": "text", "text": "what is it?"}, _image()])
    assert pictured is not None and pictured.images == 1 and pictured.text == "what is it?"
    assert pictured.parts == [{"type": "text", "text": "what is it?"}, _image()]


def test_an_image_reaches_a_vision_model_and_is_stored_with_the_question(
    workspace: Gateway, client: httpx.Client
) -> None:
    with running_sim(vision=True, reply_tokens=6) as sim:
        assert workspace.add(sim.credential(name="team/vision")).status_code == 201
        cid = new_conversation(client, model="team/vision")["id"]
        content = [{"type": "text", "text": "what is it?"}, _image()]
        stream = chat(client, cid, content=content)
        assert stream.done and not stream.errors, stream.body
        assert PNG in json.dumps(sim.stats()["last_request"])
        question = messages(client, cid)[0]
        assert (question["content"], question["parts"]) == ("what is it?", content)
        # Regenerating sends the image again.
        sim.reset()
        assert chat(client, cid, content=None).done
        assert PNG in json.dumps(sim.stats()["last_request"])
        markdown = client.get(f"/api/conversations/{cid}/export").text
        assert "*(1 image attached)*" in markdown and PNG not in markdown


def test_an_image_for_a_text_model_is_refused_and_nothing_is_stored(
    client: httpx.Client,
) -> None:
    cid = new_conversation(client)["id"]
    reply = client.post(f"/api/conversations/{cid}/chat", json={"content": [_image()]})
    assert reply.status_code == 400, reply.text
    assert "image" in reply.json()["error"]["message"]
    assert messages(client, cid) == []
