"""Sharing model status between processes through one Redis hash.

Each process keeps its board for the hot path (reads never leave memory); changes are written
to ``hfgate:status`` as they happen and every process pulls the hash twice a second, keeping
whichever entry changed last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson

from hfgate.cluster.fallback import RedisHealth
from hfgate.endpoints.state import ModelStatus, StatusBoard, StatusEntry

log = logging.getLogger("hfgate.cluster")
KEY = "hfgate:status"
PULL_SECONDS = 0.5


class StatusSync:
    def __init__(self, board: StatusBoard, redis: Any, health: RedisHealth | None = None) -> None:
        self.board = board
        self.redis = redis
        self.health = health or RedisHealth()
        self._pending: set[asyncio.Task[None]] = set()
        board.on_change = self._push

    def _push(self, name: str, entry: StatusEntry) -> None:
        payload = orjson.dumps([entry.status, entry.detail, entry.changed_at, entry.checked_at])
        task = asyncio.ensure_future(self._write(name, payload))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, name: str, payload: bytes) -> None:
        with contextlib.suppress(Exception):  # status is advisory: never fail a request for it
            await self.redis.hset(KEY, name, payload)

    async def pull(self) -> None:
        for raw_name, raw in (await self.redis.hgetall(KEY)).items():
            status, detail, changed_at, checked_at = orjson.loads(raw)
            name = raw_name.decode() if isinstance(raw_name, bytes) else raw_name
            self.board.merge(name, StatusEntry(ModelStatus(status), detail, changed_at, checked_at))

    async def run_forever(self) -> None:
        """Also how a process learns that Redis is lost or back without any traffic."""
        while True:
            try:
                await self.pull()
            except Exception as exc:
                self.health.failed(exc)  # logged once, when it is first lost
            else:
                self.health.worked()
            await asyncio.sleep(PULL_SECONDS)
