"""Per-key rate limits: requests per minute and tokens per minute.

Fixed one-minute windows, the same semantics in memory (one process) and in Redis (every
process behind a load balancer shares the counters: ``INCR`` + ``EXPIRE``). A request is
refused with 429 and ``Retry-After`` (seconds to the next window) when the key is over its
requests, or has already spent its tokens for the minute. Tokens are counted after each
response, off the hot path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from hfgate.errors import RateLimited
from hfgate.values.principal import Principal

log = logging.getLogger("hfgate.ratelimit")
WINDOW = 60


def _window(now: float) -> tuple[int, float]:
    """(window number, seconds until the next one)."""
    return int(now // WINDOW), WINDOW - (now % WINDOW)


def _refuse(what: str, limit: int, retry_after: float) -> RateLimited:
    return RateLimited(
        f"this API key is over its limit of {limit:,} {what} per minute:"
        f" retry in {retry_after:.0f} s",
        retry_after=retry_after,
    )


class Limiter(Protocol):
    async def acquire(self, principal: Principal) -> None: ...

    def spend(self, principal: Principal, tokens: int) -> None: ...


class MemoryLimiter:
    def __init__(self) -> None:
        self._counts: dict[tuple[int, str, int], int] = {}

    async def acquire(self, principal: Principal) -> None:
        if principal.key_id is None or not (principal.rpm or principal.tpm):
            return
        window, retry = _window(time.time())
        if principal.tpm and self._counts.get((principal.key_id, "t", window), 0) >= principal.tpm:
            raise _refuse("tokens", principal.tpm, retry)
        if principal.rpm:
            key = (principal.key_id, "r", window)
            if self._counts.get(key, 0) >= principal.rpm:
                raise _refuse("requests", principal.rpm, retry)
            self._counts[key] = self._counts.get(key, 0) + 1
        self._forget_before(window)

    def spend(self, principal: Principal, tokens: int) -> None:
        if principal.key_id is None or not principal.tpm or tokens <= 0:
            return
        key = (principal.key_id, "t", _window(time.time())[0])
        self._counts[key] = self._counts.get(key, 0) + tokens

    def _forget_before(self, window: int) -> None:
        if len(self._counts) > 10_000:
            self._counts = {k: v for k, v in self._counts.items() if k[2] >= window}


class RedisLimiter:
    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._pending: set[asyncio.Task[None]] = set()

    async def acquire(self, principal: Principal) -> None:
        if principal.key_id is None or not (principal.rpm or principal.tpm):
            return
        window, retry = _window(time.time())
        prefix = f"hfgate:rl:{principal.key_id}:{window}"
        if principal.tpm:
            spent = int(await self.redis.get(f"{prefix}:t") or 0)
            if spent >= principal.tpm:
                raise _refuse("tokens", principal.tpm, retry)
        if principal.rpm:
            pipe = self.redis.pipeline()
            pipe.incr(f"{prefix}:r")
            pipe.expire(f"{prefix}:r", WINDOW * 2)
            count, _ = await pipe.execute()
            if int(count) > principal.rpm:
                raise _refuse("requests", principal.rpm, retry)

    def spend(self, principal: Principal, tokens: int) -> None:
        if principal.key_id is None or not principal.tpm or tokens <= 0:
            return
        task = asyncio.ensure_future(self._spend(principal.key_id, tokens))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _spend(self, key_id: int, tokens: int) -> None:
        name = f"hfgate:rl:{key_id}:{_window(time.time())[0]}:t"
        try:
            pipe = self.redis.pipeline()
            pipe.incrby(name, tokens)
            pipe.expire(name, WINDOW * 2)
            await pipe.execute()
        except Exception:  # accounting must never fail a response
            log.warning("could not record token usage in Redis")
