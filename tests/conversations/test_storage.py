"""The conversation tables on real SQLite and PostgreSQL: migration both ways, cascades, order."""

from __future__ import annotations

import uuid

from alembic import command
from sqlalchemy import inspect, select

from hfgate.storage import Database
from hfgate.storage.db import _alembic_config
from hfgate.storage.tables import Conversation, Message, User, utcnow


async def _table_names(database: Database) -> set[str]:
    async with database.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_the_migration_goes_up_down_and_up_again(database: Database) -> None:
    assert {"conversations", "messages"} <= await _table_names(database)
    async with database.engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(_alembic_config(sync), "0001"))
    assert not {"conversations", "messages"} & await _table_names(database)
    await database.migrate()
    await database.migrate()  # idempotent
    assert {"conversations", "messages"} <= await _table_names(database)


def _id() -> str:
    # PostgreSQL's test database is shared by the session: no fixed keys.
    return str(uuid.uuid4())


async def _seed(database: Database) -> tuple[int, str]:
    async with database.session() as session:
        user = User(email=f"{_id()}@example.com", role="member")
        session.add(user)
        await session.flush()
        conversation = Conversation(id=_id(), user_id=user.id, title=None, model="m")
        session.add(conversation)
        await session.flush()
        for position, role in enumerate(["system", "user", "assistant"]):
            session.add(
                Message(
                    id=_id(),
                    conversation_id=conversation.id,
                    position=position,
                    role=role,
                    content=role,
                    created_at=utcnow(),
                )
            )
        await session.commit()
        return user.id, conversation.id


async def test_messages_keep_their_order_and_defaults(database: Database) -> None:
    _, conversation_id = await _seed(database)
    async with database.session() as session:
        query = select(Message).where(Message.conversation_id == conversation_id)
        rows = (await session.scalars(query.order_by(Message.position))).all()
        assert [m.role for m in rows] == ["system", "user", "assistant"]
        assert {m.status for m in rows} == {"complete"}
        assert rows[2].prompt_tokens is None and rows[2].error is None


async def _messages_of(database: Database, conversation_ids: list[str]) -> list[Message]:
    async with database.session() as session:
        query = select(Message).where(Message.conversation_id.in_(conversation_ids))
        return list((await session.scalars(query)).all())


async def test_deleting_a_conversation_or_its_owner_deletes_the_rest(database: Database) -> None:
    user_id, first = await _seed(database)
    async with database.session() as session:
        await session.delete(await session.get(Conversation, first))
        await session.commit()
    assert await _messages_of(database, [first]) == []

    second = _id()
    async with database.session() as session:
        session.add(Conversation(id=second, user_id=user_id, title="t", model="m"))
        await session.flush()
        session.add(
            Message(id=_id(), conversation_id=second, position=0, role="user", content="hi")
        )
        await session.commit()
        await session.delete(await session.get(User, user_id))
        await session.commit()
        assert await session.get(Conversation, second) is None
    assert await _messages_of(database, [second]) == []


async def _columns(database: Database, table: str) -> set[str]:
    async with database.engine.connect() as conn:
        found = await conn.run_sync(lambda sync: inspect(sync).get_columns(table))
    return {column["name"] for column in found}


async def test_versions_migrate_down_to_the_shown_answer_and_up_again(database: Database) -> None:
    _, conversation_id = await _seed(database)
    hidden = _id()
    async with database.session() as session:
        session.add(
            Message(
                id=hidden,
                conversation_id=conversation_id,
                position=2,  # the seeded answer's: another version of it
                role="assistant",
                content="an older version",
                selected=False,
                parts=[{"type": "text", "text": "kept as JSON"}],
                created_at=utcnow(),
            )
        )
        await session.commit()
    rows = await _messages_of(database, [conversation_id])
    assert {m.id: m.selected for m in rows}[hidden] is False
    assert sum(m.selected for m in rows) == 3, "selected defaults to true"
    assert next(m for m in rows if m.id == hidden).parts == [
        {"type": "text", "text": "kept as JSON"}
    ]

    async with database.engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(_alembic_config(sync), "0006"))
    assert not {"selected", "parts"} & await _columns(database, "messages")
    async with database.engine.connect() as conn:
        ids = (await conn.exec_driver_sql("SELECT id FROM messages")).scalars().all()
    assert hidden not in ids, "only the shown version is kept"
    await database.migrate()
    assert {"selected", "parts"} <= await _columns(database, "messages")
    rows = await _messages_of(database, [conversation_id])
    assert len(rows) == 3 and all(m.selected for m in rows)
