"""``hfgate.chat.context``, pure: which messages go upstream and how many tokens are asked for.

The counter is a fake (the endpoint's ``/chat_tokenize`` in the integration tests): one token
per word plus 4 per message, with every call recorded.
"""

from __future__ import annotations

from typing import Any

import pytest

from hfgate.chat import context, tokens
from hfgate.chat.context import fit_chat, fit_prompt, reserve_for, token_limit, turns
from hfgate.errors import ContextLengthExceeded, EndpointColdStart
from hfgate.values.served import ServedModel

SYSTEM = {"role": "system", "content": "be brief"}


def model(window: int = 1000, max_total: int | None = 4096) -> ServedModel:
    return ServedModel(
        name="m",
        integration_id="i",
        model_name="org/m",
        endpoint="https://e",
        api_key="hf_x",
        context_window=window,
        max_total_tokens=max_total,
    )


class Counter:
    """Words + 4 per message; ``answer`` overrides (None: cannot tell; an exception: raised)."""

    def __init__(self, answer: Any = "count") -> None:
        self.answer = answer
        self.calls: list[list[dict[str, Any]]] = []

    @staticmethod
    def tokens(messages: list[dict[str, Any]]) -> int:
        return sum(len(str(m["content"]).split()) + 4 for m in messages)

    async def __call__(self, messages: list[dict[str, Any]]) -> int | None:
        self.calls.append(list(messages))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.tokens(messages) if self.answer == "count" else self.answer


def turn(i: int, words: int = 40) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": f"q{i} " + "word " * words},
        {"role": "assistant", "content": f"a{i} " + "word " * words},
    ]


def conversation(n: int, words: int = 40, system: bool = True) -> list[dict[str, Any]]:
    messages = [SYSTEM] if system else []
    for i in range(n):
        messages += turn(i, words)
    return [*messages, {"role": "user", "content": "last question"}]


# -- limits --------------------------------------------------------------------------------------


def test_token_limit_is_the_smaller_of_window_and_engine() -> None:
    assert token_limit(model(1000, 4096)) == 1000
    assert token_limit(model(8192, 4096)) == 4096
    assert token_limit(model(1000, None)) == 1000


def test_reserve_is_the_request_or_a_default_capped_at_half_the_window() -> None:
    assert reserve_for(model(1000), 100) == 100
    assert reserve_for(model(1000), None) == context.DEFAULT_RESERVE
    assert reserve_for(model(1000), 900) == 500
    assert reserve_for(model(300), None) == 150


def test_turns_start_at_each_user_message() -> None:
    tool_turn = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
        {"role": "tool", "content": "sunny"},
        {"role": "assistant", "content": "It is sunny."},
    ]
    messages = [SYSTEM, {"role": "system", "content": "two"}, *tool_turn, *turn(1)]
    system, groups = turns(messages)
    assert system == messages[:2]
    assert groups == [tool_turn, turn(1)]


def test_leading_assistant_message_is_a_turn_of_its_own() -> None:
    messages = [{"role": "assistant", "content": "Hi, how can I help?"}, *turn(0)]
    system, groups = turns(messages)
    assert system == []
    assert groups == [messages[:1], turn(0)]


# -- fitting a chat ------------------------------------------------------------------------------


async def test_a_chat_that_fits_by_the_bound_is_not_counted() -> None:
    counter = Counter()
    messages = conversation(1, words=5)
    fit = await fit_chat(model(1000), messages, 100, counter)

    assert counter.calls == []
    assert fit.messages == messages
    assert (fit.max_tokens, fit.trimmed, fit.clamped) == (100, 0, False)
    assert fit.counting == "bound" and fit.prompt_tokens is None


async def test_without_max_tokens_a_smaller_window_caps_the_completion() -> None:
    messages = conversation(1, words=5)
    fit = await fit_chat(model(1000, 4096), messages, None, Counter())

    assert fit.max_tokens == 1000 - tokens.bound(messages)


async def test_without_max_tokens_the_engine_default_is_used_when_the_window_is_its_own() -> None:
    fit = await fit_chat(model(4096, 4096), conversation(1, words=5), None, Counter())

    assert fit.max_tokens is None


async def test_oldest_turns_are_dropped_until_the_reserve_fits() -> None:
    counter = Counter()
    messages = conversation(10)  # 10 turns of 2 x 45 tokens, plus the system and the last
    assert Counter.tokens(messages) + 100 > 1000

    fit = await fit_chat(model(1000), messages, 100, counter)

    kept = fit.messages
    assert kept[0] == SYSTEM and kept[-1] == messages[-1]
    assert fit.trimmed == len(messages) - len(kept)
    assert kept == [SYSTEM, *messages[1 + fit.trimmed :]]
    assert Counter.tokens(kept) + 100 <= 1000
    assert Counter.tokens([SYSTEM, *messages[1 + (fit.trimmed - 2) :]]) + 100 > 1000
    assert fit.prompt_tokens == Counter.tokens(kept)
    assert (fit.counting, fit.max_tokens, fit.clamped) == ("exact", 100, False)
    assert counter.calls[-1] == kept


async def test_trimming_reserves_at_most_half_the_window_then_clamps() -> None:
    messages = conversation(10)
    fit = await fit_chat(model(1000), messages, 900, Counter())

    prompt = Counter.tokens(fit.messages)
    assert prompt + 500 <= 1000
    assert fit.clamped and fit.max_tokens == 1000 - prompt


async def test_max_tokens_over_the_room_is_clamped() -> None:
    messages = conversation(1, words=5)
    fit = await fit_chat(model(1000), messages, 5000, Counter())

    assert fit.clamped
    assert fit.max_tokens == 1000 - Counter.tokens(messages)
    assert fit.messages == messages and fit.trimmed == 0


async def test_max_tokens_over_the_room_is_refused_when_strict() -> None:
    with pytest.raises(ContextLengthExceeded) as caught:
        await fit_chat(model(1000), conversation(1, words=5), 5000, Counter(), strict=True)

    assert caught.value.param == "max_tokens"
    assert "5,000" in caught.value.message


async def test_nothing_fits_names_the_numbers() -> None:
    messages = [SYSTEM, *turn(0), {"role": "user", "content": "word " * 980}]
    with pytest.raises(ContextLengthExceeded) as caught:
        await fit_chat(model(1000), messages, 100, Counter())

    error = caught.value
    needed = Counter.tokens([SYSTEM, messages[-1]])
    assert error.extra == {
        "prompt_tokens": needed,
        "completion_reserve": 100,
        "context_window": 1000,
    }
    assert f"{needed:,}" in error.message
    assert "after dropping the 2 oldest messages," in error.message
    assert error.to_body()["error"]["code"] == "context_length_exceeded"


async def test_a_counter_that_cannot_tell_falls_back_to_an_estimate() -> None:
    counter = Counter(answer=None)
    messages = conversation(30, words=10)
    fit = await fit_chat(model(1000), messages, 100, counter)

    assert fit.counting == "estimate" and fit.prompt_tokens is None
    assert len(counter.calls) == 1  # once it cannot tell, it is not asked again
    assert fit.trimmed > 0
    assert fit.messages == [SYSTEM, *messages[1 + fit.trimmed :]]
    assert fit.max_tokens == 100 and not fit.clamped  # a guess neither clamps nor refuses


async def test_an_estimate_never_refuses() -> None:
    """Only the endpoint can say a prompt is too long when hfgate cannot count it."""
    messages = [SYSTEM, {"role": "user", "content": "word " * 5000}]
    fit = await fit_chat(model(1000), messages, 100, Counter(answer=None))

    assert fit.counting == "estimate"
    assert fit.messages == messages and fit.max_tokens == 100


async def test_a_sleeping_endpoint_is_not_waited_for_just_to_count() -> None:
    counter = Counter(answer=EndpointColdStart("asleep"))
    fit = await fit_chat(model(1000), conversation(10, words=10), 100, counter)

    assert fit.counting == "estimate"
    assert len(counter.calls) == 1


async def test_the_bound_is_an_upper_bound_of_real_tokens() -> None:
    """Every token covers at least one byte, so the bound never undercounts (``tokens.py``)."""
    from hfgate.sim import tokenizer
    from tests.chat.support import chat_prompt

    for messages in (conversation(3), conversation(0), [{"role": "user", "content": "é" * 50}]):
        assert tokenizer.input_length(chat_prompt(messages), add_bos=True) <= tokens.bound(messages)


# -- fitting a raw prompt ------------------------------------------------------------------------


async def test_prompt_that_fits_by_the_bound_is_not_counted() -> None:
    calls: list[str] = []

    async def count(text: str) -> int:
        calls.append(text)
        return 3

    fit = await fit_prompt(model(1000), "short", 10, count)
    assert calls == [] and fit.max_tokens == 10


async def test_prompt_over_the_window_is_refused_exactly() -> None:
    async def count(text: str) -> int:
        return len(text.split())

    with pytest.raises(ContextLengthExceeded) as caught:
        await fit_prompt(model(1000), "word " * 990, 50, count)
    assert caught.value.extra["prompt_tokens"] == 990


async def test_prompt_max_tokens_is_clamped() -> None:
    async def count(text: str) -> int:
        return len(text.split())

    fit = await fit_prompt(model(1000), "word " * 400, 700, count)
    assert fit.clamped and fit.max_tokens == 600
    assert (fit.prompt_tokens, fit.counting) == (400, "exact")


async def test_prompt_counting_falls_back_to_an_estimate() -> None:
    async def cannot(text: str) -> None:
        return None

    fit = await fit_prompt(model(2000), "word " * 100, 1500, cannot)
    assert fit.counting == "estimate" and fit.prompt_tokens is None
    assert fit.max_tokens == 1500 and not fit.clamped
