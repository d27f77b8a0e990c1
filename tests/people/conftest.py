"""Fixtures of the people tests: one running world per module (``tests/security/support.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.support import World, world_at


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_at(tmp_path_factory.mktemp("people") / "home") as running:
        yield running
