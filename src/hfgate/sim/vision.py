"""Images in chat messages, per engine (``SimConfig.vision``).

**TGI** flattens an ``image_url`` part into ``![](url)`` text for the template whatever the model
(``router/src/lib.rs``, ``impl From<Message> for TextMessage``). For a vision-language model,
validation then cuts every ``![](…)`` of the rendered prompt out and stands image tokens in its
place (``router/src/validation.rs``: ``prepare_input``, ``fetch_image``): ``http(s)://`` URLs
are downloaded (not by the simulator: any such URL is accepted), ``data:<mime>;base64,<data>``
decoded; anything else is 422 ``Input validation error: invalid image content: …``. For a text
model nothing happens: the markdown stays text and counts as text. No refusal either way.

**vLLM** refuses image parts for a text-only model, 400 ``{model} is not a multimodal model
None`` (``MultiModalRegistry.create_processor`` raises, ``serving_chat.py`` formats
``f"{e} {e.__cause__}"``); a vision model gets an ``<image>`` placeholder line before the text.

Each image is ``IMAGE_TOKENS`` = 576 prompt tokens: LLaVA 1.5's CLIP ViT-L/14 at 336 px, a
24 × 24 patch grid (other families differ: LLaVA-NeXT and Qwen2-VL scale with the image size,
which the simulator does not decode). ``/chat_tokenize`` and vLLM's ``/tokenize`` count them
the same way: the placeholder ``<image>`` is one special token of ``tokenizer.py``.
"""

from __future__ import annotations

import base64
import binascii
import re

from hfgate.sim.tokenizer import IMAGE
from hfgate.sim.validation import invalid

IMAGE_TOKENS = 576
# TGI's own pattern for an image in the rendered prompt (validation.rs, ``RE``).
MARKDOWN_IMAGE = re.compile(r"!\[\]\([^\)]*\)")


def tgi_prompt(rendered: str) -> str:
    """The text TGI tokenizes for a vision model: each ``![](…)`` becomes its image tokens;
    ``TGIError`` (422 validation) for image content it cannot read."""
    out, start = [], 0
    for match in MARKDOWN_IMAGE.finditer(rendered):
        check_image(match.group(0))
        out += [rendered[start : match.start()], IMAGE * IMAGE_TOKENS]
        start = match.end()
    out.append(rendered[start:])
    return "".join(out)


def check_image(markdown: str) -> None:
    """``fetch_image``'s refusals, short of decoding the picture itself."""
    if markdown.startswith(("![](http://", "![](https://")):
        return
    if not markdown.startswith("![](data:"):
        raise invalid(f"invalid image content: {markdown}")
    content = markdown[len("![](data:") : -1]
    parts = content.split(";")
    if len(parts) != 2 or not parts[1].startswith("base64,"):
        raise invalid(f"invalid image content: {parts[1] if len(parts) == 2 else content}")
    try:
        base64.b64decode(parts[1][len("base64,") :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid(f"base64 encoding is invalid: {exc}") from None


def count_images(messages: list[object]) -> int:
    return sum(
        1
        for message in messages
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") == "image_url"
    )


def vllm_message(message: dict[str, object]) -> dict[str, object]:
    """vLLM's "string" content format for a message with images: a placeholder line per image,
    then the text parts joined by newlines (``chat_utils._get_full_multimodal_text_prompt``)."""
    content = message.get("content")
    if not isinstance(content, list):
        return message
    parts = [p for p in content if isinstance(p, dict)]
    images = [IMAGE for p in parts if p.get("type") == "image_url"]
    if not images:
        return message
    texts = [str(p.get("text", "")) for p in parts if p.get("type") == "text"]
    return {**message, "content": "\n".join([*images, *texts])}


def vllm_expand(rendered: str) -> str:
    """vLLM's processor expands each placeholder into the image's tokens."""
    return rendered.replace(IMAGE, IMAGE * IMAGE_TOKENS)


def vllm_refusal(model: str) -> str:
    return f"{model} is not a multimodal model None"
