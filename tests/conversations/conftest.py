"""Fixtures of the conversation tests: a gateway with the simulator registered as a model."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.peers import Gateway, SimHandle


@pytest.fixture
def workspace(gateway: Gateway, sim: SimHandle) -> Gateway:
    response = gateway.add(sim.credential())
    assert response.status_code == 201, response.text
    return gateway


@pytest.fixture
def client(workspace: Gateway) -> Iterator[httpx.Client]:
    with workspace.client() as client:
        yield client
