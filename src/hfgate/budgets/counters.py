"""Token counters per budget holder and period: shared in Redis, or this process's own.

A counter is named by its holder and the start of its period (``hfgate:budget:k12:day:
20261205``) and expires a day after the period ends, so nothing ever has to reset one. A
counter this process has not seen, or that Redis has lost (a restart, a flush), is seeded
from the usage table first: spending survives restarts. While Redis is unreachable each
process counts on its own (``FallbackCounters``, with the rate limiter's ``RedisHealth``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Seed = Callable[[], Awaitable[int]]
MAX_NAMES = 10_000


class SeedFailed(Exception):
    """The usage table could not be read to seed a counter (the database, not Redis)."""


class Health(Protocol):
    """``hfgate.cluster.RedisHealth``, as counters use it."""

    down_since: float | None

    def usable(self) -> bool: ...

    def failed(self, exc: BaseException) -> None: ...

    def worked(self) -> None: ...


class Counters(Protocol):
    async def read(self, name: str, ttl: int, seed: Seed) -> int: ...

    async def add(self, name: str, tokens: int, ttl: int, seed: Seed) -> None: ...


async def _seeded(seed: Seed) -> int:
    try:
        return await seed()
    except Exception as exc:
        raise SeedFailed(str(exc)) from exc


class MemoryCounters:
    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._expires: dict[str, float] = {}
        self._seeding: dict[str, asyncio.Future[int]] = {}

    async def read(self, name: str, ttl: int, seed: Seed) -> int:
        if name not in self._counts:
            await self._seed(name, ttl, seed)
        return self._counts[name]

    async def add(self, name: str, tokens: int, ttl: int, seed: Seed) -> None:
        if name not in self._counts:
            await self._seed(name, ttl, seed)
        self._counts[name] += tokens

    async def _seed(self, name: str, ttl: int, seed: Seed) -> None:
        # One query however many calls find the counter missing at the same moment.
        pending = self._seeding.get(name)
        if pending is None:
            pending = asyncio.ensure_future(_seeded(seed))
            self._seeding[name] = pending
            pending.add_done_callback(lambda _f: self._seeding.pop(name, None))
        value = await asyncio.shield(pending)
        if name not in self._counts:
            self._forget_expired()
            self._counts[name] = value
            self._expires[name] = time.time() + ttl

    def _forget_expired(self) -> None:
        if len(self._counts) < MAX_NAMES:
            return
        now = time.time()
        for name in [name for name, at in self._expires.items() if at <= now]:
            self._counts.pop(name, None)
            self._expires.pop(name, None)


class RedisCounters:
    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def read(self, name: str, ttl: int, seed: Seed) -> int:
        value = await self.redis.get(name)
        if value is None:
            seeded = await _seeded(seed)
            pipe = self.redis.pipeline()
            pipe.set(name, seeded, nx=True, ex=ttl)  # another process may have seeded it first
            pipe.get(name)
            _, value = await pipe.execute()
        return int(value or 0)

    async def add(self, name: str, tokens: int, ttl: int, seed: Seed) -> None:
        pipe = self.redis.pipeline()
        pipe.incrby(name, tokens)
        pipe.expire(name, ttl)
        count, _ = await pipe.execute()
        if int(count) == tokens:  # this made the counter: Redis had lost what came before
            seeded = await _seeded(seed)
            if seeded > 0:
                await self.redis.incrby(name, seeded)


class FallbackCounters:
    """Redis's counters; this process's own while Redis is lost (then shared again)."""

    def __init__(self, redis: Any, health: Health) -> None:
        self.shared = RedisCounters(redis)
        self.local = MemoryCounters()
        self.health = health

    async def read(self, name: str, ttl: int, seed: Seed) -> int:
        if self.health.usable():
            try:
                value = await self.shared.read(name, ttl, seed)
            except SeedFailed:
                raise
            except Exception as exc:
                self.health.failed(exc)
            else:
                self.health.worked()
                return value
        return await self.local.read(name, ttl, seed)

    async def add(self, name: str, tokens: int, ttl: int, seed: Seed) -> None:
        if self.health.usable():
            try:
                await self.shared.add(name, tokens, ttl, seed)
            except SeedFailed:
                raise
            except Exception as exc:
                self.health.failed(exc)
            else:
                self.health.worked()
                return
        await self.local.add(name, tokens, ttl, seed)
