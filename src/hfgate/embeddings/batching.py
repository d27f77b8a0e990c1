"""Splitting a request larger than the endpoint's batch limit, and finding an over-long input.

A TEI endpoint refuses calls with more than ``max_client_batch_size`` inputs, so a larger
request goes as several calls, sent together (at most ``PARALLEL`` at a time: TEI takes one
of its ``max_concurrent_requests`` permits per *input*, and too many at once are a 429) and
reassembled in order. The first failure cancels the calls still running.

When TEI refuses an input as too long it gives the numbers of the first one in the call, not
which one it was. ``suspects`` narrows that down without asking anyone: a text has at most
one token per UTF-8 byte (byte-level BPE's worst case; WordPiece and SentencePiece make fewer)
plus a few special tokens, so only inputs whose bound is over the limit can be the one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from hfgate.upstream.tei import Input

T = TypeVar("T")
R = TypeVar("R")
PARALLEL = 8  # calls in flight per request
SPECIAL_TOKENS = 8  # more than any tokenizer adds around one text or a pair


def parts(items: Sequence[T], size: int) -> list[tuple[int, Sequence[T]]]:
    """``(start, items)`` pieces of at most ``size`` items, in order."""
    size = max(1, size)
    return [(start, items[start : start + size]) for start in range(0, len(items), size)]


async def in_order(
    calls: Sequence[Callable[[], Awaitable[R]]], parallel: int = PARALLEL
) -> list[R]:
    """Every call's result, in the calls' order, at most ``parallel`` running at once."""
    if len(calls) == 1:  # the usual case: no task, no semaphore
        return [await calls[0]()]
    gate = asyncio.Semaphore(parallel)

    async def gated(call: Callable[[], Awaitable[R]]) -> R:
        async with gate:
            return await call()

    tasks = [asyncio.ensure_future(gated(call)) for call in calls]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        # Every failure is looked at (none is logged as "never retrieved"); the first is raised.
        errors = [t.exception() for t in tasks if t.done() and not t.cancelled()]
        if error := next((e for e in errors if e is not None), None):
            raise error
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            task.cancel()


def bound(item: Input) -> int:
    """At least as many tokens as the item can make."""
    size = len(item) if isinstance(item, list) else len(item.encode())
    return size + SPECIAL_TOKENS


def chars(item: Input) -> int:
    """What TEI counts as characters: Unicode scalar values, or one per token id."""
    return len(item)


def suspects(items: Sequence[Input], limit: int, extra: int = 0) -> list[int]:
    """The positions of the items that may be over ``limit`` tokens (``extra``: the query's
    bound, for a pair)."""
    return [i for i, item in enumerate(items) if bound(item) + extra > limit]


def first_over(counts: Sequence[int], limit: int) -> int | None:
    return next((i for i, count in enumerate(counts) if count > limit), None)
