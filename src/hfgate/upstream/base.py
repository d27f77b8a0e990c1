"""The interface every upstream engine implements, and the engine-neutral values it speaks.

A ``Dialect`` is pure: it turns an OpenAI-shaped request into a ``Call`` (path + JSON body)
and turns what the engine answered (a JSON body, one SSE event, an error reply) back into
``Completion``/``Delta`` values or an ``HfgateError``. The one place that does the I/O is
``hfgate.upstream.client``. Adding an engine means adding one dialect module and its entry
in ``hfgate.upstream.registry``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hfgate.errors import HfgateError
from hfgate.values.events import Usage
from hfgate.values.request import ChatRequest, CompletionRequest

# OpenAI's finish reasons; engines' own values are mapped onto these.
FINISH_REASONS = {
    "stop": "stop",
    "eos_token": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
}


def finish_reason(value: Any) -> str | None:
    if not value:
        return None
    return FINISH_REASONS.get(str(value), "stop")


@dataclass(slots=True)
class Call:
    path: str
    body: dict[str, Any]
    stream: bool


@dataclass(slots=True)
class Delta:
    """One streamed piece of output."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: list[Any] | None = None
    logprobs: Any = None


@dataclass(slots=True)
class Completion:
    text: str | None
    finish_reason: str | None
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[Any] | None = None
    logprobs: Any = None


class Dialect(Protocol):
    name: str
    renders_prompt: bool  # hfgate renders the chat template; the engine only generates
    echoes: bool  # the engine repeats the prompt for completions' ``echo``

    def chat_call(
        self, request: ChatRequest, max_tokens: int | None, prompt: str | None
    ) -> Call: ...

    def completion_call(self, request: CompletionRequest, max_tokens: int | None) -> Call: ...

    def parse_chat(self, body: Any, headers: Mapping[str, str] | None = None) -> Completion: ...

    def parse_completion(
        self, body: Any, headers: Mapping[str, str] | None = None
    ) -> Completion: ...

    def parse_event(self, data: bytes) -> Delta | None:
        """One SSE ``data:`` payload of a chat stream → a delta."""
        ...

    def parse_completion_event(self, data: bytes) -> Delta | None: ...

    def error(self, status: int, content_type: str, body: bytes) -> HfgateError: ...
