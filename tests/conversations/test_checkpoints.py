"""An answer being streamed is checkpointed: from its first text, about once a second, never
per token; a checkpoint left by a dead process is shown as interrupted."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

import pytest

from hfgate.chat.lifecycle import Caller
from hfgate.chat.service import ChatService, Prepared
from hfgate.conversations import service as conversations
from hfgate.conversations.service import Answer, ChatTurn, ConversationService, shown_status
from hfgate.storage import Database
from hfgate.storage.tables import Message, utcnow
from hfgate.values.events import Batch, Done, TextDelta, Usage

TOKENS = 200


class _Chat:
    """A stream of ``TOKENS`` one-token batches, ``delay`` apart."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def stream(self, prepared: Any, caller: Any) -> AsyncIterator[Batch]:
        for i in range(TOKENS):
            await asyncio.sleep(self.delay)
            yield [TextDelta(f"t{i} ")]
        yield [Usage(5, TOKENS), Done("stop")]


def _relay(delay: float, monkeypatch: pytest.MonkeyPatch) -> list[Answer]:
    service = ConversationService(cast(Database, None), cast(ChatService, _Chat(delay)))
    written: list[Answer] = []

    async def store(turn: ChatTurn, answer: Answer) -> None:
        written.append(Answer(answer.text, answer.status, answer.error, answer.usage))

    monkeypatch.setattr(service, "_store_answer", store)
    turn = ChatTurn("c", "t", "q", cast(Prepared, None), cast(Caller, None))

    async def run() -> None:
        async for _ in service.relay(turn):
            pass

    asyncio.run(run())
    return written


def test_a_200_token_stream_is_checkpointed_a_handful_of_times_not_per_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written = _relay(0.01, monkeypatch)  # ≥ 2 s of streaming
    checkpoints, final = written[:-1], written[-1]
    assert final.status == "complete" and final.text.count(" ") == TOKENS
    assert 2 <= len(checkpoints) <= 6, [len(a.text) for a in checkpoints]
    assert all(a.status == "streaming" for a in checkpoints)
    assert checkpoints[0].text == "t0 ", "the first checkpoint comes with the first text"
    texts = [a.text for a in written]
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(texts))


def test_a_fast_stream_is_written_at_its_first_text_and_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written = _relay(0, monkeypatch)
    assert [a.status for a in written] == ["streaming", "complete"]


def test_a_streaming_answer_not_written_for_a_while_shows_as_interrupted() -> None:
    message = Message(role="assistant", status="streaming", created_at=utcnow())
    message.updated_at = utcnow()
    assert shown_status(message) == "streaming"
    message.updated_at = utcnow() - timedelta(seconds=conversations.STALE_SECONDS + 1)
    assert shown_status(message) == "interrupted"
    message.status = "complete"
    assert shown_status(message) == "complete"
