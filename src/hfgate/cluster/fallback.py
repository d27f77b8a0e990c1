"""Serving on when Redis is lost: each process falls back to its own state, and says so.

``RedisHealth`` is the one place that knows whether this process reaches Redis: a failed
call marks it down (one ``ERROR`` log line, and ``/readyz`` lists it as degraded) and, for
``RETRY_SECONDS``, the wrappers below do not even try Redis, so a request never waits on it;
the next call that works marks it up again (one ``WARNING`` log line). While it is down, rate
limits count per process (``MemoryLimiter``), and every process wakes its endpoints itself
(``LocalCoordinator``); shared again as soon as Redis answers.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from hfgate.auth.ratelimit import MemoryLimiter, RedisLimiter
from hfgate.cluster.coordination import RedisCoordinator
from hfgate.errors import RateLimited
from hfgate.values.principal import Principal

log = logging.getLogger("hfgate.cluster")
RETRY_SECONDS = 1.0


class RedisHealth:
    def __init__(self) -> None:
        self.down_since: float | None = None  # wall-clock time of the first failure
        self._retry_at = 0.0

    def usable(self) -> bool:
        """Whether to try Redis now: it is up, or it is time to ask again."""
        return self.down_since is None or time.monotonic() >= self._retry_at

    def failed(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + RETRY_SECONDS
        if self.down_since is None:
            self.down_since = time.time()
            log.error(
                "Redis is unreachable (%s: %s): rate limits and wake-ups are per process"
                " until it is back",
                type(exc).__name__,
                exc,
            )

    def worked(self) -> None:
        if self.down_since is not None:
            log.warning(
                "Redis is back after %.0f s: rate limits and wake-ups are shared again",
                time.time() - self.down_since,
            )
            self.down_since = None

    def detail(self) -> str | None:
        """What ``/readyz`` says while Redis is lost; None while it is fine."""
        if self.down_since is None:
            return None
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.down_since))
        return f"redis unreachable since {since}: rate limits and wake-ups are per process"


class FallbackLimiter:
    """Redis's shared counters; this process's own while Redis is lost."""

    def __init__(self, redis: Any, health: RedisHealth) -> None:
        self.shared = RedisLimiter(redis)
        self.local = MemoryLimiter()
        self.health = health

    async def acquire(self, principal: Principal) -> None:
        if self.health.usable():
            try:
                await self.shared.acquire(principal)
            except RateLimited:
                self.health.worked()
                raise
            except Exception as exc:
                self.health.failed(exc)
            else:
                self.health.worked()
                return
        await self.local.acquire(principal)

    def spend(self, principal: Principal, tokens: int) -> None:
        if self.health.down_since is None:
            self.shared.spend(principal, tokens)  # itself never fails a response
        else:
            self.local.spend(principal, tokens)


class FallbackCoordinator:
    """One waker per model in the cluster; one per process while Redis is lost."""

    def __init__(self, redis: Any, health: RedisHealth) -> None:
        self.shared = RedisCoordinator(redis)
        self.health = health

    async def claim(self, name: str, ttl: float) -> bool:
        if not self.health.usable():
            return True
        try:
            taken = await self.shared.claim(name, ttl)
        except Exception as exc:
            self.health.failed(exc)
            return True
        self.health.worked()
        return taken

    async def release(self, name: str) -> None:
        try:
            await self.shared.release(name)
        except Exception as exc:
            self.health.failed(exc)
