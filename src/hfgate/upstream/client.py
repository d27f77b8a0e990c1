"""Calling an endpoint with a dialect: the only module that sends generation traffic.

Every call carries ``X-Scale-Up-Timeout`` (the Inference Endpoints proxy then holds it while a
replica starts). A non-200 answer becomes the dialect's ``HfgateError``; a stream is read as
SSE (``data:`` with or without the space, ``:`` keep-alives skipped, ``[DONE]`` ends it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

import aiohttp
import orjson

from hfgate import metrics
from hfgate.errors import HfgateError, UpstreamProtocolError, UpstreamUnreachable
from hfgate.upstream.base import Call, Completion, Delta, Dialect
from hfgate.upstream.transport import Timeouts, Transport
from hfgate.values.served import ServedModel

EventParser = Callable[[bytes], Delta | None]
AnswerParser = Callable[[Any, Mapping[str, str]], Completion]
DONE = b"[DONE]"
MAX_EVENT_BYTES = 1 << 20  # one SSE line; TGI's largest (with details) is a few KB


def _hold_header(hold: float) -> dict[str, str]:
    return {"X-Scale-Up-Timeout": str(max(1, int(hold)))}


class UpstreamStream:
    """An open SSE response; ``close()`` drops the connection, which cancels the generation.

    It is read a network chunk at a time, not a line at a time: everything one read brought
    is parsed and handed on together, so the caller can write the client one chunk for many
    tokens when the engine is faster than the relay (under load), and one per token when not.
    """

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        parse: EventParser,
        host: str,
        model: str,
        timeouts: Timeouts = Timeouts(),
    ) -> None:
        self._response = response
        self._parse = parse
        self._host = host
        self._model = model  # for the upstream-time metric
        self._opened = time.perf_counter()
        self._timeouts = timeouts
        now = time.monotonic()
        self._end = now + timeouts.total
        self._data_by = now + timeouts.first_byte  # the next `data:` line is due by then
        self._tokens = False

    async def delta_batches(self) -> AsyncGenerator[list[Delta], None]:
        """The parsed deltas, as many per batch as arrived together; ends at ``[DONE]``.
        An error event is raised after the deltas that came before it have been handed on."""
        lines = SSELines()
        # Closed here when [DONE] comes first: left open, it would cost a finalizer task.
        async with contextlib.aclosing(self.raw_chunks()) as chunks:
            async for chunk in chunks:
                deltas, end = self._deltas(lines.feed(chunk))
                if deltas:
                    yield deltas
                if end is not None:
                    if isinstance(end, HfgateError):
                        raise end
                    return
        deltas, end = self._deltas(lines.close())
        if deltas:
            yield deltas
        if isinstance(end, HfgateError):
            raise end

    def _deltas(self, lines: list[bytes]) -> tuple[list[Delta], HfgateError | bytes | None]:
        """The deltas of these lines, and what ended the stream among them: ``[DONE]``, an
        error, or nothing yet."""
        deltas: list[Delta] = []
        for line in lines:
            data = sse_data(line)
            if data is None:
                continue
            if data == DONE:
                return deltas, DONE
            try:
                delta = self._parse(data)
            except HfgateError as exc:  # the engine's own error event
                return deltas, exc
            except UNREADABLE as exc:
                return deltas, unreadable(self._host, "a stream event", exc)
            if delta is not None:
                deltas.append(delta)
        return deltas, None

    async def raw_chunks(self) -> AsyncGenerator[bytes, None]:
        """The stream's bytes as sent (relayed as-is by the TGI-native routes).

        Each read is bounded (the timer never spans a ``yield``, so a slow client is not
        blamed on the endpoint): the first ``data:`` line is due ``first_byte`` seconds after
        the headers, each next one ``idle`` seconds after the last (keep-alive comments and
        stray bytes do not count), and the whole stream ends ``total`` seconds after it began.
        """
        content = self._response.content
        while True:
            try:
                async with asyncio.timeout(self._deadline()):
                    chunk = await content.readany()
            except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, ConnectionError):
                raise UpstreamUnreachable(
                    f"{self._host} dropped the connection in the middle of the answer"
                ) from None
            except TimeoutError:
                raise self._timed_out() from None
            if not chunk:
                return
            if b"data:" in chunk:
                self._tokens = True
                self._data_by = time.monotonic() + self._timeouts.idle
            yield chunk

    def _deadline(self) -> float:
        """Seconds from now (``asyncio.timeout`` reads the loop's clock, not ours)."""
        left = min(self._data_by, self._end) - time.monotonic()
        if left <= 0:
            raise self._timed_out()
        return left

    def _timed_out(self) -> UpstreamUnreachable:
        """Which of the deadlines passed: the one that came first."""
        if self._end <= self._data_by:
            what = f"did not finish its answer within {self._timeouts.total:g} s"
        elif self._tokens:
            what = f"sent no token for {self._timeouts.idle:g} s"
        else:
            what = f"sent no token within {self._timeouts.first_byte:g} s"
        return UpstreamUnreachable(f"{self._host} {what}", code="upstream_timeout")

    def close(self) -> None:
        """Drop the connection (which cancels the generation if it is still running)."""
        if self._opened:  # once (aiohttp marks a response read to its end closed already)
            metrics.observe_upstream(self._model, time.perf_counter() - self._opened)
            self._opened = 0.0
        self._response.close()


class SSELines:
    """Splits a byte stream into lines (``\\n`` or ``\\r\\n``), across read boundaries."""

    def __init__(self, limit: int = MAX_EVENT_BYTES) -> None:
        self._tail = b""
        self._limit = limit

    def feed(self, chunk: bytes) -> list[bytes]:
        lines = (self._tail + chunk if self._tail else chunk).split(b"\n")
        self._tail = lines.pop()
        if len(self._tail) > self._limit:
            raise UpstreamProtocolError(
                f"the endpoint sent a stream line longer than {self._limit:,} bytes"
            )
        return lines

    def close(self) -> list[bytes]:
        """What is left when the stream ends: a last line without its newline."""
        tail, self._tail = self._tail, b""
        return [tail] if tail else []


# What a dialect's parser raises on a body or event of the wrong shape (a list where an
# object belongs, a string for a number, …): the upstream's fault, reported as such.
UNREADABLE = (ValueError, TypeError, AttributeError, KeyError, IndexError)


def unreadable(host: str, what: str, exc: Exception) -> UpstreamProtocolError:
    if isinstance(exc, orjson.JSONDecodeError):
        return UpstreamProtocolError(f"{host} sent {what} that is not JSON")
    return UpstreamProtocolError(f"{host} sent {what} that is not in its engine's format")


def sse_data(line: bytes) -> bytes | None:
    """The payload of a ``data:`` line, or None for anything else (blank separators, ``:``
    keep-alive comments, ``event:``/``id:`` fields)."""
    if not line.startswith(b"data:"):
        return None
    data = line[5:].rstrip(b"\r")
    return data[1:] if data.startswith(b" ") else data


class EndpointClient:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def _open(
        self, model: ServedModel, dialect: Dialect, call: Call, hold: float, stream: bool = False
    ) -> Any:
        """A stream's headers are due within the hold and ``first_byte``; a whole answer
        within the hold and ``total`` (its headers come with it)."""
        limits = self.transport.timeouts
        headers_due = hold + (limits.first_byte if stream else limits.total)
        try:
            async with asyncio.timeout(headers_due):  # a status line sent a byte at a time too
                response = await self.transport.open(
                    "POST",
                    model.endpoint + call.path,
                    token=model.api_key,
                    json_body=call.body,
                    headers=_hold_header(hold),
                    timeout=None if stream else hold + limits.total,
                )
        except TimeoutError:
            raise UpstreamUnreachable(
                f"{_host(model)} did not answer within {headers_due:g} s", code="upstream_timeout"
            ) from None
        if response.status != 200:
            try:
                body = await response.read()
            finally:
                response.release()
            raise dialect.error(response.status, response.headers.get("Content-Type", ""), body)
        return response

    async def send(
        self, model: ServedModel, dialect: Dialect, call: Call, hold: float
    ) -> tuple[Any, Mapping[str, str]]:
        """A non-streaming call: the decoded JSON body and the headers, or the dialect's error."""
        started = time.perf_counter()
        response = await self._open(model, dialect, call, hold)
        host = _host(model)
        try:
            body = await response.read()
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, ConnectionError):
            raise UpstreamUnreachable(
                f"{host} dropped the connection before the answer was complete"
            ) from None
        except TimeoutError:
            total = self.transport.timeouts.total
            raise UpstreamUnreachable(
                f"{host} did not finish its answer within {total:g} s", code="upstream_timeout"
            ) from None
        finally:
            response.release()
        metrics.observe_upstream(model.name, time.perf_counter() - started)
        try:
            return orjson.loads(body), response.headers
        except orjson.JSONDecodeError as exc:
            raise unreadable(host, "an answer", exc) from None

    async def complete(
        self, model: ServedModel, dialect: Dialect, call: Call, hold: float, parse: AnswerParser
    ) -> Completion:
        """A non-streaming call, parsed by the dialect."""
        body, headers = await self.send(model, dialect, call, hold)
        try:
            return parse(body, headers)
        except UNREADABLE as exc:
            raise unreadable(_host(model), "an answer", exc) from None

    async def open_stream(
        self, model: ServedModel, dialect: Dialect, call: Call, hold: float, parse: EventParser
    ) -> UpstreamStream:
        """Open a streaming call and return once the answer's status is known."""
        response = await self._open(model, dialect, call, hold, stream=True)
        return UpstreamStream(response, parse, _host(model), model.name, self.transport.timeouts)


def _host(model: ServedModel) -> str:
    return model.endpoint.split("://", 1)[-1].split("/", 1)[0]
