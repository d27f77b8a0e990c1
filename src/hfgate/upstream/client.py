"""Calling an endpoint with a dialect: the only module that sends generation traffic.

Every call carries ``X-Scale-Up-Timeout`` (the Inference Endpoints proxy then holds it while a
replica starts). A non-200 answer becomes the dialect's ``HfgateError``; a stream is read as
SSE (``data:`` with or without the space, ``:`` keep-alives skipped, ``[DONE]`` ends it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
import orjson

from hfgate.catalog import ServedModel
from hfgate.errors import UpstreamProtocolError, UpstreamUnreachable
from hfgate.upstream.base import Call, Delta, Dialect
from hfgate.upstream.transport import Transport

EventParser = Callable[[bytes], Delta | None]
DONE = b"[DONE]"


def _hold_header(hold: float) -> dict[str, str]:
    return {"X-Scale-Up-Timeout": str(max(1, int(hold)))}


class UpstreamStream:
    """An open SSE response; ``close()`` drops the connection, which cancels the generation."""

    def __init__(self, response: aiohttp.ClientResponse, parse: EventParser, host: str) -> None:
        self._response = response
        self._parse = parse
        self._host = host

    async def deltas(self) -> AsyncIterator[Delta]:
        try:
            async for line in self._response.content:
                data = _sse_data(line)
                if data is None:
                    continue
                if data == DONE:
                    return
                delta = self._parse(data)
                if delta is not None:
                    yield delta
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, ConnectionError):
            raise UpstreamUnreachable(
                f"{self._host} dropped the connection in the middle of the answer"
            ) from None
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError(
                f"{self._host} sent a stream event that is not JSON"
            ) from None

    async def raw_lines(self) -> AsyncIterator[bytes]:
        """The stream's lines as sent (for TGI-native relays), keep-alives included."""
        try:
            async for line in self._response.content:
                yield line
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, ConnectionError):
            raise UpstreamUnreachable(
                f"{self._host} dropped the connection in the middle of the answer"
            ) from None

    def close(self) -> None:
        self._response.close()

    def release(self) -> None:
        self._response.release()


def _sse_data(line: bytes) -> bytes | None:
    if not line.startswith(b"data:"):
        return None  # blank separators, ":" keep-alive comments, event:/id: fields
    data = line[5:].rstrip(b"\r\n")
    return data[1:] if data.startswith(b" ") else data


class EndpointClient:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def _open(self, model: ServedModel, dialect: Dialect, call: Call, hold: float) -> Any:
        response = await self.transport.open(
            "POST",
            model.endpoint + call.path,
            token=model.api_key,
            json_body=call.body,
            headers=_hold_header(hold),
            timeout=None,
        )
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
        response = await self._open(model, dialect, call, hold)
        host = _host(model)
        try:
            body = await response.read()
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, ConnectionError):
            raise UpstreamUnreachable(
                f"{host} dropped the connection before the answer was complete"
            ) from None
        finally:
            response.release()
        try:
            return orjson.loads(body), response.headers
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError(f"{host} answered with a body that is not JSON") from None

    async def open_stream(
        self, model: ServedModel, dialect: Dialect, call: Call, hold: float, parse: EventParser
    ) -> UpstreamStream:
        """Open a streaming call and return once the answer's status is known."""
        response = await self._open(model, dialect, call, hold)
        return UpstreamStream(response, parse, _host(model))


def _host(model: ServedModel) -> str:
    return model.endpoint.split("://", 1)[-1].split("/", 1)[0]
