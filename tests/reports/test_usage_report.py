"""The usage report: series per bucket and group, percentiles, error rate, cold starts, who
sees what, and the CSV of each view."""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from hfgate.errors import InvalidRequest, PermissionDenied
from hfgate.reports import UsageQuery, UsageReports, usage_csv, usage_query
from hfgate.reports.stats import SAMPLE_SIZE, Sample, percentile
from hfgate.storage import Database
from hfgate.storage.tables import ApiKey, User
from hfgate.values.principal import Principal, Role
from tests.reports.seed import MODELS, Seeded, seed

ADMIN = Principal(1, "owner@example.com", Role.OWNER)
MEMBER = Principal(2, "ada@example.com", Role.MEMBER)


async def _people(db: Database) -> None:
    async with db.session() as session:
        await session.execute(
            insert(User),
            [
                {"id": 1, "email": ADMIN.email, "role": "owner"},
                {"id": 2, "email": MEMBER.email, "role": "member"},
            ],
        )
        keys = [(10, 1, "ci"), (11, 2, "notebook"), (12, 2, "notebook")]
        await session.execute(
            insert(ApiKey),
            [
                {"id": i, "user_id": u, "name": n, "prefix": f"hfg_{i}", "key_hash": f"h{i}"}
                for i, u, n in keys
            ],
        )
        await session.commit()


@pytest.fixture(params=["sqlite", "postgres"])
def own_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of the test's own: the rows' ids are fixed."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'usage.db'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture
async def database(own_url: str) -> AsyncIterator[Database]:
    db = Database(own_url)
    await db.migrate()
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def seeded(database: Database) -> tuple[UsageReports, Seeded]:
    await _people(database)
    # The owner through key 10; the member through keys 11 and 12 and the workspace.
    first = await seed(database, {1: 10, 2: 11})
    second = await seed(database, {2: None}, hours=30)
    third = await seed(database, {2: 12}, hours=10)
    first.usage += second.usage + third.usage
    first.cold_starts += second.cold_starts + third.cold_starts
    return UsageReports(database), first


def _sum(items: list[dict[str, Any]], *fields: str) -> int:
    return sum(item[f] for item in items for f in fields)


async def test_series_add_up_to_the_rows_per_model_and_bucket(
    seeded: tuple[UsageReports, Seeded],
) -> None:
    reports, rows = seeded
    report = await reports.report(ADMIN, UsageQuery(days=7, bucket="day", by="model"))
    assert _sum(report["series"], "prompt_tokens", "completion_tokens") == rows.tokens()
    assert _sum(report["series"], "requests") == len(rows.usage) == report["totals"]["requests"]
    assert set(report["groups"]) == set(MODELS)
    assert len(report["buckets"]) in (7, 8)  # today's partial day, and the one 7 days back
    errors = sum(1 for r in rows.usage if r["status"] >= 400)
    assert _sum(report["series"], "errors") == errors == _sum(report["error_rate"], "errors")
    assert [e["start"] for e in report["error_rate"]] == report["buckets"]


async def test_percentiles_per_model_are_those_of_its_rows(
    seeded: tuple[UsageReports, Seeded],
) -> None:
    reports, rows = seeded
    report = await reports.report(ADMIN, UsageQuery(days=7, bucket="day"))
    for line in report["latency_by_model"]:
        latency = [r["latency_ms"] for r in rows.usage if r["model"] == line["model"]]
        ttft = [r["ttft_ms"] for r in rows.usage if r["model"] == line["model"]]
        assert line["requests"] == len(latency)
        assert line["latency_p50_ms"] == pytest.approx(statistics.median(latency), abs=0.01)
        exact = statistics.quantiles(ttft, n=20, method="inclusive")[18]
        assert line["ttft_p95_ms"] == pytest.approx(exact, abs=0.01)


async def test_a_member_sees_only_their_own_rows(seeded: tuple[UsageReports, Seeded]) -> None:
    reports, rows = seeded
    report = await reports.report(MEMBER, UsageQuery(days=7, by="key"))
    assert _sum(report["series"], "prompt_tokens", "completion_tokens") == rows.tokens(2)
    assert set(report["groups"]) == {"notebook #11", "notebook #12", "workspace (no key)"}
    assert {row["key"] for row in report["by_key"]} == {None, 11, 12}
    with pytest.raises(PermissionDenied):
        await reports.report(MEMBER, UsageQuery(user="1"))
    own = await reports.report(MEMBER, UsageQuery(user=MEMBER.email))
    assert own["totals"] == report["totals"]


async def test_admins_group_by_person_and_filter_one(seeded: tuple[UsageReports, Seeded]) -> None:
    reports, rows = seeded
    report = await reports.report(ADMIN, UsageQuery(days=7, by="user"))
    per_person = {g: 0 for g in report["groups"]}
    for item in report["series"]:
        per_person[item["group"]] += item["prompt_tokens"] + item["completion_tokens"]
    assert per_person == {ADMIN.email: rows.tokens(1), MEMBER.email: rows.tokens(2)}
    only = await reports.report(ADMIN, UsageQuery(days=7, user=MEMBER.email))
    assert only["totals"]["requests"] == len(rows.rows(2))
    with pytest.raises(InvalidRequest):
        await reports.report(ADMIN, UsageQuery(user="nobody@example.com"))


async def test_hours_over_one_day(seeded: tuple[UsageReports, Seeded]) -> None:
    reports, rows = seeded
    report = await reports.report(ADMIN, usage_query("1", None, None))
    assert report["bucket"] == "hour" and len(report["buckets"]) in (24, 25)
    assert _sum(report["series"], "prompt_tokens", "completion_tokens") == rows.tokens(hours=24)


async def test_cold_starts_per_endpoint(seeded: tuple[UsageReports, Seeded]) -> None:
    reports, rows = seeded
    report = await reports.report(MEMBER, UsageQuery(days=7))
    for line in report["cold_starts"]:
        mine = [c for c in rows.cold_starts if c["model"] == line["model"]]
        seconds = [c["seconds"] for c in mine]
        assert line["count"] == len(mine) == line["ready"] + line["timeout"] + line["failed"]
        assert line["max_seconds"] == max(seconds)
        assert line["mean_seconds"] == pytest.approx(statistics.mean(seconds), abs=0.01)
    assert len(report["cold_start_events"]) == len(rows.cold_starts)


async def test_csv_views(seeded: tuple[UsageReports, Seeded]) -> None:
    reports, _ = seeded
    report = await reports.report(ADMIN, UsageQuery(days=7))
    series = list(csv.DictReader(io.StringIO(usage_csv(report, "series"))))
    assert len(series) == len(report["series"])
    assert sum(int(r["requests"]) for r in series) == report["totals"]["requests"]
    models = usage_csv(report, "models").splitlines()
    assert models[0].startswith("model,requests,ttft_p50_ms") and len(models) == 3
    assert usage_csv(report, "cold_starts").splitlines()[0].startswith("model,count,ready")
    with pytest.raises(InvalidRequest):
        usage_csv(report, "nonsense")


def test_csv_quotes_what_a_spreadsheet_would_run() -> None:
    report = {"latency_by_model": [{"model": "=HYPERLINK(1)", "requests": 1}]}
    assert "'=HYPERLINK(1)" in usage_csv(report, "models")


@pytest.mark.parametrize(
    ("days", "bucket", "by", "param"),
    [
        ("0", None, None, "days"),
        ("367", None, None, "days"),
        ("x", None, None, "days"),
        ("7", "week", None, "bucket"),
        ("7", None, "team", "by"),
    ],
)
def test_bad_parameters_name_themselves(
    days: str, bucket: str | None, by: str | None, param: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        usage_query(days, bucket, by)
    assert refused.value.param == param


def test_percentile_and_the_bounded_sample() -> None:
    assert percentile([], 0.5) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    sample = Sample()
    for value in range(3 * SAMPLE_SIZE):
        sample.add(float(value))
    assert sample.seen == 3 * SAMPLE_SIZE and len(sample.values) == SAMPLE_SIZE
    assert sample.percentile(0.5) == pytest.approx(1.5 * SAMPLE_SIZE, rel=0.03)
