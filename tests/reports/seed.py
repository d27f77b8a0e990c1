"""Usage and cold-start rows written straight into a database, spread over the last days,
for the report's tests and the usage page's."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from hfgate.storage import Database
from hfgate.storage.tables import ColdStart, EndpointSpan, UsageRecord

MODELS = ("meta-llama/Llama-3.1-8B-Instruct", "mistralai/Mistral-7B-Instruct-v0.3")


@dataclass
class Seeded:
    usage: list[dict[str, Any]] = field(default_factory=list)
    cold_starts: list[dict[str, Any]] = field(default_factory=list)

    def tokens(self, user_id: int | None = None, hours: float = 24 * 366) -> int:
        return sum(r["prompt_tokens"] + r["completion_tokens"] for r in self.rows(user_id, hours))

    def rows(self, user_id: int | None = None, hours: float = 24 * 366) -> list[dict[str, Any]]:
        since = datetime.now(UTC) - timedelta(hours=hours)
        return [
            r
            for r in self.usage
            if (user_id is None or r["user_id"] == user_id) and r["created_at"] >= since
        ]


def usage_rows(
    now: datetime, people: dict[int, int | None], hours: int = 144, every: int = 3
) -> list[dict[str, Any]]:
    """A row every ``every`` hours for each person (user id → key id or None for the
    workspace), alternating models; every 7th call fails with a 500."""
    rows = []
    for at, hour in enumerate(range(1, hours, every)):
        for n, (user_id, key_id) in enumerate(sorted(people.items())):
            index = at * len(people) + n
            rows.append(
                {
                    "created_at": now - timedelta(hours=hour, minutes=7),
                    "user_id": user_id,
                    "key_id": key_id,
                    "model": MODELS[index % 2],
                    "route": "chat",
                    "status": 500 if index % 7 == 6 else 200,
                    "prompt_tokens": 100 + index,
                    "completion_tokens": 20 + 3 * (index % 11),
                    "latency_ms": 400.0 + 10 * (index % 13),
                    "ttft_ms": 80.0 + 5 * (index % 9),
                }
            )
    return rows


def cold_start_rows(now: datetime) -> list[dict[str, Any]]:
    outcomes = ("ready", "ready", "timeout", "ready", "failed", "ready")
    return [
        {
            "model": MODELS[i % 2],
            "started_at": now - timedelta(hours=5 + 11 * i),
            "seconds": 30.0 + 7 * i,
            "outcome": outcomes[i % len(outcomes)],
        }
        for i in range(12)
    ]


async def seed(db: Database, people: dict[int, int | None], hours: int = 144) -> Seeded:
    now = datetime.now(UTC)
    seeded = Seeded(usage_rows(now, people, hours), cold_start_rows(now))
    async with db.session() as session:
        await session.execute(insert(UsageRecord), seeded.usage)
        await session.execute(insert(ColdStart), seeded.cold_starts)
        await session.commit()
    return seeded


PRICES = {MODELS[0]: 1.2, MODELS[1]: 0.8}


async def seed_spans(db: Database) -> None:
    """Each model's endpoint running for the last six days (after five minutes starting), at
    ``PRICES`` per hour: what the cost ledger would have written."""
    now = datetime.now(UTC)
    spans = [
        {
            "model": model,
            "hf_endpoint": f"acme/{model.split('/')[1].lower()}",
            "state": state,
            "replicas": 1,
            "price_per_hour": price,
            "source": "management",
            "started_at": start,
            "ended_at": end,
        }
        for model, price in PRICES.items()
        for state, start, end in (
            ("initializing", now - timedelta(days=6, minutes=5), now - timedelta(days=6)),
            ("running", now - timedelta(days=6), now - timedelta(minutes=1)),
        )
    ]
    async with db.session() as session:
        await session.execute(insert(EndpointSpan), spans)
        await session.commit()
