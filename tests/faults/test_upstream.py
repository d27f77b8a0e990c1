"""A slow or broken upstream: every caller gets a timely, clear error, and the gateway lets go
of everything it held (its sockets, the upstream's connections, its memory).

One real ``hfgate serve`` process serves one model through ``FaultyUpstream``, which relays to
the simulator (so validation and healthy chats are real) except for the generations whose
message names a fault. The timeouts are set short (docs/operations.md has the defaults)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.support import (
    FaultyUpstream,
    Outcome,
    Serve,
    base_env,
    call,
    chat_body,
    rss_mib,
    serving,
    settle,
    sockets,
)
from tests.support.peers import running_sim

FIRST_BYTE, IDLE, TOTAL = 2.0, 2.0, 8.0
HOLD = 3.0  # the cold-start hold asked of the proxy: min(5 s, HFGATE_COLD_START_TIMEOUT)
# fault → (streamed?, what the error says)
EXPECTED = {
    "silent": (True, "did not answer within 5 s"),
    "byte_a_while": (True, "did not answer within 5 s"),
    "keepalives": (True, "sent no token within 2 s"),
    "stalls": (True, "sent no token for 2 s"),
    "drips": (True, "did not finish its answer within 8 s"),
    "huge_line": (True, "stream line longer than 1,048,576 bytes"),
    "cut": (True, "dropped the connection in the middle of the answer"),
    "silent_whole": (False, "did not answer within 11 s"),
}
SLACK = 10.0  # a shared 2-core machine


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[tuple[Serve, FaultyUpstream]]:
    env = base_env(
        tmp_path / "home",
        HFGATE_UPSTREAM_FIRST_BYTE_TIMEOUT=str(FIRST_BYTE),
        HFGATE_UPSTREAM_IDLE_TIMEOUT=str(IDLE),
        HFGATE_UPSTREAM_TOTAL_TIMEOUT=str(TOTAL),
        HFGATE_COLD_START_TIMEOUT=str(HOLD),
    )
    with (
        running_sim() as sim,
        FaultyUpstream(sim.url) as upstream,
        serving(env, tmp_path / "serve.log") as serve,
    ):
        serve.add(sim.credential(endpoint=upstream.url))
        yield serve, upstream


def _round(serve: Serve) -> dict[str, Outcome]:
    """Every fault at once, each caller on a connection of its own."""

    def one(name: str) -> Outcome:
        streamed, _ = EXPECTED[name]
        fault = name.removesuffix("_whole")
        return call(serve, chat_body(f"please fault:{fault}", streamed))

    with concurrent.futures.ThreadPoolExecutor(len(EXPECTED)) as pool:
        return dict(zip(EXPECTED, pool.map(one, EXPECTED), strict=True))


def _check(outcomes: dict[str, Outcome]) -> None:
    for name, outcome in outcomes.items():
        _, says = EXPECTED[name]
        assert outcome.error is not None and says in outcome.error, (name, outcome)
        assert outcome.status in (200, 502), (name, outcome)  # an error event, or a clean 502
        bound = {"drips": TOTAL, "silent_whole": HOLD + TOTAL}.get(name, HOLD + FIRST_BYTE)
        assert outcome.seconds < bound + SLACK, (name, outcome.seconds)


def _healthy(serve: Serve) -> None:
    for streamed in (False, True):
        outcome = call(serve, chat_body("hello", streamed))
        assert outcome.status == 200 and outcome.error is None and outcome.text, outcome


def test_each_broken_upstream_is_a_timely_clear_error_and_nothing_is_kept(
    faulty: tuple[Serve, FaultyUpstream], record_property: object
) -> None:
    serve, upstream = faulty
    _healthy(serve)  # warm: pools, imports and caches are in place before the baseline
    base_sockets, base_rss = sockets(serve.pid), rss_mib(serve.pid)

    first = _round(serve)
    _check(first)
    after_first = settle(lambda: sockets(serve.pid), base_sockets)
    rss_first = rss_mib(serve.pid)
    second = _round(serve)  # the same again: anything kept per fault would grow
    _check(second)
    after_second = settle(lambda: sockets(serve.pid), base_sockets)
    rss_second = rss_mib(serve.pid)
    figures = (base_sockets, after_first, after_second, base_rss, rss_first, rss_second)
    print("sockets base/after/after2, RSS MiB base/after/after2:", figures)

    assert settle(lambda: upstream.open, 0) == 0  # the gateway let go of every upstream socket
    assert upstream.faults["silent"] == 4 and upstream.faults["cut"] == 2
    assert after_first <= base_sockets and after_second <= base_sockets, figures
    assert rss_second - rss_first < 25, figures  # a second round keeps nothing more
    assert serve.popen.poll() is None
    _healthy(serve)  # and the model still serves
