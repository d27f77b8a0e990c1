"""``HFGATE_DATABASE_URL`` in the forms people paste: mapped onto asyncpg / aiosqlite, or refused
in one line that names the accepted forms and never shows a password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from hfgate.settings import Settings
from hfgate.storage import Database, DatabaseUrlInvalid, database_url

SECRET = "s3cret-pw"


@pytest.mark.parametrize(
    ("pasted", "used"),
    [
        ("postgresql://user@host/db", "postgresql+asyncpg://user@host/db"),
        ("postgres://user:pw@host:5432/db", "postgresql+asyncpg://user:pw@host:5432/db"),
        ("PostgreSQL://user@host/db", "postgresql+asyncpg://user@host/db"),
        ("postgresql+asyncpg://user@host/db", "postgresql+asyncpg://user@host/db"),
        ("postgresql://host1:5432,host2:5433/db", "postgresql+asyncpg://host1:5432,host2:5433/db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("sqlite:///hfgate.db", "sqlite+aiosqlite:///hfgate.db"),
        ("sqlite:////var/lib/hfgate/hfgate.db", "sqlite+aiosqlite:////var/lib/hfgate/hfgate.db"),
        ("sqlite+aiosqlite:///hfgate.db", "sqlite+aiosqlite:///hfgate.db"),
        ("  postgres://user@host/db\n", "postgresql+asyncpg://user@host/db"),
    ],
)
def test_pasted_forms_map_onto_the_shipped_drivers(pasted: str, used: str) -> None:
    assert database_url(pasted) == used
    assert database_url(used) == used  # idempotent


@pytest.mark.parametrize(
    ("pasted", "used"),
    [
        ("postgres://u@h/db?sslmode=require", "postgresql+asyncpg://u@h/db?ssl=require"),
        (
            "postgresql://u@h/db?application_name=x&sslmode=verify-full",
            "postgresql+asyncpg://u@h/db?application_name=x&ssl=verify-full",
        ),
        ("postgresql://u@h/db?ssl=require", "postgresql+asyncpg://u@h/db?ssl=require"),
        ("sqlite:///x.db?sslmode=require", "sqlite+aiosqlite:///x.db?sslmode=require"),
    ],
)
def test_libpq_sslmode_becomes_asyncpg_ssl(pasted: str, used: str) -> None:
    assert database_url(pasted) == used


@pytest.mark.parametrize(
    ("pasted", "named"),
    [
        (f"mysql://u:{SECRET}@h/db", "mysql://"),
        (f"postgresql+psycopg2://u:{SECRET}@h/db", "postgresql+psycopg2://"),
        (f"postgresql+psycopg://u:{SECRET}@h/db", "postgresql+psycopg://"),
        (f"u:{SECRET}@h/db", "no scheme"),
        (SECRET, "no scheme"),
        (f"sqlite:{SECRET}.db", "no scheme"),
        ("", "no scheme"),
    ],
)
def test_other_forms_are_refused_in_one_line_without_the_password(pasted: str, named: str) -> None:
    with pytest.raises(DatabaseUrlInvalid) as caught:
        database_url(pasted)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("HFGATE_DATABASE_URL")
    assert named in message
    assert "postgresql://" in message and "sqlite:///" in message  # the accepted forms
    assert SECRET not in message


def test_settings_normalise_the_url_and_refuse_others_in_one_line(tmp_path: Path) -> None:
    assert Settings.from_env({"HFGATE_HOME": str(tmp_path)}).database_url == (
        f"sqlite+aiosqlite:///{tmp_path / 'hfgate.db'}"
    )
    pasted = {"HFGATE_DATABASE_URL": "postgres://u@h/db"}
    assert Settings.from_env(pasted).database_url == "postgresql+asyncpg://u@h/db"
    with pytest.raises(SystemExit) as caught:
        Settings.from_env({"HFGATE_DATABASE_URL": f"mysql://u:{SECRET}@h/db"})
    assert "mysql://" in str(caught.value.code) and SECRET not in str(caught.value.code)


def test_database_refuses_an_unusable_url_itself() -> None:
    with pytest.raises(DatabaseUrlInvalid, match="mysql://"):
        Database(f"mysql://u:{SECRET}@h/db")


async def test_plain_sqlite_form_opens_and_migrates(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'new' / 'hfgate.db'}")
    try:
        assert db.url.startswith("sqlite+aiosqlite:///")
        await db.migrate()
        async with db.session() as session:
            assert (await session.execute(text("SELECT count(*) FROM users"))).scalar_one() == 0
    finally:
        await db.close()
    assert (tmp_path / "new" / "hfgate.db").is_file()


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_plain_postgres_forms_connect_to_real_postgres(
    scheme: str, fresh_postgres_url: str
) -> None:
    pasted = scheme + "://" + fresh_postgres_url.split("://", 1)[1] + "?sslmode=disable"
    db = Database(pasted)
    try:
        assert db.url.startswith("postgresql+asyncpg://")
        await db.migrate()
        async with db.session() as session:
            assert (await session.execute(text("SELECT count(*) FROM users"))).scalar_one() == 0
            assert (await session.execute(text("SHOW ssl"))).scalar_one() in ("on", "off")
    finally:
        await db.close()


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["db", "upgrade"]])
def test_cli_refuses_an_unusable_url_in_one_line(command: list[str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HFGATE_")} | {
        "HFGATE_HOME": str(tmp_path),
        "HFGATE_DATABASE_URL": f"mysql://u:{SECRET}@h/db",
    }
    done = subprocess.run(
        [sys.executable, "-m", "hfgate", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output and SECRET not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "mysql://" in lines[0] and "postgresql://" in lines[0] and "sqlite:///" in lines[0]
