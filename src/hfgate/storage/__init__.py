"""Storage: SQLAlchemy 2 (async) on SQLite by default or PostgreSQL, schema managed by Alembic."""

from hfgate.storage.db import Database
from hfgate.storage.urls import DatabaseUrlInvalid, database_url

__all__ = ["Database", "DatabaseUrlInvalid", "database_url"]
