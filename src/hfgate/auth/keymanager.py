"""Creating, listing and revoking hfgate API keys (people manage their own; admins anyone's)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select

from hfgate.audit import audit_event
from hfgate.auth.keys import KeyStore, NewKey, hash_key, key_view, new_key
from hfgate.errors import InvalidRequest, NotFound, PermissionDenied
from hfgate.storage import Database
from hfgate.storage.tables import ApiKey, User
from hfgate.textcheck import plain_text
from hfgate.values.principal import (
    Budget,
    Principal,
    Role,
    changed_budgets,
    parse_budgets,
    stored_budgets,
)
from hfgate.values.request import check_policy

log = logging.getLogger("hfgate.auth")
MAX_EXPIRY_DAYS = 3650
MAX_ID = 2**31 - 1


class BudgetReport(Protocol):
    """``hfgate.budgets.Budgets.report``: each budget with what was spent, for listings."""

    async def __call__(
        self, budgets: Sequence[Budget], *, key_id: int | None = None, user_id: int | None = None
    ) -> list[dict[str, Any]]: ...


def _positive(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"{name} must be a positive integer", param=name)
    return value


def _models(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(m, str) and m for m in value):
        raise InvalidRequest("models must be a non-empty list of model ids", param="models")
    return list(dict.fromkeys(value))


def _expiry(days: Any) -> datetime | None:
    days = _positive(days, "expires_days")
    if days is None:
        return None
    if days > MAX_EXPIRY_DAYS:
        raise InvalidRequest(
            f"expires_days must be at most {MAX_EXPIRY_DAYS}", param="expires_days"
        )
    return datetime.now(UTC) + timedelta(days=days)


class KeyManager:
    def __init__(self, db: Database, store: KeyStore) -> None:
        self.db, self.store = db, store
        self.budget_report: BudgetReport | None = None  # set by ``Services``

    async def create(self, actor: Principal, spec: Any) -> NewKey:
        if not isinstance(spec, dict):
            raise InvalidRequest(
                'send a JSON object: {"name": …, "user"?, "rpm"?, "tpm"?, "context_policy"?, …}'
            )
        name = plain_text(spec.get("name"), "name", 128)
        owner = await self._owner(actor, spec.get("user"))
        plaintext = new_key()
        row = ApiKey(
            user_id=owner.id,
            name=name,
            prefix=plaintext[:12],
            key_hash=hash_key(plaintext),
            rpm=_positive(spec.get("rpm"), "rpm"),
            tpm=_positive(spec.get("tpm"), "tpm"),
            models=_models(spec.get("models")),
            expires_at=_expiry(spec.get("expires_days")),
            context_policy=check_policy(spec.get("context_policy"), "context_policy"),
            budgets=parse_budgets(spec),
        )
        async with self.db.session() as session:
            session.add(row)
            session.add(audit_event(actor, "key.create", f"{row.name} for {owner.email}"))
            await session.commit()
        return NewKey(plaintext, row, owner.email)

    async def _owner(self, actor: Principal, email: Any) -> User:
        async with self.db.session() as session:
            if email is None or email == actor.email:
                user = await session.get(User, actor.user_id)
            else:
                actor.require_admin()  # only admins create keys for other people
                user = await session.scalar(select(User).where(User.email == str(email).lower()))
        if user is None:
            raise NotFound(f"no user {email!r}", param="user", code="user_not_found")
        if user.id != actor.user_id and user.role == Role.OWNER and actor.role != Role.OWNER:
            # A key acts as its owner: minting one for an owner would make an admin an owner.
            raise PermissionDenied("only an owner can create keys for an owner", param="user")
        return user

    async def list(self, actor: Principal) -> list[dict[str, object]]:
        query = select(ApiKey, User.email).join(User).order_by(ApiKey.id)
        if not actor.is_admin:
            query = query.where(ApiKey.user_id == actor.user_id)
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
        return [await self._with_spending(key_view(key, email), key) for key, email in rows]

    async def _with_spending(self, view: dict[str, object], key: ApiKey) -> dict[str, object]:
        budgets = stored_budgets(key.budgets)
        if not budgets or self.budget_report is None or key.revoked_at is not None:
            return view
        try:
            view["budgets"] = await self.budget_report(budgets, key_id=key.id)
        except Exception as exc:  # the listing still shows the limits themselves
            log.warning("could not read a key's budget spending: %s", exc)
        return view

    async def set_budgets(self, actor: Principal, key_id: int, spec: Any) -> dict[str, object]:
        """Change a key's budgets (its owner or an admin); audited."""
        if not 0 < key_id <= MAX_ID:  # an id the database cannot even hold
            raise NotFound(f"no key with id {key_id}", code="key_not_found")
        async with self.db.session() as session:
            row = await session.get(ApiKey, key_id)
            if row is None or (row.user_id != actor.user_id and not actor.is_admin):
                raise NotFound(f"no key with id {key_id}", code="key_not_found")
            row.budgets = changed_budgets(row.budgets, spec)
            detail = {"budgets": row.budgets}
            session.add(audit_event(actor, "key.budgets", f"{row.name} ({row.prefix}…)", detail))
            await session.commit()
            owner = await session.scalar(select(User.email).where(User.id == row.user_id))
        self.store.forget(row.key_hash)
        return await self._with_spending(key_view(row, owner), row)

    async def revoke(self, actor: Principal, key_id: int) -> dict[str, object]:
        async with self.db.session() as session:
            row = await session.get(ApiKey, key_id)
            if row is None or (row.user_id != actor.user_id and not actor.is_admin):
                raise NotFound(f"no key with id {key_id}", code="key_not_found")
            row.revoked_at = row.revoked_at or datetime.now(UTC)
            session.add(audit_event(actor, "key.revoke", f"{row.name} ({row.prefix}…)"))
            await session.commit()
        self.store.forget(row.key_hash)
        return key_view(row)
