"""Fixtures of the client tests: hfgate in front of a simulated TGI 3.3 and a simulated vLLM.

Each test module gets its own deployments (a simulator and a gateway on loopback, started only
when a test of the module asks for them); every test starts from the simulator's starting
config with its counters and request recorder emptied. ``peers`` and ``vision`` run a test once
per engine.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chat.support import Peers, deployment
from tests.clients.support import VISION_MODEL, VLLM_MODEL


@pytest.fixture(scope="module")
def tgi_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    """Simulated TGI 3.3 (the Messages API, its tool-call and grammar shapes) behind hfgate."""
    with deployment(tmp_path_factory.mktemp("tgi") / "home") as peers:
        yield peers


@pytest.fixture(scope="module")
def vllm_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    """Simulated vLLM's OpenAI server behind hfgate."""
    home = tmp_path_factory.mktemp("vllm") / "home"
    with deployment(
        home, model_id=VLLM_MODEL, engine="vllm", credential={"model_name": VLLM_MODEL}
    ) as peers:
        yield peers


def _vision(tmp_path_factory: pytest.TempPathFactory, engine: str) -> Iterator[Peers]:
    home = tmp_path_factory.mktemp(f"vision-{engine}") / "home"
    with deployment(
        home,
        model_id=VISION_MODEL,
        engine=engine,
        vision=True,
        credential={"model_name": VISION_MODEL},
    ) as peers:
        yield peers


@pytest.fixture(scope="module")
def vision_tgi_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    """Simulated TGI serving a vision-language model (image-text-to-text: it takes images)."""
    yield from _vision(tmp_path_factory, "tgi")


@pytest.fixture(scope="module")
def vision_vllm_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    """Simulated vLLM serving a vision-language model."""
    yield from _vision(tmp_path_factory, "vllm")


@pytest.fixture
def tgi(tgi_module: Peers) -> Peers:
    tgi_module.restore()
    return tgi_module


@pytest.fixture
def vllm(vllm_module: Peers) -> Peers:
    vllm_module.restore()
    return vllm_module


@pytest.fixture(params=["tgi", "vllm"])
def vision(request: pytest.FixtureRequest) -> Peers:
    """A vision-language model, once on each engine."""
    deployed: Peers = request.getfixturevalue(f"vision_{request.param}_module")
    deployed.restore()
    return deployed


@pytest.fixture(params=["tgi", "vllm"])
def peers(request: pytest.FixtureRequest) -> Peers:
    """The test once against each engine."""
    deployed: Peers = request.getfixturevalue(f"{request.param}_module")
    deployed.restore()
    return deployed
