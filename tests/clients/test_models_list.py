"""``GET /v1/models`` tells a client what each model can do, per engine (issue 14)."""

from __future__ import annotations

from tests.chat.support import Peers


def _entry(peers: Peers) -> dict:
    return peers.openai().models.retrieve(peers.model).model_dump()


def test_a_tgi_model_lists_its_engine_window_and_capabilities(tgi: Peers) -> None:
    entry = _entry(tgi)
    assert entry["engine"] == "tgi" and entry["engine_flavour"] is None
    assert entry["kind"] == "chat"
    assert entry["capabilities"] == {"vision": False, "tools": True, "json_schema": True}
    assert entry["context_length"] == entry["context_window"]


def test_a_vllm_model_says_which_openai_server_it_is(vllm: Peers) -> None:
    entry = _entry(vllm)
    assert entry["engine"] == "openai" and entry["engine_flavour"] == "vllm"
    assert entry["capabilities"]["tools"] is True


def test_a_vision_model_says_it_takes_images(vision: Peers) -> None:
    assert _entry(vision)["capabilities"]["vision"] is True
