"""``n`` > 1: several choices, served as n calls of one choice each, run side by side.

TGI's Messages API ignores OpenAI's ``n`` (docs/protocols.md §2.5), so hfgate makes the
choices itself: each is an ordinary call through ``ChatService`` — the same cold-start guard,
the same usage record and metrics — and the answers are put together here. When the caller
gave a ``seed``, choice i samples with ``seed + i``: the choices differ, and the same request
gives the same choices again.

A streamed answer is the calls' event batches merged as they arrive, each tagged with its
choice (``Part``). What belongs to the whole answer is untagged: a wait (said once, however
many calls wait), the first failure (which ends every call: the answer is broken) and, last,
the usage of all calls summed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from hfgate.chat import lifecycle
from hfgate.chat.lifecycle import Caller
from hfgate.chat.service import ChatService, Prepared
from hfgate.upstream.base import Completion
from hfgate.values.events import Batch, Error, Usage, Waiting
from hfgate.values.request import ChatRequest, CompletionRequest

SEEDS = 2**64  # engines take a u64 seed: seed + i wraps rather than overflow


@dataclass(slots=True)
class Part:
    """Events of one choice (``index``), or of the whole answer (``index`` None)."""

    index: int | None
    batch: Batch


def choices(prepared: Prepared, request: ChatRequest | CompletionRequest) -> list[Prepared]:
    """One prepared call per choice (the first is ``prepared`` itself)."""
    seed = request.sampling.seed
    if seed is None:  # the engine draws a seed per call: the choices already differ
        return [prepared] * request.n
    prompt = None
    if prepared.template is not None:  # rendered once, as prepare_chat renders it
        prompt = prepared.template.render(prepared.fit.messages)
    return [prepared] + [
        _reseeded(prepared, request, _nth(seed, i), prompt) for i in range(1, request.n)
    ]


def _nth(seed: int, i: int) -> int:
    return (seed + i) % SEEDS if seed >= 0 else seed + i


def _reseeded(
    prepared: Prepared, request: ChatRequest | CompletionRequest, seed: int, prompt: str | None
) -> Prepared:
    """``prepared`` with the engine's call built again (by its dialect) for another seed."""
    sampling = dataclasses.replace(request.sampling, seed=seed)
    max_tokens = prepared.fit.max_tokens
    if isinstance(request, ChatRequest):
        fitted = dataclasses.replace(request, messages=prepared.fit.messages, sampling=sampling)
        call = prepared.dialect.chat_call(fitted, max_tokens, prompt)
    else:
        reseeded = dataclasses.replace(request, sampling=sampling)
        call = prepared.dialect.completion_call(reseeded, max_tokens)
    return dataclasses.replace(prepared, call=call)


async def complete(chat: ChatService, each: list[Prepared], caller: Caller) -> list[Completion]:
    """Every choice's answer, in order. The first failure cancels the other calls and is
    raised as it is, so the caller sees the status a single call would have had."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(chat.complete(prepared, caller)) for prepared in each]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


def stream(
    chat: ChatService, each: list[Prepared], caller: Caller
) -> AsyncGenerator[list[Part], None]:
    """The choices' events as they arrive, a list of parts per wake-up (see ``merge``)."""
    return merge([chat.stream(prepared, caller) for prepared in each])


# A queue item: a choice's batch, None when its stream ended, or what broke its reader.
_Item = tuple[int, Batch | Exception | None]


async def merge(streams: list[AsyncGenerator[Batch, None]]) -> AsyncGenerator[list[Part], None]:
    """The streams' batches, tagged with their index. What arrived together leaves together;
    an ``Error`` ends the merge (the other streams are closed, which ends their calls), and
    so does closing it (a client that went away cancels all n calls)."""
    # Bounded: a slow client slows the calls down instead of filling memory.
    queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=4 * len(streams))
    tasks = [asyncio.create_task(_pump(i, s, queue)) for i, s in enumerate(streams)]
    tally = _Tally(len(streams))
    try:
        while tally.running:
            items = [await queue.get()]
            while not queue.empty():
                items.append(queue.get_nowait())
            parts = tally.parts(items)
            if parts:
                yield parts
            if tally.failed:
                return
        yield [Part(None, [tally.usage])]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _pump(
    index: int, batches: AsyncGenerator[Batch, None], queue: asyncio.Queue[_Item]
) -> None:
    try:
        async with contextlib.aclosing(batches):
            async for batch in batches:
                await queue.put((index, batch))
    except Exception as exc:  # a bug, not an upstream failure (those are events): re-raised
        await queue.put((index, exc))
    else:
        await queue.put((index, None))


class _Tally:
    """What the merge knows so far: the calls still running, their usage, a failure."""

    def __init__(self, running: int) -> None:
        self.running = running
        self.usage = Usage()
        self.error: Error | None = None
        self.waited = -1.0  # the last wait said, in seconds since the calls began

    @property
    def failed(self) -> bool:
        return self.error is not None

    def parts(self, items: list[_Item]) -> list[Part]:
        parts: list[Part] = []
        waiting: Waiting | None = None
        for index, got in items:
            if got is None:
                self.running -= 1
                continue
            if isinstance(got, Exception):
                raise got
            own, wait = self._take(got)
            waiting = wait or waiting
            if own:
                parts.append(Part(index, own))
            if self.error is not None:  # what came with it is sent; nothing after it
                return [*parts, Part(None, [self.error])]
        # n calls wait for one endpoint, each ticking on its own: one keepalive per tick.
        if waiting is None or waiting.elapsed < self.waited + lifecycle.KEEPALIVE_SECONDS / 2:
            return parts
        self.waited = waiting.elapsed
        return [*parts, Part(None, [waiting])]

    def _take(self, batch: Batch) -> tuple[Batch, Waiting | None]:
        """The choice's own events; its usage summed, a wait and a failure kept apart."""
        own: Batch = []
        waiting = None
        for event in batch:
            if isinstance(event, Usage):
                self.usage.prompt_tokens += event.prompt_tokens
                self.usage.completion_tokens += event.completion_tokens
            elif isinstance(event, Waiting):
                waiting = event
            elif isinstance(event, Error):
                self.error = event
                break
            else:
                own.append(event)
        return own, waiting
