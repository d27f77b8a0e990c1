"""One simulator and one in-process gateway per test module (as the chat tests have)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chat.support import Peers, deployment


@pytest.fixture(scope="module")
def module_peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    with deployment(tmp_path_factory.mktemp("gateway") / "home") as peers:
        yield peers


@pytest.fixture
def peers(module_peers: Peers) -> Peers:
    module_peers.restore()
    return module_peers
