"""hfgate API keys: ``hfg_`` + 43 random characters, shown once, stored as SHA-256.

A key is 256 random bits, so a fast hash is as safe as a slow one and keeps the hot path quick;
passwords (low entropy) get argon2 instead. Authenticated keys are cached for a few seconds so
a busy caller costs one dictionary lookup, not one query, per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from hfgate.errors import AuthenticationRequired
from hfgate.storage import Database
from hfgate.storage.db import unavailable
from hfgate.storage.tables import ApiKey, User, aware, iso
from hfgate.values.principal import Principal, Role, stored_budgets

log = logging.getLogger("hfgate.auth")
KEY_PREFIX = "hfg_"
CACHE_SECONDS = 5.0
# While the database is unavailable, a key authenticated this recently still works (its
# revocation could not be stored anyway): chat goes on for the keys in use.
STALE_SECONDS = 600.0


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lookups: dict[str, asyncio.Future[Principal]] = {}
        self._writes: set[asyncio.Task[None]] = set()

    async def authenticate(self, key: str | None) -> Principal:
        if not key:
            raise AuthenticationRequired(
                "an hfgate API key is required: send `Authorization: Bearer hfg_…`"
            )
        digest = hash_key(key)
        cached = self._cache.get(digest)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        # One lookup per key however many requests arrive as the cache entry expires.
        pending = self._lookups.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(digest))
            self._lookups[digest] = pending
            pending.add_done_callback(lambda _f: self._lookups.pop(digest, None))
        try:
            principal = await asyncio.shield(pending)
        except Exception as exc:
            if cached and unavailable(exc) and cached[0] + STALE_SECONDS > time.monotonic():
                return cached[1]  # the database is down: the key was valid a moment ago
            self._cache.pop(digest, None)
            raise
        self._cache[digest] = (time.monotonic() + CACHE_SECONDS, principal)
        return principal

    async def _lookup(self, digest: str) -> Principal:
        async with self._db.session() as session:
            row = (
                await session.execute(
                    select(ApiKey, User)
                    .join(User, ApiKey.user_id == User.id)
                    .where(ApiKey.key_hash == digest)
                )
            ).first()
        if row is None:
            raise AuthenticationRequired("this hfgate API key is not valid")
        key, user = row
        now = datetime.now(UTC)
        if key.revoked_at is not None:
            raise AuthenticationRequired("this hfgate API key was revoked")
        if user.disabled_at is not None:
            raise AuthenticationRequired(
                "the person this hfgate API key belongs to is disabled: an admin can enable them"
            )
        if key.expires_at is not None and aware(key.expires_at) <= now:
            raise AuthenticationRequired("this hfgate API key has expired")
        self._note_use(key.id, now)
        models = tuple(key.models) if key.models else None
        return Principal(
            user.id,
            user.email,
            Role(user.role),
            key.id,
            key.rpm,
            key.tpm,
            models,
            key.context_policy,
            stored_budgets(key.budgets),
            stored_budgets(user.budgets),
        )

    def _note_use(self, key_id: int, now: datetime) -> None:
        """Record ``last_used_at`` in the background: never a write on the request path."""
        task = asyncio.ensure_future(self._write_last_used(key_id, now))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write_last_used(self, key_id: int, now: datetime) -> None:
        try:
            async with self._db.session() as session:
                await session.execute(
                    update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now)
                )
                await session.commit()
        except Exception:  # a busy database must not fail anyone's request for a timestamp
            log.warning("could not record when an API key was last used")

    def forget(self, digest: str | None = None) -> None:
        """Drop cached authentications (a key revoked, a role changed) so they apply at once."""
        if digest is None:
            self._cache.clear()
        else:
            self._cache.pop(digest, None)

    async def ensure_user(self, email: str, role: Role) -> User:
        async with self._db.session() as session:
            user = await session.scalar(select(User).where(User.email == email))
            if user is not None:
                return user
            session.add(User(email=email, role=role))
            try:
                await session.commit()
            except IntegrityError:  # another process created it at the same moment
                await session.rollback()
            return (await session.scalars(select(User).where(User.email == email))).one()

    async def ensure_key(self, user_id: int, name: str, key: str) -> None:
        """Register a known key (HFGATE_ADMIN_KEY) if it is not stored yet."""
        digest = hash_key(key)
        async with self._db.session() as session:
            if await session.scalar(select(ApiKey.id).where(ApiKey.key_hash == digest)) is None:
                session.add(ApiKey(user_id=user_id, name=name, prefix=key[:12], key_hash=digest))
                with contextlib.suppress(IntegrityError):  # a concurrent start stored it first
                    await session.commit()

    async def bootstrap(self, owner_email: str, admin_key: str) -> User:
        """The owner, created at the first start only: once the setup page has given it another
        email, a restart must not create a second, password-less owner under the default one."""
        owner = await self._owner(owner_email) or await self.ensure_user(owner_email, Role.OWNER)
        if admin_key:
            await self.ensure_key(owner.id, "HFGATE_ADMIN_KEY", admin_key)
        return owner

    async def _owner(self, email: str) -> User | None:
        """The owner with this email, else the first owner there is."""
        async with self._db.session() as session:
            owners = (
                await session.scalars(select(User).where(User.role == Role.OWNER).order_by(User.id))
            ).all()
        named = [owner for owner in owners if owner.email == email]
        return next(iter(named or owners), None)


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key as created: the only moment its plaintext exists outside the caller's hands."""

    key: str
    row: ApiKey
    owner: str


def key_view(row: ApiKey, owner: str | None = None) -> dict[str, object]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix + "…",
        "user_id": row.user_id,
        "owner": owner,
        "created_at": iso(row.created_at),
        "last_used_at": iso(row.last_used_at),
        "expires_at": iso(row.expires_at),
        "revoked_at": iso(row.revoked_at),
        "rpm": row.rpm,
        "tpm": row.tpm,
        "models": row.models,
        "context_policy": row.context_policy or "strict",
        "budgets": [budget.stored() for budget in stored_budgets(row.budgets)],
    }
