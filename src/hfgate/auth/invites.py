"""One-time links for people: an invitation (7 days) and a password reset (24 hours).

hfgate sends no email. An admin makes a link and passes it on; whoever opens it chooses a
password and is signed in. Like the first-run setup link, only the SHA-256 of the token is
stored (``user_tokens``), so a copy of the database holds no working link. A link works once:
redeeming it is a conditional update (``used_at`` still empty), so two
submissions at once cannot both win. Making a new link of a purpose for a person voids their
earlier unused ones, so only the newest link handed out works.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from hfgate.audit import audit_event
from hfgate.auth.passwords import hash_password
from hfgate.auth.sessions import DISABLED, SessionStore
from hfgate.errors import HfgateError, InvalidRequest, NotFound, PermissionDenied
from hfgate.storage import Database
from hfgate.storage.tables import User, UserToken, aware, iso
from hfgate.values.principal import Principal, Role

INVITE, RESET = "invite", "reset"
LIFETIMES = {INVITE: timedelta(days=7), RESET: timedelta(hours=24)}
PAGE = "/invite"
UNKNOWN_LINK = (
    "this link is not valid: check that it was copied whole, or ask an admin for a new one"
)


class LinkGone(HfgateError):
    """A link that was valid once: used already, or expired."""

    status = 410
    type = "invalid_request_error"
    code = "link_gone"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Link:
    token: str
    expires_at: datetime

    def view(self, base_url: str) -> dict[str, Any]:
        """The link to pass on, and until when it works."""
        link = f"{base_url.rstrip('/')}{PAGE}?token={self.token}"
        return {"link": link, "expires_at": iso(self.expires_at)}


@dataclass(frozen=True, slots=True)
class Pending:
    """What an open link is for: the page greets the person by email and purpose."""

    purpose: str
    email: str
    expires_at: datetime


def new_link(session: Any, user_id: int, purpose: str) -> Link:
    """Add a token row to ``session`` (the caller commits, with its audit row); earlier unused
    links of the same purpose for this person stop working."""
    token = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + LIFETIMES[purpose]
    session.add(UserToken(id=_digest(token), user_id=user_id, purpose=purpose, expires_at=expires))
    return Link(token, expires)


def void_earlier(user_id: int, purpose: str) -> Any:
    """The statement that voids a person's unused links of ``purpose`` (run before ``new_link``)."""
    return delete(UserToken).where(
        UserToken.user_id == user_id, UserToken.purpose == purpose, UserToken.used_at.is_(None)
    )


class OneTimeLinks:
    def __init__(self, db: Database, sessions: SessionStore) -> None:
        self.db, self.sessions = db, sessions

    async def pending(self, token: Any) -> Pending:
        """What the link is for; a clear error when it is unknown, used, expired or its
        person is disabled."""
        row, user = await self._find(token)
        return Pending(row.purpose, user.email, aware(row.expires_at))

    async def redeem(self, token: Any, password: Any) -> tuple[str, Principal, str]:
        """Set the person's password, spend the link, sign them in (what ``sign_in`` returns)."""
        if not isinstance(password, str):
            raise InvalidRequest("password must be a string", param="password")
        row, user = await self._find(token)
        password_hash = await hash_password(password)
        async with self.db.session() as session:
            spent = await session.execute(_spend(row.id))
            if spent.rowcount != 1:  # type: ignore[attr-defined]
                raise LinkGone("this link has just been used: sign in, or ask for a new link")
            await session.execute(
                update(User).where(User.id == user.id).values(password_hash=password_hash)
            )
            actor = Principal(user.id, user.email, Role(user.role))
            action = "user.accept_invite" if row.purpose == INVITE else "user.reset_password"
            session.add(audit_event(actor, action, user.email, {"via": "one-time link"}))
            await session.commit()
        # A reset is for someone locked out, or whose password leaked: end every old session.
        await self.sessions.end_all(user.id)
        return await self.sessions.open(user)

    async def _find(self, token: Any) -> tuple[UserToken, User]:
        if not isinstance(token, str) or not token or len(token) > 200:
            raise NotFound(UNKNOWN_LINK, code="link_invalid")
        async with self.db.session() as session:
            found = (
                await session.execute(
                    select(UserToken, User).join(User).where(UserToken.id == _digest(token))
                )
            ).first()
        if found is None:
            raise NotFound(UNKNOWN_LINK, code="link_invalid")
        row, user = found
        if row.used_at is not None:
            raise LinkGone("this link was used already: sign in, or ask an admin for a new one")
        if aware(row.expires_at) <= datetime.now(UTC):
            raise LinkGone("this link has expired: ask an admin for a new one")
        if user.disabled_at is not None:
            raise PermissionDenied(DISABLED, code="account_disabled")
        return row, user


def _spend(token_id: str) -> Any:
    # Expiry was checked a moment before, in Python (SQLite keeps no time zone to compare).
    return (
        update(UserToken)
        .where(UserToken.id == token_id, UserToken.used_at.is_(None))
        .values(used_at=datetime.now(UTC))
    )
