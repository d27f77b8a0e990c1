"""Fixtures of the conversation tests: a gateway with the simulator registered as a model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.peers import Gateway, SimHandle, running_gateway


@pytest.fixture
def workspace(gateway: Gateway, sim: SimHandle) -> Gateway:
    response = gateway.add(sim.credential())
    assert response.status_code == 201, response.text
    return gateway


@pytest.fixture
def client(workspace: Gateway) -> Iterator[httpx.Client]:
    with workspace.client() as client:
        yield client


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path, sim: SimHandle) -> Iterator[Gateway]:
    """A gateway with the simulator as a model, on SQLite, then on a PostgreSQL of its own."""
    env = {}
    if request.param == "postgres":
        env["HFGATE_DATABASE_URL"] = request.getfixturevalue("fresh_postgres_url")
    with running_gateway(tmp_path / "home", hub_url=sim.url, **env) as gateway:
        assert gateway.add(sim.credential()).status_code == 201
        yield gateway
