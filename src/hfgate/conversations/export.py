"""A conversation as a download: Markdown to read or share, JSON to keep or re-import (pure).

Markdown shows the conversation as it reads (the selected version of each answer, and which
of how many it is); JSON keeps every version.

Both work from the view ``ConversationService.get`` returns, which holds nothing about its
owner (no user id), so an export never carries another account's internal ids.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

FORMATS = {"markdown": ("md", "text/markdown; charset=utf-8"), "json": ("json", "application/json")}
EXPORT_VERSION = 1


def markdown(conversation: dict[str, Any]) -> str:
    lines = [f"# {conversation['title'] or 'Untitled conversation'}", ""]
    lines += [f"Model: `{conversation['model']}` · Started {conversation['created_at']}", ""]
    for message in conversation["messages"]:
        lines += [_heading(message), ""]
        if len(message.get("versions") or ()) > 1:
            lines += [f"*(version {message['version']} of {len(message['versions'])})*", ""]
        lines += [message["content"], ""]
        images = sum(part["type"] == "image_url" for part in message.get("parts") or ())
        if images:  # the pictures themselves stay in the JSON export
            lines += [f"*({images} image{'s' if images > 1 else ''} attached)*", ""]
        if message["status"] == "interrupted":
            lines += ["*(interrupted)*", ""]
        elif message["status"] == "error":
            lines += [f"*(error: {message['error'] or 'the answer failed'})*", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _heading(message: dict[str, Any]) -> str:
    role = message["role"]
    if role == "assistant":
        return f"## Assistant ({message['model']})" if message["model"] else "## Assistant"
    return f"## {role.capitalize()}"


def json_document(conversation: dict[str, Any]) -> bytes:
    document = {
        "hfgate_export": EXPORT_VERSION,
        "exported_at": datetime.now(UTC).isoformat(),
        "conversation": conversation,
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


def filename(conversation: dict[str, Any], extension: str) -> str:
    """An ASCII file name from the title: safe in a Content-Disposition header as it is."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", conversation["title"] or "").strip("-").lower()
    return f"{slug[:60].rstrip('-') or 'conversation'}-{conversation['id'][:8]}.{extension}"


def render(conversation: dict[str, Any], kind: str) -> tuple[bytes, str, str]:
    """(body, media type, file name) for ``kind``, a key of ``FORMATS``."""
    extension, media_type = FORMATS[kind]
    body = json_document(conversation) if kind == "json" else markdown(conversation).encode()
    return body, media_type, filename(conversation, extension)
