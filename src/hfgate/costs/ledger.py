"""What an endpoint cost, from its timeline of states and its requests (pure: no I/O).

Inference Endpoints bill each replica by the minute while it is *initializing* or *running*
(docs/protocols.md §1.4). A stretch of running time is *serving* while at least one request is
in flight and *idle* otherwise; initializing is *starting*. Time no span covers is
*unobserved*: hfgate was not watching, and the ledger does not guess what it cost.

Times are POSIX seconds (floats); prices are USD per replica-hour.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

K = TypeVar("K")

RUNNING = frozenset({"running", "updating"})  # billed; serving or idle
STARTING = frozenset({"initializing"})  # billed while the replica starts
# Not billed, each counted on its own line: pending waits for hardware before initializing.
RESTING = {"scaledToZero": "scaled_to_zero", "paused": "paused", "failed": "failed"}
SECOND_KINDS = (
    "serving",
    "idle",
    "starting",
    "pending",
    "scaled_to_zero",
    "paused",
    "failed",
    "unobserved",
)


@dataclass(frozen=True, slots=True)
class Span:
    state: str
    replicas: int
    price_per_hour: float | None
    start: float
    end: float


@dataclass(slots=True)
class Tally:
    """Seconds per kind and dollars per billed kind, for one endpoint over one period."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(SECOND_KINDS, 0.0))
    serving_usd: float = 0.0
    idle_usd: float = 0.0
    starting_usd: float = 0.0
    price_per_hour: float | None = None  # the last price seen in the period

    @property
    def total_usd(self) -> float:
        return self.serving_usd + self.idle_usd + self.starting_usd

    def add(self, other: Tally) -> None:
        for kind, seconds in other.seconds.items():
            self.seconds[kind] += seconds
        self.serving_usd += other.serving_usd
        self.idle_usd += other.idle_usd
        self.starting_usd += other.starting_usd
        if other.price_per_hour is not None:
            self.price_per_hour = other.price_per_hour


class Busy:
    """The union of requests' in-flight intervals, for measuring overlap quickly."""

    def __init__(self, intervals: Iterable[tuple[float, float]]) -> None:
        merged: list[list[float]] = []
        for start, end in sorted(intervals):
            if end <= start:
                continue
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.starts = [m[0] for m in merged]
        self.ends = [m[1] for m in merged]

    def measure(self, start: float, end: float) -> float:
        """Seconds of [start, end) during which a request was in flight."""
        total = 0.0
        i = bisect.bisect_right(self.ends, start)
        while i < len(self.starts) and self.starts[i] < end:
            total += max(0.0, min(end, self.ends[i]) - max(start, self.starts[i]))
            i += 1
        return total

    def intervals(self) -> list[tuple[float, float]]:
        return list(zip(self.starts, self.ends, strict=True))


class Timeline:
    """One endpoint's spans in time order, searchable by time (a ledger spans weeks)."""

    def __init__(self, spans: Sequence[Span]) -> None:
        self.spans = sorted(spans, key=lambda s: (s.start, s.end))
        self._reach: list[float] = []  # the latest end so far: sorted, so bisectable
        for span in self.spans:
            self._reach.append(max(span.end, self._reach[-1] if self._reach else span.end))

    def between(self, start: float, end: float) -> Iterable[Span]:
        i = bisect.bisect_right(self._reach, start)
        while i < len(self.spans) and self.spans[i].start < end:
            yield self.spans[i]
            i += 1


def tally(timeline: Timeline, busy: Busy, start: float, end: float) -> Tally:
    """One endpoint's seconds and dollars over [start, end)."""
    result = Tally()
    covered = 0.0
    for span in timeline.between(start, end):
        lo, hi = max(span.start, start), min(span.end, end)
        if hi <= lo:
            continue
        covered += hi - lo
        _add_span(result, span, lo, hi, busy)
    result.seconds["unobserved"] += max(0.0, (end - start) - covered)
    return result


def _add_span(result: Tally, span: Span, lo: float, hi: float, busy: Busy) -> None:
    rate = (span.price_per_hour or 0.0) * span.replicas / 3600.0
    if span.price_per_hour is not None:
        result.price_per_hour = span.price_per_hour
    if span.state in RUNNING:
        serving = busy.measure(lo, hi)
        result.seconds["serving"] += serving
        result.seconds["idle"] += hi - lo - serving
        result.serving_usd += rate * serving
        result.idle_usd += rate * (hi - lo - serving)
    elif span.state in STARTING:
        result.seconds["starting"] += hi - lo
        result.starting_usd += rate * (hi - lo)
    elif span.state == "pending":
        result.seconds["pending"] += hi - lo
    else:
        result.seconds[RESTING.get(span.state, "unobserved")] += hi - lo


def periods(start: float, end: float, length: float) -> list[tuple[float, float]]:
    """[start, end) cut at multiples of ``length`` seconds since the epoch (UTC hours, days)."""
    cuts: list[tuple[float, float]] = []
    lo = start
    while lo < end:
        hi = min(end, (lo // length + 1) * length)
        cuts.append((lo, hi))
        lo = hi
    return cuts


def apportion(total_cents: int, weights: dict[K, float]) -> dict[K, int]:
    """``total_cents`` split by weight in whole cents that sum to it (largest remainder)."""
    weight = sum(weights.values())
    if weight <= 0 or not weights:
        return dict.fromkeys(weights, 0)
    exact = {k: total_cents * w / weight for k, w in weights.items()}
    shares = {k: int(v) for k, v in exact.items()}
    left = total_cents - sum(shares.values())
    for k in sorted(exact, key=lambda k: exact[k] - shares[k], reverse=True)[:left]:
        shares[k] += 1
    return shares
