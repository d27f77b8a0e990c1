"""People and roles: owner, admin, member (see SECURITY.md).

Rules: only an owner makes or unmakes owners; admins manage admins and members; the last owner
can be neither removed nor demoted. A role change or removal signs the person out everywhere
and takes effect on their API keys at once. Disabling keeps a person's data but refuses their
sign-in, ends their sessions and stops their keys; an owner cannot be disabled (demote first),
nor can anyone disable themselves. Invitations and reset links: ``auth/invites.py``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from hfgate.audit import audit_event
from hfgate.auth.invites import INVITE, RESET, Link, new_link, void_earlier
from hfgate.auth.keys import KeyStore
from hfgate.auth.passwords import hash_password
from hfgate.auth.sessions import SessionStore
from hfgate.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from hfgate.storage import Database
from hfgate.storage.tables import ApiKey, User, WebSession, iso
from hfgate.textcheck import plain_text
from hfgate.values.principal import Principal, Role, stored_budgets

EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def user_view(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "has_password": bool(user.password_hash),
        "created_at": iso(user.created_at),
        "disabled": user.disabled_at is not None,
        "disabled_at": iso(user.disabled_at),
        "budgets": [budget.stored() for budget in stored_budgets(user.budgets)],
    }


def _email(value: Any) -> str:
    email = plain_text(value, "email", 320)
    if not EMAIL.fullmatch(email):
        raise InvalidRequest("email must look like name@example.com", param="email")
    return email.lower()


def parse_email(value: Any) -> str:
    """An email as every account stores it (the first-run setup checks the owner's the same way)."""
    return _email(value)


def _role(value: Any) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidRequest("role must be owner, admin or member", param="role") from None


class UserService:
    def __init__(self, db: Database, keys: KeyStore, sessions: SessionStore) -> None:
        self.db, self.keys, self.sessions = db, keys, sessions

    async def add(self, actor: Principal, spec: Any) -> dict[str, Any]:
        actor.require_admin()
        if not isinstance(spec, dict):
            raise InvalidRequest('send a JSON object: {"email": …, "role": …, "password"?: …}')
        email, role = _email(spec.get("email")), _role(spec.get("role", "member"))
        _may_grant(actor, role)
        password = spec.get("password")
        if password is not None and not isinstance(password, str):
            raise InvalidRequest("password must be a string", param="password")
        user = User(
            email=email,
            role=role,
            password_hash=await hash_password(password) if password else None,
        )
        async with self.db.session() as session:
            session.add(user)
            session.add(audit_event(actor, "user.add", f"{email} as {role}"))
            try:
                await session.commit()
            except IntegrityError:
                raise Conflict(f"{email} already has an account", param="email") from None
        return user_view(user)

    async def list(self, actor: Principal) -> list[dict[str, Any]]:
        """Everyone, with their live API keys and their latest sign-in still open (sessions
        are deleted at sign-out, so this is "signed in since", not a full history)."""
        actor.require_admin()
        keys = (
            select(ApiKey.user_id, func.count())
            .where(ApiKey.revoked_at.is_(None))
            .group_by(ApiKey.user_id)
        )
        seen = select(WebSession.user_id, func.max(WebSession.created_at)).group_by(
            WebSession.user_id
        )
        async with self.db.session() as session:
            users = (await session.scalars(select(User).order_by(User.id))).all()
            key_counts = {uid: n for uid, n in (await session.execute(keys)).all()}
            last_seen = {uid: at for uid, at in (await session.execute(seen)).all()}
        return [
            user_view(user)
            | {"keys": key_counts.get(user.id, 0), "last_sign_in_at": iso(last_seen.get(user.id))}
            for user in users
        ]

    async def invite(self, actor: Principal, spec: Any) -> tuple[dict[str, Any], Link]:
        """A new person without a password, and the one-time link with which they choose it."""
        actor.require_admin()
        if not isinstance(spec, dict) or not set(spec) <= {"email", "role"}:
            raise InvalidRequest('send {"email": …, "role": "member" | "admin" | "owner"}')
        email, role = _email(spec.get("email")), _role(spec.get("role", "member"))
        _may_grant(actor, role)
        user = User(email=email, role=role, password_hash=None)
        async with self.db.session() as session:
            session.add(user)
            try:
                await session.flush()
            except IntegrityError:
                raise Conflict(f"{email} already has an account", param="email") from None
            link = new_link(session, user.id, INVITE)
            session.add(audit_event(actor, "user.invite", f"{email} as {role}"))
            await session.commit()
        return user_view(user), link

    async def reset_link(self, actor: Principal, user_id: int) -> Link:
        """A one-time link with which the person chooses a new password (their earlier
        unused reset links stop working)."""
        actor.require_admin()
        async with self.db.session() as session:
            user = await self._get(session, user_id)
            _may_grant(actor, Role(user.role))
            await session.execute(void_earlier(user.id, RESET))
            link = new_link(session, user.id, RESET)
            session.add(audit_event(actor, "user.reset_link", user.email))
            await session.commit()
        return link

    async def set_disabled(self, actor: Principal, user_id: int, disabled: Any) -> dict[str, Any]:
        actor.require_admin()
        if not isinstance(disabled, bool):
            raise InvalidRequest("disabled must be true or false", param="disabled")
        if disabled and actor.user_id == user_id:
            raise Conflict("you cannot disable yourself: ask another admin", param="disabled")
        async with self.db.session() as session:
            user = await self._get(session, user_id)
            _may_grant(actor, Role(user.role))
            if disabled and user.role == Role.OWNER:
                raise Conflict("an owner cannot be disabled: make them admin first")
            if disabled != (user.disabled_at is not None):
                user.disabled_at = datetime.now(UTC) if disabled else None
                action = "user.disable" if disabled else "user.enable"
                session.add(audit_event(actor, action, user.email))
                await session.commit()
        await self._signed_out(user_id)
        return user_view(user)

    async def set_role(self, actor: Principal, user_id: int, role_value: Any) -> dict[str, Any]:
        actor.require_admin()
        role = _role(role_value)
        async with self.db.session() as session:
            user = await self._get(session, user_id)
            _may_grant(actor, Role(user.role))
            _may_grant(actor, role)
            if user.role == Role.OWNER and role != Role.OWNER:
                await _not_last_owner(session)
            user.role = role
            session.add(audit_event(actor, "user.set_role", f"{user.email} to {role}"))
            await session.commit()
        await self._signed_out(user.id)
        return user_view(user)

    async def set_password(self, actor: Principal, user_id: int, password: Any) -> None:
        if actor.user_id != user_id:
            actor.require_admin()
        if not isinstance(password, str):
            raise InvalidRequest("password must be a string", param="password")
        async with self.db.session() as session:
            user = await self._get(session, user_id)
            if actor.user_id != user_id:
                _may_grant(actor, Role(user.role))
            user.password_hash = await hash_password(password)
            session.add(audit_event(actor, "user.set_password", user.email))
            await session.commit()
        await self._signed_out(user_id)

    async def remove(self, actor: Principal, user_id: int) -> dict[str, Any]:
        actor.require_admin()
        async with self.db.session() as session:
            user = await self._get(session, user_id)
            _may_grant(actor, Role(user.role))
            if user.role == Role.OWNER:
                await _not_last_owner(session)
            await session.delete(user)
            session.add(audit_event(actor, "user.remove", user.email))
            await session.commit()
        await self._signed_out(user_id)
        return {"id": user_id, "email": user.email, "deleted": True}

    async def by_email(self, email: str) -> User:
        async with self.db.session() as session:
            user = await session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise NotFound(f"no user {email!r}", code="user_not_found")
        return user

    async def _get(self, session: Any, user_id: int) -> User:
        user = await session.get(User, user_id)
        if user is None:
            raise NotFound(f"no user with id {user_id}", code="user_not_found")
        return user  # type: ignore[no-any-return]

    async def _signed_out(self, user_id: int) -> None:
        self.keys.forget()
        await self.sessions.end_all(user_id)


def _may_grant(actor: Principal, role: Role) -> None:
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise PermissionDenied("only an owner can make, change or remove an owner")


async def _not_last_owner(session: Any) -> None:
    owners = await session.scalar(
        select(func.count()).select_from(User).where(User.role == Role.OWNER)
    )
    if owners <= 1:
        raise Conflict("this is the last owner: make someone else owner first")
