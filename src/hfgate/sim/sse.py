"""Server-sent events as TGI's axum writes them, with the sim's stream faults.

A stream is a plain iterator of frames, replayed by ``EventStream``:

* ``bytes`` — one or more complete events, sent as is (consecutive ones are coalesced into one
  write, so a zero-delay stream costs one write, not one per token);
* ``float`` — a pause in seconds; a ``:`` comment is sent after every ``keepalive`` seconds of
  silence, like ``Sse::keep_alive(KeepAlive::default())``;
* ``DROP`` — cut the connection now, without ending the chunked body: the client sees a
  truncated stream and no final event.

A client that disconnects is noticed while the stream pauses (the request's ``receive`` is
watched), the replay stops at once and the stream closes as ``"cancelled"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import orjson
from starlette.types import Receive, Scope, Send

DROP = object()
KEEPALIVE = b":\n\n"
Frame = bytes | float | object
Outcome = Literal["complete", "cancelled", "dropped", "error"]


class ConnectionDropped(Exception):
    """Raised through the server on purpose so it closes the socket mid-body."""


class _QuietDrop(logging.Filter):
    # uvicorn logs any exception that escapes the app as an error; a drop is the sim's intent.
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


def silence_drops() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrop) for f in logger.filters):
        logger.addFilter(_QuietDrop())


class Framing:
    """``data: {json}\\n\\n`` (axum 0.7, TGI >= 2.1) or ``data:{json}\\n\\n`` (older TGI)."""

    __slots__ = ("prefix",)

    def __init__(self, space: bool) -> None:
        self.prefix = b"data: " if space else b"data:"

    def event(self, payload: Any) -> bytes:
        return self.prefix + orjson.dumps(payload) + b"\n\n"

    def done(self) -> bytes:
        return self.prefix + b"[DONE]\n\n"


SSE_HEADERS: dict[str, str] = {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}


class EventStream:
    """An ASGI response replaying ``frames``; ``on_close(outcome)`` runs exactly once."""

    def __init__(
        self,
        frames: Iterable[Frame],
        *,
        keepalive: float,
        headers: dict[str, str] | None = None,
        on_close: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.frames: Iterator[Frame] = iter(frames)
        self.keepalive = keepalive
        merged = {**SSE_HEADERS, **(headers or {})}
        self.raw_headers = [(k.encode(), v.encode()) for k, v in merged.items()]
        self.on_close = on_close or (lambda outcome: None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        if await self._send_at_once(send):
            return
        writer = asyncio.ensure_future(self._write(send))
        watcher = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait((writer, watcher), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await _cancel(writer, watcher)
            self.on_close("cancelled")
            raise
        await self._finish(writer, watcher)

    async def _send_at_once(self, send: Send) -> bool:
        """Without a pause nothing can be cancelled: send the whole stream in one write.

        Saves the two tasks per stream when ``token_delay`` is 0 (benchmarks); otherwise the
        events before the first pause go out now and the rest is replayed by ``_write``.
        """
        ready: list[bytes] = []
        for frame in self.frames:
            if not isinstance(frame, bytes):
                self.frames = itertools.chain((frame,), self.frames)
                break
            ready.append(frame)
        else:
            await send({"type": "http.response.body", "body": b"".join(ready), "more_body": False})
            self.on_close("complete")
            return True
        if ready:
            await _body(send, b"".join(ready))
        return False

    async def _finish(self, writer: asyncio.Future[None], watcher: asyncio.Future[None]) -> None:
        if not writer.done():
            await _cancel(writer, watcher)
            self.on_close("cancelled")
            return
        await _cancel(watcher)
        error = writer.exception()
        if error is None:
            self.on_close("complete")
            return
        self.on_close("dropped" if isinstance(error, ConnectionDropped) else "error")
        raise error

    async def _write(self, send: Send) -> None:
        loop = asyncio.get_running_loop()
        last_write = loop.time()
        pending: list[bytes] = []
        for frame in self.frames:
            if isinstance(frame, bytes):
                pending.append(frame)
                continue
            if pending:
                await _body(send, b"".join(pending))
                pending.clear()
                last_write = loop.time()
            if frame is DROP:
                raise ConnectionDropped
            last_write = await self._pause(float(frame), send, last_write)  # type: ignore[arg-type]
        await send({"type": "http.response.body", "body": b"".join(pending), "more_body": False})

    async def _pause(self, seconds: float, send: Send, last_write: float) -> float:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (now := loop.time()) < end:
            due = last_write + self.keepalive
            if now >= due:
                await _body(send, KEEPALIVE)
                last_write = now
                continue
            await asyncio.sleep(min(end, due) - now)
        return last_write


async def _body(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def _disconnected(receive: Receive) -> None:
    # The request body was read already: only the disconnect matters.
    while True:
        if (await receive())["type"] == "http.disconnect":
            return


async def _cancel(*tasks: asyncio.Future[None]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
