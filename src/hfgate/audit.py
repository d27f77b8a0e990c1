"""The audit log: who added, rotated or removed which integration, key or role, and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hfgate.storage import Database
from hfgate.storage.tables import AuditEvent, iso
from hfgate.values.principal import Principal


def audit_event(
    actor: Principal, action: str, target: str, detail: dict[str, Any] | None = None
) -> AuditEvent:
    """A row to add in the same transaction as the change it records."""
    return AuditEvent(
        actor_id=actor.user_id, actor=actor.email, action=action, target=target, detail=detail or {}
    )


async def read_audit(db: Database, actor: Principal, limit: int = 200) -> list[dict[str, Any]]:
    actor.require_admin()
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(max(1, min(limit, 1000)))
    async with db.session() as session:
        rows = (await session.scalars(query)).all()
    return [
        {
            "id": row.id,
            "at": iso(row.created_at),
            "actor": row.actor,
            "action": row.action,
            "target": row.target,
            "detail": row.detail,
        }
        for row in rows
    ]
