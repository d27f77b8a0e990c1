"""First-run setup: a one-time link with which the first person chooses the owner's sign-in.

``hfgate serve`` on a fresh install has an owner row (``owner@localhost``) without a password,
so nobody could sign in. Like Jupyter's token link, each start then prints
``http://HOST:PORT/setup?token=…``; whoever can read the server's output (the operator) opens it,
and the page turns the owner row into their account and signs them in. Environment variables
(``HFGATE_OWNER_PASSWORD``) keep working for automation and make the link unnecessary.

Where the token lives, and why: only its SHA-256 is kept, in ``HFGATE_HOME/setup.token`` (0600),
not in the database. The link is printed on this host's terminal, so it belongs with this host's
other secret (``secret.key``), and it needs no schema change for a value that exists only until
the first sign-in. Each start adds a token and keeps the earlier ones (a link copied before a
restart still works); all of them are deleted as soon as an owner has a password, however it
got one. With several hosts sharing PostgreSQL a link works on the host that printed it; such
deployments set ``HFGATE_OWNER_PASSWORD`` instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from hfgate.audit import audit_event
from hfgate.auth.passwords import hash_password
from hfgate.auth.sessions import SessionStore
from hfgate.auth.users import parse_email
from hfgate.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from hfgate.storage import Database
from hfgate.storage.private import write_private
from hfgate.storage.tables import User
from hfgate.values.principal import Principal, Role

TOKEN_FILE = "setup.token"
KEEP = 20  # tokens of the last starts; older links stop working
BAD_LINK = (
    "this setup link is not valid: open the link hfgate printed when it started (each start"
    " prints a new one), or set HFGATE_OWNER_PASSWORD and restart"
)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class FirstRun:
    def __init__(self, db: Database, home: Path, sessions: SessionStore) -> None:
        self.db, self.sessions = db, sessions
        self.path = home / TOKEN_FILE

    async def pending_owner(self) -> User | None:
        """The owner row to set up; None once any owner has a password (setup is over)."""
        async with self.db.session() as session:
            owners = (
                await session.scalars(select(User).where(User.role == Role.OWNER).order_by(User.id))
            ).all()
        if not owners or any(owner.password_hash for owner in owners):
            return None
        return owners[0]

    def issue(self) -> str:
        """A new token, its hash added to the ones of earlier starts (OSError if unwritable)."""
        token = secrets.token_urlsafe(32)
        write_private(self.path, "\n".join([*self._digests()[-(KEEP - 1) :], _digest(token)]))
        return token

    def valid(self, token: Any) -> bool:
        if not isinstance(token, str) or not token:
            return False
        sent = _digest(token)
        # compare_digest on every stored hash: no early exit that timing could reveal.
        return sum(hmac.compare_digest(sent, known) for known in self._digests()) > 0

    def forget(self) -> None:
        """Setup is over: no link may work any more."""
        self.path.unlink(missing_ok=True)

    async def complete(self, token: Any, email: Any, password: Any) -> tuple[str, Principal, str]:
        """Give the owner row this email and password; sign in. Returns what ``sign_in`` does."""
        owner = await self.pending_owner()
        if owner is None:
            raise NotFound("hfgate is already set up: sign in at /login", code="setup_done")
        if not self.valid(token):
            raise PermissionDenied(BAD_LINK, code="setup_link_invalid")
        address = parse_email(email)
        if not isinstance(password, str):
            raise InvalidRequest("password must be a string", param="password")
        await self._claim(owner.id, address, await hash_password(password))
        self.forget()
        return await self.sessions.sign_in(address, password)

    async def _claim(self, owner_id: int, email: str, password_hash: str) -> None:
        # Only while the row still has no password: two submissions at once, one wins.
        claim = (
            update(User)
            .where(User.id == owner_id, User.password_hash.is_(None))
            .values(email=email, password_hash=password_hash)
        )
        async with self.db.session() as session:
            try:
                done = await session.execute(claim)
            except IntegrityError:
                raise Conflict(f"{email} already has an account", param="email") from None
            if done.rowcount != 1:  # type: ignore[attr-defined]
                raise NotFound("hfgate is already set up: sign in at /login", code="setup_done")
            actor = Principal(owner_id, email, Role.OWNER)
            session.add(audit_event(actor, "owner.setup", email, {"via": "setup link"}))
            await session.commit()

    def _digests(self) -> list[str]:
        try:
            return [line for line in self.path.read_text().split() if line]
        except FileNotFoundError:
            return []
