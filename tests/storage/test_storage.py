"""The storage layer against real SQLite and PostgreSQL: migrations, constraints, encryption."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from hfgate.storage import Database
from hfgate.storage.crypto import SecretBox, SecretKeyError, new_key
from hfgate.storage.tables import ApiKey, Integration, User


def _integration(name: str) -> Integration:
    return Integration(
        id=name,
        name=name,
        model_name="org/model",
        endpoint="https://e.example",
        api_key_encrypted="x",
        api_key_mask="hf_…abcd",
        context_window=4096,
        state="ready",
        facts={"engine": "tgi"},
        report={},
    )


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import hfgate.storage

    config = Config()
    config.set_main_option(
        "script_location", str(Path(hfgate.storage.__file__).parent / "migrations")
    )
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


async def test_migrations_are_idempotent_and_create_every_table(database: Database) -> None:
    await database.migrate()  # a second run must be a no-op
    async with database.session() as session:
        version = (
            await session.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar_one()
        assert version == _head_revision()
        for table in (
            "users",
            "api_keys",
            "integrations",
            "usage",
            "audit_log",
            "sessions",
            "hf_accounts",
        ):
            await session.execute(text(f"SELECT count(*) FROM {table}"))


async def test_integration_names_are_unique(database: Database) -> None:
    async with database.session() as session:
        session.add(_integration("a"))
        await session.commit()
    async with database.session() as session:
        duplicate = _integration("a")
        duplicate.id = "b"
        session.add(duplicate)
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_json_columns_round_trip(database: Database) -> None:
    async with database.session() as session:
        session.add(_integration("m"))
        await session.commit()
    async with database.session() as session:
        row = await session.get(Integration, "m")
        assert row is not None and row.facts == {"engine": "tgi"}


async def test_deleting_a_user_deletes_their_keys(database: Database) -> None:
    async with database.session() as session:
        user = User(email="a@example.com", role="member")
        session.add(user)
        await session.flush()
        session.add(ApiKey(user_id=user.id, name="k", prefix="hfg_x", key_hash="0" * 64))
        await session.commit()
        await session.delete(user)
        await session.commit()
        assert (await session.scalars(select(ApiKey))).all() == []


def test_secret_box_round_trip_and_rotation() -> None:
    old, new = new_key(), new_key()
    token = SecretBox([old]).encrypt("hf_secret")
    assert "hf_secret" not in token
    rotated_box = SecretBox([new, old])
    assert rotated_box.decrypt(token) == "hf_secret"
    rotated = rotated_box.rotate(token)
    assert SecretBox([new]).decrypt(rotated) == "hf_secret"
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        SecretBox([new]).decrypt(token)


def test_bad_secret_key_is_explained() -> None:
    with pytest.raises(SecretKeyError, match="Fernet keys"):
        SecretBox(["not-a-key"])


def test_generated_key_file_is_private_and_stable(tmp_path: Path) -> None:
    first = SecretBox.from_settings((), tmp_path)
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    second = SecretBox.from_settings((), tmp_path)
    assert second.decrypt(first.encrypt("x")) == "x"


def test_the_migrations_build_exactly_the_schema_the_tables_declare(tmp_path: Path) -> None:
    """A column added to ``tables.py`` without its migration (or the other way) fails here."""
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from hfgate.storage.tables import Base

    url = f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}"
    asyncio.run(_migrate(url))
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == [], differences


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await database.migrate()
    finally:
        await database.close()
