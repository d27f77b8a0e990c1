"""Which scale-to-zero timeout would have cost least, replaying the requests seen (pure).

For a timeout T, every gap between two stretches of traffic shorter than T is idle, billed
time; a longer gap costs T of idle time, then the endpoint sleeps and the next request waits
for a cold start (billed as *starting*). After the last request the endpoint idles for T, or
until now. The serving time is the same whatever T is, so it is left out.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

# Timeouts Inference Endpoints offers, in minutes (15 is the least their UI lets one pick).
CANDIDATES = (15, 30, 60, 120, 240, 480, 720, 1440)


@dataclass(frozen=True, slots=True)
class Outcome:
    timeout_minutes: int
    idle_seconds: float
    cold_starts: int
    starting_seconds: float
    idle_usd: float
    starting_usd: float

    @property
    def total_usd(self) -> float:
        return self.idle_usd + self.starting_usd

    def view(self) -> dict[str, float | int]:
        return {
            "timeout_minutes": self.timeout_minutes,
            "idle_usd": round(self.idle_usd, 2),
            "starting_usd": round(self.starting_usd, 2),
            "total_usd": round(self.idle_usd, 2) + round(self.starting_usd, 2),
            "idle_hours": round(self.idle_seconds / 3600, 2),
            "cold_starts": self.cold_starts,
        }


def replay(
    busy: list[tuple[float, float]],
    timeout_minutes: int,
    *,
    now: float,
    cold_start_seconds: float,
    hourly: float,
) -> Outcome:
    """What ``busy`` (merged, sorted in-flight intervals) costs with this timeout."""
    timeout = timeout_minutes * 60.0
    idle = 0.0
    starts = 0
    for (_, end), (start, _) in itertools.pairwise(busy):
        gap = start - end
        if gap <= timeout:
            idle += gap
        else:
            idle += timeout
            starts += 1
    if busy:
        idle += min(timeout, max(0.0, now - busy[-1][1]))
    starting = starts * cold_start_seconds
    rate = hourly / 3600.0
    return Outcome(timeout_minutes, idle, starts, starting, idle * rate, starting * rate)


def best(outcomes: list[Outcome]) -> Outcome:
    """The cheapest; on a tie, the one with fewer cold starts (then the longer timeout)."""
    return min(outcomes, key=lambda o: (round(o.total_usd, 2), o.cold_starts, -o.timeout_minutes))


def summary(current: Outcome | None, chosen: Outcome, days: int) -> str:
    """One sentence, e.g. "timeout 60 min cost $41.20 idle this week; 15 min would have …"."""
    span = "this week" if days == 7 else f"in the last {days} days"
    if current is None:
        return (
            f"{chosen.timeout_minutes} min would have cost ${chosen.total_usd:,.2f} idle and"
            f" starting {span}, with {chosen.cold_starts} cold starts"
        )
    now = f"timeout {current.timeout_minutes} min cost ${current.total_usd:,.2f} idle {span}"
    if chosen.timeout_minutes == current.timeout_minutes:
        return f"{now}; no other timeout would have cost less"
    more = chosen.cold_starts - current.cold_starts
    change = (
        f"added {more} cold start{'s' if more != 1 else ''}"
        if more > 0
        else f"avoided {-more} cold start{'s' if more != -1 else ''}"
        if more < 0
        else "caused as many cold starts"
    )
    return (
        f"{now}; {chosen.timeout_minutes} min would have cost ${chosen.total_usd:,.2f} and {change}"
    )
