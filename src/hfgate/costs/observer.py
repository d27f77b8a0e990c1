"""The ledger's writer: every ``interval`` seconds, the lease holder records what each endpoint
is doing (its state, replicas and price) as spans.

Every process runs one; the database lease lets one write at a time. A span is extended while
observations keep coming at most ``MAX_GAP_FACTOR`` intervals apart; a longer silence (every
process down, the database away) leaves a gap the report shows as unobserved.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from hfgate.costs import store
from hfgate.costs.store import Observation
from hfgate.storage import Database

log = logging.getLogger("hfgate.costs")
LEASE = "cost-ledger"
MAX_GAP_FACTOR = 2.5  # a late tick is still continuous; a missed couple is a gap
LEASE_FACTOR = 3.0  # a holder that missed this many ticks is presumed gone

ObservationSource = Callable[[], Awaitable[list[Observation]]]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class LedgerWriter:
    def __init__(
        self,
        db: Database,
        source: ObservationSource,
        interval: float,
        clock: Clock = utc_now,
    ) -> None:
        self.db = db
        self.source = source
        self.interval = interval
        self.clock = clock
        self.holder = secrets.token_hex(8)
        self._failing = False

    async def tick(self) -> bool:
        """One observation, written if this process holds the lease; True when written."""
        now = self.clock()
        if not await store.acquire(self.db, LEASE, self.holder, self.interval * LEASE_FACTOR, now):
            return False
        observations = await self.source()
        await store.record(self.db, observations, now, self.interval * MAX_GAP_FACTOR)
        return True

    async def release(self) -> None:
        """At shutdown: a restarted or another process continues the spans without a gap."""
        try:
            await store.release(self.db, LEASE, self.holder)
        except Exception as exc:  # the lease then runs out by itself
            log.warning("the cost ledger's lease could not be released: %s", exc)

    async def run_forever(self) -> None:
        if self.interval <= 0:  # HFGATE_LEDGER_INTERVAL=0: no ledger in this process
            return
        while True:
            try:
                await self.tick()
            except Exception as exc:  # the next tick retries; the missed time becomes a gap
                if not self._failing:
                    log.error("the cost ledger could not record endpoint states: %s", exc)
                self._failing = True
            else:
                if self._failing:
                    log.warning("the cost ledger records endpoint states again")
                self._failing = False
            await asyncio.sleep(self.interval)
