"""``GET /api/usage``: who used which model how much, over time, how fast, with what errors;
and the endpoints' cold starts (docs/usage.md). Members see their own rows, admins everyone's.

The rows are read once, only the columns the figures need, and streamed: the work is one pass
whatever the range, and memory is bounded by the number of cells (``stats.SAMPLE_SIZE``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from hfgate.errors import InvalidRequest, PermissionDenied
from hfgate.reports.cells import Cell
from hfgate.reports.stats import Sample, bucket_start, bucket_starts
from hfgate.storage import Database
from hfgate.storage.tables import ApiKey, ColdStart, UsageRecord, User, aware
from hfgate.values.principal import Principal

log = logging.getLogger("hfgate.usage")
BY = ("model", "user", "key")
MAX_DAYS = 366
COLD_START_EVENTS = 2000  # the newest ones, each a point on the cold-start chart
WORKSPACE = "workspace (no key)"  # the web workspace's calls carry no key
_COLUMNS = (
    UsageRecord.created_at,
    UsageRecord.user_id,
    UsageRecord.key_id,
    UsageRecord.model,
    UsageRecord.status,
    UsageRecord.prompt_tokens,
    UsageRecord.completion_tokens,
    UsageRecord.latency_ms,
    UsageRecord.ttft_ms,
)


@dataclass(frozen=True, slots=True)
class UsageQuery:
    days: int = 7
    bucket: str = "day"
    by: str = "model"
    user: str | None = None  # an admin's filter: one person's id or email


def usage_query(
    days: str | None, bucket: str | None, by: str | None, user: str | None = None
) -> UsageQuery:
    """The query's parameters as sent, checked; ``bucket`` defaults to hours up to 2 days."""
    try:
        count = int(days) if days is not None else 7
    except ValueError:
        raise InvalidRequest("days must be a whole number from 1 to 366", param="days") from None
    if not 1 <= count <= MAX_DAYS:
        raise InvalidRequest("days must be a whole number from 1 to 366", param="days")
    chosen = bucket or ("day" if count > 2 else "hour")
    if chosen not in ("hour", "day"):
        raise InvalidRequest("bucket must be hour or day", param="bucket")
    if (by or "model") not in BY:
        raise InvalidRequest("by must be model, user or key", param="by")
    return UsageQuery(count, chosen, by or "model", (user or "").strip() or None)


class UsageReports:
    def __init__(self, db: Database, flush: Callable[[], Awaitable[object]] | None = None) -> None:
        self.db = db
        self._flush = flush  # the recorder's: rows still in memory belong in the report

    async def report(self, principal: Principal, query: UsageQuery) -> dict[str, Any]:
        await self._written()
        until = datetime.now(UTC)
        since = until - timedelta(days=query.days)
        user_id = await self._whose(principal, query.user)
        tally = Tally(query)
        await self._read(tally, since, user_id)
        labels = await self._labels(query.by, tally.groups())
        report = {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "days": query.days,
            "bucket": query.bucket,
            "by": query.by,
            "buckets": [b.isoformat() for b in bucket_starts(since, until, query.bucket)],
        }
        report |= tally.figures(labels, bucket_starts(since, until, query.bucket))
        report["cold_starts"], report["cold_start_events"] = await self._cold_starts(since)
        return report

    async def _written(self) -> None:
        if self._flush is None:
            return
        try:
            await self._flush()
        except Exception:  # the figures so far: the writer logs and retries on its own
            log.warning("usage records not yet written are missing from this report")

    async def _whose(self, principal: Principal, user: str | None) -> int | None:
        """Whose rows: a member's own always; an admin's choice, or everyone's (None)."""
        if not principal.is_admin:
            if user is not None and user not in (str(principal.user_id), principal.email):
                raise PermissionDenied("members see only their own usage", param="user")
            return principal.user_id
        if user is None:
            return None
        column = User.id if user.isdigit() else User.email
        value: int | str = int(user) if user.isdigit() else user
        async with self.db.session() as session:
            found = await session.scalar(select(User.id).where(column == value))
        if found is None:
            raise InvalidRequest(f"no person {user!r}", param="user")
        return int(found)

    async def _read(self, tally: Tally, since: datetime, user_id: int | None) -> None:
        query = select(*_COLUMNS).where(UsageRecord.created_at >= since)
        if user_id is not None:
            query = query.where(UsageRecord.user_id == user_id)
        async with self.db.session() as session:
            result = await session.stream(query.execution_options(yield_per=5000))
            async for row in result:
                tally.add(*row)

    async def _labels(self, by: str, ids: set[Any]) -> dict[Any, str]:
        """What people call a group: a model's id, a person's email, a key's name."""
        if by == "model":
            return {model: str(model) for model in ids}
        wanted = [i for i in ids if i is not None]
        async with self.db.session() as session:
            if by == "user":
                rows = (
                    await session.execute(select(User.id, User.email).where(User.id.in_(wanted)))
                ).all()
                found = {i: str(email) for i, email in rows}
                return {i: found.get(i, f"person {i}" if i is not None else "unknown") for i in ids}
            rows = (
                await session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(wanted)))
            ).all()
        return _key_labels(ids, {i: str(name) for i, name in rows})

    async def _cold_starts(
        self, since: datetime
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Per endpoint: how many cold starts, how long they took, how many failed; and the
        newest ones themselves. An endpoint's, not a person's: members see them too."""
        query = (
            select(ColdStart.model, ColdStart.started_at, ColdStart.seconds, ColdStart.outcome)
            .where(ColdStart.started_at >= since)
            .order_by(ColdStart.started_at)
        )
        per_model: dict[str, tuple[Sample, dict[str, int]]] = {}
        events: list[dict[str, Any]] = []
        async with self.db.session() as session:
            result = await session.stream(query.execution_options(yield_per=5000))
            async for model, started, seconds, outcome in result:
                sample, outcomes = per_model.setdefault(model, (Sample(), defaultdict(int)))
                sample.add(float(seconds))
                outcomes[outcome] += 1
                events.append(
                    {
                        "model": model,
                        "started_at": aware(started).isoformat(),
                        "seconds": round(float(seconds), 2),
                        "outcome": outcome,
                    }
                )
        return [_cold_figures(m, *per_model[m]) for m in sorted(per_model)], events[
            -COLD_START_EVENTS:
        ]


def _cold_figures(model: str, sample: Sample, outcomes: dict[str, int]) -> dict[str, Any]:
    return {
        "model": model,
        "count": sample.seen,
        "ready": outcomes.get("ready", 0),
        "timeout": outcomes.get("timeout", 0),
        "failed": outcomes.get("failed", 0),
        "mean_seconds": sample.mean(),
        "p95_seconds": sample.percentile(0.95),
        "max_seconds": sample.maximum(),
    }


def _key_labels(ids: set[Any], names: dict[int, str]) -> dict[Any, str]:
    """Key names, with the id added where two keys share one (``notebook #12``)."""
    taken: dict[str, int] = defaultdict(int)
    for name in names.values():
        taken[name] += 1
    labels: dict[Any, str] = {}
    for i in ids:
        if i is None:
            labels[i] = WORKSPACE
        elif i not in names:
            labels[i] = f"key #{i} (deleted)"
        else:
            labels[i] = names[i] if taken[names[i]] == 1 else f"{names[i]} #{i}"
    return labels


class Tally:
    """One pass over the rows: a cell per (bucket, group), per bucket, per model and per key."""

    def __init__(self, query: UsageQuery) -> None:
        self.query = query
        self.series: dict[tuple[datetime, Any], Cell] = defaultdict(lambda: Cell(timed=True))
        self.buckets: dict[datetime, Cell] = defaultdict(Cell)
        self.models: dict[str, Cell] = defaultdict(lambda: Cell(timed=True))
        self.keys: dict[int | None, Cell] = defaultdict(Cell)

    def add(
        self, created: datetime, user_id: int | None, key_id: int | None, model: str, *figures: Any
    ) -> None:
        start = bucket_start(created, self.query.bucket)
        group = {"model": model, "user": user_id, "key": key_id}[self.query.by]
        for cell in (
            self.series[start, group],
            self.buckets[start],
            self.models[model],
            self.keys[key_id],
        ):
            cell.add(*figures)

    def groups(self) -> set[Any]:
        return {group for _, group in self.series}

    def figures(self, labels: dict[Any, str], starts: list[datetime]) -> dict[str, Any]:
        tokens: dict[Any, int] = defaultdict(int)
        for (_, group), cell in self.series.items():
            tokens[group] += cell.prompt_tokens + cell.completion_tokens
        order = sorted(tokens, key=lambda g: (-tokens[g], labels[g]))
        total = Cell()
        for cell in self.buckets.values():
            total.requests += cell.requests
            total.errors += cell.errors
            total.prompt_tokens += cell.prompt_tokens
            total.completion_tokens += cell.completion_tokens
        return {
            "groups": [labels[g] for g in order],
            "series": self._series(labels, order),
            "error_rate": [self._rate(start) for start in starts],
            "latency_by_model": [
                {"model": m, "requests": c.requests, **c.percentiles()}
                for m, c in sorted(self.models.items())
            ],
            "totals": total.counts(),
            "by_model": [_legacy(m, c) for m, c in sorted(self.models.items())],
            "by_key": [
                _legacy(k, self.keys[k])
                for k in sorted(self.keys, key=lambda k: (k is not None, k or 0))
            ],
        }

    def _series(self, labels: dict[Any, str], order: list[Any]) -> list[dict[str, Any]]:
        rank = {group: at for at, group in enumerate(order)}
        items = sorted(self.series.items(), key=lambda item: (item[0][0], rank[item[0][1]]))
        return [
            {
                "start": start.isoformat(),
                "group": labels[group],
                **cell.counts(),
                **cell.percentiles(),
            }
            for (start, group), cell in items
        ]

    def _rate(self, start: datetime) -> dict[str, Any]:
        cell = self.buckets.get(start) or Cell()
        rate = round(cell.errors / cell.requests, 4) if cell.requests else None
        return {
            "start": start.isoformat(),
            "requests": cell.requests,
            "errors": cell.errors,
            "rate": rate,
        }


def _legacy(key: Any, cell: Cell) -> dict[str, Any]:
    """A row of ``by_model`` / ``by_key``, as ``GET /api/usage`` has always answered."""
    counts = cell.counts()
    del counts["errors"]
    return {"key": key, **counts, **cell.averages()}
