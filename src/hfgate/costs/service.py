"""What the endpoints cost, for the API and the CLI: the report, the advice, the spend of a
key or a person (for budgets), and CSV."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import fmean
from typing import Any

from hfgate.costs import advice, store
from hfgate.costs.ledger import Busy
from hfgate.costs.report import EndpointCost, attribution, compute, money, names, seconds
from hfgate.errors import InvalidRequest
from hfgate.storage import Database
from hfgate.textcheck import spreadsheet_safe
from hfgate.values.principal import Principal

MAX_DAYS = 366
SPEND_CACHE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class EndpointFacts:
    """What the management plane (or an admin) says of an endpoint, for advice."""

    model: str
    hf_endpoint: str | None
    price_per_hour: float | None
    price_source: str | None  # provider | admin
    timeout_minutes: int | None  # its scale-to-zero timeout; None: never, or unknown
    replicas: int  # billed while idle: at least one
    why_not: str | None  # why hfgate cannot apply a timeout to it; None: it can


FactsSource = Callable[[], Awaitable[dict[str, EndpointFacts]]]


async def _no_facts() -> dict[str, EndpointFacts]:
    return {}


def check_days(days: int) -> int:
    if not 1 <= days <= MAX_DAYS:
        raise InvalidRequest(f"days must be between 1 and {MAX_DAYS}", param="days")
    return days


class CostService:
    def __init__(self, db: Database, facts: FactsSource = _no_facts) -> None:
        self.db = db
        self.facts = facts
        self._spend: dict[datetime, tuple[float, dict[tuple[str, int], float]]] = {}

    async def report(self, principal: Principal, days: int, group: str = "day") -> dict[str, Any]:
        if group not in ("day", "hour"):
            raise InvalidRequest("group must be day or hour", param="group")
        until = datetime.now(UTC)
        since = until - timedelta(days=check_days(days))
        costs = await compute(self.db, since, until, group)
        facts = await self.facts()
        users, keys = await names(self.db)
        lines = [line for cost in costs for p in cost.periods for line in attribution(cost, p)]
        if not principal.is_admin:
            lines = [line for line in lines if line["user_id"] == principal.user_id]
        for line in lines:
            line["user"] = users.get(line["user_id"]) if line["user_id"] else None
            line["key"] = keys.get(line["key_id"]) if line["key_id"] else None
        views = [_endpoint(c, facts.get(c.model)) for c in costs] if principal.is_admin else []
        return {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "group": group,
            "endpoints": views,
            "attribution": [line for line in lines if line["usd"] or line["tokens"]],
            "totals": _totals(views),
        }

    async def spent_usd(
        self, since: datetime, *, key_id: int | None = None, user_id: int | None = None
    ) -> float:
        """The dollars attributed to a key or a person since ``since`` (cached a few seconds)."""
        cached = self._spend.get(since)
        if cached is None or time.monotonic() - cached[0] > SPEND_CACHE_SECONDS:
            cached = (time.monotonic(), await self._spend_since(since))
            self._spend = {since: cached} | {k: v for k, v in self._spend.items() if k >= since}
        holder = ("key", key_id) if key_id is not None else ("user", user_id or 0)
        return cached[1].get(holder, 0.0)

    async def _spend_since(self, since: datetime) -> dict[tuple[str, int], float]:
        costs = await compute(self.db, since, datetime.now(UTC), "day")
        spent: dict[tuple[str, int], float] = {}
        for cost in costs:
            for period in cost.periods:
                for (user_id, key_id), usd in period.shares.items():
                    if user_id is not None:
                        spent[("user", user_id)] = spent.get(("user", user_id), 0.0) + usd
                    if key_id is not None:
                        spent[("key", key_id)] = spent.get(("key", key_id), 0.0) + usd
        return spent

    async def advice(self, days: int) -> dict[str, Any]:
        """Per endpoint with a price: the timeout that would have cost least over ``days``."""
        if days not in (7, 30):
            raise InvalidRequest("days must be 7 or 30", param="days")
        until = datetime.now(UTC)
        since = until - timedelta(days=days)
        facts = await self.facts()
        uses = await store.uses(self.db, since, until, sorted(facts))
        starts = await store.cold_start_seconds(self.db, since)
        data = [
            _advise(fact, [u for u in uses if u.model == name], starts.get(name, []), until, days)
            for name, fact in sorted(facts.items())
            if fact.price_per_hour is not None
        ]
        return {"days": days, "data": data}


def _advise(
    fact: EndpointFacts, uses: list[store.Use], starts: list[float], now: datetime, days: int
) -> dict[str, Any]:
    busy = Busy((u.end - u.seconds, u.end) for u in uses).intervals()
    cold = fmean(starts) if starts else 0.0
    hourly = (fact.price_per_hour or 0.0) * max(1, fact.replicas)
    tried = sorted({*advice.CANDIDATES, *([fact.timeout_minutes] if fact.timeout_minutes else [])})
    outcomes = {
        t: advice.replay(busy, t, now=now.timestamp(), cold_start_seconds=cold, hourly=hourly)
        for t in tried
    }
    chosen = advice.best(list(outcomes.values()))
    current = outcomes.get(fact.timeout_minutes) if fact.timeout_minutes else None
    return {
        "model": fact.model,
        "hf_endpoint": fact.hf_endpoint,
        "price_per_hour": fact.price_per_hour,
        "current_timeout_minutes": fact.timeout_minutes,
        "requests": len(uses),
        "cold_start_seconds": round(cold, 1) if starts else None,
        "summary": advice.summary(current, chosen, days),
        "best": chosen.view(),
        "current": current.view() if current else None,
        "candidates": [o.view() for o in outcomes.values()],
        "can_apply": fact.why_not is None and chosen.timeout_minutes != fact.timeout_minutes,
        "why_not": fact.why_not,
    }


def _endpoint(cost: EndpointCost, fact: EndpointFacts | None) -> dict[str, Any]:
    total = cost.total()
    return {
        "model": cost.model,
        "hf_endpoint": cost.hf_endpoint or (fact.hf_endpoint if fact else None),
        "price_per_hour": total.price_per_hour,
        "price_source": fact.price_source if fact else None,
        **money(total),
        "seconds": seconds(total),
        "periods": [
            {
                "start": store.when(p.start).isoformat(),
                **money(p.tally),
                "price_per_hour": p.tally.price_per_hour,
                "seconds": seconds(p.tally),
            }
            for p in cost.periods
        ],
    }


def _totals(views: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("serving_usd", "idle_usd", "starting_usd", "total_usd")
    return {k: round(sum(v[k] for v in views), 2) for k in keys}


def as_csv(report: dict[str, Any], view: str) -> str:
    """``endpoints``: a row per endpoint and period; ``attribution``: a row per line."""
    out = io.StringIO()
    if view == "attribution":
        fields = ["model", "start", "line", "user", "key", "user_id", "key_id", "tokens", "usd"]
        writer = csv.DictWriter(out, fields, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(
            {k: spreadsheet_safe(v) for k, v in line.items()} for line in report["attribution"]
        )
        return out.getvalue()
    if view != "endpoints":
        raise InvalidRequest("view must be endpoints or attribution", param="view")
    kinds = list(report["endpoints"][0]["seconds"]) if report["endpoints"] else []
    head = ["model", "hf_endpoint", "start", "price_per_hour"]
    money_fields = ["serving_usd", "idle_usd", "starting_usd", "total_usd"]
    writer_rows = csv.writer(out, lineterminator="\n")
    writer_rows.writerow(head + money_fields + [f"{k}_seconds" for k in kinds])
    for endpoint in report["endpoints"]:
        for p in endpoint["periods"]:
            writer_rows.writerow(
                [spreadsheet_safe(endpoint["model"]), endpoint["hf_endpoint"] or ""]
                + [p["start"], p["price_per_hour"]]
                + [p[k] for k in money_fields]
                + [p["seconds"][k] for k in kinds]
            )
    return out.getvalue()
