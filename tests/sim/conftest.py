"""Fixtures for the simulator's own tests: a real sim on a loopback port, and the OpenAPI spec.

One server serves the whole session (starting uvicorn per test would dominate the run time);
``sim`` puts it back to ``BASE`` (every field, via ``PATCH /_sim/state``) and zeroes its
counters before each test, so tests only say what they change.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hfgate._server import BackgroundServer
from hfgate.sim import SimConfig, create_app
from tests.sim.support import BASE, SPEC_PATH, OpenAPI, Sim


@pytest.fixture(scope="session")
def sim_server() -> Iterator[Sim]:
    with BackgroundServer(create_app(dataclasses.replace(BASE))) as server:
        yield Sim(server.url, server)


@pytest.fixture
def sim(sim_server: Sim) -> Iterator[Sim]:
    """The shared simulator, reset to ``BASE`` with zeroed counters.

    After the test, every permit must have come back (a leak would make later tests 429).
    """
    sim_server.patch(**BASE.to_dict())
    sim_server.reset()
    yield sim_server
    deadline = time.monotonic() + 3
    while (in_flight := sim_server.state()["in_flight"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert in_flight == 0, f"{in_flight} permits were never released"


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Sim]]:
    """Start a simulator of its own with ``SimConfig(**overrides)`` (stopped after the test)."""
    servers: list[BackgroundServer] = []

    def start(**overrides: Any) -> Sim:
        server = BackgroundServer(create_app(SimConfig(**overrides))).start()
        servers.append(server)
        return Sim(server.url, server)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def openapi() -> OpenAPI:
    return OpenAPI(json.loads(SPEC_PATH.read_text()))
