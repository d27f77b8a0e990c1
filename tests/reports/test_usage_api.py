"""``GET /api/usage`` over HTTP: the extended answer, CSV by ``Accept`` or ``format``, and a
400 naming the parameter for anything else — never a 5xx, whatever the query holds."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from hfgate.storage import Database
from tests.reports.seed import Seeded, seed
from tests.support.peers import Gateway, running_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home: Path = tmp_path_factory.mktemp("usage-api") / "home"
    with running_gateway(home) as gw:
        yield gw


@pytest.fixture(scope="module")
async def seeded(gateway: Gateway) -> Seeded:
    db = Database(gateway.settings.database_url)
    try:
        return await seed(db, {1: None})  # the owner, through the workspace
    finally:
        await db.close()


def test_the_answer_keeps_its_old_fields_and_adds_the_new(gateway: Gateway, seeded: Seeded) -> None:
    with gateway.client() as client:
        body = client.get("/api/usage", params={"days": 7}).json()
    assert {"by_model", "by_key", "series", "latency_by_model", "cold_starts", "error_rate"} <= set(
        body
    )
    assert sum(r["prompt_tokens"] + r["completion_tokens"] for r in body["series"]) == (
        seeded.tokens()
    )
    assert sum(r["requests"] for r in body["by_model"]) == len(seeded.usage)


@pytest.mark.parametrize("how", ["accept", "format"])
def test_csv_when_asked(gateway: Gateway, seeded: Seeded, how: str) -> None:
    params = {"days": "7", "view": "series"} | ({"format": "csv"} if how == "format" else {})
    headers = {"Accept": "text/csv"} if how == "accept" else {}
    with gateway.client() as client:
        answer = client.get("/api/usage", params=params, headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert sum(int(r["prompt_tokens"]) + int(r["completion_tokens"]) for r in rows) == (
        seeded.tokens()
    )


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("days", "0"),
        ("days", "367"),
        ("days", "1e3"),
        ("days", "%00"),
        ("bucket", "week"),
        ("by", "team"),
        ("by", "x" * 10_000),
        ("view", "secrets"),
        ("user", "%ED%A0%80"),  # a lone surrogate, as UTF-8 would have it
        ("user", "nobody@example.com"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(gateway: Gateway, param: str, value: str) -> None:
    with gateway.client() as client:
        answer = client.get(f"/api/usage?{param}={value}")  # sent as written
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
