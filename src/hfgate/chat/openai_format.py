"""hfgate's answers in OpenAI's wire format: bodies, stream chunks, SSE framing (pure)."""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from hfgate.errors import HfgateError
from hfgate.upstream.base import Completion, Delta, Usage

DONE = b"data: [DONE]\n\n"


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def keepalive(elapsed: float, waking: bool) -> bytes:
    what = "waking the endpoint" if waking else "waiting for the endpoint"
    return f": {what}… {elapsed:.0f} s\n\n".encode()


def sse_error(error: HfgateError) -> bytes:
    return sse(error.to_body())


class ChatFormat:
    """One response's id, creation time and model, shared by all of its chunks."""

    def __init__(self, model: str, kind: str = "chat") -> None:
        self.model = model
        self.kind = kind
        self.id = new_id("chatcmpl" if kind == "chat" else "cmpl")
        self.created = int(time.time())

    def _base(self, obj: str) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    def completion(self, result: Completion, text: str | None) -> dict[str, Any]:
        if self.kind == "chat":
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if result.tool_calls:
                message["tool_calls"] = result.tool_calls
            choice = {"index": 0, "message": message, "logprobs": result.logprobs}
            reason = "tool_calls" if result.tool_calls else result.finish_reason or "stop"
            choice["finish_reason"] = reason
            body = self._base("chat.completion")
        else:
            choice = {"index": 0, "text": text or "", "logprobs": result.logprobs}
            choice["finish_reason"] = result.finish_reason or "stop"
            body = self._base("text_completion")
        body["choices"] = [choice]
        body["usage"] = result.usage.to_dict()
        return body

    def chunk(self, text: str, delta: Delta | None = None, first: bool = False) -> bytes:
        reason = delta.finish_reason if delta else None
        if self.kind == "chat":
            part: dict[str, Any] = {"content": text}
            if first:
                part["role"] = "assistant"
            if delta is not None and delta.tool_calls:
                part["tool_calls"] = delta.tool_calls
                reason = reason and "tool_calls"
            choice: dict[str, Any] = {"index": 0, "delta": part}
            body = self._base("chat.completion.chunk")
        else:
            choice = {"index": 0, "text": text}
            body = self._base("text_completion")
        choice["logprobs"] = delta.logprobs if delta else None
        choice["finish_reason"] = reason
        body["choices"] = [choice]
        return sse(body)

    def usage_chunk(self, usage: Usage) -> bytes:
        obj = "chat.completion.chunk" if self.kind == "chat" else "text_completion"
        body = self._base(obj)
        body["choices"] = []
        body["usage"] = usage.to_dict()
        return sse(body)
