"""A worker killed: SIGKILL one of two ``hfgate serve`` processes (one database) while streams
run through both. The other's streams all complete, whole; the killed one's callers get a
clean connection error at once (no hang, no half-answer passed off as whole); the survivor
keeps serving and records its usage."""

from __future__ import annotations

import concurrent.futures
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chat.support import expected_chat
from tests.faults.support import Outcome, Serve, base_env, call, chat_body, serving_pair
from tests.support.peers import SimHandle, running_sim

STREAMS = 20  # per process
TOKENS = 80  # × 0.05 s: 4 s answers
Pair = tuple[Serve, Serve, SimHandle]


@pytest.fixture
def pair(fresh_postgres_url: str, tmp_path: Path) -> Iterator[Pair]:
    with running_sim() as sim:
        env = base_env(tmp_path / "home", HFGATE_DATABASE_URL=fresh_postgres_url)
        with serving_pair(env, tmp_path) as (a, b):
            a.add(sim.credential())
            yield a, b, sim


def _usage(serve: Serve) -> int:
    with serve.client() as client:
        return sum(row["requests"] for row in client.get("/api/usage").json()["by_model"])


def _stream(serve: Serve, i: int, started: threading.Semaphore) -> Outcome:
    """A stream that signals ``started`` at its first token."""
    body = chat_body(f"stream {i}", True)
    outcome = Outcome(200)
    begin = time.monotonic()
    try:
        with (
            serve.client(timeout=60) as client,
            client.stream("POST", "/v1/chat/completions", json=body) as answer,
        ):
            outcome.status = answer.status_code
            for line in answer.iter_lines():
                if line.startswith("data:") and not outcome.events:
                    started.release()
                if line.startswith("data:"):
                    outcome.events.append(line[5:].strip())
    except httpx.TransportError as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
    outcome.seconds = time.monotonic() - begin
    return outcome


def _text(outcome: Outcome) -> str:
    import json

    chunks = [json.loads(e) for e in outcome.events if e != "[DONE]"]
    return "".join(
        (choice.get("delta") or {}).get("content") or ""
        for chunk in chunks
        for choice in chunk.get("choices") or []
    )


def test_a_killed_worker_leaves_the_other_streams_whole_and_its_callers_a_clean_error(
    pair: Pair,
) -> None:
    a, b, sim = pair
    sim.patch(token_delay=0.05, reply_tokens=TOKENS)
    started = threading.Semaphore(0)
    with concurrent.futures.ThreadPoolExecutor(2 * STREAMS) as pool:
        futures = {
            (name, i): pool.submit(_stream, serve, i, started)
            for i in range(STREAMS)
            for name, serve in (("a", a), ("b", b))
        }
        for _ in range(2 * STREAMS):  # every stream has begun
            assert started.acquire(timeout=60), "a stream did not start"
        a.popen.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        results = {key: future.result(timeout=90) for key, future in futures.items()}

    for (name, i), outcome in results.items():
        expected = expected_chat([{"role": "user", "content": f"stream {i}"}], reply_tokens=TOKENS)
        if name == "b":  # the survivor's: whole, ended by [DONE], no error
            assert outcome.error is None and outcome.events[-1] == "[DONE]", outcome
            assert _text(outcome) == expected.text
        else:  # the killed one's: a connection error, never a [DONE] after a partial text
            assert outcome.error is not None and "[DONE]" not in outcome.events, outcome
            assert outcome.error.startswith(("RemoteProtocolError", "ReadError")), outcome.error
            assert expected.text.startswith(_text(outcome))
    assert time.monotonic() - killed_at < 30
    assert a.popen.wait(10) == -signal.SIGKILL
    with pytest.raises(httpx.ConnectError):  # new callers of the dead one: refused at once
        httpx.get(f"{a.url}/readyz", timeout=5)

    # the survivor serves on and its usage is whole: its 20 streams and the chat below
    assert call(b, chat_body("after", False)).status == 200
    deadline = time.monotonic() + 15
    while _usage(b) < STREAMS + 1:
        assert time.monotonic() < deadline, _usage(b)
        time.sleep(0.3)
