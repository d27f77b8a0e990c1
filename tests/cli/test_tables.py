"""Every table the CLI prints fits an 80-column terminal, keeps ids whole and says times as
people do ("3 min ago", "2026-12-04 14:03"), never ISO with microseconds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from tests.support.peers import ADMIN_KEY, MODEL, Gateway, SimHandle, running_gateway, running_sim
from typer.testing import CliRunner, Result

from hfgate.cli import app
from hfgate.cli._render import human_time

LONG_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimHandle, Gateway]]:
    home = tmp_path_factory.mktemp("tables") / "home"
    with running_sim() as sim, running_gateway(home, hub_url=sim.url) as gw:
        assert gw.add(sim.credential()).status_code == 201
        assert gw.add(sim.credential(name=LONG_MODEL)).status_code == 201
        assert run(gw, "user", "add", "ada.lovelace@example.com").exit_code == 0
        created = run(gw, "key", "create", "--name", "ci", "--user", "ada.lovelace@example.com")
        assert created.exit_code == 0, created.output
        yield sim, gw


def run(gw: Gateway, *args: str) -> Result:
    env = {"HFGATE_URL": gw.url, "HFGATE_API_KEY": ADMIN_KEY, "COLUMNS": "80"}
    return CliRunner().invoke(app, list(args), env=env)


@pytest.mark.parametrize(
    "command",
    [["models"], ["endpoint", "list"], ["key", "list"], ["user", "list"], ["audit"]],
    ids=" ".join,
)
def test_tables_fit_80_columns(gateway: tuple[SimHandle, Gateway], command: list[str]) -> None:
    result = run(gateway[1], *command)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= 80 for line in lines), "\n" + result.output
    assert not ISO_TIME.search(result.output), result.output


@pytest.mark.parametrize("command", [["models"], ["endpoint", "list"]], ids=" ".join)
def test_model_ids_stay_whole(gateway: tuple[SimHandle, Gateway], command: list[str]) -> None:
    output = run(gateway[1], *command).output
    for model in (MODEL, LONG_MODEL):
        assert re.search(rf"[│ ]{re.escape(model)} ", output), (model, output)


def test_people_tables_keep_emails_whole_and_say_when(
    gateway: tuple[SimHandle, Gateway],
) -> None:
    users = run(gateway[1], "user", "list").output
    assert "ada.lovelace@example.com" in users and "just now" in users, users
    keys = run(gateway[1], "key", "list").output
    assert "ada.lovelace@example.com" in keys and "never" in keys, keys
    audit = run(gateway[1], "audit").output
    assert "just now" in audit and "key.create" in audit, audit


NOW = datetime(2026, 12, 4, 14, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (NOW - timedelta(seconds=20), "just now"),
        (NOW - timedelta(minutes=3, seconds=50), "3 min ago"),
        (NOW - timedelta(hours=5, minutes=1), "5 h ago"),
        (NOW + timedelta(seconds=30), "just now"),  # a little clock skew
    ],
)
def test_recent_times_are_relative(moment: datetime, expected: str) -> None:
    assert human_time(moment.isoformat(), now=NOW) == expected


def test_older_and_future_times_are_local_minutes() -> None:
    old = NOW - timedelta(days=3, microseconds=123456)
    assert human_time(old.isoformat(), now=NOW) == old.astimezone().strftime("%Y-%m-%d %H:%M")
    later = NOW + timedelta(days=30)
    assert human_time(later.isoformat(), now=NOW) == later.astimezone().strftime("%Y-%m-%d %H:%M")
    assert human_time(None) == ""
