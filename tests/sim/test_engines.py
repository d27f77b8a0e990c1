"""Containers other than current TGI (old TGI, TEI, vLLM, custom) and the Hub beside them."""

from __future__ import annotations

import pytest

from hfgate.sim import tokenizer
from tests.sim.support import Sim, sse_json

CHAT = {"messages": [{"role": "user", "content": "Hi"}]}
MODEL = "meta-llama/Llama-2-7b-chat-hf"


@pytest.mark.parametrize(
    "route",
    [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/completions"),
        ("POST", "/tokenize"),
        ("POST", "/chat_tokenize"),
        ("GET", "/v1/models"),
    ],
)
def test_tgi_before_1_4_has_no_openai_routes(sim: Sim, route: tuple[str, str]) -> None:
    sim.patch(tgi_version="1.3.4")
    with sim.client() as client:
        response = client.request(*route, json=CHAT)
    assert (response.status_code, response.content) == (404, b"")


def test_tgi_1_4_info_has_the_old_fields(sim: Sim) -> None:
    sim.patch(tgi_version="1.4.2")
    with sim.client() as client:
        info = client.get("/info").json()
        chat = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
        models = client.get("/v1/models")
    assert info["max_input_length"] == 4095 and "max_input_tokens" not in info
    assert info["model_dtype"] == "torch.float16" and info["waiting_served_ratio"] == 1.2
    assert "router" not in info and "max_client_batch_size" not in info
    assert info["version"] == "1.4.2"
    assert chat.text.startswith("data:{")  # axum 0.6
    events = sse_json(chat.text)
    assert "[DONE]" not in events  # before v2.2.0 the chat stream just closed
    assert events[0]["object"] == "text_completion"  # before v2.1.1
    assert events[-1]["choices"][0]["finish_reason"] == "eos_token"  # before v2.3.0
    assert models.status_code == 404  # /v1/models came with v2.3.0


def test_tgi_2_0_4_has_router_but_old_framing(sim: Sim) -> None:
    sim.patch(tgi_version="2.0.4")
    with sim.client() as client:
        info = client.get("/info").json()
        stream = client.post("/generate_stream", json={"inputs": "hi"})
    assert info["router"] == "text-generation-router" and "max_input_length" in info
    assert stream.text.startswith("data:{")


def test_tgi_2_x_defaults_to_100_new_tokens(sim: Sim) -> None:
    sim.patch(tgi_version="2.4.1", max_input_tokens=50, max_total_tokens=100)
    with sim.client() as client:
        response = client.post("/generate", json={"inputs": "hi", "parameters": {}})
    assert response.json()["error"].endswith("Given: 2 `inputs` tokens and 100 `max_new_tokens`")


def test_tei_engine(sim: Sim) -> None:
    sim.patch(engine="tei")
    with sim.client() as client:
        info = client.get("/info").json()
        embed = client.post("/embed", json={"inputs": ["a", "b"]})
        generate = client.post("/generate", json={"inputs": "hi"})
        health = client.get("/health")
    assert info["model_type"] == {"embedding": {"pooling": "cls"}}
    assert info["max_input_length"] == 4095
    assert not {"router", "max_total_tokens", "model_pipeline_tag"} & set(info)
    vectors = embed.json()
    assert len(vectors) == 2 and len(vectors[0]) == 384 and vectors[0] != vectors[1]
    assert abs(sum(v * v for v in vectors[0]) - 1) < 1e-3
    assert (generate.status_code, generate.content) == (404, b"")
    assert health.status_code == 200


def test_vllm_engine_info_and_models(sim: Sim) -> None:
    sim.patch(engine="vllm")
    with sim.client() as client:
        info = client.get("/info")
        models = client.get("/v1/models").json()
        health = client.get("/health")
    assert info.status_code == 404 and info.json() == {"detail": "Not Found"}  # FastAPI
    assert models["object"] == "list"
    entry = models["data"][0]
    assert (entry["id"], entry["object"], entry["owned_by"]) == (MODEL, "model", "vllm")
    assert entry["max_model_len"] == 4096
    assert health.status_code == 200


def test_vllm_chat(sim: Sim) -> None:
    sim.patch(engine="vllm")
    with sim.client() as client:
        result = client.post(
            "/v1/chat/completions", json={**CHAT, "model": MODEL, "top_p": 1.0}
        ).json()
        wrong = client.post("/v1/chat/completions", json={**CHAT, "model": "other/model"})
        stream = client.post(
            "/v1/chat/completions",
            json={**CHAT, "stream": True, "stream_options": {"include_usage": True}},
        )
    assert result["id"].startswith("chatcmpl-") and result["object"] == "chat.completion"
    assert result["choices"][0]["finish_reason"] == "stop"  # top_p 1.0 is fine on vLLM
    assert wrong.status_code == 404
    assert wrong.json()["error"]["type"] == "NotFoundError"
    events = sse_json(stream.text)
    assert events[-1] == "[DONE]" and events[-2]["usage"]["completion_tokens"] == 16
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "role" not in events[1]["choices"][0]["delta"]


def test_vllm_context_error_and_tokenize(sim: Sim) -> None:
    sim.patch(engine="vllm")
    prompt = "x" + " x" * 4199
    with sim.client() as client:
        too_long = client.post("/v1/completions", json={"prompt": prompt, "max_tokens": 10})
        tokens = client.post("/tokenize", json={"prompt": "Hello world"}).json()
    assert too_long.status_code == 400
    error = too_long.json()["error"]
    assert error["type"] == "BadRequestError" and error["code"] == 400
    assert "maximum context length is 4096 tokens" in error["message"]
    assert tokens["count"] == tokenizer.input_length("Hello world", add_bos=True) == 3
    assert tokens["max_model_len"] == 4096 and tokens["tokens"][0] == tokenizer.BOS_ID


def test_custom_engine(sim: Sim) -> None:
    sim.patch(engine="custom")
    with sim.client() as client:
        health = client.get("/health")
        predict = client.post("/predict", json={"inputs": "Hello"})
        info = client.get("/info")
        chat = client.post("/v1/chat/completions", json=CHAT)
    assert (health.status_code, health.text) == (200, "Ok")
    assert isinstance(predict.json()["response"], str)
    assert (info.status_code, info.text) == (404, "Not Found")
    assert chat.status_code == 404


def test_engine_switch_keeps_the_proxy(sim: Sim) -> None:
    sim.patch(engine="vllm", state="paused")
    with sim.client() as client:
        assert client.get("/v1/models").status_code == 400


def test_hub_model_info(sim: Sim) -> None:
    known = sim.admin.get(f"/api/models/{MODEL}")
    revision = sim.admin.get(f"/api/models/{MODEL}/revision/main")
    unknown = sim.admin.get("/api/models/nobody/nothing")
    info = known.json()
    assert (info["id"], info["pipeline_tag"]) == (MODEL, "text-generation")
    assert "text-generation-inference" in info["tags"] and "conversational" in info["tags"]
    assert revision.json()["id"] == MODEL
    assert unknown.status_code == 401
    assert unknown.json() == {"error": "Repository not found"}
    assert unknown.headers["x-error-code"] == "RepoNotFound"


def test_hub_models_are_configurable(sim: Sim) -> None:
    sim.patch(hub_models={"BAAI/bge-small-en": "feature-extraction"}, state="scaled_to_zero")
    info = sim.admin.get("/api/models/BAAI/bge-small-en").json()
    assert info["pipeline_tag"] == "feature-extraction"
    assert sim.admin.get(f"/api/models/{MODEL}").status_code == 401
    assert sim.stats()["wakeups"] == 0  # the Hub is not the endpoint
