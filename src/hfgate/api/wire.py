"""The edges' formats: hfgate's typed values and events → bytes, written once per protocol.

* OpenAI: JSON bodies (``completion``) and SSE chunks (``OpenAIStream``), ``[DONE]`` last.
* The workspace: OpenAI's chunks plus named events — ``hfgate`` first (the ids, the context
  the answer has), ``waiting`` while the endpoint wakes (``{"reason", "elapsed"}``) — so the
  browser reads structure, never prose (``WorkspaceStream``).
* TGI: its own SSE relayed as the engine wrote it, its error shape and ``/info`` (``tgi_*``).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson

from hfgate import __version__
from hfgate.chat.context import token_limit
from hfgate.chat.fanout import Part
from hfgate.chat.service import Prepared
from hfgate.errors import HfgateError
from hfgate.upstream.base import Completion
from hfgate.values.events import (
    Batch,
    Done,
    Error,
    Event,
    Relayed,
    TextDelta,
    ToolCallDelta,
    Usage,
    Waiting,
)
from hfgate.values.served import ServedModel

DONE = b"data: [DONE]\n\n"
FINGERPRINT = f"hfgate-{__version__}"
TGI_KEEPALIVE = b":\n\n"
# hfgate's errors as TGI's ``error_type`` values, for the clients that read them.
TGI_ERROR_TYPES = {400: "validation", 422: "validation", 429: "overloaded", 424: "generation"}


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def sse_error(error: HfgateError) -> bytes:
    return sse(error.to_body())


def fit_headers(prepared: Prepared) -> dict[str, str]:
    """What fitting the context window did, for clients that look (SDKs do not)."""
    fit = prepared.fit
    headers = {"X-Hfgate-Token-Count": fit.counting}
    if fit.trimmed:
        headers["X-Hfgate-Trimmed-Messages"] = str(fit.trimmed)
    if fit.prompt_tokens is not None:
        headers["X-Hfgate-Prompt-Tokens"] = str(fit.prompt_tokens)
    if fit.clamped and fit.max_tokens is not None:
        headers["X-Hfgate-Max-Tokens-Clamped"] = str(fit.max_tokens)
    if prepared.template is not None:
        headers["X-Hfgate-Chat-Template"] = prepared.template.label
    return headers


async def first_batch(batches: AsyncGenerator[Batch, None]) -> Batch:
    """Start a stream before answering: a failure before anything was sent (a paused
    endpoint, a rejected token, an overloaded engine) is raised, so it gets a real HTTP
    status, which OpenAI clients map to the right exception; later ones arrive as events."""
    first = await anext(batches)
    if isinstance(first[0], Error):
        await batches.aclose()
        raise first[0].error
    return first


# -- OpenAI --------------------------------------------------------------------------------------


class OpenAIStream:
    """One response's id, creation time and model, shared by its body or all of its chunks."""

    def __init__(
        self,
        model: str,
        kind: str = "chat",
        include_usage: bool = False,
        fingerprint: str | None = None,
    ) -> None:
        self.model, self.kind, self.include_usage = model, kind, include_usage
        # The engine's own when it is known, else hfgate's: text_generation's client needs one.
        self.fingerprint = fingerprint or FINGERPRINT
        self.id = new_id("chatcmpl" if kind == "chat" else "cmpl")
        self.created = int(time.time())
        self.index = 0  # the choice this stream's chunks belong to (see ``choice``)
        self.first = True
        self.failed = False
        self._text_head = b""  # made by the first plain text delta (streams only)
        self._text_tail = b""

    def choice(self, index: int) -> OpenAIStream:
        """The chunks of choice ``index`` of the same answer (``n`` > 1): same id and time."""
        other = OpenAIStream(self.model, self.kind, False, self.fingerprint)
        other.id, other.created, other.index = self.id, self.created, index
        return other

    def _text_frame(self) -> None:
        """The bytes around a plain text delta, the chunk of almost every token: its text is
        the only part that changes, so only the text is encoded per token."""
        obj = "chat.completion.chunk" if self.kind == "chat" else "text_completion"
        opened = b'data: {"id":' + orjson.dumps(self.id) + b',"object":"' + obj.encode()
        opened += b'","created":' + str(self.created).encode() + b',"model":'
        opened += orjson.dumps(self.model) + b',"system_fingerprint":'
        opened += orjson.dumps(self.fingerprint) + b',"choices":[{"index":'
        opened += str(self.index).encode() + b","
        chat = self.kind == "chat"
        self._text_head = opened + (b'"delta":{"content":' if chat else b'"text":')
        closing = b',"logprobs":null,"finish_reason":null}]}\n\n'
        self._text_tail = (b"}" if chat else b"") + closing

    def _base(self, obj: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": self.fingerprint,
        }

    def completion(self, result: Completion) -> dict[str, Any]:
        body = self._base("chat.completion" if self.kind == "chat" else "text_completion")
        body["choices"] = [self._choice(0, result)]
        body["usage"] = result.usage.to_dict()
        return body

    def completions(self, results: list[Completion]) -> dict[str, Any]:
        """One body for the choices of one answer (``n`` > 1), their usage summed."""
        body = self._base("chat.completion" if self.kind == "chat" else "text_completion")
        body["choices"] = [self._choice(i, result) for i, result in enumerate(results)]
        prompt = sum(result.usage.prompt_tokens for result in results)
        completion = sum(result.usage.completion_tokens for result in results)
        body["usage"] = Usage(prompt, completion).to_dict()
        return body

    def _choice(self, index: int, result: Completion) -> dict[str, Any]:
        if self.kind != "chat":
            text = result.text or ""
            reason = result.finish_reason or "stop"
            return {
                "index": index,
                "text": text,
                "logprobs": result.logprobs,
                "finish_reason": reason,
            }
        message: dict[str, Any] = {"role": "assistant", "content": result.text}
        if result.tool_calls:
            message["tool_calls"] = result.tool_calls
        reason = "tool_calls" if result.tool_calls else result.finish_reason or "stop"
        return {
            "index": index,
            "message": message,
            "logprobs": result.logprobs,
            "finish_reason": reason,
        }

    async def sse(
        self, batches: AsyncGenerator[Batch, None], first: Batch | None = None
    ) -> AsyncIterator[bytes]:
        """``first``: a batch already taken from ``batches`` (``first_batch``)."""
        # Closed with this generator: a client that leaves ends the upstream call at once.
        async with contextlib.aclosing(batches):
            if first and (data := self.render(first)):
                yield data
            async for batch in batches:
                if data := self.render(batch):
                    yield data  # the events that arrived together leave together
        yield DONE

    def render(self, batch: Batch) -> bytes:
        if len(batch) == 1:
            return self._render(batch[0])
        return b"".join([self._render(event) for event in batch])

    def _render(self, event: Event) -> bytes:
        if isinstance(event, TextDelta):
            if event.logprobs is None and not self.first:
                if not self._text_head:
                    self._text_frame()
                return self._text_head + orjson.dumps(event.text) + self._text_tail
            return self._chunk(event.text, None, event.logprobs)
        if isinstance(event, Done):
            return self._chunk("", event.finish_reason)
        if isinstance(event, ToolCallDelta):
            return self._chunk("", None, event.logprobs, event.calls)
        if isinstance(event, Usage):
            return self._usage(event) if self.include_usage and not self.failed else b""
        if isinstance(event, Waiting):
            return self.waiting(event)
        if isinstance(event, Error):
            self.failed = True
            return sse_error(event.error)
        return b""

    def waiting(self, event: Waiting) -> bytes:
        """A comment (clients skip it) that keeps proxies from closing a quiet connection."""
        what = "waking the endpoint" if event.reason == "waking" else "waiting for the endpoint"
        return f": {what}… {event.elapsed:.0f} s\n\n".encode()

    def _chunk(
        self, text: str, reason: str | None, logprobs: Any = None, calls: Any = None
    ) -> bytes:
        if self.kind == "chat":
            # A tool-call delta has no text: OpenAI writes content null there, not "".
            part: dict[str, Any] = {"content": None if calls and not text else text}
            if self.first:
                part["role"] = "assistant"
                self.first = False
            if calls:
                part["tool_calls"] = calls
            choice: dict[str, Any] = {"index": self.index, "delta": part}
            body = self._base("chat.completion.chunk")
        else:
            choice = {"index": self.index, "text": text}
            body = self._base("text_completion")
        choice["logprobs"] = logprobs
        choice["finish_reason"] = reason
        body["choices"] = [choice]
        return sse(body)

    def _usage(self, usage: Usage) -> bytes:
        obj = "chat.completion.chunk" if self.kind == "chat" else "text_completion"
        body = self._base(obj)
        body["choices"] = []
        body["usage"] = usage.to_dict()
        return sse(body)


class ChoicesStream:
    """The SSE of an answer with ``n`` choices (``chat.fanout``): each choice's chunks carry
    its index, its own ``role`` first and ``finish_reason`` last; the answer's usage (summed),
    a failure and the keepalives are the whole answer's."""

    def __init__(self, answer: OpenAIStream, n: int) -> None:
        self.answer = answer
        self.choices = [answer.choice(i) for i in range(n)]

    async def sse(
        self, parts: AsyncGenerator[list[Part], None], first: list[Part]
    ) -> AsyncIterator[bytes]:
        """``first``: the parts already taken from ``parts`` (``first_parts``)."""
        async with contextlib.aclosing(parts):  # closing it ends every call
            if data := self.render(first):
                yield data
            async for group in parts:
                if data := self.render(group):
                    yield data
        yield DONE

    def render(self, group: list[Part]) -> bytes:
        return b"".join(
            [
                (self.answer if part.index is None else self.choices[part.index]).render(part.batch)
                for part in group
            ]
        )


async def first_parts(parts: AsyncGenerator[list[Part], None]) -> list[Part]:
    """``first_batch`` for an answer with several choices: a failure of any of them before
    anything was sent is raised, for its HTTP status."""
    first = await anext(parts)
    for part in first:
        if part.batch and isinstance(part.batch[0], Error):
            await parts.aclose()
            raise part.batch[0].error
    return first


class WorkspaceStream(OpenAIStream):
    """The workspace's chat stream: OpenAI's chunks and usage, with structured named events."""

    def __init__(self, model: str) -> None:
        super().__init__(model, "chat", include_usage=True)

    async def stream(
        self, start: dict[str, Any], batches: AsyncGenerator[Batch, None]
    ) -> AsyncIterator[bytes]:
        yield named("hfgate", start)
        async for data in self.sse(batches):
            yield data

    def waiting(self, event: Waiting) -> bytes:
        return named("waiting", {"reason": event.reason, "elapsed": round(event.elapsed, 1)})


def named(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def context_info(prepared: Prepared) -> dict[str, Any]:
    """What the workspace shows of fitting the context window."""
    fit = prepared.fit
    return {
        "model": prepared.model.name,
        "trimmed": fit.trimmed,
        "prompt_tokens_counted": fit.prompt_tokens,
        "counting": fit.counting,
        "context_window": token_limit(prepared.model),
    }


# -- TGI -----------------------------------------------------------------------------------------


def tgi_error(exc: HfgateError) -> tuple[int, dict[str, str]]:
    """``(status, {"error", "error_type"})``: TGI's own error shape."""
    status = 422 if exc.status == 400 else exc.status
    return status, {"error": exc.message, "error_type": TGI_ERROR_TYPES.get(status, exc.code)}


async def tgi_sse(batches: AsyncGenerator[Batch, None]) -> AsyncIterator[bytes]:
    """TGI's events as the engine sent them; TGI itself reports a failure as one error event."""
    async with contextlib.aclosing(batches):
        async for batch in batches:
            for event in batch:
                if isinstance(event, Relayed):
                    yield event.data
                elif isinstance(event, Waiting):
                    yield TGI_KEEPALIVE
                elif isinstance(event, Error):
                    yield b"data: " + orjson.dumps(tgi_error(event.error)[1]) + b"\n\n"


def tgi_info(model: ServedModel) -> dict[str, Any]:
    """``/info`` from what validation learned: asking for it never wakes the endpoint."""
    limit = token_limit(model)
    return {
        "model_id": model.name,
        "model_sha": None,
        "model_pipeline_tag": "text-generation",
        "max_concurrent_requests": 128,
        "max_best_of": 2,
        "max_stop_sequences": 4,
        "max_input_tokens": min(limit - 1, model.max_input_tokens or limit - 1),
        "max_total_tokens": limit,
        "validation_workers": 2,
        "max_client_batch_size": 4,
        "router": "text-generation-router",
        "version": model.engine_version or "unknown",
        "sha": None,
        "docker_label": None,
    }
