"""``hfgate key create --budget-tokens … --budget-usd …``, ``hfgate key list`` (within 80
columns) and ``hfgate user budget EMAIL``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner, Result

from hfgate.cli import app
from hfgate.cli.people import budgets_cell
from tests.support.peers import ADMIN_KEY, Gateway, running_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with running_gateway(tmp_path_factory.mktemp("cli") / "home") as gw:
        yield gw


def run(gw: Gateway, *args: str) -> Result:
    env = {"HFGATE_URL": gw.url, "HFGATE_API_KEY": ADMIN_KEY, "COLUMNS": "80"}
    return CliRunner().invoke(app, list(args), env=env)


def test_key_create_with_budgets_and_list_them(gateway: Gateway) -> None:
    created = run(
        gateway,
        *("key", "create", "--name", "capped"),
        *("--budget-tokens", "2000000/day", "--budget-usd", "50/month"),
    )
    assert created.exit_code == 0, created.output
    listed = run(gateway, "key", "list")
    assert listed.exit_code == 0, listed.output
    assert all(len(line) <= 80 for line in listed.output.splitlines()), listed.output
    assert "2M/d 0%" in listed.output and "$50/mo 0%" in listed.output, listed.output
    key_id = created_id(gateway, "capped")
    changed = run(gateway, "key", "budget", str(key_id), "--budget-usd", "20/day")
    assert "capped: 2M/d 0%, $20/d 0%" in changed.output, changed.output
    cleared = run(gateway, "key", "budget", str(key_id), "--clear")
    assert "capped: no budgets" in cleared.output, cleared.output
    bad = run(gateway, "key", "create", "--name", "bad", "--budget-usd", "50/week")
    assert bad.exit_code != 0
    assert 'budget_usd must be "day" or "month"' in bad.output


def created_id(gw: Gateway, name: str) -> int:
    with gw.client() as admin:
        keys = admin.get("/api/keys").json()["data"]
    return int(next(k["id"] for k in keys if k["name"] == name))


def test_user_budget_sets_keeps_and_clears(gateway: Gateway) -> None:
    assert run(gateway, "user", "add", "capped@example.com").exit_code == 0
    first = run(gateway, "user", "budget", "capped@example.com", "--budget-usd", "100/month")
    assert first.exit_code == 0, first.output
    assert "capped@example.com: $100/mo 0%" in first.output
    second = run(gateway, "user", "budget", "capped@example.com", "--budget-tokens", "5000/day")
    assert "$100/mo 0%, 5k/d 0%" in second.output, second.output
    cleared = run(gateway, "user", "budget", "capped@example.com", "--clear")
    assert "capped@example.com: no budgets" in cleared.output, cleared.output
    nothing = run(gateway, "user", "budget", "capped@example.com")
    assert nothing.exit_code != 0 and "name a budget" in nothing.output


def test_budgets_cell_is_compact() -> None:
    budgets = [
        {
            "kind": "tokens",
            "limit": 2_000_000,
            "period": "day",
            "spent": 1_700_000,
            "warning": True,
        },
        {"kind": "usd", "limit": 12.5, "period": "month"},
    ]
    assert budgets_cell(budgets) == "2M/d 85%!, $12.5/mo"
    assert budgets_cell(None) == ""
