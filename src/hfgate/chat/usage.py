"""Usage recording off the hot path: requests put events on a queue; one task writes batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, insert, select

from hfgate.storage import Database
from hfgate.storage.tables import UsageRecord
from hfgate.values.principal import Principal

log = logging.getLogger("hfgate.usage")
USAGE_TABLE = cast(Table, UsageRecord.__table__)  # Core inserts: many rows, no ORM objects
FLUSH_SECONDS = 0.5
MAX_QUEUE = 100_000


@dataclass(slots=True)
class UsageEvent:
    model: str
    route: str
    status: int
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    ttft_ms: float | None
    user_id: int | None
    key_id: int | None

    def row(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "route": self.route,
            "status": self.status,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_ms": self.latency_ms,
            "ttft_ms": self.ttft_ms,
            "user_id": self.user_id,
            "key_id": self.key_id,
            "created_at": datetime.now(UTC),
        }


class UsageRecorder:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(MAX_QUEUE)
        self._task: asyncio.Task[None] | None = None

    def record(self, event: UsageEvent) -> None:
        try:
            self._queue.put_nowait(event.row())
        except asyncio.QueueFull:  # never block or fail a response for accounting
            log.warning("usage queue full; dropping a usage record")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def flush(self) -> int:
        rows = []
        while not self._queue.empty():
            rows.append(self._queue.get_nowait())
        if rows:
            async with self.db.session() as session:
                await session.execute(insert(USAGE_TABLE), rows)
                await session.commit()
        return len(rows)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except Exception:
                log.exception("writing usage records failed; will retry")

    async def summary(self, principal: Principal, days: int = 30) -> dict[str, Any]:
        """Totals by model and by key; members see only their own usage."""
        await self.flush()
        since = datetime.now(UTC) - timedelta(days=days)
        where = [UsageRecord.created_at >= since]
        if not principal.is_admin:
            where.append(UsageRecord.user_id == principal.user_id)
        return {
            "since": since.isoformat(),
            "by_model": await self._group(UsageRecord.model, where),
            "by_key": await self._group(UsageRecord.key_id, where),
        }

    async def _group(self, column: Any, where: list[Any]) -> list[dict[str, Any]]:
        query = (
            select(
                column,
                func.count(),
                func.sum(UsageRecord.prompt_tokens),
                func.sum(UsageRecord.completion_tokens),
                func.avg(UsageRecord.latency_ms),
                func.avg(UsageRecord.ttft_ms),
            )
            .where(*where)
            .group_by(column)
            .order_by(column)
        )
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
        return [
            {
                "key": key,
                "requests": n,
                "prompt_tokens": int(p or 0),
                "completion_tokens": int(c or 0),
                "avg_latency_ms": round(float(lat or 0), 2),
                "avg_ttft_ms": round(float(t), 2) if t else None,
            }
            for key, n, p, c, lat, t in rows
        ]
