"""The Inference Endpoints proxy: auth, scale-to-zero, X-Scale-Up-Timeout, paused, idle timer."""

from __future__ import annotations

import asyncio
import time

from tests.sim.support import AUTH, Sim

PAUSED = "Bad Request: The endpoint is paused, ask a maintainer to restart it"


def test_missing_or_wrong_token_is_401(sim: Sim) -> None:
    with sim.client(headers={}) as client:
        missing = client.get("/info")
        wrong = client.get("/info", headers={"Authorization": "Bearer hf_wrong"})
        empty = client.get("/info", headers={"Authorization": "Basic abc"})
    for response in (missing, wrong, empty):
        assert (response.status_code, response.text) == (401, "UNAUTHORIZED")
    with sim.client() as client:
        assert client.get("/info").status_code == 200
        assert client.get("/info", headers={"Authorization": "bearer hf_simtoken"}).is_success


def test_forbidden_token_is_403(sim: Sim) -> None:
    sim.patch(forbidden_tokens=["hf_reader"])
    with sim.client(headers={"Authorization": "Bearer hf_reader"}) as client:
        response = client.post("/generate", json={"inputs": "hi"})
    assert response.status_code == 403
    assert response.text == "missing permissions: inference.endpoints.infer.write"


def test_public_endpoint_needs_no_token(sim: Sim) -> None:
    sim.patch(token=None)
    with sim.client(headers={}) as client:
        assert client.get("/info").status_code == 200


def test_admin_and_hub_routes_need_no_token_and_ignore_the_state(sim: Sim) -> None:
    sim.patch(state="paused")
    assert sim.admin.get("/_sim/state").status_code == 200
    hub = sim.admin.get("/api/models/meta-llama/Llama-2-7b-chat-hf")
    assert hub.status_code == 200


async def test_scaled_to_zero_wakes_once_for_twenty_concurrent_requests(sim: Sim) -> None:
    sim.patch(state="scaled_to_zero", cold_start=0.4)
    async with sim.aclient() as client:
        responses = await asyncio.gather(*(client.get("/info") for _ in range(20)))
    assert {r.status_code for r in responses} == {503}
    assert all(r.headers["content-type"].startswith("text/html") for r in responses)
    assert responses[0].text == "<html>503 Service Unavailable</html>"  # not JSON
    assert sim.stats()["wakeups"] == 1
    state = sim.state()
    assert state["state"] == "initializing" and 0 < state["ready_in"] <= 0.4
    await asyncio.sleep(0.45)
    async with sim.aclient() as client:
        assert (await client.get("/info")).status_code == 200
    assert sim.state()["state"] == "running"
    assert sim.stats()["wakeups"] == 1


def test_scale_up_timeout_holds_the_request_until_running(sim: Sim) -> None:
    sim.patch(state="scaled_to_zero", cold_start=0.3)
    started = time.monotonic()
    with sim.client() as client:
        response = client.post(
            "/generate",
            json={"inputs": "hi", "parameters": {"max_new_tokens": 2}},
            headers={**AUTH, "X-Scale-Up-Timeout": "5"},
        )
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert 0.25 <= elapsed < 2
    stats = sim.stats()
    assert stats["scale_up_timeout_seen"] == "5" and stats["wakeups"] == 1


def test_scale_up_timeout_shorter_than_the_cold_start_is_503(sim: Sim) -> None:
    sim.patch(state="scaled_to_zero", cold_start=5)
    started = time.monotonic()
    with sim.client() as client:
        response = client.get("/health", headers={**AUTH, "X-Scale-Up-Timeout": "0.2"})
    assert response.status_code == 503
    assert 0.15 <= time.monotonic() - started < 1.5


async def test_a_patch_to_running_releases_held_requests(sim: Sim) -> None:
    sim.patch(state="initializing", cold_start=60)
    async with sim.aclient(headers={**AUTH, "X-Scale-Up-Timeout": "10"}) as client:
        started = time.monotonic()
        task = asyncio.ensure_future(client.get("/info"))
        await asyncio.sleep(0.15)
        sim.patch(state="running")
        response = await task
    assert response.status_code == 200 and time.monotonic() - started < 1.5


def test_paused_is_400_and_never_wakes(sim: Sim) -> None:
    sim.patch(state="paused", cold_start=0)
    with sim.client() as client:
        first = client.post("/generate", json={"inputs": "hi"})
        time.sleep(0.05)
        held = client.get("/info", headers={**AUTH, "X-Scale-Up-Timeout": "0.2"})
    assert (first.status_code, first.text) == (400, PAUSED)
    assert (held.status_code, held.text) == (400, PAUSED)
    assert sim.state()["state"] == "paused" and sim.stats()["wakeups"] == 0


def test_lifecycle_driven_by_patch(sim: Sim) -> None:
    """running → scaled_to_zero → (a request) initializing → running."""
    with sim.client() as client:
        assert client.get("/health").status_code == 200
        assert sim.patch(state="scaled_to_zero", cold_start=0.2)["state"] == "scaled_to_zero"
        assert client.get("/health").status_code == 503
        assert sim.state()["state"] == "initializing"
        time.sleep(0.25)
        assert sim.state()["state"] == "running"
        assert client.get("/health").status_code == 200
        sim.patch(state="initializing", cold_start=0.1)  # e.g. resumed by a maintainer
        assert client.get("/health").status_code == 503
        time.sleep(0.12)
        assert client.get("/health").status_code == 200
    assert sim.stats()["wakeups"] == 1  # only request-triggered wake-ups count


def test_wake_on_inference_ignores_health_checks(sim: Sim) -> None:
    sim.patch(state="scaled_to_zero", wake_on="inference", cold_start=0)
    with sim.client() as client:
        assert client.get("/health").status_code == 503
        assert client.get("/info").status_code == 503
        assert sim.state()["state"] == "scaled_to_zero"
        assert client.post("/generate", json={"inputs": "hi"}).status_code == 503
        assert client.get("/health").status_code == 200  # cold_start 0: running at once
    assert sim.stats()["wakeups"] == 1


def test_cold_status_can_be_the_older_502(sim: Sim) -> None:
    sim.patch(state="scaled_to_zero", cold_status=502)
    with sim.client() as client:
        response = client.get("/info")
    assert (response.status_code, response.text) == (502, "<html>502 Bad Gateway</html>")


def test_idle_timeout_scales_back_to_zero(sim: Sim) -> None:
    sim.patch(idle_timeout=0.2, cold_start=0.05)
    with sim.client() as client:
        assert client.get("/health").status_code == 200
        time.sleep(0.25)
        assert sim.state()["state"] == "scaled_to_zero"
        assert client.get("/health").status_code == 503
    assert sim.stats()["wakeups"] == 1


def test_rejected_requests_are_not_activity(sim: Sim) -> None:
    sim.patch(idle_timeout=0.3, forbidden_tokens=["hf_reader"])
    with sim.client() as client:
        assert client.get("/health").status_code == 200
        deadline = time.monotonic() + 0.4
        while time.monotonic() < deadline:
            assert (
                client.get("/health", headers={"Authorization": "Bearer nope"}).status_code == 401
            )
            forbidden = client.get("/health", headers={"Authorization": "Bearer hf_reader"})
            assert forbidden.status_code == 403
            time.sleep(0.02)
    assert sim.state()["state"] == "scaled_to_zero"


def test_stats_record_routes_statuses_and_redacted_headers(sim: Sim) -> None:
    with sim.client() as client:
        client.post("/generate", json={"inputs": "hi", "parameters": {"max_new_tokens": 1}})
        client.get("/info", headers={"X-Custom": "1"})
        client.get("/info", headers={"Authorization": "Bearer nope"})
    stats = sim.stats()
    assert stats["requests"] == {"POST /generate": 1, "GET /info": 2}
    assert stats["statuses"] == {"200": 2, "401": 1}
    assert stats["last_request"] == {"inputs": "hi", "parameters": {"max_new_tokens": 1}}
    assert stats["last_headers"]["authorization"] == "Bearer <redacted>"
    assert "hf_simtoken" not in str(stats)


def test_with_wake_on_inference_health_checks_do_not_keep_it_awake(sim: Sim) -> None:
    sim.patch(wake_on="inference", idle_timeout=0.25)
    with sim.client() as client:
        deadline = time.monotonic() + 0.35
        while time.monotonic() < deadline:
            client.get("/health")
            time.sleep(0.03)
    assert sim.state()["state"] == "scaled_to_zero"
