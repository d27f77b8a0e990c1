"""Fixtures of the chat gateway's tests: one simulator and one gateway per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chat.support import Peers, deployment


@pytest.fixture(scope="module")
def module_peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    """One default simulator (TGI 3.x, running) and one gateway for the whole test module."""
    with deployment(tmp_path_factory.mktemp("gateway") / "home") as peers:
        yield peers


@pytest.fixture
def peers(module_peers: Peers) -> Peers:
    module_peers.restore()
    return module_peers
