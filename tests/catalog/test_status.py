"""Model status: which endpoints are probed, and that probing never keeps one awake."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.support.peers import running_gateway, running_sim

from hfgate.endpoints.refresher import RECENT_TRAFFIC, SLOW_PROBE, should_probe
from hfgate.endpoints.state import ModelStatus, StatusEntry, status_from_health

NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (StatusEntry(ModelStatus.READY), True),  # never checked: one probe at start
        (StatusEntry(ModelStatus.READY, checked_at=NOW - 120, last_traffic=NOW - 10), True),
        (StatusEntry(ModelStatus.READY, checked_at=NOW - 10, last_traffic=NOW - 5), False),
        (
            StatusEntry(
                ModelStatus.READY, checked_at=NOW - 120, last_traffic=NOW - RECENT_TRAFFIC - 1
            ),
            False,
        ),
        (StatusEntry(ModelStatus.SCALED_TO_ZERO, checked_at=NOW - 10_000), False),
        (StatusEntry(ModelStatus.WAKING, checked_at=0), False),
        (StatusEntry(ModelStatus.PAUSED, checked_at=NOW - SLOW_PROBE - 1), True),
        (StatusEntry(ModelStatus.PAUSED, checked_at=NOW - 10), False),
        (StatusEntry(ModelStatus.AUTH_FAILED, checked_at=NOW - SLOW_PROBE - 1), True),
        (StatusEntry(ModelStatus.UNREACHABLE, checked_at=NOW - 5), False),
    ],
)
def test_which_models_are_probed(entry: StatusEntry, expected: bool) -> None:
    assert should_probe(entry, NOW, interval=60) is expected


@pytest.mark.parametrize(
    ("status", "text", "expected"),
    [
        (200, "", ModelStatus.READY),
        (401, "UNAUTHORIZED", ModelStatus.AUTH_FAILED),
        (403, "missing permissions", ModelStatus.AUTH_FAILED),
        (
            400,
            "Bad Request: The endpoint is paused, ask a maintainer to restart it",
            ModelStatus.PAUSED,
        ),
        (503, "<html>503</html>", ModelStatus.SCALED_TO_ZERO),
        (502, "Bad Gateway", ModelStatus.SCALED_TO_ZERO),
        (503, '{"error":"unhealthy","error_type":"healthcheck"}', ModelStatus.UNREACHABLE),
        (404, "", ModelStatus.UNREACHABLE),
    ],
)
def test_health_answers_map_to_statuses(status: int, text: str, expected: ModelStatus) -> None:
    assert status_from_health(status, text)[0] is expected


def _wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_an_idle_endpoint_is_left_to_scale_to_zero(tmp_path: Path) -> None:
    with (
        running_sim(idle_timeout=1.0) as sim,
        running_gateway(tmp_path, hub_url=sim.url, HFGATE_STATUS_INTERVAL="0.1") as gateway,
    ):
        assert gateway.add(sim.credential()).status_code == 201
        # With the status loop ticking every 0.1 s, an idle endpoint must still go to sleep.
        _wait_for(lambda: sim.state()["state"] == "scaled_to_zero", timeout=5)
        health_calls = sim.stats()["requests"].get("GET /health", 0)
        time.sleep(0.5)
        assert sim.stats()["requests"].get("GET /health", 0) == health_calls
        assert sim.state()["state"] == "scaled_to_zero"


def test_a_probe_notices_a_paused_endpoint_in_use(tmp_path: Path) -> None:
    with (
        running_sim() as sim,
        running_gateway(tmp_path, hub_url=sim.url, HFGATE_STATUS_INTERVAL="0.1") as gateway,
    ):
        assert gateway.add(sim.credential()).status_code == 201
        with gateway.client() as client:
            body = {
                "model": sim.credential()["model_name"],
                "messages": [{"role": "user", "content": "hi"}],
            }
            assert client.post("/v1/chat/completions", json=body).status_code == 200
            sim.patch(state="paused")

            def status() -> str:
                return client.get("/v1/models").json()["data"][0]["status"]

            _wait_for(lambda: status() == "paused", timeout=5)
