"""Percentiles and time buckets for the usage report, computed in Python: SQLite has no
percentile function, and PostgreSQL's would make the two databases answer differently."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
# Past this many values in one cell (a model's hour, say) a uniform sample stands for them:
# memory stays bounded however busy the range, and a percentile of 20,000 draws is within
# a fraction of a percent of the exact one.
SAMPLE_SIZE = 20_000


class Sample:
    """The values of one cell, or a uniform sample of them once there are too many."""

    __slots__ = ("_rng", "seen", "values")

    def __init__(self) -> None:
        self.values: list[float] = []
        self.seen = 0
        self._rng: random.Random | None = None

    def add(self, value: float | None) -> None:
        if value is None:
            return
        self.seen += 1
        if len(self.values) < SAMPLE_SIZE:
            self.values.append(value)
            return
        if self._rng is None:  # seeded: the same rows give the same report
            self._rng = random.Random(SAMPLE_SIZE)
        slot = self._rng.randrange(self.seen)  # reservoir sampling (Vitter's algorithm R)
        if slot < SAMPLE_SIZE:
            self.values[slot] = value

    def percentile(self, fraction: float) -> float | None:
        return percentile(sorted(self.values), fraction)

    def mean(self) -> float | None:
        return round(sum(self.values) / len(self.values), 2) if self.values else None

    def maximum(self) -> float | None:
        return round(max(self.values), 2) if self.values else None


def percentile(ordered: list[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default); None when empty."""
    if not ordered:
        return None
    at = fraction * (len(ordered) - 1)
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (at - low), 2)


def bucket_start(moment: datetime, bucket: str) -> datetime:
    """The UTC hour or day a moment falls in (SQLite's naive datetimes are UTC)."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if bucket == "day" else moment


def bucket_starts(since: datetime, until: datetime, bucket: str) -> list[datetime]:
    """Every bucket from the one holding ``since`` to the one holding ``until``: the charts'
    x axis, with the quiet hours in it."""
    step = BUCKETS[bucket]
    at, last = bucket_start(since, bucket), bucket_start(until, bucket)
    found = []
    while at <= last:
        found.append(at)
        at += step
    return found
