"""Never sending more than the model's context window (docs/protocols.md §5).

``fit_chat`` decides, before anything is generated, which messages go upstream and how many
completion tokens to ask for:

1. If the safe bound of the prompt plus the completion reserve fits, send everything as is.
2. Otherwise count exactly with the endpoint. Over budget: drop the oldest turns — a turn is
   a user message and what answered it — always keeping the leading system messages and the
   last turn, until the prompt leaves room for the completion.
3. ``max_tokens`` larger than what is left is clamped. If even the system prompt and the last
   turn do not fit, refuse with ``context_length_exceeded`` and the numbers.

Under the ``strict`` policy (``values.request.ContextPolicy``) nothing is dropped or clamped:
what does not fit is refused with ``context_length_exceeded``, as OpenAI's API does, so that
agent frameworks that summarise on that error can do so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hfgate.chat import tokens
from hfgate.errors import ContextLengthExceeded, EndpointColdStart
from hfgate.values.served import ServedModel

DEFAULT_RESERVE = 256  # completion room kept when the caller does not say max_tokens

Counter = Callable[[list[dict[str, Any]]], Awaitable[int | None]]


@dataclass(slots=True)
class Fit:
    messages: list[dict[str, Any]]
    max_tokens: int | None
    prompt_tokens: int | None = None  # exact when counted by the endpoint
    counting: str = "bound"  # bound | exact | estimate
    trimmed: int = 0
    clamped: bool = False
    notes: list[str] = field(default_factory=list)


def token_limit(model: ServedModel) -> int:
    limits = [model.context_window] + ([model.max_total_tokens] if model.max_total_tokens else [])
    return min(limits)


def prompt_room(model: ServedModel, reserve: int) -> int:
    """The most prompt tokens that still leave ``reserve`` for the answer (and that TGI's own
    ``max_input_tokens`` accepts)."""
    room = token_limit(model) - reserve
    return min(room, model.max_input_tokens) if model.max_input_tokens else room


def reserve_for(model: ServedModel, requested: int | None) -> int:
    """Completion room that trimming must leave."""
    wanted = requested if requested is not None else DEFAULT_RESERVE
    return max(1, min(wanted, token_limit(model) // 2))


def completion_budget(
    model: ServedModel, requested: int | None, prompt: int, strict: bool
) -> tuple[int | None, bool]:
    """``max_tokens`` to send, and whether it was clamped."""
    room = token_limit(model) - prompt
    if requested is None:
        # The engine's own default is max_total_tokens - prompt; only a smaller admin-set
        # context window needs an explicit cap.
        fits_engine = (
            model.max_total_tokens is None or model.context_window >= model.max_total_tokens
        )
        return (None if fits_engine else room), False
    if requested <= room:
        return requested, False
    if strict:
        raise ContextLengthExceeded(
            f"max_tokens {requested:,} does not fit: the prompt uses {prompt:,} of"
            f" {token_limit(model):,} tokens, leaving {room:,}",
            param="max_tokens",
        )
    return room, True


def turns(
    messages: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """Split into (leading system messages, turns), a turn starting at each user message."""
    head = 0
    while head < len(messages) and messages[head]["role"] == "system":
        head += 1
    groups: list[list[dict[str, Any]]] = []
    for message in messages[head:]:
        if message["role"] == "user" or not groups:
            groups.append([])
        groups[-1].append(message)
    return messages[:head], groups


async def fit_chat(
    model: ServedModel,
    messages: list[dict[str, Any]],
    requested: int | None,
    count: Counter,
    *,
    strict: bool = False,
    overhead: int = 0,
) -> Fit:
    """``overhead``: a bound on what the engine adds to every prompt of this request (the
    tools' JSON schemas and TGI's tool prompt), in tokens."""
    limit, reserve = token_limit(model), _reserve(model, requested, strict)
    room = prompt_room(model, reserve)
    upper = tokens.bound(messages) + overhead
    if upper + (requested or reserve) <= limit and upper <= room:
        return Fit(messages, completion_budget(model, requested, upper, strict)[0])
    counted, counting = await _count(messages, count, overhead=overhead)
    system, groups = turns(messages)
    dropped = 0
    while not strict and counted > room and len(groups) > 1:
        dropped += len(groups.pop(0))  # counted in messages, as the header says
        kept = system + [m for group in groups for m in group]
        counted, counting = await _count(kept, count, counting, overhead)
    kept = system + [m for group in groups for m in group]
    if counting != "exact":
        return Fit(kept, _estimated_budget(model, requested, counted), None, counting, dropped)
    if counted > room:
        raise _too_long(model, counted, reserve, None if strict else dropped, strict)
    max_tokens, clamped = completion_budget(model, requested, counted, strict)
    return Fit(kept, max_tokens, counted, counting, dropped, clamped)


def _reserve(model: ServedModel, requested: int | None, strict: bool) -> int:
    """Strict callers get OpenAI's rule: only an explicit ``max_tokens`` must fit too."""
    return 1 if strict and requested is None else reserve_for(model, requested)


def _estimated_budget(model: ServedModel, requested: int | None, estimated: int) -> int | None:
    """With only an estimate, neither refuse nor clamp what the caller asked for."""
    if requested is not None:
        return requested
    return completion_budget(model, None, min(estimated, token_limit(model) - 1), False)[0]


async def _count(
    messages: list[dict[str, Any]], count: Counter, previous: str = "exact", overhead: int = 0
) -> tuple[int, str]:
    """The counter counts what the engine renders (tools included); an estimate adds the
    overhead's share (~3 bytes a token)."""
    if previous == "exact":
        try:
            exact = await count(messages)
        except EndpointColdStart:
            exact = None  # do not wait for a sleeping endpoint just to count
        if exact is not None:
            return exact, "exact"
    return tokens.estimate(messages) + overhead // 3, "estimate"


def _too_long(
    model: ServedModel, counted: int, reserve: int, dropped: int | None, strict: bool = False
) -> ContextLengthExceeded:
    """``dropped`` is None for a prompt that may not be trimmed (raw, or under ``strict``)."""
    if strict:
        what = f"this request has {counted:,} prompt tokens"
        fix = (
            "shorten or summarise the conversation, or send the header X-Hfgate-Context: trim"
            " to let hfgate drop the oldest turns"
        )
    elif dropped is None:
        what, fix = f"this prompt has {counted:,} tokens", "shorten the prompt"
    else:
        after = f", after dropping the {dropped} oldest messages," if dropped else ""
        what = f"this conversation needs {counted:,} prompt tokens{after} for what must be kept"
        what += " (the system prompt and the last turn)"
        fix = "shorten the last message or the system prompt"
    plus = f", plus {reserve:,} for the answer," if reserve > 1 else ""
    return ContextLengthExceeded(
        f"{what}{plus} but {model.name} has a context window of"
        f" {token_limit(model):,} tokens: {fix}",
        param="messages" if dropped is not None or strict else "prompt",
        extra={
            "prompt_tokens": counted,
            "completion_reserve": reserve,
            "context_window": token_limit(model),
        },
    )


async def fit_prompt(
    model: ServedModel,
    prompt: str,
    requested: int | None,
    count: Callable[[str], Awaitable[int | None]],
    *,
    strict: bool = False,
) -> Fit:
    """The same for a raw completion prompt: it cannot be trimmed, only refused."""
    limit, reserve = token_limit(model), _reserve(model, requested, strict)
    upper = tokens.text_bound(prompt)
    if upper + (requested or reserve) <= limit and upper <= prompt_room(model, reserve):
        return Fit([], completion_budget(model, requested, upper, strict)[0])
    try:
        exact = await count(prompt)
    except EndpointColdStart:
        exact = None
    if exact is None:
        estimated = tokens.text_estimate(prompt)
        return Fit([], _estimated_budget(model, requested, estimated), None, "estimate")
    if exact > prompt_room(model, reserve):
        raise _too_long(model, exact, reserve, None)
    max_tokens, clamped = completion_budget(model, requested, exact, strict)
    return Fit([], max_tokens, exact, "exact", 0, clamped)
