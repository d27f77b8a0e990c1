"""Keeping model status fresh without costing anything or keeping anything awake.

Probes are ``GET /health`` only (never a generation), in parallel with a short timeout, off
the request path (the model list reads the board; a dead endpoint never slows it). A probe
through the endpoint's URL is traffic: it restarts Hugging Face's scale-to-zero timer. So which
models are probed, and how often:

* ``scaled_to_zero`` / ``waking`` / ``idle`` — never: a probe could wake the endpoint or keep
  it awake, and the cold-start waker already watches one that is waking.
* ``ready`` — once at start (or after a change, which starts a fresh entry), then never: while
  requests are answered the traffic itself says it runs; once nothing has for
  ``SURELY_AWAKE`` seconds it is *inferred* ``idle`` (``StatusBoard.infer_idle``), without a
  request, and its scale-to-zero timer runs out as it would without hfgate.
* an endpoint with a record on a connected Hugging Face account — never: its status comes from
  the management API (``hfgate.hf``), which costs the endpoint nothing.
* ``paused`` / ``initializing`` / ``auth_failed`` / ``unreachable`` — every ``SLOW_PROBE``
  seconds, to notice a resume or a fix; such answers come from the platform's proxy (or an
  engine that is already up) and wake nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time

from hfgate.catalog import Catalog
from hfgate.endpoints.state import (
    SURELY_AWAKE,
    ModelStatus,
    StatusBoard,
    StatusEntry,
    status_from_health,
)
from hfgate.errors import HfgateError
from hfgate.upstream.transport import Transport
from hfgate.values.served import ServedModel

log = logging.getLogger("hfgate.status")
RECENT_TRAFFIC = SURELY_AWAKE  # after the last answer, "ready" without asking; then "idle"
SLOW_PROBE = 300.0
PROBE_TIMEOUT = 5.0
NEVER_PROBED = frozenset({ModelStatus.SCALED_TO_ZERO, ModelStatus.WAKING, ModelStatus.IDLE})


def should_probe(entry: StatusEntry, now: float) -> bool:
    if entry.status in NEVER_PROBED:
        return False
    if entry.status is ModelStatus.READY:
        return entry.checked_at == 0  # never checked: the one probe at start
    return now - entry.checked_at >= SLOW_PROBE


class StatusRefresher:
    def __init__(
        self, catalog: Catalog, board: StatusBoard, transport: Transport, interval: float
    ) -> None:
        self.catalog, self.board, self.transport = catalog, board, transport
        self.interval = interval

    async def refresh_once(self) -> int:
        now = time.time()
        # Hugging Face tells us of the managed ones, for free.
        unmanaged = [m for m in self.catalog.all() if m.name not in self.board.managed]
        for model in unmanaged:
            self.board.infer_idle(model.name, now)
        due = [m for m in unmanaged if should_probe(self.board.get(m.name), now)]
        await asyncio.gather(*(self._probe(model) for model in due))
        return len(due)

    async def _probe(self, model: ServedModel) -> None:
        try:
            reply = await self.transport.request(
                "GET", model.endpoint + "/health", token=model.api_key, timeout=PROBE_TIMEOUT
            )
            status, detail = status_from_health(reply.status, reply.text())
        except HfgateError as exc:
            status, detail = ModelStatus.UNREACHABLE, exc.message
        if self.board.get(model.name).status is not ModelStatus.WAKING:  # a waker owns it now
            self.board.set(model.name, status, detail)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.refresh_once()
            except Exception:
                log.exception("refreshing model status failed")
            await asyncio.sleep(min(self.interval, 5.0))
