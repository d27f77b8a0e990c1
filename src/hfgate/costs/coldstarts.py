"""Wake-ups hfgate waited out, stored for the usage page and for advice (what a cold start
costs in time). Written in the background: a wake-up never waits for the database."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from hfgate.storage import Database
from hfgate.storage.tables import ColdStart

log = logging.getLogger("hfgate.costs")


class ColdStartLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._writes: set[asyncio.Task[None]] = set()

    def note(self, model: str, started: float, seconds: float, outcome: str) -> None:
        row = ColdStart(
            model=model,
            started_at=datetime.fromtimestamp(started, UTC),
            seconds=round(seconds, 3),
            outcome=outcome,
        )
        task = asyncio.ensure_future(self._write(row))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, row: ColdStart) -> None:
        try:
            async with self.db.session() as session:
                session.add(row)
                await session.commit()
        except Exception as exc:  # a lost row costs a chart point, never a request
            log.warning("could not record a cold start of %s: %s", row.model, exc)

    async def drain(self) -> None:
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
