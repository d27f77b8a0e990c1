"""Conversation history: people's chats, stored turn by turn, and the streamed answer's relay.

Every query is filtered by the caller's user id, so another person's conversation is simply
not found (404), never forbidden (403, which would confirm that it exists).

An answer is relayed as ``ChatService.stream``'s events, and the same events are read into a
``Transcript``, so what is stored is what the person was sent. It is stored when the stream
ends, however it ends: complete, with an error, or cut short because the browser went away
or pressed Stop. That save runs in a task of its own, because a relay cancelled by a
disconnect would have its own awaits cancelled too.

A process killed mid-answer saves nothing when it dies, so the answer is checkpointed while it
streams: stored at its first text with status ``streaming``, and its text so far written again
at most once every ``CHECKPOINT_SECONDS`` (never per token: this is the workspace's hot path).
The final save updates that row. A ``streaming`` row not written for ``STALE_SECONDS`` was left
by a dead process (any of the workers sharing the database may be writing one, so start-up
cannot tell): it is shown as ``interrupted``.

Regenerating keeps the previous answer as a version: every version of an answer has the
answer's position, and the selected one is shown and sent to the model on the next turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from hfgate.chat.lifecycle import Caller
from hfgate.chat.service import ChatService, Prepared
from hfgate.conversations.parts import Question
from hfgate.conversations.store import (
    matching,
    messages_of,
    new_message,
    next_position,
    no_message,
    owned,
    replace_version,
    select_version,
    set_system,
)
from hfgate.errors import InvalidRequest, NotFound
from hfgate.storage import Database
from hfgate.storage.tables import Conversation, Message, aware, iso, utcnow
from hfgate.values.events import Batch, Done, Error, TextDelta, Usage
from hfgate.values.principal import Principal
from hfgate.values.request import ChatRequest, Sampling

log = logging.getLogger("hfgate.conversations")

TITLE_CHARS = 60
ROUTE = "conversation"  # how the workspace's chats are labelled in the usage records
CHECKPOINT_SECONDS = 1.0  # an answer being streamed is written at most this often
STALE_SECONDS = 30.0  # a streaming answer not written for this long was left by a dead process


# -- views -------------------------------------------------------------------------------------


def conversation_view(conversation: Conversation, message_count: int) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "title": conversation.title,
        "model": conversation.model,
        "created_at": iso(conversation.created_at),
        "updated_at": iso(conversation.updated_at),
        "message_count": message_count,
    }


def message_view(message: Message, versions: Sequence[Message] = ()) -> dict[str, Any]:
    """A message as the API shows it; an answer lists its ``versions`` (oldest first, this
    one included) and which of them it is (``version``, from 1)."""
    view = _message_fields(message)
    if message.role == "assistant":
        versions = versions or [message]
        view["version"] = next(i for i, m in enumerate(versions, 1) if m.id == message.id)
        view["versions"] = [_message_fields(m) for m in versions]
    return view


def _message_fields(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "position": message.position,
        "role": message.role,
        "content": message.content,
        "parts": message.parts,
        "model": message.model,
        "status": shown_status(message),
        "error": message.error,
        "error_code": message.error_code,
        "trimmed": message.trimmed,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "created_at": iso(message.created_at),
    }


def shown_status(message: Message) -> str:
    """Its status, but ``interrupted`` for an answer left ``streaming`` by a dead process."""
    if message.status != "streaming":
        return message.status
    written = aware(message.updated_at or message.created_at)
    stale = (utcnow() - written).total_seconds() > STALE_SECONDS
    return "interrupted" if stale else "streaming"


def make_title(text: str) -> str:
    """The first words of a message, cut at a word boundary near ``TITLE_CHARS``."""
    words = " ".join(text.split())
    if len(words) <= TITLE_CHARS:
        return words or "Untitled"
    cut = words[:TITLE_CHARS].rsplit(" ", 1)[0] or words[:TITLE_CHARS]
    return cut.rstrip(" ,.;:-") + "…"


def _wire(history: Sequence[Message]) -> list[dict[str, Any]]:
    """The shown turns as the model is sent them.

    Failed and empty answers are left out, and neighbours of the same role are merged:
    chat templates such as Llama 2's refuse a conversation whose roles do not alternate,
    which is what a retry after an error would otherwise send.
    """
    wire: list[dict[str, Any]] = []
    for message in history:
        if message.role == "assistant" and (message.status == "error" or not message.content):
            continue
        content: str | list[dict[str, Any]] = message.parts or message.content
        if wire and wire[-1]["role"] == message.role and message.role != "system":
            wire[-1]["content"] = _joined(wire[-1]["content"], content)
        else:
            wire.append({"role": message.role, "content": content})
    return wire


def _joined(
    first: str | list[dict[str, Any]], second: str | list[dict[str, Any]]
) -> str | list[dict[str, Any]]:
    if isinstance(first, str) and isinstance(second, str):
        return first + "\n\n" + second
    return [*_as_parts(first), {"type": "text", "text": "\n\n"}, *_as_parts(second)]


def _as_parts(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def _shown(history: Sequence[Message]) -> list[tuple[Message, list[Message]]]:
    """The conversation as it continues: each message with the versions of its turn.

    An answer's versions share its position; the selected one is shown (the newest, should a
    race have left none or two selected).
    """
    turns: list[tuple[Message, list[Message]]] = []
    for message in history:
        if turns and message.role == "assistant" == turns[-1][0].role:
            shown, versions = turns[-1]
            if message.position == shown.position:
                versions.append(message)
                if message.selected or not shown.selected:
                    turns[-1] = (message, versions)
                continue
        turns.append((message, [message]))
    return turns


# -- reading the relayed stream ----------------------------------------------------------------


@dataclass(slots=True)
class Answer:
    text: str
    status: str  # complete | interrupted | error | streaming (a checkpoint)
    error: str | None
    usage: Usage | None
    error_code: str | None = None
    tokens: int = 0  # text events received: the completion tokens of an answer cut short


@dataclass(slots=True)
class Transcript:
    """What the browser was sent, read from the events of ``ChatService.stream``.

    An answer cut short keeps what is known of its tokens. The engine's own count comes only
    in its last event, so until then each ``TextDelta`` counts as one token: TGI, vLLM and
    SGLang stream one token per event, and the chat reader turns each upstream delta into at
    most one ``TextDelta`` (stop sequences may hold a delta's text back, so this never counts
    more than the engine generated).
    """

    parts: list[str] = field(default_factory=list)
    usage: Usage | None = None
    tokens: int = 0
    error: str | None = None
    error_code: str | None = None
    done: bool = False

    def feed(self, batch: Batch) -> None:
        for event in batch:
            if isinstance(event, TextDelta):
                self.parts.append(event.text)
                self.tokens += 1
            elif isinstance(event, Done):
                self.done = True
            elif isinstance(event, Usage):
                # A failed call's usage is what the lifecycle knew: the prompt, and the
                # engine's count only if it came; the text events received count otherwise.
                completion = event.completion_tokens
                if self.error is not None:
                    completion = max(completion, self.tokens)
                self.usage = Usage(event.prompt_tokens, completion)
            elif isinstance(event, Error):
                self.error = event.error.message
                self.error_code = event.error.code or None

    def fail(self, message: str) -> None:
        self.error = self.error or message

    def answer(self) -> Answer:
        status = "error" if self.error else "complete" if self.done else "interrupted"
        text = "".join(self.parts)
        return Answer(text, status, self.error, self.usage, self.error_code, self.tokens)


# -- one chat turn -----------------------------------------------------------------------------


@dataclass(slots=True)
class ChatTurn:
    """A prepared answer: the ids it will be stored under and the upstream call."""

    conversation_id: str
    title: str | None
    user_message_id: str
    prepared: Prepared
    caller: Caller
    assistant_message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # A regenerated answer: the position of the answer it is a new version of, and the
    # failed answer it replaces (a failure is not worth keeping as a version).
    version_of: int | None = None
    replaces: str | None = None
    # The answer's writes (checkpoints, then the final save) one at a time, in order.
    writing: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def start(self) -> dict[str, Any]:
        """What the workspace learns first: the ids the turn is stored under, and its title."""
        return {
            "conversation_id": self.conversation_id,
            "user_message_id": self.user_message_id,
            "assistant_message_id": self.assistant_message_id,
            "title": self.title,
        }


class ConversationService:
    def __init__(self, db: Database, chat: ChatService) -> None:
        self.db, self.chat = db, chat
        self._saving: set[asyncio.Task[None]] = set()

    # -- conversations -----------------------------------------------------------------------

    async def list_for(self, user_id: int, search: str | None = None) -> list[dict[str, Any]]:
        """The person's conversations, most recently active first; with ``search``, only
        those whose title or shown messages contain it (any case)."""
        count = (
            select(func.count(Message.id))
            .where(Message.conversation_id == Conversation.id, Message.selected == true())
            .correlate(Conversation)
            .scalar_subquery()
        )
        query = (
            select(Conversation, count)
            .where(Conversation.user_id == user_id)
            .order_by(Conversation.updated_at.desc(), Conversation.created_at.desc())
        )
        if search and search.strip():
            query = query.where(matching(search.strip()))
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
        return [conversation_view(conversation, n) for conversation, n in rows]

    async def create(
        self, user_id: int, model: str, title: str | None, system: str | None
    ) -> dict[str, Any]:
        self.check_model(model)
        now = utcnow()
        conversation = Conversation(
            id=str(uuid.uuid4()),
            user_id=user_id,
            title=title,
            model=model,
            created_at=now,
            updated_at=now,
        )
        async with self.db.session() as session:
            session.add(conversation)
            await session.flush()  # no ORM relationship orders the inserts: the row goes first
            if system and system.strip():
                session.add(new_message(conversation.id, 0, "system", system))
            await session.commit()
        return await self.get(user_id, conversation.id)

    async def get(self, user_id: int, conversation_id: str) -> dict[str, Any]:
        async with self.db.session() as session:
            conversation = await owned(session, user_id, conversation_id)
            turns = _shown(await messages_of(session, conversation_id))
        view = conversation_view(conversation, len(turns))
        view["messages"] = [message_view(shown, versions) for shown, versions in turns]
        return view

    async def select(self, user_id: int, conversation_id: str, message_id: str) -> dict[str, Any]:
        """Show this version of its answer: the one the conversation continues from."""
        async with self.db.session() as session:
            await owned(session, user_id, conversation_id)
            chosen = await session.get(Message, message_id)
            if chosen is None or chosen.conversation_id != conversation_id:
                raise no_message(conversation_id, message_id)
            if chosen.role != "assistant":
                raise InvalidRequest(
                    f"message {message_id!r} is the {chosen.role}'s: only answers have versions",
                    param="message_id",
                )
            await select_version(session, chosen)
            await session.commit()
        return await self.get(user_id, conversation_id)

    async def update(
        self,
        user_id: int,
        conversation_id: str,
        title: str | None,
        model: str | None,
        system: str | None = None,
    ) -> dict[str, Any]:
        """Change what was given; ``system`` sets the system prompt ("" removes it)."""
        if model is not None:
            self.check_model(model)
        if title is None and model is None and system is None:
            return await self.get(user_id, conversation_id)  # nothing changed: keep its place
        async with self.db.session() as session:
            conversation = await owned(session, user_id, conversation_id)
            conversation.title = title if title is not None else conversation.title
            conversation.model = model or conversation.model
            if system is not None:
                await set_system(session, conversation_id, system)
            conversation.updated_at = utcnow()
            await session.commit()
        return await self.get(user_id, conversation_id)

    async def delete(self, user_id: int, conversation_id: str) -> None:
        async with self.db.session() as session:
            await owned(session, user_id, conversation_id)
            # The messages go with it: ON DELETE CASCADE.
            await session.execute(delete(Conversation).where(Conversation.id == conversation_id))
            await session.commit()

    async def delete_from(self, user_id: int, conversation_id: str, message_id: str) -> list[str]:
        """Remove a message and every later one; returns the removed ids, in order."""
        async with self.db.session() as session:
            conversation = await owned(session, user_id, conversation_id)
            first = await session.get(Message, message_id)
            if first is None or first.conversation_id != conversation_id:
                raise no_message(conversation_id, message_id)
            # Every version of a removed answer goes too: they share its position.
            doomed = [m.id for m in await messages_of(session, conversation_id, first.position)]
            await session.execute(delete(Message).where(Message.id.in_(doomed)))
            conversation.updated_at = utcnow()
            await session.commit()
        return doomed

    def check_model(self, name: str) -> None:
        try:
            self.chat.model(name)
        except NotFound as exc:
            # Here the model is a field of the caller's request, not the resource asked for.
            raise InvalidRequest(exc.message, param="model", code="model_not_found") from None

    # -- chatting ----------------------------------------------------------------------------

    async def start_chat(
        self,
        principal: Principal,
        conversation_id: str,
        content: Question | None,
        model: str | None,
        sampling: Sampling,
    ) -> ChatTurn:
        """Check and prepare one answer, then store the question; nothing is stored on error.

        ``content`` None answers the last question again: a new version of its answer.
        """
        caller = Caller(principal, ROUTE)
        async with self.db.session() as session:
            conversation = await owned(session, principal.user_id, conversation_id)
            history = [shown for shown, _ in _shown(await messages_of(session, conversation_id))]
        model = model or conversation.model
        principal.require_model(model)
        self.check_model(model)
        question, previous = _question(conversation_id, history, content)
        wire = _wire([*history, question])
        request = ChatRequest(
            model, wire, sampling, stream=True, include_usage=True, images=_images(wire)
        )
        prepared = await self.chat.prepare_chat(request)
        title = await self._ask(principal.user_id, question, model, new=content is not None)
        turn = ChatTurn(conversation_id, title, question.id, prepared, caller)
        if previous is not None:
            turn.version_of = previous.position
            turn.replaces = previous.id if previous.status == "error" else None
        return turn

    async def _ask(self, user_id: int, question: Message, model: str, *, new: bool) -> str:
        """Store a new question (a regenerated one is stored already); returns the title."""
        async with self.db.session() as session:
            conversation = await owned(session, user_id, question.conversation_id)
            if new:
                question.position = await next_position(session, conversation.id)
                session.add(question)
            conversation.model = model
            conversation.title = conversation.title or make_title(question.content)
            conversation.updated_at = utcnow()
            await session.commit()
            return conversation.title

    async def relay(self, turn: ChatTurn) -> AsyncGenerator[Batch, None]:
        """``ChatService.stream``'s events, unchanged. The answer is saved when the stream
        ends, before the edge writes its end (a client acting on it finds it stored), or —
        when the stream breaks off — with what had been sent. Meanwhile it is checkpointed
        (from its first text, at most once every ``CHECKPOINT_SECONDS``)."""
        transcript = Transcript()
        saved = False
        checkpointed: float | None = None
        try:
            async with contextlib.aclosing(self.chat.stream(turn.prepared, turn.caller)) as stream:
                async for batch in stream:
                    yield batch
                    # Read once the batch was taken: what is stored is what was sent.
                    transcript.feed(batch)
                    now = time.monotonic()
                    if _unsaved_text(transcript) and (
                        checkpointed is None or now - checkpointed >= CHECKPOINT_SECONDS
                    ):
                        checkpointed = now
                        checkpoint = transcript.answer()
                        checkpoint.status = "streaming"
                        await self._save_answer(turn, checkpoint)
            await self._save_answer(turn, transcript.answer())
            saved = True
        except Exception:
            transcript.fail("internal error: see the hfgate server log")
            raise
        finally:
            if not saved:
                await self._save_answer(turn, transcript.answer())

    async def _save_answer(self, turn: ChatTurn, answer: Answer) -> None:
        task = asyncio.create_task(self._store_answer(turn, answer), name="save-answer")
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)
        # If the relay is being cancelled this await is cancelled too; the task is not.
        await asyncio.shield(task)

    async def _store_answer(self, turn: ChatTurn, answer: Answer) -> None:
        """Store the answer (a checkpoint or the final save): its row is inserted by whichever
        write comes first, and updated by the later ones."""
        try:
            async with turn.writing, self.db.session() as session:
                conversation = await session.get(Conversation, turn.conversation_id)
                if conversation is None or await session.get(Message, turn.user_message_id) is None:
                    return  # deleted while it was being answered: nothing to attach it to
                stored = await session.get(Message, turn.assistant_message_id)
                if stored is not None:
                    _fill(stored, turn, answer)
                elif turn.version_of is not None and not answer.text and answer.status != "error":
                    return  # a new version stopped before its first word: the old one stays
                else:
                    await _insert_answer(session, turn, answer)
                if answer.status != "streaming" or stored is None:
                    conversation.updated_at = utcnow()
                await session.commit()
        except Exception:  # the browser has its answer; a lost copy must not break the stream
            log.exception("saving the answer to conversation %s failed", turn.conversation_id)

    async def drain(self) -> None:
        """Wait for answers still being saved (call before closing the database)."""
        await asyncio.gather(*self._saving, return_exceptions=True)


# -- queries -----------------------------------------------------------------------------------


def _question(
    conversation_id: str, history: list[Message], content: Question | None
) -> tuple[Message, Message | None]:
    """The user message to answer, and the answer a regenerated one is a new version of.

    A new question (``content``), or (content null) the last one again: a question left
    without an answer, or the question of the last answer (taken out of ``history``).
    """
    if content is not None:
        question = new_message(conversation_id, -1, "user", content.text)  # positioned when stored
        question.parts = content.parts
        return question, None
    if history and history[-1].role == "user":
        return history.pop(), None
    if len(history) >= 2 and history[-1].role == "assistant" and history[-2].role == "user":
        previous = history.pop()
        return history.pop(), previous
    raise InvalidRequest(
        "nothing to regenerate: the conversation has no question to answer again. Send content",
        param="content",
    )


def _unsaved_text(transcript: Transcript) -> bool:
    """Text was sent and the stream goes on (its end is saved by the final save)."""
    return bool(transcript.parts) and not transcript.done and transcript.error is None


def _images(wire: list[dict[str, Any]]) -> int:
    return sum(
        part.get("type") == "image_url"
        for message in wire
        if isinstance(message["content"], list)
        for part in message["content"]
    )


async def _insert_answer(session: AsyncSession, turn: ChatTurn, answer: Answer) -> None:
    """The answer's row, at the next position, or (a new version) at its turn's, selected."""
    message = new_message(turn.conversation_id, -1, "assistant", answer.text)
    message.id = turn.assistant_message_id
    _fill(message, turn, answer)
    if turn.version_of is None:
        message.position = await next_position(session, turn.conversation_id)
    else:
        message.position = turn.version_of
        await replace_version(session, message, turn.replaces)
    session.add(message)


def _fill(message: Message, turn: ChatTurn, answer: Answer) -> None:
    usage = answer.usage
    message.content = answer.text
    message.model = turn.prepared.model.name
    message.status = answer.status
    message.updated_at = utcnow()
    message.error = answer.error
    message.error_code = answer.error_code
    message.trimmed = turn.prepared.fit.trimmed or None
    # Without the engine's count (the stream was cut short) or when the prompt was not
    # counted, the fit's count of the prompt and the text events received are what is known.
    counted = turn.prepared.fit.prompt_tokens
    message.prompt_tokens = usage.prompt_tokens if usage and usage.prompt_tokens else counted
    message.completion_tokens = usage.completion_tokens if usage else answer.tokens
