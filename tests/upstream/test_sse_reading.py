"""Reading what an upstream sends (``hfgate.upstream.client``): SSE streams a network chunk
at a time, and answers or events of the wrong shape.

The pure pieces (``SSELines``, ``sse_data``, ``events_end``) are checked on bytes; the reader
itself against a real aiohttp server on loopback that writes the stream in awkward pieces.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web

from hfgate.chat.native import _whole_events, events_end
from hfgate.errors import UpstreamProtocolError
from hfgate.upstream import tgi
from hfgate.upstream.base import Call, Delta
from hfgate.upstream.client import EndpointClient, SSELines, UpstreamStream, sse_data
from hfgate.upstream.netguard import HostPolicy
from hfgate.upstream.transport import Transport
from hfgate.values.served import ServedModel

TOKENS = ["Hello", ",", " wor", "ld", "!"]
STREAM = b"".join(b'data: {"t": %s}\n\n' % json.dumps(t).encode() for t in TOKENS) + (
    b"data: [DONE]\n\n"
)


def parse(data: bytes) -> Delta:
    event = orjson.loads(data)
    if "error" in event:  # as a dialect does with an engine's error event
        raise UpstreamProtocolError(event["error"])
    return Delta(text=event["t"])


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# -- pure ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, 1000])
def test_lines_come_out_whole_however_the_bytes_are_cut(size: int) -> None:
    lines, out = SSELines(), []
    for piece in pieces(STREAM.replace(b"\n", b"\r\n"), size):
        out += lines.feed(piece)
    out += lines.close()
    data = [sse_data(line) for line in out]
    assert [d for d in data if d is not None] == [
        *(b'{"t": %s}' % json.dumps(t).encode() for t in TOKENS),
        b"[DONE]",
    ]


def test_a_last_line_without_newline_is_kept_for_close() -> None:
    lines = SSELines()
    assert lines.feed(b"data: a\ndata: b") == [b"data: a"]
    assert lines.close() == [b"data: b"]
    assert lines.close() == []


def test_a_line_over_the_limit_is_a_protocol_error() -> None:
    lines = SSELines(limit=20)
    assert lines.feed(b"data: 1\ndata: 12345") == [b"data: 1"]
    with pytest.raises(UpstreamProtocolError, match="longer than 20 bytes"):
        lines.feed(b"6789012345")


@pytest.mark.parametrize(
    ("line", "data"),
    [
        (b"data: x", b"x"),
        (b"data:x", b"x"),  # old TGI framing, no space
        (b"data:  x", b" x"),  # only one space belongs to the framing
        (b"data: x\r", b"x"),
        (b":keep-alive", None),
        (b"", None),
        (b"event: message", None),
    ],
)
def test_sse_data(line: bytes, data: bytes | None) -> None:
    assert sse_data(line) == data


@pytest.mark.parametrize(
    ("data", "end"),
    [
        (b"", 0),
        (b"data: a\n", 0),
        (b"data: a\n\n", 9),
        (b"data: a\n\ndata: b", 9),
        (b"data: a\r\n\r\ndata: b\r\n", 11),
        (b"data: a\n\ndata: b\n\n", 18),
    ],
)
def test_events_end(data: bytes, end: int) -> None:
    assert events_end(data) == end


async def chunks_of(*items: bytes) -> AsyncIterator[bytes]:
    for item in items:
        yield item


async def test_relayed_bytes_are_cut_at_event_boundaries() -> None:
    out = [c async for c in _whole_events(chunks_of(b"data: a\n\nda", b"ta: b\n", b"\n"))]
    assert out == [b"data: a\n\n", b"data: b\n\n"]


async def test_half_an_event_at_the_end_is_still_relayed() -> None:
    out = [c async for c in _whole_events(chunks_of(b"data: a\n\ndata: b"))]
    assert out == [b"data: a\n\n", b"data: b"]


# -- against a real server -----------------------------------------------------------------------


async def batches(url: str) -> list[list[str]]:
    async with aiohttp.ClientSession() as session:
        response = await session.get(url)
        stream = UpstreamStream(response, parse, "upstream.test", "org/model")
        try:
            return [[d.text for d in batch] async for batch in stream.delta_batches()]
        finally:
            stream.close()


async def start_server(parts: list[bytes], pause: float) -> tuple[web.AppRunner, str]:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for part in parts:
            await response.write(part)
            await asyncio.sleep(pause)
        return response

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/"


async def read_from(parts: list[bytes], pause: float) -> list[list[str]]:
    runner, url = await start_server(parts, pause)
    try:
        return await batches(url)
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("size", [1, 5, 13])
async def test_every_token_arrives_in_order_from_awkward_pieces(size: int) -> None:
    got = await read_from(pieces(STREAM, size), pause=0.002)
    assert [t for batch in got for t in batch] == TOKENS


async def test_tokens_that_arrive_together_come_out_as_one_batch() -> None:
    assert await read_from([STREAM], pause=0) == [TOKENS]


async def test_tokens_that_arrive_apart_come_out_one_by_one() -> None:
    events = [p + b"\n\n" for p in STREAM.split(b"\n\n") if p]
    assert await read_from(events, pause=0.02) == [[t] for t in TOKENS]


async def test_nothing_after_done_is_read() -> None:
    got = await read_from([STREAM + b'data: {"t": "late"}\n\n'], pause=0)
    assert got == [TOKENS]


async def test_an_event_that_is_not_json_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError, match="not JSON"):
        await read_from([b'data: {"t": "a"}\n\ndata: {nope\n\n'], pause=0)


async def test_an_error_event_comes_after_the_tokens_that_arrived_with_it() -> None:
    """One read carries two tokens and an error: the tokens are handed on first."""
    runner, url = await start_server(
        [b'data: {"t": "a"}\n\ndata: {"t": "b"}\n\ndata: {"error": "it broke"}\n\n'], 0
    )
    got: list[list[str]] = []
    try:
        async with aiohttp.ClientSession() as session:
            stream = UpstreamStream(await session.get(url), parse, "upstream.test", "org/model")
            with pytest.raises(UpstreamProtocolError, match="it broke"):
                async for batch in stream.delta_batches():
                    got.append([d.text for d in batch])
            stream.close()
    finally:
        await runner.cleanup()
    assert got == [["a", "b"]]


# -- an upstream that answers in the wrong shape -------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [b"42", b'"text"', b"[1, 2]", b'{"choices": "x"}', b'{"choices": [{"delta": 3}]}'],
)
async def test_a_tgi_event_of_the_wrong_shape_is_a_protocol_error(event: bytes) -> None:
    runner, url = await start_server([b"data: " + event + b"\n\n"], 0)
    try:
        async with aiohttp.ClientSession() as session:
            stream = UpstreamStream(
                await session.get(url), tgi.parse_openai_event, "upstream.test", "org/model"
            )
            with pytest.raises(UpstreamProtocolError, match="not in its engine's format"):
                async for _ in stream.delta_batches():
                    pass
            stream.close()
    finally:
        await runner.cleanup()


async def serve_answer(body: bytes) -> tuple[web.AppRunner, str]:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>oops</html>", "not JSON"),
        (b"[1, 2]", "not in its engine's format"),
        (b'{"choices": [{"message": "hi"}]}', "not in its engine's format"),
    ],
)
async def test_an_answer_of_the_wrong_shape_is_a_protocol_error(body: bytes, problem: str) -> None:
    runner, url = await serve_answer(body)
    transport = Transport(HostPolicy(["127.0.0.1"]))
    model = ServedModel("org/model", "i", "org/model", url, "hf_x", 4096)
    call = Call("/v1/chat/completions", {"messages": []}, stream=False)
    dialect = tgi.MessagesDialect()
    try:
        with pytest.raises(UpstreamProtocolError, match=problem) as caught:
            await EndpointClient(transport).complete(model, dialect, call, 5, dialect.parse_chat)
        assert "127.0.0.1" in caught.value.message
    finally:
        await transport.close()
        await runner.cleanup()
