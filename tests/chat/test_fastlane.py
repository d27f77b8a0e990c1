"""The fast lane (``hfgate.api.fastlane``): generation routes served without FastAPI's
per-request machinery must answer exactly as FastAPI would, errors included."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from hfgate.api.fastlane import Gateway
from hfgate.app import create_app
from tests.chat.support import Peers
from tests.support.peers import gateway_settings

MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Gateway:
    built = create_app(gateway_settings(tmp_path_factory.mktemp("lane") / "home"))
    assert isinstance(built, Gateway)
    return built


def scope(method: str, path: str, root_path: str = "") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path}


@pytest.mark.parametrize(
    ("method", "path", "endpoint", "params"),
    [
        ("POST", "/v1/chat/completions", "chat_completions", {}),
        ("POST", "/v1/completions", "completions", {}),
        ("POST", "/tgi/meta-llama/Llama-2-7b-chat-hf/generate", "tgi_post",
         {"rest": "meta-llama/Llama-2-7b-chat-hf/generate"}),
    ],
)  # fmt: skip
def test_generation_routes_take_the_lane(
    app: Gateway, method: str, path: str, endpoint: str, params: dict[str, str]
) -> None:
    request = scope(method, path)
    assert app._match(request)
    assert request["endpoint"].__name__ == endpoint
    assert request["path_params"] == params


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/chat/completions"),  # FastAPI answers 405
        ("POST", "/v1/chat/completions/"),
        ("POST", "/v1/models"),
        ("GET", "/tgi/some/model/info"),
        ("POST", "/tgi/"),  # no model: FastAPI's route (and its error)
        ("POST", "/api/integrations"),
    ],
)
def test_everything_else_goes_through_fastapi(app: Gateway, method: str, path: str) -> None:
    assert not app._match(scope(method, path))


def test_a_root_path_is_taken_off_before_matching(app: Gateway) -> None:
    assert app._match(scope("POST", "/gw/v1/chat/completions", root_path="/gw"))


def test_a_wrong_method_on_a_fast_path_is_fastapis_405(peers: Peers) -> None:
    with peers.client() as client:
        answer = client.get("/v1/chat/completions")
    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "method_not_allowed"


def test_an_unexpected_failure_in_the_lane_is_a_logged_500_without_its_text(
    peers: Peers, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = peers.gateway.services.chat

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("private detail hf_do_not_leak")

    monkeypatch.setattr(chat, "prepare_chat", broken)
    caplog.set_level(logging.ERROR, logger="hfgate.api")
    with peers.client() as client:
        answer = client.post(
            "/v1/chat/completions", json={"model": peers.model, "messages": MESSAGES}
        )
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "hf_do_not_leak" not in answer.text
    logged = [r.getMessage() for r in caplog.records if r.name == "hfgate.api"]
    assert logged == ["unexpected RuntimeError on POST /v1/chat/completions"]
    assert "hf_do_not_leak" not in caplog.text


def test_hfgate_errors_in_the_lane_keep_their_status_and_shape(peers: Peers) -> None:
    with peers.client() as client:
        bad_json = client.post("/v1/chat/completions", content=b"{nope")
        unknown = client.post("/v1/completions", json={"model": "nope/nope", "prompt": "x"})
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["message"].startswith("the request body is not valid JSON")
    assert unknown.status_code == 404
    assert set(unknown.json()["error"]) == {"message", "type", "param", "code"}


def test_an_endpoint_the_app_does_not_declare_cannot_take_the_lane(app: Gateway) -> None:
    async def undeclared(request: Any) -> Any:
        return None

    with pytest.raises(RuntimeError, match="undeclared"):
        app.fast_lane(undeclared)
