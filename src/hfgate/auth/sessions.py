"""Browser sessions: an HttpOnly cookie holding a random token, and a CSRF token per session.

Cookie-authenticated requests that change state must echo the session's CSRF token in
``X-CSRF-Token`` (the page gets it from ``GET /auth/me``); bearer-key requests need none,
since a browser never adds an Authorization header by itself.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from hfgate.auth.passwords import verify_password
from hfgate.errors import AuthenticationRequired, PermissionDenied, RateLimited
from hfgate.storage import Database
from hfgate.storage.tables import User, WebSession, aware
from hfgate.values.principal import Principal, Role, stored_budgets

COOKIE = "hfgate_session"
LIFETIME = timedelta(days=14)
CACHE_SECONDS = 5.0
MAX_FAILURES = 10
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DISABLED = "this account is disabled: an admin can enable it again"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[str, tuple[float, Principal, str]] = {}
        self._failures: dict[str, list[float]] = {}

    async def sign_in(self, email: str, password: str) -> tuple[str, Principal, str]:
        """Check the password; return (cookie token, principal, csrf token)."""
        email = email.strip().lower()
        self._throttle(email)
        async with self._db.session() as session:
            user = await session.scalar(select(User).where(User.email == email))
        # Same message for an unknown email and a wrong password: no account probing.
        stored = user.password_hash if user is not None else None
        if not await verify_password(stored, password) or user is None:
            self._failures.setdefault(email, []).append(time.monotonic())
            raise AuthenticationRequired("wrong email or password")
        # Said only after the right password, so it reveals nothing to a guesser.
        if user.disabled_at is not None:
            raise PermissionDenied(DISABLED, code="account_disabled")
        return await self.open(user)

    async def open(self, user: User) -> tuple[str, Principal, str]:
        """A new session for someone already proven to be ``user`` (a password, a one-time
        link); returns (cookie token, principal, csrf token)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        expires = datetime.now(UTC) + LIFETIME
        async with self._db.session() as session:
            session.add(
                WebSession(id=_digest(token), user_id=user.id, csrf_token=csrf, expires_at=expires)
            )
            await session.commit()
        return token, Principal(user.id, user.email, Role(user.role)), csrf

    def _throttle(self, email: str) -> None:
        """At most ``MAX_FAILURES`` wrong passwords per account and minute (per process)."""
        recent = [t for t in self._failures.pop(email, []) if t > time.monotonic() - 60]
        if recent:  # an account with no recent failure keeps no entry: the map stays small
            self._failures[email] = recent
        if len(recent) >= MAX_FAILURES:
            retry = 60 - (time.monotonic() - recent[0])
            raise RateLimited(
                f"too many wrong passwords for this account: try again in {retry:.0f} s",
                retry_after=retry,
            )

    async def principal(self, token: str) -> tuple[Principal, str]:
        """The signed-in person and the session's CSRF token."""
        digest = _digest(token)
        cached = self._cache.get(digest)
        if cached and cached[0] > time.monotonic():
            return cached[1], cached[2]
        async with self._db.session() as session:
            row = (
                await session.execute(
                    select(WebSession, User).join(User).where(WebSession.id == digest)
                )
            ).first()
        if row is None or aware(row[0].expires_at) <= datetime.now(UTC):
            raise AuthenticationRequired("your session has ended: sign in again")
        web, user = row
        if user.disabled_at is not None:  # disabling ends sessions; this covers a race with it
            raise AuthenticationRequired(DISABLED)
        principal = Principal(
            user.id, user.email, Role(user.role), user_budgets=stored_budgets(user.budgets)
        )
        self._cache[digest] = (time.monotonic() + CACHE_SECONDS, principal, web.csrf_token)
        return principal, web.csrf_token

    async def sign_out(self, token: str) -> None:
        self._cache.pop(_digest(token), None)
        async with self._db.session() as session:
            await session.execute(delete(WebSession).where(WebSession.id == _digest(token)))
            await session.commit()

    async def end_all(self, user_id: int) -> None:
        """Sign a person out everywhere (role change, removal, disabling, a new password)."""
        self._cache = {k: v for k, v in self._cache.items() if v[1].user_id != user_id}
        async with self._db.session() as session:
            await session.execute(delete(WebSession).where(WebSession.user_id == user_id))
            await session.commit()


def check_csrf(method: str, expected: str, sent: str | None) -> None:
    if method in SAFE_METHODS:
        return
    if not sent or not secrets.compare_digest(expected, sent):
        raise PermissionDenied(
            "missing or wrong CSRF token: send the X-CSRF-Token header from GET /auth/me",
            code="csrf_failed",
        )
