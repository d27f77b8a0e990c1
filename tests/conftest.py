"""Shared fixtures: real databases (SQLite always, PostgreSQL when reachable) and settings."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.security.plugin"]

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def within_one_rate_window(needed: float = 10.0) -> None:
    """Rate limits count per clock minute (fixed windows): unless ``needed`` seconds of this
    minute are left, wait for the next one, so that the requests which follow all fall in one
    window and a test of a limit does not see its count reset half-way."""
    from hfgate.auth.ratelimit import WINDOW

    left = WINDOW - time.time() % WINDOW
    if left < needed:
        time.sleep(left + 0.1)


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="test")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def _fresh_postgres() -> Iterator[str]:
    if not reachable(PG_HOST, PG_PORT):
        pytest.skip(f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}")
    name = f"hfgate_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database for this test session, dropped at the end."""
    with _fresh_postgres() as url:
        yield url


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own."""
    with _fresh_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'hfgate.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[object]:
    from hfgate.storage import Database

    db = Database(database_url)
    await db.migrate()
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def sim() -> Iterator[object]:
    """A running TGI simulator (TGI 3.x, running, bearer token ``SIM_TOKEN``)."""
    from tests.support.peers import running_sim

    with running_sim() as handle:
        yield handle


@pytest.fixture
def gateway(tmp_path: Path, sim: object) -> Iterator[object]:
    """An hfgate server whose Hub is the simulator, with the admin key ``ADMIN_KEY``."""
    from tests.support.peers import running_gateway

    with running_gateway(tmp_path / "home", hub_url=sim.url) as handle:  # type: ignore[attr-defined]
        yield handle
