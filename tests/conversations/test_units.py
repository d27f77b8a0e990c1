"""The pure parts: reading the relayed stream, titles, what the model is sent, the exports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hfgate.api.routes.conversations import ClosingStreamingResponse
from hfgate.conversations import export
from hfgate.conversations.service import Transcript, _wire, make_title
from hfgate.errors import UpstreamProtocolError
from hfgate.storage.tables import Message
from hfgate.values.events import Done, Error, TextDelta, Usage, Waiting


def test_transcript_reads_text_usage_and_the_end() -> None:
    transcript = Transcript()
    transcript.feed([Waiting("waking", 12.0)])
    transcript.feed([TextDelta("Hello"), TextDelta(", world")])  # two events in one batch
    transcript.feed([Usage(prompt_tokens=3)])
    assert transcript.answer().status == "interrupted", "no Done yet"
    transcript.feed([Done("stop")])
    answer = transcript.answer()
    assert (answer.text, answer.status, answer.error) == ("Hello, world", "complete", None)
    assert answer.usage == Usage(prompt_tokens=3)


def test_transcript_keeps_the_error_and_the_partial_text() -> None:
    transcript = Transcript()
    transcript.feed([TextDelta("par")])
    transcript.feed([Error(UpstreamProtocolError("the endpoint broke")), Usage(3, 1)])
    answer = transcript.answer()
    assert (answer.text, answer.status, answer.error) == ("par", "error", "the endpoint broke")
    assert answer.error_code == "upstream_protocol_error"
    assert answer.usage == Usage(3, 1), "the prompt, and the one text event received"


def test_transcript_counts_text_events_when_the_engine_count_never_comes() -> None:
    transcript = Transcript()
    transcript.feed([TextDelta("a"), TextDelta("b")])
    transcript.feed([TextDelta("c"), Error(UpstreamProtocolError("broke")), Usage(5, 0)])
    assert transcript.answer().usage == Usage(5, 3)
    cut = Transcript()  # a disconnect: no Usage at all, the text events are what is known
    cut.feed([TextDelta("a"), TextDelta("b")])
    answer = cut.answer()
    assert (answer.status, answer.usage, answer.tokens) == ("interrupted", None, 2)


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("  Hi\n there  ", "Hi there"),
        ("", "Untitled"),
        ("word " * 20, "word word word word word word word word word word word word…"),
        ("x" * 80, "x" * 60 + "…"),
    ],
)
def test_titles_are_the_first_words(text: str, title: str) -> None:
    assert make_title(text) == title


def _message(role: str, content: str, status: str = "complete") -> Message:
    return Message(role=role, content=content, status=status)


def test_the_model_is_sent_alternating_turns_without_failed_answers() -> None:
    history = [
        _message("system", "be brief"),
        _message("user", "one"),
        _message("assistant", "half", "error"),
        _message("user", "two"),
        _message("assistant", "cut sh", "interrupted"),
        _message("assistant", "", "interrupted"),
        _message("user", "three"),
    ]
    assert _wire(history) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "one\n\ntwo"},
        {"role": "assistant", "content": "cut sh"},
        {"role": "user", "content": "three"},
    ]


def _view(**changes: Any) -> dict[str, Any]:
    message = {
        "id": "m2", "position": 1, "role": "assistant", "content": "Half an ans",
        "model": "org/model", "status": "interrupted", "error": None,
    }  # fmt: skip
    view = {
        "id": "0123456789ab", "title": "Ünïcode / title?", "model": "org/model",
        "created_at": "2025-01-01T00:00:00+00:00",
        "messages": [
            {**message, "id": "m1", "position": 0, "role": "user", "content": "Q",
             "model": None, "status": "complete"},
            message,
        ],
    }  # fmt: skip
    return view | changes


def test_markdown_marks_interrupted_answers() -> None:
    text = export.markdown(_view())
    assert text.startswith("# Ünïcode / title?\n")
    assert "## User\n\nQ\n\n## Assistant (org/model)\n\nHalf an ans\n\n*(interrupted)*\n" in text


def test_export_file_names_are_plain_ascii() -> None:
    assert export.filename(_view(), "md") == "n-code-title-01234567.md"
    assert export.filename(_view(title=None), "json") == "conversation-01234567.json"
    body, media_type, _ = export.render(_view(), "json")
    assert media_type == "application/json"
    assert json.loads(body)["conversation"]["title"] == "Ünïcode / title?"


async def test_the_stream_generator_is_closed_even_when_left_at_a_yield() -> None:
    """A browser that stops reading while a chunk is being sent: the generator still ends."""
    closed: list[bool] = []

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"one"
            yield b"two"
        finally:
            closed.append(True)

    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            gone.set()
            await asyncio.sleep(10)  # the write never completes: cancelled at the disconnect

    generator = body()  # held here, so the garbage collector cannot be what closes it
    scope = {"type": "http", "asgi": {"spec_version": "2.3"}}
    await asyncio.wait_for(ClosingStreamingResponse(generator)(scope, receive, send), 5)
    assert closed == [True]
