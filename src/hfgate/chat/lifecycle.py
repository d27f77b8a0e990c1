"""One call's lifecycle, the same for every generation route (OpenAI and TGI, streamed or not).

    traffic noted on the status board  →  the cold-start guard (``endpoints.waking``)
      →  the outcome noted on the board  →  tokens spent against the key's limits,
         metrics and the usage record written

A caller with budgets has its tokens counted against them before the answer's end reaches
it: the next call, on any process, already sees them (docs/budgets.md).

A non-streaming call is ``complete``; a streaming one is ``stream``, which yields batches of
typed events (``values.events``): ``Waiting`` while the endpoint wakes, then what the route's
reader makes of the upstream stream, and ``Error`` if the call fails — a stream never raises
an upstream failure, so every edge decides for itself how to show it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from hfgate import metrics
from hfgate.auth.ratelimit import Limiter
from hfgate.budgets import Budgets
from hfgate.chat.usage import UsageEvent, UsageRecorder
from hfgate.endpoints.state import ModelStatus, StatusBoard
from hfgate.endpoints.waking import ColdStarts
from hfgate.errors import EndpointFailed, EndpointPaused, HfgateError
from hfgate.upstream.client import UpstreamStream
from hfgate.values.events import Batch, Error, Usage, Waiting
from hfgate.values.principal import Principal
from hfgate.values.served import ServedModel

T = TypeVar("T")
R = TypeVar("R")
KEEPALIVE_SECONDS = 5.0


@dataclass(slots=True)
class Caller:
    principal: Principal
    route: str
    started: float = field(default_factory=time.perf_counter)


@dataclass(slots=True)
class Tally:
    """What a streamed call has used so far; its reader keeps it up to date."""

    usage: Usage
    status: int = 200
    first_at: float | None = None  # perf_counter time of the first token

    def first_token(self) -> None:
        if self.first_at is None:
            self.first_at = time.perf_counter()


class Reader(Protocol[R]):
    """How a route reads its upstream stream: the items it arrives in (one per network read),
    each turned into a batch of events, and what ends it."""

    def items(self, upstream: UpstreamStream) -> AsyncGenerator[R, None]: ...

    def events(self, item: R, tally: Tally) -> Batch: ...

    def end(self, tally: Tally) -> Batch:
        """The last batch (``Usage``), or an ``HfgateError`` if the stream was cut short."""
        ...


class Lifecycle:
    def __init__(
        self,
        board: StatusBoard,
        coldstarts: ColdStarts,
        usage: UsageRecorder,
        limiter: Limiter,
        budgets: Budgets | None = None,
    ) -> None:
        self.board, self.coldstarts, self.usage, self.limiter = board, coldstarts, usage, limiter
        self.budgets = budgets

    async def complete(
        self,
        model: ServedModel,
        caller: Caller,
        attempt: Callable[[float], Awaitable[T]],
        usage_of: Callable[[T], Usage],
        spent: Usage,
    ) -> T:
        """``attempt(hold)`` through the cold-start guard; ``spent`` is what a failure cost."""
        self.board.touch(model.name)
        status, counted = 500, False
        try:
            self._refuse_if_known_down(model)
            result = await self.coldstarts.run(model, attempt)
            spent, status = usage_of(result), 200
            counted = await self._count(caller, spent)
        except HfgateError as exc:
            status = exc.status
            self.board.observe(model.name, exc)
            raise
        finally:
            self.record(model.name, caller, status, spent, None, counted=counted)
        self.board.observe(model.name, None)
        return result

    async def stream(
        self,
        model: ServedModel,
        caller: Caller,
        opener: Callable[[float], Awaitable[UpstreamStream]],
        reader: Reader[Any],
        tally: Tally,
    ) -> AsyncGenerator[Batch, None]:
        self.board.touch(model.name)
        upstream: UpstreamStream | None = None
        counted = False
        try:
            self._refuse_if_known_down(model)
            async for item in self.coldstarts.attempts(model, opener, tick=KEEPALIVE_SECONDS):
                if isinstance(item, Waiting):
                    yield [item]
                else:
                    upstream = item.value
            assert upstream is not None
            # The reader's items are iterated here, not through a generator of its own: one
            # hop less for every batch of every stream.
            async with contextlib.aclosing(reader.items(upstream)) as items:
                async for item in items:
                    if batch := reader.events(item, tally):
                        yield batch
            batch = reader.end(tally)
            counted = await self._count(caller, tally.usage)
            if batch:
                yield batch
            self.board.observe(model.name, None)
        except HfgateError as exc:
            self.board.observe(model.name, exc)
            tally.status = exc.status
            yield [Error(exc), tally.usage]
        finally:
            if upstream is not None:
                upstream.close()  # a client that went away cancels the generation now
            self.record(
                model.name, caller, tally.status, tally.usage, tally.first_at, counted=counted
            )

    async def _count(self, caller: Caller, usage: Usage) -> bool:
        """Count a finished call against the caller's budgets before its answer ends."""
        if self.budgets is None or not caller.principal.budgeted:
            return False
        await self.budgets.count(caller.principal, usage.prompt_tokens + usage.completion_tokens)
        return True

    def _refuse_if_known_down(self, model: ServedModel) -> None:
        """Hugging Face says the endpoint is paused, failed or gone: calling it would only wait
        or fail, so the caller learns why at once (only for endpoints with a record)."""
        record = self.board.managed.get(model.name)
        if record is None:
            return
        entry = self.board.get(model.name)
        if entry.status is ModelStatus.PAUSED:
            raise EndpointPaused(
                f"the endpoint behind {model.name} is paused on Hugging Face and will not wake"
                f" by itself: an admin can resume it (hfgate hf resume {record}, or the"
                " Integrations page)"
            )
        if entry.status in (ModelStatus.FAILED, ModelStatus.DELETED):
            raise EndpointFailed(f"the endpoint behind {model.name} is {entry.detail}")

    def record(
        self,
        model: str,
        caller: Caller,
        status: int,
        usage: Usage,
        first_at: float | None,
        *,
        counted: bool = False,
    ) -> None:
        """Account for one finished call: tokens against the key's limits (and, unless
        ``counted`` already, its budgets), metrics, usage."""
        tokens = usage.prompt_tokens + usage.completion_tokens
        self.limiter.spend(caller.principal, tokens)
        if not counted and self.budgets is not None and caller.principal.budgeted:
            self.budgets.count_later(caller.principal, tokens)
        seconds = time.perf_counter() - caller.started
        first = first_at - caller.started if first_at else None
        metrics.observe_request(
            model,
            caller.route,
            status,
            seconds,
            first,
            usage.prompt_tokens,
            usage.completion_tokens,
        )
        self.usage.record(
            UsageEvent(
                model=model,
                route=caller.route,
                status=status,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                latency_ms=seconds * 1000,
                ttft_ms=first * 1000 if first is not None else None,
                user_id=caller.principal.user_id,
                key_id=caller.principal.key_id,
            )
        )
