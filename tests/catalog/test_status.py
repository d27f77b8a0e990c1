"""Model status: which endpoints are probed, and that probing never keeps one awake."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.support.peers import MODEL, SimHandle, running_gateway, running_sim

from hfgate.endpoints.refresher import SLOW_PROBE, StatusRefresher, should_probe
from hfgate.endpoints.state import (
    SURELY_AWAKE,
    ModelStatus,
    StatusBoard,
    StatusEntry,
    idle_detail,
    status_from_health,
)
from hfgate.values.served import ServedModel

NOW = 1_000_000.0
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (StatusEntry(ModelStatus.READY), True),  # never checked: one probe at start
        # Ready and in use: the traffic says it runs, and a probe would be traffic too.
        (StatusEntry(ModelStatus.READY, checked_at=NOW - 120, last_traffic=NOW - 10), False),
        (StatusEntry(ModelStatus.READY, checked_at=NOW - 10, last_traffic=NOW - 5), False),
        (StatusEntry(ModelStatus.READY, checked_at=NOW - 10_000), False),
        # Idle: it may be asleep (a probe could wake it) or awake (a probe keeps it so).
        (StatusEntry(ModelStatus.IDLE, checked_at=NOW - 10_000), False),
        (StatusEntry(ModelStatus.SCALED_TO_ZERO, checked_at=NOW - 10_000), False),
        (StatusEntry(ModelStatus.WAKING, checked_at=0), False),
        # The proxy answers these itself, waking nothing: slow probes notice a fix.
        (StatusEntry(ModelStatus.PAUSED, checked_at=NOW - SLOW_PROBE - 1), True),
        (StatusEntry(ModelStatus.PAUSED, checked_at=NOW - 10), False),
        (StatusEntry(ModelStatus.AUTH_FAILED, checked_at=NOW - SLOW_PROBE - 1), True),
        (StatusEntry(ModelStatus.UNREACHABLE, checked_at=NOW - 5), False),
        (StatusEntry(ModelStatus.UNREACHABLE, checked_at=NOW - SLOW_PROBE - 1), True),
    ],
)
def test_which_models_are_probed(entry: StatusEntry, expected: bool) -> None:
    assert should_probe(entry, NOW) is expected


def _board(name: str, **entry: float) -> StatusBoard:
    board = StatusBoard()
    for field, value in entry.items():
        setattr(board.get(name), field, value)
    return board


@pytest.mark.parametrize(
    ("entry", "idle"),
    [
        ({"checked_at": NOW - 10}, False),  # probed (or answered) a moment ago
        ({"checked_at": NOW - SURELY_AWAKE - 1}, True),
        ({"checked_at": NOW - 10_000, "answered_at": NOW - 30}, False),
        ({"checked_at": NOW - 10_000, "last_traffic": NOW - 30}, False),  # a call under way
        ({"checked_at": NOW - 10_000, "answered_at": NOW - SURELY_AWAKE - 1}, True),
        ({"checked_at": 0.0}, False),  # never checked: the start probe says first
    ],
)
def test_a_ready_endpoint_without_traffic_is_inferred_idle(
    entry: dict[str, float], idle: bool
) -> None:
    board = _board("m", **entry)
    assert board.infer_idle("m", NOW) is idle
    assert board.get("m").status is (ModelStatus.IDLE if idle else ModelStatus.READY)
    if idle:  # its "since" is the last sign of life, so the view can say how long ago
        assert board.get("m").changed_at == max(entry.values())


def test_only_ready_endpoints_are_inferred_idle() -> None:
    board = _board("m", checked_at=NOW - 10_000)
    board.get("m").status = ModelStatus.PAUSED
    assert board.infer_idle("m", NOW) is False
    assert board.get("m").status is ModelStatus.PAUSED


def test_an_answer_makes_an_idle_endpoint_ready_again() -> None:
    board = _board("m", checked_at=NOW - 10_000)
    assert board.infer_idle("m", NOW)
    board.observe("m", None)
    assert board.get("m").status is ModelStatus.READY
    assert board.infer_idle("m", time.time()) is False


def test_the_idle_detail_says_how_long_and_how_long_waking_took() -> None:
    assert idle_detail(12 * 60 + 5, 40.4) == "Idle for 12 min — may need to wake (~40 s last time)"
    assert idle_detail(20, None) == "Idle for 1 min — may need to wake"
    assert idle_detail(3 * 3600, 61) == "Idle for 3 h — may need to wake (~61 s last time)"


class _Catalog:
    def __init__(self, *models: ServedModel) -> None:
        self.models = list(models)

    def all(self) -> list[ServedModel]:
        return self.models


class _NoTransport:
    async def request(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("nothing may reach an idle endpoint")


async def test_the_refresher_infers_idle_without_a_request_and_leaves_managed_ones() -> None:
    served = ServedModel("served", "1", "m", "http://e1", "hf_x")
    managed = ServedModel("managed", "2", "m", "http://e2", "hf_x")
    board = StatusBoard()
    for name in ("served", "managed"):
        board.set(name, ModelStatus.READY, "running")
        board.get(name).checked_at = time.time() - SURELY_AWAKE - 1
    board.managed["managed"] = "acme/managed"  # Hugging Face's record says what it is
    refresher = StatusRefresher(_Catalog(served, managed), board, _NoTransport(), 60)  # type: ignore[arg-type]
    assert await refresher.refresh_once() == 0
    assert board.get("served").status is ModelStatus.IDLE
    assert board.get("managed").status is ModelStatus.READY


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
        running_sim() as sim,
        running_gateway(tmp_path, hub_url=sim.url, HFGATE_STATUS_INTERVAL="0.1") as gateway,
    ):
        assert gateway.add(sim.credential()).status_code == 201
        # Only now: an idle timer running from the sim's start could put it to sleep before the
        # add when starting the gateway takes a second (a loaded machine), and the add is a 202.
        sim.patch(idle_timeout=1.0)
        # With the status loop ticking every 0.1 s, an idle endpoint must still go to sleep.
        _wait_for(lambda: sim.state()["state"] == "scaled_to_zero", timeout=5)
        health_calls = sim.stats()["requests"].get("GET /health", 0)
        time.sleep(0.5)
        assert sim.stats()["requests"].get("GET /health", 0) == health_calls
        assert sim.state()["state"] == "scaled_to_zero"


def _requests(sim: SimHandle) -> dict[str, int]:
    return dict(sim.stats()["requests"])


def test_after_traffic_stops_nothing_reaches_the_endpoint_and_it_sleeps_on_time(
    tmp_path: Path,
) -> None:
    idle = 1.5
    with (
        running_sim(idle_timeout=idle) as sim,
        running_gateway(tmp_path, hub_url=sim.url, HFGATE_STATUS_INTERVAL="0.1") as gateway,
        gateway.client() as client,
    ):
        assert gateway.add(sim.credential()).status_code == 201
        for _ in range(3):
            assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        stopped, seen = time.monotonic(), _requests(sim)
        assert seen.get("POST /v1/chat/completions") == 3
        # The status loop ticks every 0.1 s, yet the endpoint's idle timer is left to run out.
        _wait_for(lambda: sim.state()["state"] == "scaled_to_zero", timeout=idle + 3)
        assert idle - 0.2 <= time.monotonic() - stopped <= idle + 0.8
        time.sleep(0.5)
        assert _requests(sim) == seen  # not one probe, before or after it fell asleep
        assert sim.state()["state"] == "scaled_to_zero"


def test_traffic_notices_a_paused_endpoint_in_use(tmp_path: Path) -> None:
    """A running endpoint is not probed (that would keep it awake): the next call is what
    finds it paused, and the model says so at once."""
    with (
        running_sim() as sim,
        running_gateway(tmp_path, hub_url=sim.url, HFGATE_STATUS_INTERVAL="0.1") as gateway,
        gateway.client() as client,
    ):
        assert gateway.add(sim.credential()).status_code == 201
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        sim.patch(state="paused")
        assert client.post("/v1/chat/completions", json=CHAT).status_code != 200
        assert client.get("/v1/models").json()["data"][0]["status"] == "paused"
