"""Redis lost and back: two ``hfgate serve`` processes sharing PostgreSQL and a Redis of the
test's own, under a steady load of chats (with a rate-limited key) and open streams. Redis is
stopped for 10 s, then started again on its port (empty: it saves nothing).

Every request is answered, no stream breaks, each process says it is on its own in
``/readyz`` and its log while Redis is away and that it is back after; rate limits are shared
again within seconds, and every call's usage record is stored."""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chat.support import expected_chat
from tests.conftest import within_one_rate_window
from tests.faults.support import (
    Outcome,
    RedisServer,
    Serve,
    base_env,
    call,
    chat_body,
    own_redis,
    serving_pair,
)
from tests.support.peers import SimHandle, running_sim

OUTAGE = 10.0
STREAMS = 4  # per process
STREAM_TOKENS = 150  # × 0.1 s: each stream spans the whole outage
Deployment = tuple[Serve, Serve, RedisServer, SimHandle]


@pytest.fixture
def deployment(fresh_postgres_url: str, tmp_path: Path) -> Iterator[Deployment]:
    with own_redis(tmp_path / "redis.log") as redis, running_sim() as sim:
        env = base_env(
            tmp_path / "home", HFGATE_DATABASE_URL=fresh_postgres_url, HFGATE_REDIS_URL=redis.url
        )
        with serving_pair(env, tmp_path) as (a, b):
            a.add(sim.credential())
            yield a, b, redis, sim


def _readiness(serve: Serve) -> dict[str, object]:
    answer = httpx.get(f"{serve.url}/readyz", timeout=10)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def _wait(check: object, timeout: float) -> float:
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - started < timeout, f"not within {timeout} s"
        time.sleep(0.2)
    return time.monotonic() - started


def _steady(serves: tuple[Serve, Serve], key: str, stop: threading.Event) -> list[Outcome]:
    """Short chats, alternating processes, each on a connection of its own, until ``stop``."""
    outcomes: list[Outcome] = []
    for i, serve in enumerate(itertools.cycle(serves)):
        if stop.is_set():
            break
        body = chat_body(f"steady {i}", i % 2 == 0, max_tokens=4)
        with serve.client(key) as client:
            answer = client.post("/v1/chat/completions", json=body)
        outcomes.append(
            Outcome(answer.status_code, error=None if answer.is_success else answer.text)
        )
    return outcomes


def _limited_key(serve: Serve, rpm: int) -> str:
    with serve.client() as client:
        answer = client.post("/api/keys", json={"name": f"limited-{rpm}", "rpm": rpm})
    assert answer.status_code in (200, 201), answer.text
    key: str = answer.json()["key"]
    return key


def _usage(serve: Serve) -> int:
    with serve.client() as client:
        rows = client.get("/api/usage").json()["by_model"]
    return sum(row["requests"] for row in rows)


def test_redis_lost_and_back_serves_on_and_shares_limits_again(deployment: Deployment) -> None:
    a, b, redis, sim = deployment
    key = _limited_key(a, 100_000)  # every steady request takes a (shared) count
    sim.patch(token_delay=0.1, reply_tokens=STREAM_TOKENS)
    stop = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(2 * STREAMS + 2) as pool:
        streams = [
            pool.submit(call, serve, chat_body(f"stream {i}", True), 120)
            for i, serve in enumerate([a, b] * STREAMS)
        ]
        steady = [pool.submit(_steady, (a, b), key, stop) for _ in range(2)]
        time.sleep(2)
        redis.stop()
        lost_at = time.monotonic()
        # each process notices (its status sync asks twice a second) and says so
        for serve in (a, b):
            _wait(lambda s=serve: "degraded" in _readiness(s), 10)  # type: ignore[misc]
        degraded = _readiness(a)["degraded"]
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - lost_at)))
        redis.start()
        back = max(_wait(lambda s=s: "degraded" not in _readiness(s), 15) for s in (a, b))  # type: ignore[misc]
        time.sleep(1)
        stop.set()
        answers = [o for f in steady for o in f.result(timeout=60)]
        streamed = [f.result(timeout=120) for f in streams]

    assert "redis unreachable since" in str(degraded), degraded
    assert back < 15
    assert len(answers) > 20 and [o.status for o in answers] == [200] * len(answers), [
        o for o in answers if o.status != 200
    ][:3]
    for i, outcome in enumerate(streamed):  # no stream broke: each is the whole answer
        messages = [{"role": "user", "content": f"stream {i}"}]
        assert outcome.error is None, outcome
        assert outcome.text == expected_chat(messages, reply_tokens=STREAM_TOKENS).text
    for serve in (a, b):
        log = serve.log_text()
        assert "Redis is unreachable" in log and "Redis is back" in log, log[-2000:]
        assert "Traceback" not in log, log[-3000:]

    # nothing lost: a usage record for every call (the warm-up in `add` made none)
    calls = len(answers) + len(streamed)
    _wait(lambda: _usage(a) == calls, 15)

    # rate limits are shared again: 6 per minute over both processes, not 6 each
    limited = _limited_key(b, 6)
    within_one_rate_window(15)
    codes = [
        call_status(serve, limited, i)
        for i, serve in enumerate(itertools.islice(itertools.cycle((a, b)), 8))
    ]
    assert sorted(codes) == [200] * 6 + [429] * 2, codes


def call_status(serve: Serve, key: str, i: int) -> int:
    with serve.client(key) as client:
        body = chat_body(f"limited {i}", False, max_tokens=2)
        return client.post("/v1/chat/completions", json=body).status_code
