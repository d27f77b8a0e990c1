"""Per-key rate limits (requests and tokens per minute): 429 with Retry-After, shared in Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.conftest import REDIS_HOST, REDIS_PORT, reachable, within_one_rate_window
from tests.security.support import (
    World,
    chat_body,
    dedicated_postgres,
    new_key,
    owner_client,
    wait_until,
)
from tests.support.peers import MODEL, Gateway, running_gateway, running_sim

REDIS_DB = 15
WINDOW = 60


@pytest.fixture(autouse=True)
def clear_of_the_window_edge() -> None:
    """Limits count per clock minute: start far enough from its end to finish inside it."""
    within_one_rate_window()


def assert_limited(response: httpx.Response, what: str) -> None:
    assert response.status_code == 429, f"{what}: {response.status_code} {response.text[:200]}"
    retry = int(response.headers["retry-after"])
    assert 1 <= retry <= WINDOW, response.headers
    body = response.json()
    code = body["error"]["code"] if isinstance(body["error"], dict) else body["error_type"]
    assert code in ("rate_limit_exceeded", "overloaded"), body


def test_requests_per_minute(world: World) -> None:
    limited = new_key(world.gateway, world.member, name="rpm", rpm=2)["key"]
    with world.client(limited) as api:
        for _ in range(2):
            assert api.post("/v1/chat/completions", json=chat_body(max_tokens=2)).status_code == 200
        assert_limited(api.post("/v1/chat/completions", json=chat_body(max_tokens=2)), "chat")
        assert_limited(api.post("/v1/completions", json={"model": MODEL, "prompt": "x"}), "text")
        assert_limited(api.post(f"/tgi/{MODEL}/generate", json={"inputs": "x"}), "tgi")
        assert api.get("/v1/models").status_code == 200  # only generation is limited
    with world.api(world.member) as api:  # another key of the same person is unaffected
        assert api.post("/v1/chat/completions", json=chat_body(max_tokens=2)).status_code == 200


def test_tokens_per_minute_count_after_the_response(world: World) -> None:
    limited = new_key(world.gateway, world.member, name="tpm", tpm=5)["key"]
    with world.client(limited) as api:
        first = api.post("/v1/chat/completions", json=chat_body(max_tokens=8))
        assert first.status_code == 200, first.text
        assert first.json()["usage"]["total_tokens"] > 5

        def refused() -> httpx.Response | None:
            answer = api.post("/v1/chat/completions", json=chat_body(max_tokens=2))
            return answer if answer.status_code == 429 else None

        assert_limited(wait_until(refused, timeout=3), "chat after spending the tokens")


@pytest.fixture
def shared_pair(tmp_path: Path) -> Iterator[tuple[Gateway, Gateway]]:
    """Two gateways sharing one database (PostgreSQL when reachable) and one Redis."""
    if not reachable(REDIS_HOST, REDIS_PORT):
        pytest.skip(f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT}")
    import redis

    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB).flushdb()
    with ExitStack() as stack:
        url = stack.enter_context(dedicated_postgres())
        env = {
            "HFGATE_REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
            "HFGATE_DATABASE_URL": url or f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
            "HFGATE_SECRET_KEY": "Nr0Vq4XbUu0Pz6A2T4b1mS6cJQ3o1kqW9rTzq0xGxYc=",
        }
        sim = stack.enter_context(running_sim())
        first = stack.enter_context(running_gateway(tmp_path / "a", hub_url=sim.url, **env))
        added = first.add(sim.credential())
        assert added.status_code == 201, added.text
        second = stack.enter_context(running_gateway(tmp_path / "b", hub_url=sim.url, **env))
        with owner_client(second) as api:
            wait_until(lambda: api.get("/v1/models").json()["data"], timeout=5)
        within_one_rate_window()  # again: starting two gateways took part of the minute
        yield first, second
    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB).flushdb()


def test_two_gateways_share_the_limits_through_redis(shared_pair: tuple[Gateway, Gateway]) -> None:
    first, second = shared_pair
    rpm = new_key(first, name="shared-rpm", rpm=3)["key"]
    answers = []
    for gateway in (first, second, first):
        with gateway.client(rpm) as api:
            answers.append(api.post("/v1/chat/completions", json=chat_body(max_tokens=2)))
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    for gateway in (second, first):
        with gateway.client(rpm) as api:
            assert_limited(api.post("/v1/chat/completions", json=chat_body(max_tokens=2)), "rpm")

    tpm = new_key(first, name="shared-tpm", tpm=5)["key"]
    with first.client(tpm) as api:
        assert api.post("/v1/chat/completions", json=chat_body(max_tokens=8)).status_code == 200
    with second.client(tpm) as api:

        def refused() -> httpx.Response | None:
            answer = api.post("/v1/chat/completions", json=chat_body(max_tokens=2))
            return answer if answer.status_code == 429 else None

        assert_limited(wait_until(refused, timeout=3), "tpm spent on the other gateway")
