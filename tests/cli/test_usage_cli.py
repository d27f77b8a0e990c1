"""``hfgate usage`` and ``hfgate costs``: the usage page's figures in 80 columns, and the
server's CSV as it is."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from tests.reports.seed import MODELS, PRICES, Seeded, seed, seed_spans
from tests.support.peers import ADMIN_KEY, Gateway, running_gateway
from typer.testing import CliRunner, Result

from hfgate.cli import app
from hfgate.storage import Database


async def _seed(url: str) -> Seeded:
    db = Database(url)
    try:
        seeded = await seed(db, {1: None})
        await seed_spans(db)
        return seeded
    finally:
        await db.close()


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Seeded]]:
    home = tmp_path_factory.mktemp("usage-cli") / "home"
    with running_gateway(home) as gateway:
        # A loop may already run in this thread (Playwright's, after the browser tests).
        with ThreadPoolExecutor(1) as pool:
            seeded = pool.submit(asyncio.run, _seed(gateway.settings.database_url)).result()
        yield gateway, seeded


def run(gateway: Gateway, *args: str) -> Result:
    env = {"HFGATE_URL": gateway.url, "HFGATE_API_KEY": ADMIN_KEY, "COLUMNS": "80"}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result


def _fits(output: str) -> None:
    assert all(len(line) <= 80 for line in output.splitlines()), "\n" + output


@pytest.mark.parametrize("by", ["model", "user", "key"])
def test_usage_fits_80_columns_with_the_totals(stage: tuple[Gateway, Seeded], by: str) -> None:
    gateway, seeded = stage
    output = run(gateway, "usage", "--by", by).output
    _fits(output)
    total = next(line for line in output.splitlines() if line.strip().startswith("total"))
    assert f"{len(seeded.usage):,}" in total, output
    assert f"{sum(r['prompt_tokens'] for r in seeded.usage):,}" in total, output


def test_usage_names_models_whole_and_their_cold_starts(stage: tuple[Gateway, Seeded]) -> None:
    gateway, seeded = stage
    output = run(gateway, "usage").output
    for model in MODELS:
        starts = sum(1 for c in seeded.cold_starts if c["model"] == model)
        assert re.search(rf"{re.escape(model)}\s+{starts}\s", output), output


def test_usage_csv_is_the_servers(stage: tuple[Gateway, Seeded]) -> None:
    gateway, seeded = stage
    rows = list(csv.DictReader(io.StringIO(run(gateway, "usage", "--csv").output)))
    assert sum(int(r["prompt_tokens"]) + int(r["completion_tokens"]) for r in rows) == (
        seeded.tokens()
    )


def test_costs_per_endpoint_with_its_price(stage: tuple[Gateway, Seeded]) -> None:
    gateway, _ = stage
    output = run(gateway, "costs").output
    _fits(output)
    for model, price in PRICES.items():
        assert model in output and f"${price:.2f}" in output, output
    assert re.search(r"total\s.*\$\d", output), output
    rows = list(csv.DictReader(io.StringIO(run(gateway, "costs", "--csv").output)))
    assert {r["model"] for r in rows} == set(PRICES)


def test_days_out_of_range_is_refused_before_asking(stage: tuple[Gateway, Seeded]) -> None:
    gateway, _ = stage
    env = {"HFGATE_URL": gateway.url, "HFGATE_API_KEY": ADMIN_KEY}
    result = CliRunner().invoke(app, ["usage", "--days", "400"], env=env)
    assert result.exit_code == 2 and "366" in result.output
