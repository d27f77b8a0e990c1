"""People and roles: owner, admin, member (see SECURITY.md).

Rules: only an owner makes or unmakes owners; admins manage admins and members; the last owner
can be neither removed nor demoted. A role change or removal signs the person out everywhere
and takes effect on their API keys at once.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from hfgate.audit import audit_event
from hfgate.auth.keys import KeyStore
from hfgate.auth.passwords import hash_password
from hfgate.auth.sessions import SessionStore
from hfgate.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from hfgate.storage import Database
from hfgate.storage.tables import User, iso
from hfgate.textcheck import plain_text
from hfgate.values.principal import Principal, Role

EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def user_view(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "has_password": bool(user.password_hash),
        "created_at": iso(user.created_at),
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
        actor.require_admin()
        async with self.db.session() as session:
            users = (await session.scalars(select(User).order_by(User.id))).all()
        return [user_view(user) for user in users]

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
