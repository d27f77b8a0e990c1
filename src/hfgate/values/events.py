"""The typed events a generation yields, from the cold-start wait to the end of the answer.

Services speak these; each edge serialises them once, in its own format: OpenAI's SSE and
JSON, TGI's SSE, the workspace's stream, the conversation store. A stream is a sequence of
*batches* (``list[Event]``): the events that arrived together leave together, so a relay
writes one network chunk for many tokens when the engine is faster than the client.

    Waiting(reason, elapsed)   the endpoint is not answering yet; "waking" when hfgate knows it
                               is asleep and is waking it, "waiting" when it only is slow
    TextDelta(text, logprobs)  a piece of the answer
    ToolCallDelta(calls)       tool-call pieces, in OpenAI's ``delta.tool_calls`` shape
    Done(finish_reason)        the answer is complete (OpenAI's finish reasons)
    Usage(prompt, completion)  the tokens the call used; last, whatever the outcome
    Error(error)               the call failed; nothing follows but ``Usage``
    Relayed(data, tokens)      an engine's own SSE bytes, for the edge that speaks its protocol
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hfgate.errors import HfgateError


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass(slots=True)
class Waiting:
    reason: str  # waking | waiting
    elapsed: float


@dataclass(slots=True)
class TextDelta:
    text: str
    logprobs: Any = None


@dataclass(slots=True)
class ToolCallDelta:
    calls: list[Any]
    logprobs: Any = None


@dataclass(slots=True)
class Done:
    finish_reason: str


@dataclass(slots=True)
class Error:
    error: HfgateError


@dataclass(slots=True)
class Relayed:
    data: bytes
    tokens: int


Event = Waiting | TextDelta | ToolCallDelta | Done | Usage | Error | Relayed
Batch = list[Event]
