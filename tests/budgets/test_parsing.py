"""Budget figures as people write them, the UTC periods, and how a refusal reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hfgate.budgets.periods import shown, window
from hfgate.budgets.service import Holder, Standing
from hfgate.errors import InvalidRequest
from hfgate.values.principal import (
    Budget,
    changed_budgets,
    parse_budget,
    parse_budgets,
    stored_budgets,
)


@pytest.mark.parametrize(
    ("value", "kind", "period", "expected"),
    [
        ("2000000/day", "tokens", None, Budget("tokens", 2_000_000, "day")),
        ("2,000,000 / day", "tokens", None, Budget("tokens", 2_000_000, "day")),
        ("50/month", "usd", None, Budget("usd", 50, "month")),
        ("50", "usd", None, Budget("usd", 50, "month")),
        ("12.5/Day", "usd", None, Budget("usd", 12.5, "day")),
        (50, "usd", "day", Budget("usd", 50, "day")),
        (1000, "tokens", None, Budget("tokens", 1000, "month")),
        (None, "usd", None, None),
        ("", "tokens", "day", None),
    ],
)
def test_parse_budget(value: object, kind: str, period: object, expected: Budget | None) -> None:
    assert parse_budget(value, kind, period, f"budget_{kind}") == expected


@pytest.mark.parametrize(
    ("value", "kind", "period", "words"),
    [
        ("50/week", "usd", None, '"day" or "month"'),
        ("fifty", "usd", None, "positive number"),
        ("1.2.3/day", "tokens", None, "not a number"),
        (0, "tokens", None, "positive number"),
        ("0/day", "tokens", None, "above 0"),
        (-5, "usd", None, "positive number"),
        (True, "tokens", None, "positive number"),
        (float("inf"), "usd", None, "positive number"),
        (10.5, "tokens", None, "whole number"),
        ("0.001", "usd", None, "cents"),
        (1e16, "tokens", None, "at most"),
        (5, "usd", "week", '"day" or "month"'),
        ([5], "usd", None, "positive number"),
    ],
)
def test_bad_budgets_say_what_is_wrong(
    value: object, kind: str, period: object, words: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_budget(value, kind, period, f"budget_{kind}")
    assert words in caught.value.message
    assert caught.value.param in (f"budget_{kind}", "budget_period")


def test_parse_budgets_of_a_request() -> None:
    spec = {"budget_tokens": "2000000/day", "budget_usd": 50, "budget_period": "month"}
    assert parse_budgets(spec) == [
        {"kind": "tokens", "limit": 2_000_000, "period": "day"},
        {"kind": "usd", "limit": 50.0, "period": "month"},
    ]
    assert parse_budgets({}) is None
    with pytest.raises(InvalidRequest) as caught:
        parse_budgets({"budget_period": "day"})
    assert caught.value.param == "budget_period"


def test_changed_budgets_replaces_named_kinds_only() -> None:
    current = [{"kind": "tokens", "limit": 10, "period": "day"}]
    both = changed_budgets(current, {"budget_usd": "5/day"})
    assert both == [*current, {"kind": "usd", "limit": 5.0, "period": "day"}]
    assert changed_budgets(both, {"budget_tokens": None}) == both[1:]
    assert changed_budgets(both, {"budget_tokens": None, "budget_usd": None}) is None
    with pytest.raises(InvalidRequest):
        changed_budgets(current, {"name": "x"})


def test_stored_budgets_skip_what_is_malformed() -> None:
    raw = [{"kind": "tokens", "limit": 5, "period": "day"}, {"kind": "gpu"}, "x", None]
    assert stored_budgets(raw) == (Budget("tokens", 5, "day"),)
    assert stored_budgets(None) == ()


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        ("day", datetime(2026, 12, 5, 23, 59, 59, tzinfo=UTC), (2026, 12, 5), (2026, 12, 6)),
        ("day", datetime(2026, 12, 31, 0, 0, tzinfo=UTC), (2026, 12, 31), (2027, 1, 1)),
        ("month", datetime(2026, 12, 5, 8, tzinfo=UTC), (2026, 12, 1), (2027, 1, 1)),
        ("month", datetime(2027, 2, 28, 23, tzinfo=UTC), (2027, 2, 1), (2027, 3, 1)),
        ("month", datetime(2028, 2, 29, 12, tzinfo=UTC), (2028, 2, 1), (2028, 3, 1)),
    ],
)
def test_windows_are_utc(
    period: str, now: datetime, start: tuple[int, ...], end: tuple[int, ...]
) -> None:
    assert window(period, now) == (datetime(*start, tzinfo=UTC), datetime(*end, tzinfo=UTC))


def test_a_window_of_a_local_time_is_the_utc_one() -> None:
    from datetime import timedelta, timezone

    tokyo = datetime(2026, 12, 6, 8, 0, tzinfo=timezone(timedelta(hours=9)))  # 5th, 23:00 UTC
    assert window("day", tokyo)[0] == datetime(2026, 12, 5, tzinfo=UTC)


def test_refusal_names_budget_figure_and_reset() -> None:
    reset = datetime(2026, 12, 6, tzinfo=UTC)
    standing = Standing(Holder("key", 3), Budget("tokens", 2_000_000, "day"), 2_000_413, reset)
    error = standing.refusal("ana@example.com")
    assert error.message == (
        "this API key's budget of 2,000,000 tokens per day is spent (2,000,413 used);"
        f" it resets at {shown(reset)}"
    )
    assert (error.status, error.code) == (429, "budget_exceeded")
    person = Standing(Holder("user", 1), Budget("usd", 100, "month"), 100.37, reset)
    assert person.refusal("ana@example.com").message.startswith(
        "ana@example.com's budget of $100.00 per month is spent ($100.37 used)"
    )
    assert person.warning and person.exhausted
    assert Standing(Holder("user", 1), Budget("usd", 100, "month"), 80, reset).warning
    assert not Standing(Holder("user", 1), Budget("usd", 100, "month"), 79.99, reset).warning
