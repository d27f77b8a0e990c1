"""The simulator's run-time state: the endpoint's lifecycle, its counters, its current config.

Lifecycle transitions driven by time (initializing → running after ``cold_start``, running →
scaled_to_zero after ``idle_timeout``) are applied lazily whenever the state is read, so no
background task is needed and a PATCH of ``cold_start`` takes effect on a wake-up in progress.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from hfgate.sim.config import SimConfig, apply_patch
from hfgate.sim.versions import Features, features

_POLL = 0.02  # how often a held request re-reads the state (a PATCH may wake it early)


T = TypeVar("T")


class Lifecycle:
    """running | scaled_to_zero | initializing | paused, with a wake-up timer and an idle timer."""

    def __init__(self, config: SimConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._state: str = config.state
        self._wake_started = clock()
        self.last_activity = clock()
        self.running_since = clock()  # when the replica last started running (an engine loads)
        self.busy = 0  # requests being served: an endpoint does not idle out under load

    def current(self) -> str:
        now = self.clock()
        if self._state == "initializing" and now >= self._wake_started + self.config.cold_start:
            self._state = "running"
            self.last_activity = now
            self.running_since = self._wake_started + self.config.cold_start
        idle = self.config.idle_timeout
        running = self._state == "running" and not self.busy
        if running and idle is not None and now - self.last_activity >= idle:
            self._state = "scaled_to_zero"
        return self._state

    def set(self, state: str) -> None:
        self._state = state
        self._wake_started = self.last_activity = self.clock()
        if state == "running":
            self.running_since = self._wake_started

    def wake(self) -> bool:
        """scaled_to_zero → initializing; False when a wake-up was not needed."""
        if self.current() != "scaled_to_zero":
            return False
        self.set("initializing")
        return True

    def touch(self) -> None:
        self.last_activity = self.clock()

    def ready_in(self) -> float | None:
        if self.current() != "initializing":
            return None
        return max(0.0, self._wake_started + self.config.cold_start - self.clock())

    async def wait_running(self, timeout: float) -> str:
        """Hold until running or paused, at most ``timeout`` seconds; the state reached."""
        deadline = self.clock() + timeout
        while (state := self.current()) not in ("running", "paused"):
            left = deadline - self.clock()
            if left <= 0:
                break
            ready = self.ready_in()
            step = min(left, _POLL) if ready is None else min(left, _POLL, max(ready, 0.001))
            await asyncio.sleep(step)
        return state


class Stats:
    """What the sim saw: ``GET /_sim/stats``."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.wakeups = 0
        self.cancelled = 0
        self.dropped = 0
        self.completed = 0
        self.generated_tokens = 0
        self.last_request: Any = None
        self.last_headers: dict[str, str] | None = None
        self.scale_up_timeout_seen: str | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "statuses": dict(self.statuses),
            "failures": dict(self.failures),
            "wakeups": self.wakeups,
            "cancelled": self.cancelled,
            "dropped": self.dropped,
            "completed": self.completed,
            "generated_tokens": self.generated_tokens,
            "last_request": self.last_request,
            "last_headers": self.last_headers,
            "scale_up_timeout_seen": self.scale_up_timeout_seen,
        }


class Runtime:
    """One simulated endpoint: config, lifecycle, counters and per-config caches."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.lifecycle = Lifecycle(config)
        self.stats = Stats()
        self.in_flight = 0  # generations holding one of max_concurrent_requests permits
        self.cache: dict[str, Any] = {}
        self.revision = 0

    @property
    def features(self) -> Features:
        return features(self.config.tgi_version)

    def cached(self, key: str, build: Callable[[], T]) -> T:
        """A value derived from the config (``/info`` bytes, …), rebuilt after a PATCH."""
        value = self.cache.get(key)
        if value is None:
            value = self.cache[key] = build()
        return value

    def patch(self, changes: dict[str, Any]) -> None:
        fresh = apply_patch(self.config, changes)
        self.config = self.lifecycle.config = fresh
        self.cache.clear()
        self.revision += 1
        if "state" in changes:
            self.lifecycle.set(fresh.state)

    def describe(self) -> dict[str, Any]:
        state = self.lifecycle.current()
        return {
            **self.config.to_dict(),
            "state": state,
            "ready_in": self.lifecycle.ready_in(),
            "in_flight": self.in_flight,
        }

    def acquire(self) -> bool:
        """One of ``max_concurrent_requests`` permits (TGI's non-blocking semaphore)."""
        if self.config.overloaded or self.in_flight >= self.config.max_concurrent_requests:
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1
