"""PostgreSQL restarted under a running gateway: chat goes on for the keys in use, usage
records made during the outage are written after it (every one, counted), sign-in is a clear
503 rather than a 500, and the pool reconnects without a restart.

The cluster is the test's own (``initdb``/``pg_ctl`` in a temporary folder, its own port), so
stopping it disturbs no one else's tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.support import (
    OwnPostgres,
    Serve,
    base_env,
    call,
    chat_body,
    own_postgres,
    serving,
)
from tests.support.peers import running_sim

BEFORE, DURING = 3, 12
SIGN_IN = {"email": "owner@localhost", "password": "owner-password-1"}
Restartable = tuple[Serve, OwnPostgres]


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[Restartable]:
    with own_postgres() as postgres, running_sim() as sim:
        env = base_env(tmp_path / "home", HFGATE_DATABASE_URL=postgres.url)
        with serving(env, tmp_path / "serve.log") as serve:
            serve.add(sim.credential())
            yield serve, postgres


def _sign_in(serve: Serve) -> httpx.Response:
    return httpx.post(f"{serve.url}/auth/login", json=SIGN_IN, timeout=30)


def _usage(serve: Serve) -> int | None:
    with serve.client() as client:
        answer = client.get("/api/usage")
    if answer.status_code != 200:
        return None
    return sum(row["requests"] for row in answer.json()["by_model"])


def _chats(serve: Serve, label: str, count: int, pause: float = 0.0) -> list[int]:
    statuses = []
    for i in range(count):
        outcome = call(serve, chat_body(f"{label} {i}", i % 2 == 0))
        assert outcome.error is None, outcome
        statuses.append(outcome.status)
        time.sleep(pause)
    return statuses


def test_postgres_restarted_chat_goes_on_usage_is_kept_sign_in_is_503(
    restartable: Restartable,
) -> None:
    serve, postgres = restartable
    pid = serve.pid
    assert _sign_in(serve).status_code == 200
    assert _chats(serve, "before", BEFORE) == [200] * BEFORE
    assert _usage(serve) == BEFORE

    postgres.stop()
    # 12 chats over more than the key cache's 5 s: the key is looked up again, and fails
    assert _chats(serve, "during", DURING, pause=0.6) == [200] * DURING
    refused = _sign_in(serve)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "database_unavailable"
    assert refused.headers["Retry-After"] == "5"
    with serve.client() as client:
        assert client.get("/api/usage").status_code == 503

    postgres.start()
    deadline = time.monotonic() + 30
    while _usage(serve) != BEFORE + DURING:  # the pool reconnects; the waiting rows are written
        assert time.monotonic() < deadline, (_usage(serve), serve.log_text()[-3000:])
        time.sleep(0.5)
    assert _sign_in(serve).status_code == 200
    assert _chats(serve, "after", 2) == [200, 200]
    assert _usage(serve) == BEFORE + DURING + 2
    assert serve.popen.poll() is None and serve.pid == pid  # no restart
    log = serve.log_text()
    assert "writing usage records failed" in log and "usage records are written again" in log
