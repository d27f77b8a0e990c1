"""The database handle: one async engine, a session factory, and migrations run at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, exc, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from hfgate.storage.private import create_private
from hfgate.storage.urls import database_url

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets readers and the writer work at once; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    def __init__(self, url: str) -> None:
        """``url`` in any form ``database_url`` accepts (``DatabaseUrlInvalid`` otherwise)."""
        url = database_url(url)
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            _ensure_sqlite_dir(url)
            self.engine: AsyncEngine = create_async_engine(url)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_async_engine(
                url, pool_size=10, max_overflow=20, pool_pre_ping=True
            )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent; safe with several processes)."""
        async with self.engine.begin() as conn:
            if not self.is_sqlite:
                # One migrator at a time when several processes start together.
                await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7262430001)")
            await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def close(self) -> None:
        await self.engine.dispose()


def unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot be reached or written just now (down,
    restarting, refusing connections, a full disk) rather than a bug: such a request may be
    retried, and is answered 503."""
    seen: BaseException | None = error
    for _ in range(5):  # the error and what caused it (SQLAlchemy wraps the driver's)
        if seen is None:
            return False
        if isinstance(seen, exc.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, (exc.OperationalError, exc.InterfaceError, OSError)):
            return True
        if type(seen).__module__.startswith("asyncpg") and _asyncpg_unavailable(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# asyncpg's own errors for a connection lost, refused, or a server shutting down or starting
# up (by name: asyncpg is only installed for PostgreSQL, and has no type information).
ASYNCPG_UNAVAILABLE = {"PostgresConnectionError", "InterfaceError", "OperatorInterventionError"}


def _asyncpg_unavailable(error: BaseException) -> bool:
    return any(kind.__name__ in ASYNCPG_UNAVAILABLE for kind in type(error).__mro__)


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL and in-memory databases."""
    if not url.startswith("sqlite"):
        return None
    path = make_url(url).database
    if path and path != ":memory:" and not path.startswith("file:"):
        return Path(path)
    return None


def _ensure_sqlite_dir(url: str) -> None:
    # Created here, 0600, before SQLite opens it: SQLite would create it 0644 (the umask).
    path = sqlite_path(url)
    if path is not None:
        create_private(path)
