"""The ledger's arithmetic, its one-writer lease, and its spans across a writer's death."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hfgate.costs import store
from hfgate.costs.advice import best, replay
from hfgate.costs.ledger import Busy, Span, Timeline, apportion, periods, tally
from hfgate.costs.observer import LedgerWriter
from hfgate.costs.store import Observation
from hfgate.storage import Database


def test_busy_measures_the_union_of_overlapping_calls() -> None:
    busy = Busy([(0, 10), (5, 15), (20, 25), (30, 30)])
    assert busy.intervals() == [(0, 15), (20, 25)]
    assert busy.measure(0, 100) == 20
    assert busy.measure(12, 22) == 5  # 12-15 and 20-22


def test_a_tally_splits_running_time_into_serving_and_idle_and_marks_gaps() -> None:
    spans = Timeline(
        [
            Span("initializing", 1, 2.0, 0, 600),
            Span("running", 2, 2.0, 600, 3600),
            Span("scaledToZero", 0, 2.0, 3600, 5400),
            Span("running", 1, 2.0, 7200, 9000),  # 5400-7200: nobody watched
        ]
    )
    result = tally(spans, Busy([(600, 1500)]), 0, 9000)
    assert result.seconds["starting"] == 600
    assert result.seconds["serving"] == 900
    assert result.seconds["idle"] == 2100 + 1800
    assert result.seconds["scaled_to_zero"] == 1800
    assert result.seconds["unobserved"] == 1800
    assert result.starting_usd == pytest.approx(2.0 * 600 / 3600)
    assert result.serving_usd == pytest.approx(2 * 2.0 * 900 / 3600)
    assert result.idle_usd == pytest.approx(2 * 2.0 * 2100 / 3600 + 2.0 * 1800 / 3600)


def test_periods_cut_at_whole_hours_and_days() -> None:
    assert periods(1800, 9000, 3600) == [(1800, 3600), (3600, 7200), (7200, 9000)]
    assert periods(0, 86400 * 2, 86400) == [(0, 86400), (86400, 172800)]


def test_apportion_gives_whole_cents_that_sum_to_the_total() -> None:
    shares = apportion(100, {"a": 1.0, "b": 1.0, "c": 1.0})
    assert sum(shares.values()) == 100 and sorted(shares.values()) == [33, 33, 34]
    assert apportion(7, {"a": 0.0}) == {"a": 0}


def test_replay_counts_idle_time_and_cold_starts_per_timeout() -> None:
    busy = [(0.0, 60.0), (660.0, 720.0), (4320.0, 4380.0)]  # gaps of 10 min and 60 min
    short = replay(busy, 15, now=4380.0, cold_start_seconds=100, hourly=3.6)
    assert (short.idle_seconds, short.cold_starts) == (600 + 900, 1)
    assert short.idle_usd == pytest.approx(1.5) and short.starting_usd == pytest.approx(0.1)
    long = replay(busy, 60, now=4380.0, cold_start_seconds=100, hourly=3.6)
    assert (long.idle_seconds, long.cold_starts) == (600 + 3600, 0)
    assert best([short, long]) == short


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The lease and the spans on both databases hfgate runs on (PostgreSQL: a fresh one)."""
    if request.param == "postgres":
        return str(request.getfixturevalue("fresh_postgres_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
async def db(ledger_url: str) -> Database:
    database = Database(ledger_url)
    await database.migrate()
    return database


async def test_one_writer_at_a_time_and_another_takes_over_when_it_dies(db: Database) -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    clock = [start]

    async def seen() -> list[Observation]:
        return [Observation("m", "running", 1, 1.0)]

    first = LedgerWriter(db, seen, 60, lambda: clock[0])
    second = LedgerWriter(db, seen, 60, lambda: clock[0])
    assert await first.tick() and not await second.tick()
    clock[0] += timedelta(seconds=60)
    assert await first.tick() and not await second.tick()
    # The first dies; its lease (3 ticks) runs out and the second goes on.
    clock[0] += timedelta(seconds=120)
    assert not await second.tick()
    clock[0] += timedelta(seconds=61)
    assert await second.tick()
    spans = (await store.spans(db, start, start + timedelta(hours=1)))["m"]
    # 60 s → 241 s is more than 2.5 ticks apart: a gap, not guessed.
    assert [(s.start - start.timestamp(), s.end - start.timestamp()) for s in spans] == [
        (0, 60),
        (241, 241),
    ]
    await db.close()


async def test_a_change_of_state_holds_the_old_one_until_it_is_seen(db: Database) -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    at = [start]
    state = ["running"]

    async def seen() -> list[Observation]:
        return [Observation("m", state[0], 1 if state[0] == "running" else 0, 1.0)]

    writer = LedgerWriter(db, seen, 60, lambda: at[0])
    for minute, now in enumerate(["running", "running", "scaledToZero", "scaledToZero"]):
        at[0], state[0] = start + timedelta(minutes=minute), now
        await writer.tick()
    spans = (await store.spans(db, start, start + timedelta(hours=1)))["m"]
    offsets = [(s.state, s.start - start.timestamp(), s.end - start.timestamp()) for s in spans]
    assert offsets == [("running", 0, 120), ("scaledToZero", 120, 180)]
    await db.close()


async def test_a_clean_restart_continues_the_span_without_a_gap(db: Database) -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    clock = [start]

    async def seen() -> list[Observation]:
        return [Observation("m", "running", 1, 1.0)]

    before = LedgerWriter(db, seen, 60, lambda: clock[0])
    assert await before.tick()
    await before.release()  # the process stops cleanly
    clock[0] += timedelta(seconds=60)
    after = LedgerWriter(db, seen, 60, lambda: clock[0])  # the restarted one
    assert await after.tick()
    spans = (await store.spans(db, start, start + timedelta(hours=1)))["m"]
    assert [(s.start, s.end) for s in spans] == [(start.timestamp(), start.timestamp() + 60)]
    await db.close()


def test_costs_csv_quotes_text_a_spreadsheet_would_run() -> None:
    from hfgate.costs.service import as_csv

    line = {"model": "m", "start": "s", "line": "usage", "user": "@evil", "key": "=1+1"}
    text = as_csv({"attribution": [line | {"user_id": 1, "key_id": 2, "tokens": 3, "usd": 0.5}]},
                  "attribution")  # fmt: skip
    assert "'=1+1" in text and "'@evil" in text and ",=1+1" not in text
