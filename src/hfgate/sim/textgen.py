"""Generation shared by the llama.cpp and SGLang faces: prompt, plan, pace and stream.

Each engine keeps its own bodies, chunk shapes and errors; this module only does what they
do alike: render the chat template (``chat.py``), plan the reply (``generation.py``, so
replies and counts are the same as TGI's and vLLM's for the same prompt), take the matched
stop string out of the text (both engines do, unlike TGI), wait ``token_delay`` per token and
apply the stream faults (``stream_error_after``, ``drop_after``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hfgate.sim import chat, generation
from hfgate.sim.generation import Plan
from hfgate.sim.inference import Faults, on_close, paced
from hfgate.sim.sse import EventStream, Frame
from hfgate.sim.state import Runtime


@dataclass(frozen=True, slots=True)
class Reply:
    """A planned reply: the plan, and each token's text as the engine sends it."""

    plan: Plan
    texts: list[str]  # per token; EOS is "", a matched stop string is cut away
    matched: str | None = None  # the stop string that ended it

    @property
    def text(self) -> str:
        return "".join(self.texts)

    @property
    def length(self) -> bool:
        """Stopped by the token budget (``length``), not by EOS or a stop string."""
        return self.plan.finish_reason == "length"


def render(runtime: Runtime, messages: list[dict[str, Any]], tools: Any = None) -> str:
    """The chat prompt; ``TGIError`` (a template error) for the engine to translate."""
    config = runtime.config
    return chat.render(config.chat_template, messages, config.bos_token, config.eos_token, tools)


def stops(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop") or []
    return [stop] if isinstance(stop, str) else [s for s in stop if isinstance(s, str) and s]


def reply(
    runtime: Runtime,
    prompt: str,
    tokens: int,
    budget: int,
    body: dict[str, Any],
    first_bare: bool = True,
) -> Reply:
    """Plan at most ``budget`` tokens (at least one, as every engine samples one); a chat
    reply starts bare, a completion goes on after its prompt with a space."""
    stop = stops(body)
    plan = generation.plan(
        prompt,
        input_length=tokens,
        max_new_tokens=max(budget, 1),
        natural=runtime.config.reply_tokens,
        stop=stop,
        seed=body.get("seed"),
        sampling=body.get("temperature") != 0,
        first_bare=first_bare,
    )
    texts = ["" if t.special else t.text for t in plan.tokens]
    if plan.finish_reason != "stop_sequence":
        return Reply(plan, texts)
    matched = next(s for s in stop if plan.text.endswith(s))
    _cut_tail(texts, len(matched))
    plan.text = plan.text[: -len(matched)]
    return Reply(plan, texts, matched)


def _cut_tail(texts: list[str], size: int) -> None:
    # the stop string may span tokens: the engine holds them back and never sends them
    for i in range(len(texts) - 1, -1, -1):
        if size <= 0:
            return
        take = min(size, len(texts[i]))
        texts[i] = texts[i][: len(texts[i]) - take]
        size -= take


async def run(runtime: Runtime, plan: Plan) -> bool:
    """A non-streamed generation: as long as streaming it would take; False when the
    ``stream_error_after`` fault makes it fail."""
    faults = Faults.of(runtime)
    failed = faults.error_before(plan.generated_tokens)
    steps = (faults.error_after or 0) + 1 if failed else plan.generated_tokens
    if faults.delay:
        await asyncio.sleep(faults.delay * steps)
    if failed:
        runtime.stats.failures["generation"] += 1
        return False
    runtime.stats.completed += 1
    runtime.stats.generated_tokens += plan.generated_tokens
    return True


@dataclass(frozen=True, slots=True)
class StreamShape:
    """How an engine writes a stream: the frames of token ``i``, the frames after the last
    token, and what a failure mid-stream sends."""

    step: Callable[[int], list[bytes]]
    tail: Callable[[], list[bytes]]
    failure: Callable[[], list[bytes]]


def stream(runtime: Runtime, plan: Plan, shape: StreamShape, head: list[bytes]) -> EventStream:
    """Replay ``plan`` token by token with the faults; ``head`` goes out first."""
    runtime.in_flight += 1  # given back by on_close, as for TGI streams
    faults = Faults.of(runtime)
    frames = _frames(plan.generated_tokens, faults, shape, head)
    close = on_close(runtime, [plan], faults)
    return EventStream(frames, keepalive=runtime.config.keepalive_interval, on_close=close)


def _frames(count: int, faults: Faults, shape: StreamShape, head: list[bytes]) -> Iterator[Frame]:
    yield from head
    finished = count == 0
    for step in paced(count, faults, shape.failure):
        if not isinstance(step, int):
            yield step
            continue
        finished = step == count - 1
        yield from shape.step(step)
    if finished:
        yield from shape.tail()
