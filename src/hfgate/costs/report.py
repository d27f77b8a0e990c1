"""The cost report: per endpoint and period, serving / idle / starting dollars and seconds,
and the serving dollars attributed to people and keys by their share of the tokens.

Attribution is made hour by hour (a request's tokens count in the hours it ran, in
proportion), then summed per period and rounded to whole cents that add up to the period's
serving cost exactly. Idle and starting cost belong to no one: they are the endpoint's own
lines.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from hfgate.costs import store
from hfgate.costs.ledger import Busy, Tally, Timeline, apportion, periods, tally
from hfgate.costs.store import Use
from hfgate.storage import Database
from hfgate.storage.tables import ApiKey, User

HOUR = 3600.0
PERIOD_SECONDS = {"hour": HOUR, "day": 86400.0}
Who = tuple[int | None, int | None]  # (user_id, key_id)


@dataclass(slots=True)
class Period:
    start: float
    tally: Tally = field(default_factory=Tally)
    shares: dict[Who, float] = field(default_factory=lambda: defaultdict(float))
    tokens: dict[Who, float] = field(default_factory=lambda: defaultdict(float))


@dataclass(slots=True)
class EndpointCost:
    model: str
    hf_endpoint: str | None
    periods: list[Period]

    def total(self) -> Tally:
        result = Tally()
        for period in self.periods:
            result.add(period.tally)
        return result


async def compute(db: Database, since: datetime, until: datetime, group: str) -> list[EndpointCost]:
    """Every endpoint with spans in [since, until), by period of ``group`` (hour | day)."""
    timelines = await store.spans(db, since, until)
    names = await store.endpoint_names(db, since, until)
    uses = await store.uses(db, since, until, sorted(timelines))
    by_model: dict[str, list[Use]] = defaultdict(list)
    for use in uses:
        by_model[use.model].append(use)
    lo, hi = since.timestamp(), until.timestamp()
    return [
        EndpointCost(
            model,
            names.get(model),
            _periods(Timeline(spans), by_model[model], lo, hi, PERIOD_SECONDS[group]),
        )
        for model, spans in sorted(timelines.items())
    ]


def _periods(
    timeline: Timeline, uses: list[Use], lo: float, hi: float, length: float
) -> list[Period]:
    busy = Busy((u.end - u.seconds, u.end) for u in uses)
    found = [Period(start) for start, _ in periods(lo, hi, length)]
    ordered = Uses(uses)
    index = 0
    for hour_lo, hour_hi in periods(lo, hi, HOUR):
        while index + 1 < len(found) and found[index + 1].start <= hour_lo:
            index += 1
        hour = tally(timeline, busy, hour_lo, hour_hi)
        found[index].tally.add(hour)
        _attribute(
            found[index], hour.serving_usd, ordered.around(hour_lo, hour_hi), hour_lo, hour_hi
        )
    return found


class Uses:
    """Usage rows by end time, so an hour finds the requests that ran in it quickly."""

    def __init__(self, uses: list[Use]) -> None:
        self.uses = sorted(uses, key=lambda u: u.end)
        self.ends = [u.end for u in self.uses]
        self.longest = max((u.seconds for u in self.uses), default=0.0)

    def around(self, lo: float, hi: float) -> list[Use]:
        first = bisect.bisect_left(self.ends, lo)
        last = bisect.bisect_left(self.ends, hi + self.longest)
        return self.uses[first:last]


def _attribute(period: Period, usd: float, uses: list[Use], lo: float, hi: float) -> None:
    """The hour's serving dollars by each (person, key)'s tokens within the hour."""
    weights: dict[Who, float] = defaultdict(float)
    time_weights: dict[Who, float] = defaultdict(float)
    for use in uses:
        inside = _inside(use, lo, hi)
        if inside <= 0:
            continue
        who = (use.user_id, use.key_id)
        weights[who] += use.tokens * inside
        time_weights[who] += inside
        period.tokens[who] += use.tokens * inside
    chosen = weights if sum(weights.values()) > 0 else time_weights
    total = sum(chosen.values())
    if usd <= 0 or total <= 0:
        return
    for who, weight in chosen.items():
        period.shares[who] += usd * weight / total


def _inside(use: Use, lo: float, hi: float) -> float:
    """The fraction of a request that ran within [lo, hi); an instant one counts where it ended."""
    if use.seconds == 0:
        return 1.0 if lo <= use.end < hi else 0.0
    start = use.end - use.seconds
    return max(0.0, min(hi, use.end) - max(lo, start)) / use.seconds


def attribution(cost: EndpointCost, period: Period) -> list[dict[str, Any]]:
    """The period's lines: each (person, key)'s serving dollars in cents that sum exactly."""
    cents = apportion(round(period.tally.serving_usd * 100), dict(period.shares))
    lines = [
        _line(cost.model, period, "usage", who, period.tokens.get(who, 0.0), share / 100)
        for who, share in cents.items()
    ]
    for line, usd in (("idle", period.tally.idle_usd), ("starting", period.tally.starting_usd)):
        if round(usd, 2) > 0:
            lines.append(_line(cost.model, period, line, (None, None), 0.0, round(usd, 2)))
    return lines


def _line(
    model: str, period: Period, line: str, who: Any, tokens: float, usd: float
) -> dict[str, Any]:
    return {
        "model": model,
        "start": store.when(period.start).isoformat(),
        "line": line,
        "user_id": who[0],
        "key_id": who[1],
        "tokens": round(tokens),
        "usd": round(usd, 2),
    }


def money(tally: Tally) -> dict[str, Any]:
    """Dollars in cents that add up: the total is the sum of the rounded parts."""
    parts = {
        "serving_usd": round(tally.serving_usd, 2),
        "idle_usd": round(tally.idle_usd, 2),
        "starting_usd": round(tally.starting_usd, 2),
    }
    return parts | {"total_usd": round(sum(parts.values()), 2)}


def seconds(tally: Tally) -> dict[str, float]:
    return {kind: round(value, 1) for kind, value in tally.seconds.items()}


async def names(db: Database) -> tuple[dict[int, str], dict[int, str]]:
    """People's emails and keys' names, for attribution lines."""
    async with db.session() as session:
        users = dict((await session.execute(select(User.id, User.email))).all())
        keys = dict((await session.execute(select(ApiKey.id, ApiKey.name))).all())
    return users, keys
