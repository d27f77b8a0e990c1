"""Waiting for an endpoint to wake: the cold-start guard of every call, and the one wait loop.

Each call's attempt carries ``X-Scale-Up-Timeout`` (a short hold at first, so a sleeping
endpoint is noticed within seconds). When the endpoint answers as cold (the proxy's 502/503/504,
``upstream.platform``), one *waker* per model takes over: it holds ``GET /health`` at the proxy
until a replica is up, with backoff, until the deadline. Every other request for that model
waits on the same waker instead of knocking on the endpoint itself — one wake-up however many
callers, and with a ``WakeCoordinator`` one per cluster. While they wait, callers receive
``Waiting`` events. Nothing here retries once an attempt has succeeded: after the first token,
failures are the caller's to report.

``hold_until`` is the one loop that asks an endpoint again and again while it is cold; the
waker uses it on ``/health``, validation on ``/info``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from hfgate import metrics
from hfgate.endpoints.state import ASLEEP, ModelStatus, StatusBoard
from hfgate.errors import (
    EndpointColdStart,
    EndpointColdStartTimeout,
    EndpointPaused,
    UpstreamAuthFailed,
    UpstreamUnreachable,
)
from hfgate.upstream.platform import is_cold, platform_error
from hfgate.upstream.transport import Reply, Transport
from hfgate.values.events import Waiting
from hfgate.values.served import ServedModel

T = TypeVar("T")
FIRST_HOLD = 5.0  # seconds the proxy may hold a first attempt before we learn it is cold
MAX_HOLD = 600.0
FOLLOW_SECONDS = 0.25  # how often a process that is not waking the endpoint looks again
# An endpoint that answered this recently is awake: Inference Endpoints scale to zero only
# after 15 idle minutes or more.
AWAKE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Ready(Generic[T]):
    value: T


class WakeCoordinator(Protocol):
    """Who may wake an endpoint now (``hfgate.cluster`` has one for several processes)."""

    async def claim(self, name: str, ttl: float) -> bool: ...

    async def release(self, name: str) -> None: ...


class LocalCoordinator:
    """One process: it always wakes its endpoints itself (its ColdStarts already single-flight)."""

    async def claim(self, name: str, ttl: float) -> bool:
        return True

    async def release(self, name: str) -> None:
        return None


async def hold_until(
    ask: Callable[[float], Awaitable[Reply]],
    seconds: float,
    done: Callable[[Reply], bool],
    *,
    most: float = MAX_HOLD,
    on_wait: Callable[[float, Reply | None], None] | None = None,
) -> Reply | None:
    """``ask(hold)`` until ``done(reply)`` or ``seconds`` pass; the last reply (None if none).

    Each ask may be held at the proxy for up to ``most`` seconds. Quick refusals (the proxy or
    the network answering at once) back off, up to 10 s, so a down endpoint is not hammered.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply, backoff = None, 0.5
    while (left := started + seconds - loop.time()) > 0:
        if on_wait is not None:
            on_wait(loop.time() - started, reply)
        hold = min(most, left)
        asked = loop.time()
        with contextlib.suppress(UpstreamUnreachable):  # not up yet: ask again, with backoff
            reply = await ask(hold)
            if done(reply):
                return reply
        if loop.time() - asked < hold / 2:
            await asyncio.sleep(min(backoff, max(0.0, started + seconds - loop.time())))
            backoff = min(backoff * 2, 10.0)
    return reply


def awake_or_decided(reply: Reply) -> bool:
    """For the waker: up, or an answer that waiting will not change (paused, auth)."""
    return reply.status == 200 or _decisive(reply) is not None


def not_cold(reply: Reply) -> bool:
    return not is_cold(reply.status, reply.text())


def _decisive(reply: Reply) -> EndpointPaused | UpstreamAuthFailed | None:
    error = platform_error(reply.status, reply.text())
    return error if isinstance(error, EndpointPaused | UpstreamAuthFailed) else None


# (model, when the wake began as POSIX time, seconds it took, ready | timeout)
WakeListener = Callable[[str, float, float, str], None]


class ColdStarts:
    def __init__(
        self,
        transport: Transport,
        board: StatusBoard,
        timeout: float,
        coordinator: WakeCoordinator | None = None,
        on_wake: WakeListener | None = None,
    ) -> None:
        self.transport = transport
        self.board = board
        self.timeout = timeout
        self.coordinator = coordinator or LocalCoordinator()
        self.on_wake = on_wake  # told of each wake-up this process waited out, and how it ended
        self._wakers: dict[str, asyncio.Task[None]] = {}
        self._took: dict[str, deque[float]] = {}  # the last wake-ups' durations, per model

    def wake(self, model: ServedModel) -> None:
        """Start waking the endpoint now, with nobody waiting (someone is about to ask)."""
        now = asyncio.get_running_loop().time()
        self._start_waker(model, now, now + self.timeout)

    def typical_wake(self, name: str) -> float | None:
        """How long waking this endpoint took lately (the median), or None if never seen."""
        took = sorted(self._took.get(name, ()))
        return took[len(took) // 2] if took else None

    def is_waking(self, name: str) -> bool:
        return name in self._wakers

    def reason(self, name: str) -> str:
        """``waking`` when the model is known to be asleep; ``waiting`` when it is only slow."""
        asleep = self.board.get(name).status in ASLEEP
        return "waking" if asleep or name in self._wakers else "waiting"

    async def run(self, model: ServedModel, attempt: Callable[[float], Awaitable[T]]) -> T:
        """Call ``attempt(hold)`` until the endpoint is awake; for non-streaming callers."""
        if model.name not in self._wakers and (first := await self._first(model, attempt)):
            return first.value  # the hot path: no generator, no task, no timer
        ready: Ready[T] | None = None
        async for item in self.attempts(model, attempt, tick=None):
            ready = item if isinstance(item, Ready) else ready
        # Run to the end rather than return from the loop: an unfinished async generator
        # costs a finalizer task when it is collected.
        assert ready is not None, "attempts() ends with Ready or raises"
        return ready.value

    async def attempts(
        self, model: ServedModel, attempt: Callable[[float], Awaitable[T]], tick: float | None
    ) -> AsyncIterator[Waiting | Ready[T]]:
        """Yield ``Waiting`` every ``tick`` seconds while the endpoint wakes, then ``Ready``."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.timeout
        # Callers that want keep-alive ticks await the first attempt in place only when the
        # endpoint is surely awake: it answers at once, with nothing to tick through.
        surely_awake = model.name not in self._wakers and self._awake(model, time.time())
        if surely_awake and (first := await self._first(model, attempt)):
            yield first
            return
        while True:
            waker = self._wakers.get(model.name)
            if waker is not None:
                async for waited in self._wait(model, asyncio.shield(waker), started, tick):
                    yield waited
                waker.result()  # re-raises the waker's timeout, pause or auth failure
            hold = min(FIRST_HOLD, max(1.0, deadline - loop.time()))
            task = asyncio.ensure_future(attempt(hold))
            try:
                async for waited in self._wait(model, task, started, tick):
                    yield waited
                value = task.result()
            except EndpointColdStart:
                self._start_waker(model, started, deadline)
                continue
            finally:
                task.cancel()
            self.board.get(model.name).answered_at = time.time()
            yield Ready(value)
            return

    async def _first(
        self, model: ServedModel, attempt: Callable[[float], Awaitable[T]]
    ) -> Ready[T] | None:
        """One attempt awaited in place; None if the endpoint is asleep (a waker then starts)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            value = await attempt(min(FIRST_HOLD, self.timeout))
        except EndpointColdStart:
            self._start_waker(model, started, started + self.timeout)
            return None
        self.board.get(model.name).answered_at = time.time()
        return Ready(value)

    def _awake(self, model: ServedModel, now: float) -> bool:
        entry = self.board.get(model.name)
        return entry.status is ModelStatus.READY and now - entry.answered_at < AWAKE_SECONDS

    def _start_waker(self, model: ServedModel, since: float, deadline: float) -> None:
        """``since``: when the attempt that found the endpoint asleep began (the cold start's
        duration counts from there, its first hold included)."""
        if model.name not in self._wakers:
            self.board.set(model.name, ModelStatus.WAKING, "waking up from scale-to-zero")
            waking = self._wake(model, since, deadline)
            task = asyncio.create_task(waking, name=f"wake:{model.name}")
            self._wakers[model.name] = task
            task.add_done_callback(lambda done: self._waker_done(model.name, done))

    def _waker_done(self, name: str, task: asyncio.Task[None]) -> None:
        self._wakers.pop(name, None)
        # Callers waiting on it re-raise its error themselves; a wake that nobody waited for
        # (wake on open) ends here, and its outcome is already on the status board.
        if not task.cancelled():
            task.exception()

    async def _wake(self, model: ServedModel, since: float, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while (left := deadline - loop.time()) > 0:
            if await self.coordinator.claim(model.name, ttl=min(left, MAX_HOLD) + 30):
                try:
                    if await self._hold_until_healthy(model, deadline):
                        took = loop.time() - since
                        metrics.observe_cold_start(model.name, took)
                        self._took.setdefault(model.name, deque(maxlen=9)).append(took)
                        self._tell(model.name, took, "ready")
                        return
                finally:
                    await self.coordinator.release(model.name)
            elif self.board.get(model.name).status is ModelStatus.READY:
                return  # another process woke it (the shared board says so)
            else:
                await asyncio.sleep(min(FOLLOW_SECONDS, max(0.0, deadline - loop.time())))
        self.board.set(model.name, ModelStatus.SCALED_TO_ZERO, "did not wake before the deadline")
        self._tell(model.name, loop.time() - since, "timeout")
        raise EndpointColdStartTimeout(
            f"the endpoint behind {model.name} did not wake within {self.timeout:g} s;"
            " it may still be starting: retry in a minute",
            retry_after=30,
        )

    def _tell(self, name: str, took: float, outcome: str) -> None:
        if self.on_wake is not None:
            self.on_wake(name, time.time() - took, took, outcome)

    async def _hold_until_healthy(self, model: ServedModel, deadline: float) -> bool:
        """Hold ``GET /health`` at the proxy until it is up; paused or refused fail at once."""
        loop = asyncio.get_running_loop()

        def health(hold: float) -> Awaitable[Reply]:
            return self.transport.request(
                "GET",
                model.endpoint + "/health",
                token=model.api_key,
                headers={"X-Scale-Up-Timeout": str(max(1, int(hold)))},
                timeout=hold + 30,
            )

        reply = await hold_until(health, deadline - loop.time(), awake_or_decided)
        if reply is None or reply.status != 200:
            if reply is not None and (error := _decisive(reply)):
                self.board.observe(model.name, error)
                raise error
            return False
        self.board.set(model.name, ModelStatus.READY, "awake")
        return True

    def _wait(
        self, model: ServedModel, future: asyncio.Future[T], started: float, tick: float | None
    ) -> AsyncIterator[Waiting]:
        return _wait(future, started, tick, lambda: self.reason(model.name))


async def _wait(
    future: asyncio.Future[T], started: float, tick: float | None, reason: Callable[[], str]
) -> AsyncIterator[Waiting]:
    """Wait for ``future``; every ``tick`` seconds without it, yield how long we have waited."""
    loop = asyncio.get_running_loop()
    while not future.done():
        await asyncio.wait({future}, timeout=tick)
        if not future.done():
            yield Waiting(reason(), loop.time() - started)
