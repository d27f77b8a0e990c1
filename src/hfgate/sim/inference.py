"""The part of a generation every route shares: permit, validation, plan, pacing, faults, books.

``admit`` is TGI's ``infer.generate``/``generate_stream`` up to the first token: take one of
``max_concurrent_requests`` permits (else ``Model is overloaded``), validate, and plan the reply.
Permits are given back by ``run_once`` (non-stream) or by the stream's ``on_close``: one per
plan, whatever happened.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from hfgate.sim import generation, tokenizer
from hfgate.sim.generation import Plan
from hfgate.sim.sse import DROP, Frame, Outcome
from hfgate.sim.state import Runtime
from hfgate.sim.validation import GENERATION_FAILED, OVERLOADED, TGIError, validate

# tgi_request_failure{err=…} labels, by error_type
_METRIC_LABELS = {"template_error": "template", "incomplete_generation": "incomplete"}


def fail(runtime: Runtime, error: TGIError) -> TGIError:
    """Count ``error`` for ``/metrics`` and ``/_sim/stats``; returns it for raising."""
    runtime.stats.failures[_METRIC_LABELS.get(error.error_type, error.error_type)] += 1
    return error


@dataclass(frozen=True, slots=True)
class Faults:
    """The stream faults and pace, read once when a generation starts."""

    delay: float
    error_after: int | None
    drop_after: int | None

    @classmethod
    def of(cls, runtime: Runtime) -> Faults:
        c = runtime.config
        return cls(c.token_delay, c.stream_error_after, c.drop_after)

    def cut(self, sent: int) -> str | None:
        """``"drop"`` or ``"error"`` once ``sent`` tokens went out, else None."""
        if self.drop_after == sent:
            return "drop"
        return "error" if self.error_after == sent else None

    def error_before(self, total: int) -> bool:
        return self.error_after is not None and self.error_after < total


def plan_for(
    runtime: Runtime,
    prompt: str,
    params: dict[str, Any],
    *,
    add_bos: bool,
    first_bare: bool = False,
    best_of: int = 1,
    script: str | None = None,
) -> list[Plan]:
    """Validate, then plan ``best_of`` sequences (the first is the answer); raises ``TGIError``.

    ``script``: the text a grammar forces (``grammar.py``, ``tools.py``) instead of free words.
    """
    config = runtime.config
    length = tokenizer.input_length(prompt, add_bos)
    valid = validate(prompt, length, params, config, runtime.features, best_of)
    if script is not None:
        return [
            generation.scripted(
                prompt,
                script,
                input_length=valid.input_length,
                max_new_tokens=valid.max_new_tokens,
                stop=valid.stop,
                seed=valid.seed,
                sampling=valid.sampling,
                top_n=valid.top_n_tokens,
            )
        ]
    drawn = generation.effective_seed(prompt, valid.seed, valid.sampling) or 0
    return [
        generation.plan(
            prompt,
            input_length=valid.input_length,
            max_new_tokens=valid.max_new_tokens,
            natural=config.reply_tokens,
            stop=valid.stop,
            seed=valid.seed if k == 0 else drawn + k,
            sampling=valid.sampling,
            first_bare=first_bare,
            top_n=valid.top_n_tokens,
        )
        for k in range(best_of)
    ]


def admit(
    runtime: Runtime, prompt: str, params: dict[str, Any], *, best_of: int = 1, **kwargs: Any
) -> list[Plan]:
    """Take one permit per sequence (``best_of`` runs that many generations, each holding a
    permit, as in TGI), then validate and plan; on any error the permits are returned."""
    taken = 0
    try:
        while taken < best_of:
            if not runtime.acquire():
                raise OVERLOADED
            taken += 1
        return plan_for(runtime, prompt, params, best_of=best_of, **kwargs)
    except TGIError as exc:
        for _ in range(taken):
            runtime.release()
        raise fail(runtime, exc) from None


async def run_once(runtime: Runtime, plans: list[Plan]) -> None:
    """A non-stream generation: wait as long as streaming the tokens would, apply faults."""
    faults = Faults.of(runtime)
    longest = max(p.generated_tokens for p in plans)
    failed = faults.error_before(longest)
    steps = faults.error_after + 1 if failed and faults.error_after is not None else longest
    try:
        if faults.delay:
            await asyncio.sleep(faults.delay * steps)
        if failed:
            raise fail(runtime, GENERATION_FAILED)
        runtime.stats.generated_tokens += sum(p.generated_tokens for p in plans)
        runtime.stats.completed += 1
    finally:
        for _ in plans:
            runtime.release()


def on_close(runtime: Runtime, plans: list[Plan], faults: Faults) -> Callable[[Outcome], None]:
    """The stream's bookkeeping: permits back, then count how it ended."""
    longest = max((p.generated_tokens for p in plans), default=0)

    def close(outcome: Outcome) -> None:
        for _ in plans:
            runtime.release()
        stats = runtime.stats
        if outcome == "cancelled":
            stats.cancelled += 1
        elif outcome == "dropped":
            stats.dropped += 1
        elif faults.error_before(longest):
            fail(runtime, GENERATION_FAILED)
        elif outcome == "complete":
            stats.completed += 1
            stats.generated_tokens += sum(p.generated_tokens for p in plans)

    return close


def paced(
    count: int, faults: Faults, error_frames: Callable[[], Iterable[Frame]]
) -> Iterator[int | Frame]:
    """Step indices 0..count-1, with pauses before each and faults where configured.

    Yields a float (pause), an int (emit step i), or fault frames then stops.
    """
    for i in range(count):
        if faults.delay:
            yield faults.delay
        cut = faults.cut(i)
        if cut == "drop":
            yield DROP
            return
        if cut == "error":
            yield from error_frames()
            return
        yield i


def timing_headers(plans: list[Plan], started: float, characters: int) -> dict[str, str]:
    """The ``x-*`` headers TGI sets on non-stream responses (sums over prompts)."""
    elapsed = time.perf_counter() - started
    total_ms = int(elapsed * 1000)
    generated = sum(p.generated_tokens for p in plans)
    return {
        "x-compute-type": "gpu+optimized",
        "x-compute-time": f"{elapsed:.6f}",
        "x-compute-characters": str(characters),
        "x-total-time": str(total_ms),
        "x-validation-time": "0",
        "x-queue-time": "0",
        "x-inference-time": str(total_ms),
        "x-time-per-token": str(total_ms // max(generated, 1)),
        "x-prompt-tokens": str(sum(p.input_length for p in plans)),
        "x-generated-tokens": str(generated),
    }
