"""Usage recording off the hot path: requests put events on a queue; one task writes batches.

When the database refuses a batch (disk full, read only, restarting) the rows are kept and
written with the next batch, however long that takes: nothing is lost unless more than
``MAX_QUEUE`` records wait (then the oldest go, counted). Every refusal is logged and counted
(``hfgate_usage_write_failures_total``, ``hfgate_usage_unwritten``), and the writer retries
less often while it lasts (up to every ``MAX_RETRY_SECONDS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert

from hfgate import metrics
from hfgate.storage import Database
from hfgate.storage.tables import UsageRecord

log = logging.getLogger("hfgate.usage")
USAGE_TABLE = cast(Table, UsageRecord.__table__)  # Core inserts: many rows, no ORM objects
FLUSH_SECONDS = 0.5
MAX_QUEUE = 100_000
MAX_RETRY_SECONDS = 5.0


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
        self._unwritten: list[dict[str, Any]] = []  # taken off the queue, not yet stored
        self._lock = asyncio.Lock()  # one writer at a time: a row is inserted once
        self._failures = 0
        self._task: asyncio.Task[None] | None = None

    def record(self, event: UsageEvent) -> None:
        try:
            self._queue.put_nowait(event.row())
        except asyncio.QueueFull:  # never block or fail a response for accounting
            metrics.USAGE_DROPPED.inc()
            log.error("usage queue full; dropping a usage record")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.flush()
        except Exception:
            log.exception("%d usage records could not be written at shutdown", self.waiting)

    @property
    def waiting(self) -> int:
        """Records not yet in the database."""
        return len(self._unwritten) + self._queue.qsize()

    async def flush(self) -> int:
        """Write every waiting record; on failure they stay waiting, and the error is raised."""
        async with self._lock:
            rows = self._unwritten
            while not self._queue.empty():
                rows.append(self._queue.get_nowait())
            self._unwritten = rows
            if not rows:
                return 0
            try:
                async with self.db.session() as session:
                    await session.execute(insert(USAGE_TABLE), rows)
                    await session.commit()
            except BaseException:
                self._keep_at_most(MAX_QUEUE)
                raise
            self._unwritten = []
            metrics.USAGE_UNWRITTEN.set(self._queue.qsize())
            if self._failures:
                log.warning("usage records are written again (%d that waited)", len(rows))
                self._failures = 0
            return len(rows)

    def _keep_at_most(self, limit: int) -> None:
        metrics.USAGE_UNWRITTEN.set(len(self._unwritten))
        if len(self._unwritten) > limit:
            dropped = len(self._unwritten) - limit
            del self._unwritten[:dropped]
            metrics.USAGE_DROPPED.inc(dropped)
            log.error("%d usage records dropped: too many were waiting for the database", dropped)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(min(FLUSH_SECONDS * 2**self._failures, MAX_RETRY_SECONDS))
            await self._write_once()

    async def _write_once(self) -> None:
        try:
            await self.flush()
        except Exception as exc:
            self._failures = min(self._failures + 1, 10)
            metrics.USAGE_WRITE_FAILURES.inc()
            log.error(
                "writing usage records failed (%s: %s); %d records wait in memory, will retry",
                type(exc).__name__,
                str(exc).splitlines()[0][:200] if str(exc) else "",
                self.waiting,
            )
            return
