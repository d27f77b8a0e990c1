"""Budget periods in UTC: a day starts at 00:00 UTC, a month on the 1st at 00:00 UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def window(period: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The (start, end) of the period containing ``now``; the end is the next start."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day, day + timedelta(days=1)
    start = day.replace(day=1)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else (start.replace(month=start.month + 1))
    )
    return start, end


def shown(moment: datetime) -> str:
    """How a reset time is written in messages: ``2026-12-06 00:00 UTC``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
