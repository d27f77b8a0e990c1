"""The typed event stream and its serialisation at each edge (pure: no server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator

import pytest

from hfgate.api import wire
from hfgate.endpoints.waking import hold_until
from hfgate.errors import EndpointPaused, UpstreamProtocolError, UpstreamUnreachable
from hfgate.upstream.transport import Reply
from hfgate.values.events import (
    Batch,
    Done,
    Error,
    Relayed,
    TextDelta,
    ToolCallDelta,
    Usage,
    Waiting,
)


def _payloads(data: bytes) -> list[dict]:
    return [
        json.loads(line[len(b"data: ") :])
        for line in data.split(b"\n")
        if line.startswith(b"data: {")
    ]


def test_openai_chunks_carry_the_role_once_then_text_and_the_finish_reason() -> None:
    render = wire.OpenAIStream("org/m", "chat", include_usage=True)
    data = render.render([TextDelta("Hel"), TextDelta("lo")]) + render.render([Done("stop")])
    chunks = _payloads(data)
    assert [c["choices"][0]["delta"].get("role") for c in chunks] == ["assistant", None, None]
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == "Hello"
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, "stop"]
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["model"] == "org/m"


def test_usage_is_rendered_only_when_asked_and_never_after_an_error() -> None:
    asked = wire.OpenAIStream("m", include_usage=True)
    assert _payloads(asked.render([Usage(3, 2)]))[0]["usage"]["total_tokens"] == 5
    assert wire.OpenAIStream("m").render([Usage(3, 2)]) == b""
    failed = wire.OpenAIStream("m", include_usage=True)
    body = _payloads(failed.render([Error(UpstreamProtocolError("cut short")), Usage(3, 0)]))
    assert body == [{"error": body[0]["error"]}]
    assert body[0]["error"]["code"] == "upstream_protocol_error"


def test_tool_call_pieces_keep_openai_delta_shape() -> None:
    calls = [{"index": 0, "id": "0", "function": {"name": "f", "arguments": "{}"}}]
    chunk = _payloads(wire.OpenAIStream("m").render([ToolCallDelta(calls)]))[0]
    assert chunk["choices"][0]["delta"]["tool_calls"] == calls


def test_waiting_is_a_comment_for_openai_and_a_named_event_for_the_workspace() -> None:
    event = Waiting("waking", 12.34)
    assert wire.OpenAIStream("m").render([event]) == ": waking the endpoint… 12 s\n\n".encode()
    assert wire.OpenAIStream("m").render([Waiting("waiting", 5)]).startswith(b": waiting for")
    named = wire.WorkspaceStream("m").render([event])
    assert named == b'event: waiting\ndata: {"reason":"waking","elapsed":12.3}\n\n'


async def _batches(*batches: Batch) -> AsyncGenerator[Batch, None]:
    for batch in batches:
        yield batch


async def test_a_failure_before_anything_was_sent_is_raised_for_an_http_status() -> None:
    paused = EndpointPaused("paused")
    with pytest.raises(EndpointPaused):
        await wire.first_batch(_batches([Error(paused), Usage()]))
    first = await wire.first_batch(_batches([Waiting("waking", 5)], [Error(paused)]))
    assert first == [Waiting("waking", 5)]  # once something was sent, failures are events


async def test_the_openai_stream_ends_with_done_after_an_error_event() -> None:
    stream = wire.OpenAIStream("m")
    parts = [p async for p in stream.sse(_batches([TextDelta("a")], [Error(paused_error())]))]
    assert parts[-1] == wire.DONE and b'"endpoint_paused"' in parts[-2]


def paused_error() -> EndpointPaused:
    return EndpointPaused("paused")


async def test_tgi_streams_relay_the_engines_bytes_and_report_errors_in_its_shape() -> None:
    relayed = b'data:{"token":{"text":"a"}}\n\n'
    parts = [
        p
        async for p in wire.tgi_sse(
            _batches([Waiting("waking", 1)], [Relayed(relayed, 1)], [Error(paused_error())])
        )
    ]
    assert parts[0] == wire.TGI_KEEPALIVE and parts[1] == relayed
    assert json.loads(parts[2][len(b"data: ") :]) == {
        "error": "paused",
        "error_type": "endpoint_paused",
    }


def _reply(status: int, body: bytes = b"") -> Reply:
    return Reply(status, {}, body)


async def test_hold_until_asks_again_while_cold_and_backs_off_on_quick_refusals() -> None:
    answers = [_reply(503, b"cold"), UpstreamUnreachable("down"), _reply(200, b"{}")]
    holds: list[float] = []

    async def ask(hold: float) -> Reply:
        holds.append(hold)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    started = asyncio.get_running_loop().time()
    reply = await hold_until(ask, 10, lambda r: r.status == 200, most=4)
    took = asyncio.get_running_loop().time() - started
    assert reply is not None and reply.status == 200 and holds == [4, 4, 4]
    assert 1.4 <= took < 6, "0.5 s then 1 s of backoff after the two quick refusals"


async def test_hold_until_gives_up_at_its_deadline_with_the_last_reply() -> None:
    async def ask(hold: float) -> Reply:
        return _reply(503, b"cold")

    reply = await hold_until(ask, 0.6, lambda r: False)
    assert reply is not None and reply.status == 503


@pytest.mark.parametrize("kind", ["chat", "completion"])
@pytest.mark.parametrize("text", ['say "hi"\n', "é 日本 🙂", "</script>\\u0000", ""])
def test_the_fast_text_chunk_is_the_same_json_as_the_general_one(kind: str, text: str) -> None:
    """Plain text deltas skip building a dict per token; what they send must not differ."""
    fast = wire.OpenAIStream('org/"m"', kind)
    fast.first = False
    general = wire.OpenAIStream('org/"m"', kind)
    general.first = False
    general.id, general.created = fast.id, fast.created
    quick = fast.render([TextDelta(text)])
    slow = general._chunk(text, None)
    assert json.loads(quick[len(b"data: ") :]) == json.loads(slow[len(b"data: ") :])
    assert quick == slow, "byte for byte, as orjson writes the dict"
