"""``/api/costs`` over real HTTP: the report as JSON and CSV, what a member sees, the advice's
refusals, and the admin's price per endpoint."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from hfgate.storage import Database
from hfgate.storage.tables import EndpointSpan, UsageRecord
from tests.support.peers import Gateway, SimHandle, running_gateway, running_sim

MODEL = "priced"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, SimHandle]]:
    home = tmp_path_factory.mktemp("costs") / "home"
    with running_sim() as sim, running_gateway(home, HFGATE_LEDGER_INTERVAL="0") as gateway:
        yield gateway, sim


def _seed(gateway: Gateway, member_id: int, member_key: int) -> None:
    """Two hours running at $2/h: the first with calls by the owner and by a member."""

    async def write() -> None:
        db = Database(gateway.settings.database_url)
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
        span = {"model": MODEL, "state": "running", "replicas": 1, "price_per_hour": 2.0}
        calls = [(1, None, 300, 3), (member_id, member_key, 100, 9)]
        async with db.session() as session:
            await session.execute(
                insert(EndpointSpan),
                [span | {"source": "observed", "started_at": start,
                         "ended_at": start + timedelta(hours=2)}],
            )  # fmt: skip
            await session.execute(
                insert(UsageRecord),
                [
                    {"model": MODEL, "route": "chat", "status": 200, "user_id": user,
                     "key_id": key, "prompt_tokens": tokens, "completion_tokens": 0,
                     "latency_ms": 60_000.0, "created_at": start + timedelta(minutes=minute)}
                    for user, key, tokens, minute in calls
                ],
            )  # fmt: skip
            await session.commit()
        await db.close()

    asyncio.run(write())


@pytest.fixture(scope="module")
def member(world: tuple[Gateway, SimHandle]) -> dict[str, Any]:
    gateway, _ = world
    with gateway.client() as admin:
        user = admin.post("/api/users", json={"email": "m@example.com", "role": "member"})
        assert user.status_code == 201, user.text
        key = admin.post("/api/keys", json={"name": "m", "user": "m@example.com"})
        assert key.status_code == 201, key.text
    _seed(gateway, user.json()["id"], key.json()["id"])
    return {"user": user.json(), "key": key.json()}


def test_an_admin_sees_every_endpoint_with_serving_and_idle_dollars(
    world: tuple[Gateway, SimHandle], member: dict[str, Any]
) -> None:
    gateway, _ = world
    with gateway.client() as admin:
        report = admin.get("/api/costs", params={"days": 1}).json()
    (endpoint,) = report["endpoints"]
    assert endpoint["model"] == MODEL and endpoint["price_per_hour"] == 2.0
    assert endpoint["seconds"]["serving"] == 120.0  # two calls of a minute each
    assert endpoint["serving_usd"] == round(2.0 * 120 / 3600, 2)
    assert endpoint["idle_usd"] == round(2.0 * (7200 - 120) / 3600, 2)
    assert report["totals"]["total_usd"] == endpoint["total_usd"] == 4.0
    usage = [line for line in report["attribution"] if line["line"] == "usage"]
    assert {line["user"] for line in usage} == {"owner@localhost", "m@example.com"}
    assert round(sum(line["usd"] for line in usage), 2) == endpoint["serving_usd"]


def test_a_member_sees_only_their_own_lines(
    world: tuple[Gateway, SimHandle], member: dict[str, Any]
) -> None:
    gateway, _ = world
    with gateway.client(member["key"]["key"]) as client:
        report = client.get("/api/costs", params={"days": 1}).json()
        assert client.get("/api/costs/advice").status_code == 403
        assert client.post(f"/api/costs/advice/{MODEL}/apply", json={}).status_code == 403
    assert report["endpoints"] == []
    assert {line["user_id"] for line in report["attribution"]} == {member["user"]["id"]}
    assert report["attribution"][0]["tokens"] == 100


def test_costs_as_csv(world: tuple[Gateway, SimHandle], member: dict[str, Any]) -> None:
    gateway, _ = world
    with gateway.client() as admin:
        answer = admin.get("/api/costs", params={"days": 1}, headers={"Accept": "text/csv"})
        lines = admin.get("/api/costs", params={"days": 1, "view": "attribution", "format": "csv"})
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert rows and {row["model"] for row in rows} == {MODEL}
    assert round(sum(float(row["total_usd"]) for row in rows), 2) == 4.0
    assert {"serving_seconds", "unobserved_seconds"} <= set(rows[0])
    people = {row["user"] for row in csv.DictReader(io.StringIO(lines.text))}
    assert {"owner@localhost", "m@example.com"} <= people


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/costs", {"days": 0}, 400),
        ("/api/costs", {"group": "week"}, 400),
        ("/api/costs", {"view": "everything"}, 400),
        ("/api/costs/advice", {"days": 5}, 400),
        ("/api/costs/advice", {"days": 30}, 200),
    ],
)
def test_bad_parameters_are_refused_precisely(
    world: tuple[Gateway, SimHandle], path: str, params: dict[str, Any], status: int
) -> None:
    gateway, _ = world
    with gateway.client() as admin:
        answer = admin.get(path, params=params)
    assert answer.status_code == status, answer.text
    if status == 400:
        assert answer.json()["error"]["message"]


def test_applying_advice_needs_a_linked_endpoint_and_minutes(
    world: tuple[Gateway, SimHandle],
) -> None:
    gateway, sim = world
    with gateway.client() as admin:
        added = admin.post("/api/integrations", content=json.dumps(sim.credential(name="plain")))
        assert added.status_code == 201, added.text
        path = "/api/costs/advice/plain/apply"
        assert admin.post(path, json={"timeout_minutes": "soon"}).status_code == 400
        assert admin.post(path, json={}).status_code == 400
        unlinked = admin.post(path, json={"timeout_minutes": 30})
        assert unlinked.status_code == 400
        assert (
            "not linked to a connected Hugging Face account" in unlinked.json()["error"]["message"]
        )
        missing = admin.post("/api/costs/advice/nope/apply", json={"timeout_minutes": 30})
        assert missing.status_code == 404


def test_an_admin_prices_an_endpoint_that_no_account_prices(
    world: tuple[Gateway, SimHandle],
) -> None:
    gateway, sim = world
    with gateway.client() as admin:
        added = admin.post("/api/integrations", content=json.dumps(sim.credential(name="cheap")))
        path = f"/api/integrations/{added.json()['integration']['id']}"
        assert (
            admin.patch(path, json={"price_per_hour": 0.8}).json()["integration"]["price_per_hour"]
            == 0.8
        )
        refused = admin.patch(path, json={"price_per_hour": "a lot"})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "price_per_hour"
        assert admin.patch(path, json={"price_per_hour": -1}).status_code == 400
        advice = admin.get("/api/costs/advice", params={"days": 7}).json()["data"]
        cheap = next(entry for entry in advice if entry["model"] == "cheap")
        assert cheap["price_per_hour"] == 0.8 and cheap["can_apply"] is False
        assert (
            admin.patch(path, json={"price_per_hour": None}).json()["integration"]["price_per_hour"]
            is None
        )
