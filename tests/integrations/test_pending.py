"""Pending integrations: stored while the endpoint sleeps, finished later.

A scaled-to-zero or paused endpoint is not a failure: ``POST /api/integrations`` answers 202,
the integration is stored as pending (listed by ``/api/models`` as ``pending``, not served by
``/v1/models``), and the gateway's background pass (``HFGATE_PENDING_INTERVAL=0.2`` in the
test gateway) finishes validation once the endpoint runs. ``?wait=N`` rides out a cold start
(docs/protocols.md §4.2, check 3, and §8).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from tests.support.peers import MODEL, Gateway, SimHandle, gateway_settings

from hfgate.integrations import service as integration_service
from hfgate.services import Services
from hfgate.values.principal import Principal, Role

T = TypeVar("T")
DEADLINE = 10.0


def poll(probe: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    """``probe()`` until it returns something truthy, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def models(client: httpx.Client, path: str) -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in client.get(path).json()["data"]}


def only_integration(client: httpx.Client) -> dict[str, Any]:
    rows = client.get("/api/integrations").json()["data"]
    assert len(rows) == 1, rows
    return rows[0]


def info_calls(sim: SimHandle) -> int:
    return int(sim.stats()["requests"].get("GET /info", 0))


def assert_pending_everywhere(client: httpx.Client) -> dict[str, Any]:
    assert MODEL not in models(client, "/v1/models")
    listed = models(client, "/api/models")[MODEL]
    assert listed["status"] == "pending"
    assert only_integration(client)["state"] == "pending"
    return listed


def ready_in_v1(client: httpx.Client) -> dict[str, Any] | None:
    entry = models(client, "/v1/models").get(MODEL)
    return entry if entry and entry["status"] == "ready" else None


def test_scaled_to_zero_is_stored_pending_then_finished_when_it_wakes(
    sim: SimHandle, gateway: Gateway
) -> None:
    sim.patch(state="scaled_to_zero", cold_start=1.0)
    response = gateway.add(sim.credential())
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["report"]["outcome"] == "pending"
    state = next(c for c in body["report"]["checks"] if c["id"] == "state")
    assert state["status"] == "warn"
    assert "scaled to zero" in state["message"]
    assert body["integration"]["state"] == "pending"
    assert body["integration"]["validated_at"] is None

    with gateway.client() as client:
        listed = assert_pending_everywhere(client)
        assert "scaled to zero" in listed["status_detail"]

        model = poll(lambda: ready_in_v1(client), "the background pass to list the model")
        assert model["context_window"] == 4096
        assert models(client, "/api/models")[MODEL]["status"] == "ready"
        row = only_integration(client)
        assert row["state"] == "ready"
        assert row["validated_at"] is not None
        assert row["report"]["outcome"] == "valid"
        assert row["engine"] == "tgi"
        assert client.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        ).is_success
    assert sim.stats()["wakeups"] == 1, "the gateway woke the endpoint once"


def test_wait_rides_out_the_cold_start_and_stores_it_ready(
    sim: SimHandle, gateway: Gateway
) -> None:
    sim.patch(state="scaled_to_zero", cold_start=1.0)
    started = time.monotonic()
    response = gateway.add(sim.credential(), wait=5)
    elapsed = time.monotonic() - started

    assert response.status_code == 201, response.text
    assert response.json()["report"]["outcome"] == "valid"
    assert 0.8 <= elapsed < 5, elapsed
    assert sim.stats()["scale_up_timeout_seen"] is not None, "X-Scale-Up-Timeout was sent"
    with gateway.client() as client:
        assert models(client, "/v1/models")[MODEL]["status"] == "ready"


def test_wait_shorter_than_the_cold_start_still_answers_202(
    sim: SimHandle, gateway: Gateway
) -> None:
    sim.patch(state="scaled_to_zero", cold_start=5.0)
    started = time.monotonic()
    response = gateway.add(sim.credential(), wait=0.5)
    assert response.status_code == 202, response.text
    assert time.monotonic() - started < 3
    with gateway.client() as client:
        assert_pending_everywhere(client)


def test_paused_stays_pending_until_resumed(
    sim: SimHandle, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real re-check interval for paused endpoints is 60 s; the test shortens it.
    monkeypatch.setattr(integration_service, "PAUSED_RECHECK_SECONDS", 0.3)
    sim.patch(state="paused")
    response = gateway.add(sim.credential())
    assert response.status_code == 202, response.text
    state = next(c for c in response.json()["report"]["checks"] if c["id"] == "state")
    assert state["status"] == "warn"
    assert "resume" in state["message"]

    with gateway.client() as client:
        listed = assert_pending_everywhere(client)
        assert "paused" in listed["status_detail"] and "resume" in listed["status_detail"]
        seen = info_calls(sim)
        poll(lambda: info_calls(sim) >= seen + 2, "the background pass to re-check twice")
        assert_pending_everywhere(client)  # a paused endpoint does not wake by itself

        sim.patch(state="running")
        poll(lambda: ready_in_v1(client), "the resumed endpoint to be listed")
        assert only_integration(client)["state"] == "ready"
    assert sim.stats()["wakeups"] == 0


def test_paused_is_rechecked_rarely_and_revalidate_finishes_it_at_once(
    sim: SimHandle, gateway: Gateway
) -> None:
    assert integration_service.PAUSED_RECHECK_SECONDS >= 10
    sim.patch(state="paused")
    row = gateway.add(sim.credential()).json()["integration"]
    # The first background pass checks once; later passes (every 0.2 s) leave it alone.
    after_first_pass = poll(lambda: info_calls(sim) >= 2 and info_calls(sim), "one re-check")
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        assert info_calls(sim) == after_first_pass, "a paused endpoint is not polled every pass"
        time.sleep(0.1)

    sim.patch(state="running")
    with gateway.client() as client:
        assert_pending_everywhere(client)  # not noticed before the re-check interval …
        response = client.post(f"/api/integrations/{row['id']}/revalidate")
        assert response.status_code == 200, response.text
        assert response.json()["report"]["outcome"] == "valid"
        assert ready_in_v1(client), "… but revalidate finishes it at once"
        assert only_integration(client)["state"] == "ready"


def test_pending_that_fails_once_awake_is_marked_failed_and_never_listed(
    sim: SimHandle, gateway: Gateway
) -> None:
    sim.patch(state="scaled_to_zero", cold_start=0.5)
    response = gateway.add(sim.credential(context_window=8192))
    assert response.status_code == 202, response.text

    with gateway.client() as client:
        row = poll(
            lambda: (r := only_integration(client))["state"] != "pending" and r,
            "the background pass to finish validation",
        )
        assert row["state"] == "failed"
        assert row["report"]["outcome"] == "failed"
        context = next(c for c in row["report"]["checks"] if c["id"] == "context")
        assert context["status"] == "fail" and "4,096" in context["message"]
        assert MODEL not in models(client, "/v1/models")
        assert models(client, "/api/models").get(MODEL, {}).get("status") != "ready"


async def test_an_integration_removed_while_being_finished_stays_removed(
    sim: SimHandle, tmp_path: Path
) -> None:
    """The background pass must not write back a row that was deleted meanwhile."""
    svc = Services(gateway_settings(tmp_path / "home", hub_url=sim.url))
    try:
        await svc.db.migrate()
        owner = await svc.keys.ensure_user("owner@localhost", Role.OWNER)
        actor = Principal(owner.id, owner.email, Role.OWNER)
        await asyncio.to_thread(sim.patch, state="paused")
        report, view = await svc.integrations.add(sim.credential(), actor)
        assert view is not None and view["state"] == "pending", report.to_dict()
        await asyncio.to_thread(sim.patch, state="running")

        validated, release = asyncio.Event(), asyncio.Event()
        validate = svc.integrations.validator.validate

        async def validate_then_hold(*args: Any, **kwargs: Any) -> Any:
            result = await validate(*args, **kwargs)
            validated.set()
            await release.wait()
            return result

        svc.integrations.validator.validate = validate_then_hold  # type: ignore[method-assign]
        finishing = asyncio.create_task(svc.integrations.finish_pending())
        await asyncio.wait_for(validated.wait(), DEADLINE)
        await svc.integrations.remove(view["id"], actor)  # the admin removes it meanwhile
        release.set()
        await asyncio.wait_for(finishing, DEADLINE)

        assert await svc.integrations.list() == []
        await svc.catalog.reload()
        assert svc.catalog.names() == []
    finally:
        await svc.close()
