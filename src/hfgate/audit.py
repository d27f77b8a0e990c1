"""The audit log: who added, rotated or removed which integration, key or role, and when.

Read newest first, filtered (``AuditFilter``) and paged by id: ``before_id`` is the id of the
last row a page showed, so paging stays right while new events are written.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Select, func, select

from hfgate.errors import InvalidRequest
from hfgate.storage import Database
from hfgate.storage.tables import AuditEvent, iso
from hfgate.textcheck import plain_text, spreadsheet_safe
from hfgate.values.principal import Principal

MAX_LIMIT = 1000
CSV_COLUMNS = ("id", "at", "actor", "action", "target", "detail")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).


def audit_event(
    actor: Principal, action: str, target: str, detail: dict[str, Any] | None = None
) -> AuditEvent:
    """A row to add in the same transaction as the change it records."""
    return AuditEvent(
        actor_id=actor.user_id, actor=actor.email, action=action, target=target, detail=detail or {}
    )


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Substrings (any case) of who, what and on which target; a time range; a page."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 200

    @classmethod
    def parse(cls, **raw: Any) -> AuditFilter:
        """From query parameters, each checked with a message naming it."""
        texts = {name: _text(raw.get(name), name) for name in ("actor", "action", "target")}
        before = raw.get("before_id")
        if before is not None and (not isinstance(before, int) or before < 1):
            raise InvalidRequest("before_id must be a positive integer", param="before_id")
        limit = raw.get("limit", 200)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}", param="limit")
        since, until = _moment(raw.get("since"), "since"), _moment(raw.get("until"), "until")
        if since and until and since > until:
            raise InvalidRequest("since must be before until", param="since")
        return cls(**texts, since=since, until=until, before_id=before, limit=limit)

    def query(self) -> Select[AuditEvent]:
        query = select(AuditEvent)
        for column, text in (
            (AuditEvent.actor, self.actor),
            (AuditEvent.action, self.action),
            (AuditEvent.target, self.target),
        ):
            if text:
                query = query.where(func.lower(column).contains(text.lower(), autoescape=True))
        if self.since:
            query = query.where(AuditEvent.created_at >= self.since)
        if self.until:
            query = query.where(AuditEvent.created_at < self.until)
        if self.before_id:
            query = query.where(AuditEvent.id < self.before_id)
        return query.order_by(AuditEvent.id.desc()).limit(self.limit)


def _text(value: Any, name: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return plain_text(value, name, 320)


def _moment(value: Any, name: str) -> datetime | None:
    """An ISO 8601 date or time; without an offset it is UTC (what the log stores)."""
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidRequest(
            f"{name} must be an ISO 8601 date or time, like 2026-01-31 or 2026-01-31T12:00:00Z",
            param=name,
        ) from None
    # In UTC: SQLite keeps the time without its offset, so only UTC compares right there.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _row(row: AuditEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": iso(row.created_at),
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "detail": row.detail,
    }


async def read_audit(
    db: Database, actor: Principal, where: AuditFilter | None = None
) -> dict[str, Any]:
    """``{"data": [...], "next_before_id": id | None}``: the id to page on, when more may follow."""
    actor.require_admin()
    where = where or AuditFilter()
    async with db.session() as session:
        rows = (await session.scalars(where.query())).all()
    data = [_row(row) for row in rows]
    more = len(rows) == where.limit
    return {"data": data, "next_before_id": data[-1]["id"] if more and data else None}


def audit_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV (a header, then one line each; ``detail`` as JSON)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        detail = orjson.dumps(row["detail"] or {}).decode()
        cells = [row["id"], row["at"], row["actor"], row["action"], row["target"], detail]
        writer.writerow([spreadsheet_safe(cell) for cell in cells])
    return out.getvalue()
