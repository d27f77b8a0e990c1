"""``HFGATE_DATABASE_URL`` in the forms people paste, mapped onto the drivers hfgate ships.

PostgreSQL goes through asyncpg and SQLite through aiosqlite, so the plain ``postgresql://`` and
``postgres://`` of LiteLLM, Heroku or Open WebUI become ``postgresql+asyncpg://`` and
``sqlite:///path`` becomes ``sqlite+aiosqlite:///path``. A libpq ``sslmode=`` (managed
PostgreSQL hands it out) becomes asyncpg's ``ssl=``. Anything else is refused in one line that
names the accepted forms and shows the scheme only, never the rest of the URL (it may hold a
password).
"""

from __future__ import annotations

import re

from hfgate.errors import HfgateError

POSTGRES = "postgresql+asyncpg"
SQLITE = "sqlite+aiosqlite"
# Accepted schemes (lower case) and the SQLAlchemy scheme each one means.
SCHEMES = {
    "postgresql": POSTGRES,
    "postgres": POSTGRES,
    POSTGRES: POSTGRES,
    "sqlite": SQLITE,
    SQLITE: SQLITE,
}
ACCEPTED = (
    "postgresql://user:password@host:5432/db (also postgres://, postgresql+asyncpg://)"
    " or sqlite:///path/to/hfgate.db (also sqlite+aiosqlite:///)"
)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")
_SSLMODE = re.compile(r"(?<=[?&])sslmode=")
_SSL = re.compile(r"[?&]ssl=")


class DatabaseUrlInvalid(HfgateError):
    code = "invalid_database_url"


def database_url(url: str) -> str:
    """The SQLAlchemy async URL for ``url``; raises ``DatabaseUrlInvalid`` when unusable."""
    url = url.strip()
    match = _SCHEME.match(url)
    if match is None:
        raise DatabaseUrlInvalid(
            "HFGATE_DATABASE_URL is not a database URL (no scheme://); use " + ACCEPTED
        )
    scheme = match.group(1).lower()
    target = SCHEMES.get(scheme)
    if target is None:
        hint = " (hfgate ships the asyncpg driver only)" if scheme.startswith("postgres") else ""
        raise DatabaseUrlInvalid(
            f"HFGATE_DATABASE_URL: {scheme}:// is not supported{hint}; use {ACCEPTED}"
        )
    rest = url[match.end() :]
    if target == POSTGRES:
        rest = _ssl_for_asyncpg(rest)
    return f"{target}://{rest}"


def _ssl_for_asyncpg(rest: str) -> str:
    """libpq's ``?sslmode=require`` as asyncpg's ``?ssl=require`` (same values), which
    SQLAlchemy hands to ``asyncpg.connect``; left alone when ``ssl=`` is there already."""
    where, mark, query = rest.partition("?")
    if not mark or _SSL.search("?" + query):
        return rest
    return where + mark + _SSLMODE.sub("ssl=", "?" + query)[1:]
