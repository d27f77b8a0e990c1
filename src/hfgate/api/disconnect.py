"""Cancelling upstream work when the caller goes away.

Streaming responses are cancelled by Starlette when the client disconnects. A non-streaming
handler is not, so a watcher reads ``receive`` beside it and cancels the handler's own task on
``http.disconnect`` (one extra task per request, not two: the work is awaited in place).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

T = TypeVar("T")


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    handler = asyncio.current_task()
    assert handler is not None

    async def watch() -> None:
        while True:
            if (await request.receive())["type"] == "http.disconnect":
                handler.cancel()
                return

    watcher = asyncio.create_task(watch())
    try:
        return await work
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
