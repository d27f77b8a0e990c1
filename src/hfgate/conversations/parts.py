"""A question's content: text, or OpenAI content parts carrying images (pure).

The workspace's composer sends pictures as ``data:`` URLs, and only those are taken: a remote
URL would have the endpoint fetch whatever address a person pasted, and a stored conversation
would change (or vanish) with that address. The text of the parts is kept apart, for the
title, search and export; the parts themselves are what the model is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hfgate.errors import InvalidRequest

MAX_IMAGES = 4
MAX_IMAGE_BYTES = 5 * 1024 * 1024
_DATA_URL = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}")
# Base64 grows the bytes by 4/3: the longest payload an image of MAX_IMAGE_BYTES makes.
_MAX_URL_CHARS = 64 + (MAX_IMAGE_BYTES + 2) // 3 * 4


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    parts: list[dict[str, Any]] | None = None  # None: plain text

    @property
    def images(self) -> int:
        return sum(part["type"] == "image_url" for part in self.parts or ())


def _bad(message: str) -> InvalidRequest:
    return InvalidRequest(message, param="content")


def parse_content(value: Any) -> Question | None:
    """The ``content`` of a chat body: a string, a list of parts, or None (regenerate)."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            raise _bad("content must not be empty; send null to regenerate the last answer")
        return Question(value)
    if not isinstance(value, list) or not value:
        raise _bad(
            "content must be a string, a non-empty list of content parts, or null (regenerate);"
            f" got {type(value).__name__}"
        )
    parts = [_part(index, part) for index, part in enumerate(value)]
    text = "\n\n".join(p["text"] for p in parts if p["type"] == "text" and p["text"].strip())
    question = Question(text, parts)
    if question.images > MAX_IMAGES:
        raise _bad(f"a message takes at most {MAX_IMAGES} images; this one has {question.images}")
    if not question.images:
        if not text:
            raise _bad("content must not be empty; send null to regenerate the last answer")
        return Question(text)
    return question


def _part(index: int, part: Any) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, Mapping) else None
    if kind == "text" and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else None
        return {"type": "image_url", "image_url": {"url": _image_url(index, url)}}
    raise _bad(
        f"content[{index}] must be a text part {{type: text, text}} or an image part"
        " {type: image_url, image_url: {url: data:image/…;base64,…}}"
    )


def _image_url(index: int, url: Any) -> str:
    if not isinstance(url, str) or not url.startswith("data:"):
        raise _bad(
            f"content[{index}]: images are sent as data:image/…;base64 URLs (attach the file);"
            " links to pictures elsewhere are not fetched"
        )
    if len(url) > _MAX_URL_CHARS:
        megabytes = MAX_IMAGE_BYTES // (1024 * 1024)
        raise _bad(f"content[{index}]: the image is larger than {megabytes} MB; send a smaller one")
    if not _DATA_URL.fullmatch(url):
        raise _bad(
            f"content[{index}]: not a base64 PNG, JPEG, GIF or WebP data URL"
            " (data:image/png;base64,…)"
        )
    return url
