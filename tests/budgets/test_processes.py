"""Budgets across real ``hfgate serve`` processes: two sharing PostgreSQL and Redis refuse
exactly at the limit, whichever process a call reaches; and a restarted process (no Redis,
its counters gone) still knows what was spent, from the usage table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.support import flush_redis
from tests.conftest import REDIS_HOST, REDIS_PORT, reachable
from tests.faults.support import Serve, base_env, chat_body, serving, serving_pair
from tests.support.peers import SimHandle, running_sim

REDIS_DB = 12  # test_workers uses 13, test_scale_out 14, test_rate_limits 15
LIMIT = 100


@pytest.fixture
def pair(fresh_postgres_url: str, tmp_path: Path) -> Iterator[tuple[Serve, Serve]]:
    if not reachable(REDIS_HOST, REDIS_PORT):
        pytest.skip(f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT}")
    flush_redis(REDIS_DB)
    redis_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    with running_sim() as sim:
        env = base_env(
            tmp_path / "home", HFGATE_DATABASE_URL=fresh_postgres_url, HFGATE_REDIS_URL=redis_url
        )
        with serving_pair(env, tmp_path) as (a, b):
            a.add(sim.credential())
            yield a, b
    flush_redis(REDIS_DB)


def _budgeted_key(serve: Serve, **budget: Any) -> str:
    with serve.client() as admin:
        answer = admin.post("/api/keys", json={"name": "budgeted", **budget})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])


def _call(serve: Serve, key: str, i: int) -> tuple[int, int, dict[str, Any]]:
    """(status, tokens used, error) of one chat; odd calls stream (with the usage chunk)."""
    stream = i % 2 == 1
    body = chat_body(f"call {i}", stream, max_tokens=4)
    if stream:
        body["stream_options"] = {"include_usage": True}
    with serve.client(key) as client:
        answer = client.post("/v1/chat/completions", json=body)
    if answer.status_code != 200:
        return answer.status_code, 0, answer.json()["error"]
    if not stream:
        usage = answer.json()["usage"]
    else:
        events = [json.loads(line[5:]) for line in answer.text.splitlines() if _data(line)]
        usage = next(e["usage"] for e in events if e.get("usage"))
    return 200, usage["prompt_tokens"] + usage["completion_tokens"], {}


def _data(line: str) -> bool:
    return line.startswith("data:") and line[5:].strip() != "[DONE]"


def _spend_to_the_limit(serves: tuple[Serve, ...], key: str) -> int:
    """Calls alternating between ``serves`` until the limit is reached: each one answered."""
    spent, i = 0, 0
    while spent < LIMIT:
        status, tokens, error = _call(serves[i % len(serves)], key, i)
        assert status == 200, f"call {i} refused at {spent} of {LIMIT} tokens: {error}"
        spent, i = spent + tokens, i + 1
    assert i >= 3, "a budget this small is no test: calls use fewer tokens"
    return spent


def _refused(serve: Serve, key: str, spent: int) -> None:
    status, _, error = _call(serve, key, 0)
    assert status == 429, error
    assert error["code"] == "budget_exceeded"
    assert f"budget of {LIMIT} tokens per day is spent ({spent} used)" in error["message"]


def test_two_processes_refuse_exactly_at_the_limit(pair: tuple[Serve, Serve]) -> None:
    a, b = pair
    key = _budgeted_key(a, budget_tokens=f"{LIMIT}/day")
    spent = _spend_to_the_limit((a, b), key)
    _refused(a, key, spent)
    _refused(b, key, spent)


def test_a_person_budget_is_shared_across_processes(pair: tuple[Serve, Serve]) -> None:
    a, b = pair
    with a.client() as admin:
        user = admin.post("/api/users", json={"email": "cap@example.com", "role": "member"})
        assert user.status_code == 201, user.text
        put = admin.put(f"/api/users/{user.json()['id']}/budgets", json={"budget_tokens": LIMIT})
        assert put.status_code == 200, put.text
    keys = [_budgeted_key(a, user="cap@example.com") for _ in range(2)]
    spent, i = 0, 0
    while spent < LIMIT:  # each key on its own process: only the person's budget binds them
        status, tokens, error = _call((a, b)[i % 2], keys[i % 2], i)
        assert status == 200, error
        spent, i = spent + tokens, i + 1
    for serve, key in ((a, keys[1]), (b, keys[0])):
        status, _, error = _call(serve, key, 0)
        assert (status, error["code"]) == (429, "budget_exceeded")
        assert error["message"].startswith("cap@example.com's budget of 100 tokens per month")


@pytest.fixture
def sim() -> Iterator[SimHandle]:
    with running_sim() as handle:
        yield handle


def test_spending_survives_a_restart(tmp_path: Path, sim: SimHandle) -> None:
    """No Redis: the counter lives in the process; the next one seeds it from usage."""
    env = base_env(tmp_path / "home")
    with serving(env, tmp_path / "first.log") as first:
        first.add(sim.credential())
        key = _budgeted_key(first, budget_tokens=f"{LIMIT}/day")
        spent = _spend_to_the_limit((first,), key)
        _refused(first, key, spent)
        first.popen.terminate()  # SIGTERM: the usage still queued is written on the way out
        first.popen.wait(30)
    with serving(env, tmp_path / "second.log") as second:
        _refused(second, key, spent)
        with second.client() as admin:
            keys = admin.get("/api/keys").json()["data"]
        shown = next(k for k in keys if k["name"] == "budgeted")["budgets"][0]
        assert (shown["spent"], shown["exhausted"]) == (spent, True)
