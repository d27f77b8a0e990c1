"""A day of an endpoint's life, time compressed (issue 16's "done when").

The simulator's management API plays Hugging Face: a record whose state and replicas the test
moves through a day (asleep, starting, running with one and two replicas, paused, then a stretch
nobody observed), priced by the simulator's ``/provider`` list. The ledger's writer observes it
every 5 virtual minutes through hfgate's own management client; the day's traffic is written as
usage rows at virtual times. Then:

* the ledger's dollars equal price × replicas × the seconds in each state, to the cent,
  with the serving seconds counted second by second, independently of the ledger's arithmetic;
* the attribution's lines sum to the endpoint's serving dollars, split by tokens;
* the advice picks the timeout that a brute-force, second-by-second replay picks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert, select

from hfgate.costs.advice import CANDIDATES
from hfgate.costs.observer import LedgerWriter
from hfgate.endpoints.state import ModelStatus
from hfgate.services import Services
from hfgate.storage.tables import AuditEvent, ColdStart, UsageRecord
from hfgate.values.principal import Principal, Role
from tests.support.peers import SIM_TOKEN, SimHandle, gateway_settings, running_sim

PRICE = 1.25  # USD per replica-hour, the simulator's instance in its /provider list
RECORD = "acme/llama-day"
TICK = 300  # seconds between two observations
COLD = 90.0  # seconds each recorded cold start took
# (start hour, state, replicas); None: nobody observed (the writer was down)
SCHEDULE: list[tuple[float, str | None, int]] = [
    (0, "scaledToZero", 0),
    (2, "initializing", 1),
    (2 + 5 / 60, "running", 1),
    (5, "scaledToZero", 0),
    (8, "initializing", 1),
    (8 + 10 / 60, "running", 2),
    (14, "paused", 0),
    (16, None, 0),
    (18, "running", 1),
]
# (minute of the day a request ends, seconds it ran, user, key, tokens)
TRAFFIC = [
    *[(130 + 7 * i, 20.0 + i, 1, 11, 300 + 10 * i) for i in range(12)],  # 02:10 → 03:27
    *[(500 + 13 * i, 45.0, 1 + i % 2, 11 + i % 2, 1000 * (1 + i % 2)) for i in range(24)],
    *[(1100 + 61 * i, 30.0, 2, 12, 500) for i in range(5)],  # sparse in the evening
]


@dataclass
class Day:
    svc: Services
    sim: SimHandle
    start: datetime
    admin: Principal


@pytest.fixture
async def day(tmp_path: Path) -> AsyncIterator[Day]:
    with running_sim(price_per_hour=PRICE, scale_to_zero_timeout=60) as sim:
        env = {"HFGATE_ENDPOINTS_API_URL": f"{sim.url}/v2", "HFGATE_LEDGER_INTERVAL": "0"}
        svc = Services(gateway_settings(tmp_path / "home", hub_url=sim.url, **env))
        try:
            await svc.db.migrate()
            owner = await svc.keys.ensure_user("owner@localhost", Role.OWNER)
            admin = Principal(owner.id, owner.email, Role.OWNER)
            account = await svc.hf.connect(SIM_TOKEN, None, admin)
            _, view = await svc.integrations.add(
                sim.credential(name="llama-day"), admin, link=(RECORD, account["id"])
            )
            assert view is not None and view["state"] == "ready", view
            # A day that ended an hour ago, starting on the hour (so hours and days align).
            start = (datetime.now(UTC) - timedelta(hours=25)).replace(
                minute=0, second=0, microsecond=0
            )
            yield Day(svc, sim, start, admin)
        finally:
            await svc.close()


def _state_at(hour: float) -> tuple[str | None, int]:
    current: tuple[str | None, int] = (None, 0)
    for begins, state, replicas in SCHEDULE:
        if hour >= begins - 1e-9:
            current = (state, replicas)
    return current


async def _set_record(sim: SimHandle, state: str, replicas: int) -> None:
    record = {
        "name": "llama-day",
        "namespace": "acme",
        "status": {"state": state, "readyReplica": replicas, "targetReplica": replicas},
    }
    answer = await asyncio.to_thread(httpx.post, f"{sim.url}/_sim/endpoints", json=record)
    assert answer.status_code == 201, answer.text


async def _live_the_day(day: Day) -> None:
    clock = [day.start]
    writer = LedgerWriter(day.svc.db, day.svc.cost_source.observations, TICK, lambda: clock[0])
    shown: tuple[str | None, int] = ("", -1)
    for tick in range(24 * 3600 // TICK + 1):
        clock[0] = day.start + timedelta(seconds=tick * TICK)
        state, replicas = _state_at(tick * TICK / 3600)
        if state is None:
            continue  # the writer is down: nothing observed
        if (state, replicas) != shown:
            await _set_record(day.sim, state, replicas)
            day.svc.hf.forget_listing()
            shown = (state, replicas)
        assert await writer.tick()
    await _write_traffic(day)


async def _write_traffic(day: Day) -> None:
    rows = [
        {
            "created_at": day.start + timedelta(minutes=minute),
            "user_id": user,
            "key_id": key,
            "model": "llama-day",
            "route": "chat",
            "status": 200,
            "prompt_tokens": tokens // 2,
            "completion_tokens": tokens - tokens // 2,
            "latency_ms": seconds * 1000,
            "ttft_ms": 100.0,
        }
        for minute, seconds, user, key, tokens in TRAFFIC
    ]
    wakes = [
        {"model": "llama-day", "started_at": day.start + timedelta(hours=h), "seconds": COLD,
         "outcome": "ready"}
        for h in (2, 8)
    ]  # fmt: skip
    async with day.svc.db.session() as session:
        await session.execute(insert(UsageRecord), rows)
        await session.execute(insert(ColdStart), wakes)
        await session.commit()


def _in_flight(second: int) -> bool:
    return any(m * 60 - s <= second < m * 60 for m, s, *_ in TRAFFIC)


def _expected() -> dict[str, float]:
    """Second by second over the day: the truth the ledger must match."""
    seconds = dict.fromkeys(("serving", "idle", "starting", "unobserved", "paused"), 0.0)
    usd = dict.fromkeys(("serving", "idle", "starting"), 0.0)
    for second in range(24 * 3600):
        state, replicas = _state_at(second / 3600)
        # The writer's last look before going down was at 15:55; it held paused till then.
        kind = {"running": "idle", "initializing": "starting", "paused": "paused"}.get(
            state or "", "unobserved" if state is None else ""
        )
        if kind == "idle" and _in_flight(second):
            kind = "serving"
        if kind:
            seconds[kind] += 1
        if kind in usd:
            usd[kind] += PRICE * replicas / 3600
    return {f"{k}_seconds": v for k, v in seconds.items()} | {f"{k}_usd": v for k, v in usd.items()}


async def test_the_ledger_matches_price_times_observed_state_durations_to_the_cent(
    day: Day,
) -> None:
    await _live_the_day(day)
    report = await day.svc.costs.report(day.admin, days=2, group="hour")
    (endpoint,) = report["endpoints"]
    assert endpoint["hf_endpoint"] == RECORD and endpoint["price_per_hour"] == PRICE
    assert endpoint["price_source"] == "provider"
    day_hours = [
        p for p in endpoint["periods"]
        if day.start <= datetime.fromisoformat(p["start"]) < day.start + timedelta(days=1)
    ]  # fmt: skip
    assert len(day_hours) == 24
    seconds = {k: sum(p["seconds"][k] for p in day_hours) for k in day_hours[0]["seconds"]}
    expected = _expected()
    for kind in ("serving", "idle", "starting"):
        assert seconds[kind] == pytest.approx(expected[f"{kind}_seconds"], abs=1), kind
        dollars = sum(p[f"{kind}_usd"] for p in day_hours)
        assert round(dollars, 2) == pytest.approx(round(expected[f"{kind}_usd"], 2), abs=0.011)
    # The stretch nobody observed is marked, from the last look (15:55) to the next (18:00).
    assert seconds["unobserved"] == pytest.approx(125 * 60, abs=1)
    assert seconds["paused"] == pytest.approx(115 * 60, abs=1)
    # Over the whole report (this day only), each figure is rounded once: to the cent.
    for kind in ("serving", "idle", "starting"):
        assert endpoint[f"{kind}_usd"] == round(expected[f"{kind}_usd"], 2), kind
    parts = sum(round(expected[f"{k}_usd"], 2) for k in ("serving", "idle", "starting"))
    assert endpoint["total_usd"] == round(parts, 2)


async def test_attribution_sums_to_the_serving_cost_and_follows_the_tokens(day: Day) -> None:
    await _live_the_day(day)
    report = await day.svc.costs.report(day.admin, days=2, group="day")
    (endpoint,) = report["endpoints"]
    usage = [line for line in report["attribution"] if line["line"] == "usage"]
    for period in endpoint["periods"]:
        lines = [line for line in usage if line["start"] == period["start"]]
        assert round(sum(line["usd"] for line in lines), 2) == period["serving_usd"]
    idle = [line for line in report["attribution"] if line["line"] == "idle"]
    assert round(sum(line["usd"] for line in idle), 2) == endpoint["idle_usd"]
    assert {line["user_id"] for line in usage} == {1, 2}
    assert {line["user"] for line in usage if line["user_id"] == 1} == {"owner@localhost"}
    # Hours 08:10-14:00 run two people's calls with tokens 1:2 and equal durations.
    hour = (await day.svc.costs.report(day.admin, days=2, group="hour"))["attribution"]
    nine = (day.start + timedelta(hours=9)).isoformat()
    shares = {
        line["key_id"]: line["usd"]
        for line in hour
        if line["start"] == nine and line["line"] == "usage"
    }
    assert set(shares) == {11, 12}
    assert shares[12] == pytest.approx(2 * shares[11], abs=0.011)


def _brute_force_cost(timeout_minutes: int, now: float, start: float) -> float:
    """Replay second by second: awake until ``timeout`` after the last call ends; a call
    that arrives asleep costs a cold start; every awake second without a call is idle."""
    calls = sorted((start + m * 60 - s, start + m * 60) for m, s, *_ in TRAFFIC)
    awake_until = -1.0
    idle = starts = 0
    busy_until = -1.0
    second = calls[0][0]
    i = 0
    while second < now:
        while i < len(calls) and calls[i][0] <= second:
            if second > awake_until and i > 0:
                starts += 1
            busy_until = max(busy_until, calls[i][1])
            i += 1
        if second < busy_until:
            awake_until = busy_until + timeout_minutes * 60
        elif second < awake_until:
            idle += 1
        elif i >= len(calls):
            break
        second += 1
    return PRICE * (idle + starts * COLD) / 3600


async def test_the_advice_picks_the_timeout_a_brute_force_replay_picks(day: Day) -> None:
    await _live_the_day(day)
    advice = await day.svc.costs.advice(7)
    (entry,) = advice["data"]
    assert entry["current_timeout_minutes"] == 60 and entry["price_per_hour"] == PRICE
    now = datetime.now(UTC).timestamp()
    costs = {t: _brute_force_cost(t, now, day.start.timestamp()) for t in CANDIDATES}
    cheapest = min(costs.values())
    picked = max(t for t, c in costs.items() if round(c, 2) == round(cheapest, 2))
    assert entry["best"]["timeout_minutes"] == picked, (entry, costs)
    assert entry["best"]["total_usd"] == pytest.approx(cheapest, abs=0.02)
    assert entry["summary"].startswith("timeout 60 min cost $")
    assert entry["cold_start_seconds"] == COLD


async def test_the_advice_applied_sets_the_timeout_on_hugging_face(day: Day) -> None:
    await _set_record(day.sim, "running", 1)
    answer = await day.svc.cost_source.apply_timeout("llama-day", 15, day.admin)
    assert answer["timeout_minutes"] == 15
    listed = await asyncio.to_thread(httpx.get, f"{day.sim.url}/_sim/endpoints")
    record = next(r for r in listed.json()["items"] if r["name"] == "llama-day")
    assert record["compute"]["scaling"]["scaleToZeroTimeout"] == 15
    async with day.svc.db.session() as session:
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "hf.scale_to_zero_timeout")
        )
    assert event is not None and event.target == RECORD
    assert event.detail == {"from": 60, "to": 15} and event.actor == "owner@localhost"


async def test_without_an_account_state_comes_from_traffic_and_the_price_from_the_admin(
    day: Day,
) -> None:
    _, view = await day.svc.integrations.add(day.sim.credential(name="plain"), day.admin)
    assert view is not None
    await day.svc.integrations.update(view["id"], {"price_per_hour": 0.5}, day.admin)
    board = day.svc.board
    seen = {o.model: o for o in await day.svc.cost_source.observations()}
    assert seen["plain"].source == "observed" and seen["plain"].price_per_hour == 0.5
    for status, state, replicas in [
        (ModelStatus.READY, "running", 1),
        (ModelStatus.WAKING, "initializing", 1),
        (ModelStatus.SCALED_TO_ZERO, "scaledToZero", 0),
        (ModelStatus.PAUSED, "paused", 0),
        (ModelStatus.IDLE, "unknown", 0),  # inferred, not seen: never priced
    ]:
        board.set("plain", status, "")
        seen = {o.model: o for o in await day.svc.cost_source.observations()}
        assert (seen["plain"].state, seen["plain"].replicas) == (state, replicas), status
    facts = await day.svc.cost_source.facts()
    assert facts["plain"].price_source == "admin" and facts["plain"].why_not
