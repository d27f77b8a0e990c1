"""The conversation tables' queries, each filtered by the owner where a person asks.

Another person's conversation is simply not found (404), never forbidden (403, which would
confirm that it exists).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from hfgate.errors import NotFound
from hfgate.storage.tables import Conversation, Message, utcnow


async def owned(session: AsyncSession, user_id: int, conversation_id: str) -> Conversation:
    conversation = await session.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    )
    if conversation is None:
        raise NotFound(
            f"conversation {conversation_id!r} does not exist",
            param="conversation_id",
            code="conversation_not_found",
        )
    return conversation


async def messages_of(
    session: AsyncSession, conversation_id: str, from_position: int | None = None
) -> Sequence[Message]:
    query = select(Message).where(Message.conversation_id == conversation_id)
    if from_position is not None:
        query = query.where(Message.position >= from_position)
    query = query.order_by(Message.position, Message.created_at)
    return (await session.scalars(query)).all()


async def set_system(session: AsyncSession, conversation_id: str, system: str) -> None:
    """The conversation's system prompt: its first message, changed, added before the rest,
    or (when blank) removed."""
    rows = await messages_of(session, conversation_id)
    first = rows[0] if rows else None
    if first is not None and first.role == "system":
        if system.strip():
            first.content = system
        else:
            await session.delete(first)
    elif system.strip():
        position = first.position - 1 if first is not None else 0
        session.add(new_message(conversation_id, position, "system", system))


async def next_position(session: AsyncSession, conversation_id: str) -> int:
    last = await session.scalar(
        select(func.max(Message.position)).where(Message.conversation_id == conversation_id)
    )
    return 0 if last is None else last + 1


def new_message(conversation_id: str, position: int, role: str, content: str) -> Message:
    return Message(
        id=str(uuid.uuid4()),
        conversation_id=conversation_id,
        position=position,
        role=role,
        content=content,
        status="complete",
        created_at=utcnow(),
    )


def no_message(conversation_id: str, message_id: str) -> NotFound:
    return NotFound(
        f"conversation {conversation_id!r} has no message {message_id!r}",
        param="message_id",
        code="message_not_found",
    )


def matching(search: str) -> Any:
    """Conversations whose title or a shown message contains ``search``, in any case.

    ``%``, ``_`` and the escape character itself are matched literally. SQLAlchemy's
    ``ilike`` is ``lower(…) LIKE lower(…)`` on SQLite and ``ILIKE`` on PostgreSQL.
    """
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    in_messages = exists().where(
        Message.conversation_id == Conversation.id,
        Message.selected == true(),
        Message.role != "system",
        Message.content.ilike(pattern, escape="\\"),
    )
    return or_(Conversation.title.ilike(pattern, escape="\\"), in_messages)


async def select_version(session: AsyncSession, chosen: Message) -> None:
    """``chosen`` becomes the shown version of its answer, its siblings hidden."""
    await session.execute(
        update(Message)
        .where(
            Message.conversation_id == chosen.conversation_id,
            Message.position == chosen.position,
            Message.role == "assistant",
        )
        .values(selected=Message.id == chosen.id)
    )


async def replace_version(session: AsyncSession, answer: Message, replaces: str | None) -> None:
    """Store ``answer`` as the newest version of its turn: shown, the others kept hidden
    (a failed one it replaces is removed)."""
    if replaces is not None:
        await session.execute(
            delete(Message).where(
                Message.id == replaces, Message.conversation_id == answer.conversation_id
            )
        )
    await session.execute(
        update(Message)
        .where(
            Message.conversation_id == answer.conversation_id,
            Message.position == answer.position,
            Message.role == "assistant",
        )
        .values(selected=False)
    )
