"""Who wakes a cold endpoint: one claim per model across the cluster (Redis ``SET NX PX``).

The claim expires by itself, so a process that dies while waking does not block the others:
they retry the claim while they wait.
"""

from __future__ import annotations

import os
import socket
from typing import Any

CLAIM_PREFIX = "hfgate:wake:"


class RedisCoordinator:
    """A ``WakeCoordinator`` (``hfgate.endpoints.waking``) for several processes."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self.me = f"{socket.gethostname()}:{os.getpid()}"

    async def claim(self, name: str, ttl: float) -> bool:
        taken = await self.redis.set(
            CLAIM_PREFIX + name, self.me, nx=True, px=max(1000, int(ttl * 1000))
        )
        return bool(taken)

    async def release(self, name: str) -> None:
        # Only our own claim: compare-and-delete in one step.
        script = (
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
            " return 0"
        )
        await self.redis.eval(script, 1, CLAIM_PREFIX + name, self.me)
