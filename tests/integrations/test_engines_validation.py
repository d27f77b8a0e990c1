"""Each engine's checklist and facts (docs/protocols.md §3, §4.2).

The first part runs the real ``Validator`` against each engine's answers as its source writes
them (``engine_answers.py``: TEI, llama.cpp, vLLM, SGLang), so every recogniser and every line
is pinned to the engine's own shapes. The second part goes through the gateway: the HTTP API
and ``hfgate endpoint add`` with a TEI credential that leaves ``context_window`` out, against
the simulator.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from tests.integrations.engine_answers import (
    ENDPOINT,
    FASTAPI_404,
    GGUF,
    HUB,
    LLAMACPP_404,
    LLAMACPP_LOADING,
    LLAMACPP_MODELS,
    SGLANG_MODEL_INFO,
    SGLANG_SERVER_INFO,
    TEI_CLASSIFIER,
    TEI_EMBEDDING,
    TEI_RERANKER,
    TOKEN,
    FakeEndpoint,
    Route,
    listed,
    llamacpp_props,
    tei_info,
    tokenized,
)
from tests.support.peers import MODEL, SIM_TOKEN, Gateway, SimHandle, running_gateway, running_sim
from typer.testing import CliRunner

from hfgate.cli import app
from hfgate.integrations.credential import Credential
from hfgate.integrations.engines import RECOGNISERS
from hfgate.integrations.report import Outcome, Report
from hfgate.integrations.validation import Validator
from hfgate.sim import SimConfig

EMBEDDER = "BAAI/bge-base-en-v1.5"
RERANKER = "BAAI/bge-reranker-v2-m3"
CLASSIFIER = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
LLAMA_GGUF = "bartowski/Llama-3.2-3B-Instruct-GGUF"
QWEN = "Qwen/Qwen2.5-7B-Instruct"
LIVE = ("reach", "auth", "state", "engine", "task", "model", "context", "chat_route")
GENERATION = ("/generate", "/generate_stream", "/v1/chat/completions", "/v1/completions")
T = TypeVar("T")


def credential(model: str, window: int | None = None) -> Credential:
    return Credential(TOKEN, ENDPOINT, model, window, model)


async def validate(
    routes: dict[str, Route],
    model: str,
    *,
    window: int | None = None,
    hub: dict[str, str | None] | None = None,
    wait: float = 0.0,
) -> tuple[Report, FakeEndpoint]:
    fake = FakeEndpoint(routes, hub if hub is not None else {})
    validator = Validator(fake, HUB)  # type: ignore[arg-type]
    report = await validator.validate(credential(model, window), wait=wait)
    assert not [path for method, path, _ in fake.seen if method == "POST" and path in GENERATION]
    return report, fake


def statuses(report: Report) -> list[str]:
    assert [check.id for check in report.checks] == list(LIVE), "each check once, in order"
    return [str(check.status) for check in report.checks]


def line(report: Report, check_id: str) -> str:
    return next(check.message for check in report.checks if check.id == check_id)


def facts(report: Report, *names: str) -> dict[str, Any]:
    return {name: report.facts.get(name) for name in names}


def tei(model_type: dict[str, Any], **changes: Any) -> dict[str, Route]:
    return {"GET /info": (200, tei_info(model_type, **changes)), "GET /health": (200, b"")}


# ---- TEI -------------------------------------------------------------------------------------


async def test_tei_embedding_model_without_context_window() -> None:
    report, _ = await validate(tei(TEI_EMBEDDING), EMBEDDER, hub={EMBEDDER: "feature-extraction"})

    assert statuses(report) == ["ok", "ok", "ok", "ok", "ok", "skipped", "ok", "skipped"]
    assert report.outcome is Outcome.VALID
    assert line(report, "engine") == (
        "text-embeddings-inference 1.9.3: an embedding model (cls pooling), served through"
        " POST /v1/embeddings"
    )
    assert line(report, "task") == (
        "feature-extraction (from the Hub): an embedding model, as the endpoint says"
    )
    assert line(report, "context") == (
        "512 tokens per input, from /info's max_input_length; up to 32 inputs per call; by"
        " default TEI cuts longer inputs (auto_truncate)"
    )
    assert line(report, "chat_route") == (
        "not a chat model: it is served through POST /v1/embeddings"
    )
    assert facts(
        report,
        "engine",
        "engine_version",
        "serves",
        "pooling",
        "max_input_length",
        "max_client_batch_size",
        "auto_truncate",
        "context_window",
        "upstream_model_id",
    ) == {
        "engine": "tei",
        "engine_version": "1.9.3",
        "serves": "embed",
        "pooling": "cls",
        "max_input_length": 512,
        "max_client_batch_size": 32,
        "auto_truncate": True,
        "context_window": 512,
        "upstream_model_id": "/repository",
    }
    assert "chat_route" not in report.facts and "tokenize_route" not in report.facts


async def test_tei_reranker() -> None:
    routes = tei(TEI_RERANKER, auto_truncate=False, max_client_batch_size=8)
    report, _ = await validate(routes, RERANKER, hub={RERANKER: "text-ranking"})

    assert statuses(report) == ["ok", "ok", "ok", "ok", "ok", "skipped", "ok", "skipped"]
    assert line(report, "engine") == (
        "text-embeddings-inference 1.9.3: a reranker, served through POST /v1/rerank"
    )
    assert "up to 8 inputs per call; by default TEI refuses longer inputs" in line(
        report, "context"
    )
    assert line(report, "chat_route") == "not a chat model: it is served through POST /v1/rerank"
    assert facts(report, "serves", "pooling", "auto_truncate", "labels") == {
        "serves": "rerank",
        "pooling": None,
        "auto_truncate": False,
        "labels": ["LABEL_0"],
    }


async def test_tei_classifier_is_recognised_but_not_served_yet() -> None:
    report, _ = await validate(
        tei(TEI_CLASSIFIER), CLASSIFIER, hub={CLASSIFIER: "text-classification"}
    )

    assert statuses(report) == ["ok", "ok", "ok", "warn", "ok", "skipped", "ok", "skipped"]
    assert line(report, "engine") == (
        "text-embeddings-inference 1.9.3: a classifier (2 labels: NEGATIVE, POSITIVE),"
        " recognised but not served yet: hfgate has no route that classifies text"
    )
    assert line(report, "chat_route") == (
        "not a chat model: recognised but not served yet: hfgate has no route that classifies text"
    )
    assert facts(report, "serves", "labels") == {
        "serves": "classify",
        "labels": ["NEGATIVE", "POSITIVE"],
    }


@pytest.mark.parametrize(
    ("model_type", "tag", "status"),
    [
        (TEI_EMBEDDING, "sentence-similarity", "ok"),
        (TEI_EMBEDDING, "text-generation", "warn"),
        (TEI_RERANKER, "text-classification", "ok"),
        (TEI_RERANKER, "feature-extraction", "warn"),
        (TEI_CLASSIFIER, "text-ranking", "warn"),
    ],
)
async def test_tei_task_is_judged_against_model_type(
    model_type: dict[str, Any], tag: str, status: str
) -> None:
    report, _ = await validate(tei(model_type), EMBEDDER, hub={EMBEDDER: tag})

    assert statuses(report)[4] == status
    if status == "warn":
        assert "hfgate goes by the endpoint" in line(report, "task")
        assert report.outcome is Outcome.VALID


async def test_tei_context_window_above_max_input_length_fails() -> None:
    report, _ = await validate(tei(TEI_EMBEDDING), EMBEDDER, window=8192, hub={EMBEDDER: None})

    assert statuses(report) == ["ok", "ok", "ok", "ok", "warn", "skipped", "fail", "skipped"]
    assert line(report, "context") == (
        "context_window 8,192 is more than the endpoint's max_input_length 512:"
        " set context_window to 512 or less"
    )
    assert "context_window" not in report.facts  # the credential's own window stays


async def test_tei_context_window_given_is_kept() -> None:
    report, _ = await validate(tei(TEI_EMBEDDING), EMBEDDER, window=256, hub={EMBEDDER: None})

    assert line(report, "context") == (
        "256 tokens per input (the endpoint allows up to 512); up to 32 inputs per call; by"
        " default TEI cuts longer inputs (auto_truncate)"
    )


async def test_a_missing_context_window_is_refused_for_other_engines() -> None:
    tgi_info = {
        "model_id": MODEL,
        "model_pipeline_tag": "text-generation",
        "max_total_tokens": 4096,
        "max_input_tokens": 4095,
        "router": "text-generation-router",
        "version": "3.3.6-dev0",
    }
    routes: dict[str, Route] = {
        "GET /info": (200, tgi_info),
        "POST /chat_tokenize": (200, {"tokenize_response": [], "templated_text": ""}),
    }
    report, _ = await validate(routes, MODEL)

    assert statuses(report) == ["ok"] * 6 + ["fail", "ok"]
    assert report.outcome is Outcome.INVALID
    assert report.problems == [{"field": "context_window", "message": line(report, "context")}]
    assert line(report, "context") == (
        "`context_window` is missing: add the model's context length in tokens, e.g."
        ' "context_window": 4096. Only a TEI endpoint may leave it out (its /info says the'
        " limit)"
    )


# ---- llama.cpp -------------------------------------------------------------------------------


def llamacpp(**props: Any) -> dict[str, Route]:
    return {
        "GET /info": LLAMACPP_404,
        "GET /health": (200, {"status": "ok"}),
        "GET /props": (200, llamacpp_props(**props)),
        "GET /v1/models": (200, LLAMACPP_MODELS),
    }


async def test_llamacpp() -> None:
    report, fake = await validate(
        llamacpp(), LLAMA_GGUF, window=8192, hub={LLAMA_GGUF: "text-generation"}
    )

    assert statuses(report) == ["ok", "ok", "ok", "ok", "ok", "skipped", "ok", "ok"]
    assert line(report, "engine") == (
        "llama.cpp b6500-1a2b3c4d (llama-server): served through its OpenAI routes;"
        " 8,192 tokens per request"
    )
    assert line(report, "model") == (
        f"the endpoint reports {GGUF!r} (not a Hub repo id: where the model is mounted, or an"
        " alias), so the model cannot be confirmed"
    )
    assert line(report, "context") == (
        "8,192 tokens per request; 4 slots serve requests side by side"
    )
    assert line(report, "chat_route") == (
        "POST /v1/chat/completions with the GGUF's chat template; exact token counts from POST"
        " /apply-template and /tokenize"
    )
    assert facts(
        report,
        "engine",
        "engine_version",
        "max_total_tokens",
        "total_slots",
        "served_models",
        "n_ctx_train",
        "chat_route",
        "tokenize_route",
    ) == {
        "engine": "llamacpp",
        "engine_version": "b6500-1a2b3c4d",
        "max_total_tokens": 8192,
        "total_slots": 4,
        "served_models": [GGUF],
        "n_ctx_train": 131072,
        "chat_route": "messages",
        "tokenize_route": "llamacpp",
    }
    assert [path for _, path, _ in fake.seen] == ["/info", "/v1/models", "/props"]


async def test_llamacpp_context_window_above_n_ctx_fails() -> None:
    report, _ = await validate(llamacpp(), LLAMA_GGUF, window=32768, hub={})

    assert line(report, "context") == (
        "context_window 32,768 is more than the endpoint's n_ctx 8,192:"
        " set context_window to 8,192 or less"
    )


async def test_llamacpp_without_chat_template_warns_of_chatml() -> None:
    report, _ = await validate(llamacpp(chat_template=""), LLAMA_GGUF, window=4096, hub={})

    assert statuses(report)[-1] == "warn"
    assert "the GGUF has no chat template: llama.cpp formats chats as ChatML" in line(
        report, "chat_route"
    )
    assert facts(report, "has_chat_template", "tokenize_route") == {
        "has_chat_template": False,
        "tokenize_route": "llamacpp",
    }


async def test_llamacpp_loading_model_is_pending_like_a_cold_start() -> None:
    routes = llamacpp() | {"GET /info": LLAMACPP_LOADING, "GET /props": LLAMACPP_LOADING}
    report, _ = await validate(routes, LLAMA_GGUF, window=4096, hub={})

    assert statuses(report) == ["ok", "ok", "warn"] + ["skipped"] * 5
    assert report.outcome is Outcome.PENDING
    assert line(report, "state") == (
        "the endpoint runs, but its llama.cpp server is still loading the model (HTTP 503"
        " Loading model); hfgate finishes validation once it is loaded"
    )
    assert line(report, "engine") == "waiting for the endpoint to run"
    assert report.facts["endpoint_state"] == "initializing"


async def test_llamacpp_loading_model_is_waited_for() -> None:
    answers = iter([LLAMACPP_LOADING, LLAMACPP_LOADING])

    def info(_body: Any) -> tuple[int, Any]:
        return next(answers, LLAMACPP_404)

    routes = llamacpp() | {"GET /info": info}
    report, fake = await validate(routes, LLAMA_GGUF, window=4096, hub={}, wait=20)

    assert statuses(report) == ["ok", "ok", "ok", "ok", "warn", "skipped", "ok", "ok"]
    assert line(report, "state").startswith("the endpoint is running")
    assert report.facts["endpoint_state"] == "running"
    assert len(fake.asked("GET", "/info")) == 3  # loading, loading, then llama.cpp's 404


# ---- vLLM and SGLang -------------------------------------------------------------------------


def vllm(tokenize: Route = (200, tokenized(9))) -> dict[str, Route]:
    return {
        "GET /v1/models": (200, listed(QWEN, "vllm")),
        "GET /version": (200, {"version": "0.11.0"}),
        "POST /tokenize": tokenize,
    }


async def test_vllm() -> None:
    report, fake = await validate(vllm(), QWEN, window=32768, hub={QWEN: "text-generation"})

    assert statuses(report) == ["ok"] * 8
    assert line(report, "engine") == "vLLM 0.11.0: served through its OpenAI routes"
    assert line(report, "context") == "32,768 tokens"
    assert line(report, "chat_route") == (
        "POST /v1/chat/completions; exact token counts from vLLM's POST /tokenize"
    )
    assert facts(
        report,
        "engine",
        "engine_flavour",
        "engine_version",
        "served_models",
        "max_total_tokens",
        "chat_route",
        "tokenize_route",
    ) == {
        "engine": "openai",
        "engine_flavour": "vllm",
        "engine_version": "0.11.0",
        "served_models": [QWEN],
        "max_total_tokens": 32768,
        "chat_route": "messages",
        "tokenize_route": "vllm",
    }
    assert fake.asked("POST", "/tokenize") == [
        {"model": QWEN, "messages": [{"role": "user", "content": "hello"}]}
    ]


async def test_vllm_context_above_max_model_len_names_it() -> None:
    report, _ = await validate(vllm(), QWEN, window=65536, hub={})

    assert "more than the endpoint's max_model_len 32,768" in line(report, "context")


async def test_vllm_without_chat_template_warns() -> None:
    refused = {
        "error": {
            "message": "As of transformers v4.44, default chat template is no longer allowed,"
            " so you must provide a chat template if the tokenizer does not define one.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        }
    }
    report, _ = await validate(vllm((400, refused)), QWEN, window=4096, hub={})

    assert statuses(report)[-1] == "warn"
    assert "no chat template, so vLLM refuses chats" in line(report, "chat_route")


async def test_vllm_without_tokenize_route_estimates() -> None:
    report, _ = await validate(vllm(FASTAPI_404), QWEN, window=4096, hub={})

    assert line(report, "chat_route") == (
        "POST /v1/chat/completions; POST /tokenize answered HTTP 404, so prompt sizes are estimated"
    )
    assert report.facts["tokenize_route"] is None


def sglang(**changes: Any) -> dict[str, Route]:
    return {
        "GET /v1/models": (200, listed("/repository", "sglang")),
        "GET /get_model_info": (200, SGLANG_MODEL_INFO | changes),
        "GET /get_server_info": (200, SGLANG_SERVER_INFO),
        "POST /tokenize": (200, tokenized(1)),
    }


async def test_sglang() -> None:
    report, fake = await validate(sglang(), QWEN, window=32768, hub={QWEN: "text-generation"})

    assert statuses(report) == ["ok", "ok", "ok", "ok", "ok", "skipped", "ok", "ok"]
    assert line(report, "engine") == "SGLang 0.5.4: served through its OpenAI routes"
    assert line(report, "chat_route") == (
        "POST /v1/chat/completions; exact token counts from SGLang's POST /tokenize"
    )
    assert facts(
        report,
        "engine",
        "engine_flavour",
        "engine_version",
        "max_total_tokens",
        "max_input_tokens",
        "upstream_model_id",
        "tokenize_route",
    ) == {
        "engine": "openai",
        "engine_flavour": "sglang",
        "engine_version": "0.5.4",
        "max_total_tokens": 32768,
        "max_input_tokens": 32762,
        "upstream_model_id": "/repository",
        "tokenize_route": "sglang",
    }
    assert fake.asked("POST", "/tokenize") == [
        {"model": "/repository", "messages": [{"role": "user", "content": "hello"}]}
    ]
    assert "GET /props" not in {f"{m} {p}" for m, p, _ in fake.seen}  # owned_by said sglang


async def test_an_older_sglang_counts_text_only() -> None:
    def tokenize(body: Any) -> tuple[int, Any]:
        if "prompt" in body:
            return 200, tokenized(2)
        invalid = "1 validation error for TokenizeRequest\nprompt\n  Field required"
        return 400, {"object": "error", "message": invalid, "type": "Bad Request", "code": 400}

    routes = sglang() | {"POST /tokenize": tokenize}
    report, fake = await validate(routes, QWEN, window=4096, hub={})

    assert line(report, "chat_route") == (
        "POST /v1/chat/completions; this SGLang's POST /tokenize counts text, not chats: chat"
        " prompt sizes are estimated, completions counted exactly"
    )
    assert report.facts["tokenize_route"] == "sglang-text"
    assert len(fake.asked("POST", "/tokenize")) == 2


async def test_sglang_serving_an_embedding_model_fails() -> None:
    report, _ = await validate(sglang(is_generation=False), QWEN, window=4096, hub={})

    assert statuses(report) == ["ok", "ok", "ok", "fail"] + ["skipped"] * 4
    assert "serves an embedding or reward model here (is_generation: false)" in line(
        report, "engine"
    )
    assert line(report, "task") == "not checked: hfgate serves only generative models from SGLang"


@pytest.mark.parametrize(
    ("routes", "flavour"),
    [
        (sglang() | {"GET /v1/models": (200, listed(QWEN, "proxy"))}, "sglang"),
        (vllm() | {"GET /v1/models": (200, listed(QWEN, "proxy"))}, "vllm"),
    ],
    ids=["sglang", "vllm"],
)
async def test_an_engine_is_known_by_its_own_route_when_owned_by_does_not_say(
    routes: dict[str, Route], flavour: str
) -> None:
    report, _ = await validate(routes, QWEN, window=4096, hub={})

    assert report.facts["engine_flavour"] == flavour


async def test_an_openai_server_that_does_not_say_which() -> None:
    routes: dict[str, Route] = {"GET /v1/models": (200, listed(QWEN, "someone"))}
    report, _ = await validate(routes, QWEN, window=4096, hub={QWEN: "text-generation"})

    assert statuses(report) == ["ok"] * 8
    assert line(report, "engine").startswith(
        "an OpenAI-compatible server that does not say which engine it is"
    )
    assert facts(report, "engine", "engine_flavour", "tokenize_route") == {
        "engine": "openai",
        "engine_flavour": None,
        "tokenize_route": None,
    }


async def test_a_custom_container_costs_two_routes() -> None:
    routes: dict[str, Route] = {"GET /health": (200, b"Ok")}
    report, fake = await validate(routes, QWEN, window=4096, hub={})

    assert statuses(report) == ["ok", "ok", "ok", "fail"] + ["skipped"] * 4
    assert "Deploy the model with the TGI, vLLM, SGLang or llama.cpp engine" in line(
        report, "engine"
    )
    assert [path for _, path, _ in fake.seen] == ["/info", "/v1/models"]


def test_recognisers_are_tried_in_a_fixed_order() -> None:
    names = [type(engine).__name__ for engine in RECOGNISERS]
    assert names == ["Tgi", "Tei", "LlamaCpp", "Sglang", "Vllm", "Openai"]


# ---- through the gateway, against the simulator ----------------------------------------------

BASE_SIM = SimConfig(token=SIM_TOKEN).to_dict()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimHandle, Gateway]]:
    home = tmp_path_factory.mktemp("engines") / "home"
    with running_sim() as handle, running_gateway(home, hub_url=handle.url) as gw:
        yield handle, gw


@pytest.fixture
def sim(live: tuple[SimHandle, Gateway]) -> SimHandle:
    handle = live[0]
    handle.patch(**BASE_SIM)
    handle.reset()
    return handle


@pytest.fixture
def gateway(live: tuple[SimHandle, Gateway], sim: SimHandle) -> Iterator[Gateway]:
    gw = live[1]
    remove_all(gw)
    yield gw
    remove_all(gw)


def remove_all(gw: Gateway) -> None:
    with gw.client() as client:
        for row in client.get("/api/integrations").json()["data"]:
            client.delete(f"/api/integrations/{row['id']}").raise_for_status()


def without_window(sim: SimHandle) -> dict[str, Any]:
    return {k: v for k, v in sim.credential().items() if k != "context_window"}


def pairs(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(check["id"], check["status"]) for check in report["checks"]]


def test_api_adds_a_tei_endpoint_without_context_window(sim: SimHandle, gateway: Gateway) -> None:
    sim.patch(engine="tei", pipeline_tag="feature-extraction")
    with gateway.client() as client:
        response = client.post("/api/integrations", content=json.dumps(without_window(sim)))
        models = {m["id"]: m for m in client.get("/v1/models").json()["data"]}

    assert response.status_code == 201, response.text
    body = response.json()
    assert [status for _, status in pairs(body["report"])] == [
        "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "skipped",
    ]  # fmt: skip
    limit = body["report"]["facts"]["max_input_length"]
    assert body["integration"]["context_window"] == limit
    assert body["report"]["facts"]["serves"] == "embed"
    assert models[MODEL]["context_window"] == limit
    assert models[MODEL]["kind"] == "embed"


def test_api_refuses_a_tgi_credential_without_context_window(
    sim: SimHandle, gateway: Gateway
) -> None:
    with gateway.client() as client:
        response = client.post("/api/integrations", content=json.dumps(without_window(sim)))
        stored = client.get("/api/integrations").json()["data"]

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_credential"
    assert error["message"].startswith("`context_window` is missing: add the model's context")
    assert response.json()["report"]["problems"][0]["field"] == "context_window"
    assert stored == []


def test_cli_endpoint_add_with_a_tei_credential_without_context_window(
    sim: SimHandle, gateway: Gateway, tmp_path: Path
) -> None:
    sim.patch(engine="tei", pipeline_tag="sentence-similarity")
    path = tmp_path / "credential.json"
    path.write_text(json.dumps(without_window(sim)), encoding="utf-8")
    env = {"HFGATE_URL": gateway.url, "HFGATE_API_KEY": gateway.key, "COLUMNS": "400"}
    result = CliRunner().invoke(app, ["endpoint", "add", str(path)], env=env)

    assert result.exit_code == 0, result.output
    assert "✓ Inference engine: text-embeddings-inference" in result.output
    assert "– Chat route: not a chat model: it is served through POST /v1/embeddings" in (
        result.output
    )
    with gateway.client() as client:
        assert [m["kind"] for m in client.get("/v1/models").json()["data"]] == ["embed"]


def test_pending_tei_without_context_window_finishes_with_the_endpoints_limit(
    sim: SimHandle, gateway: Gateway
) -> None:
    sim.patch(engine="tei", pipeline_tag="feature-extraction", state="scaled_to_zero")
    response = gateway.add(without_window(sim))
    assert response.status_code == 202, response.text
    assert response.json()["integration"]["context_window"] == 0  # not known yet

    sim.patch(state="running")  # the gateway's pending pass runs every 0.2 s in tests
    with gateway.client() as client:
        row = poll(lambda: ready(client), "the pending integration to be finished")
    assert row["context_window"] == row["facts"]["max_input_length"]
    assert row["facts"]["serves"] == "embed"


def ready(client: httpx.Client) -> dict[str, Any] | None:
    rows = client.get("/api/integrations").json()["data"]
    return rows[0] if rows and rows[0]["state"] == "ready" else None


def poll(probe: Callable[[], T | None], what: str, timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)
    return value


# ---- each engine's face in the simulator, through POST /api/integrations/validate ---------------


def dry_run(gateway: Gateway, credential: dict[str, Any], **params: Any) -> dict[str, Any]:
    with gateway.client() as client:
        response = client.post(
            "/api/integrations/validate", content=json.dumps(credential), params=params
        )
    assert response.status_code == 200, response.text
    return dict(response.json()["report"])


def sim_line(report: dict[str, Any], check_id: str) -> str:
    return next(str(c["message"]) for c in report["checks"] if c["id"] == check_id)


def sim_statuses(report: dict[str, Any]) -> list[str]:
    return [status for _, status in pairs(report)][1:]  # the live checks, after "credential"


@pytest.mark.parametrize(
    ("kind", "tag", "engine_words", "serves"),
    [
        ("embed", "feature-extraction", "an embedding model (cls pooling)", "embed"),
        ("rerank", "text-ranking", "a reranker, served through POST /v1/rerank", "rerank"),
        ("classify", "text-classification", "recognised but not served yet", "classify"),
    ],
)
def test_sim_tei_kinds(
    sim: SimHandle, gateway: Gateway, kind: str, tag: str, engine_words: str, serves: str
) -> None:
    sim.patch(engine="tei", tei_kind=kind, pipeline_tag=tag)
    report = dry_run(gateway, without_window(sim))

    engine = "warn" if kind == "classify" else "ok"
    assert sim_statuses(report) == ["ok", "ok", "ok", engine, "ok", "ok", "ok", "skipped"]
    assert sim_line(report, "engine").startswith("text-embeddings-inference 1.9.3: ")
    assert engine_words in sim_line(report, "engine")
    assert report["facts"]["serves"] == serves
    assert report["facts"]["context_window"] == report["facts"]["max_input_length"]


def test_sim_llamacpp(sim: SimHandle, gateway: Gateway) -> None:
    sim.patch(engine="llamacpp")
    report = dry_run(gateway, sim.credential())

    assert sim_statuses(report) == ["ok"] * 8
    assert sim_line(report, "engine").startswith("llama.cpp b")
    assert sim_line(report, "context") == (
        "4,096 tokens per request; 4 slots serve requests side by side"
    )
    assert {k: report["facts"][k] for k in ("engine", "tokenize_route", "max_total_tokens")} == {
        "engine": "llamacpp",
        "tokenize_route": "llamacpp",
        "max_total_tokens": 4096,
    }


def test_sim_llamacpp_loading_is_pending_then_waited_for(sim: SimHandle, gateway: Gateway) -> None:
    sim.patch(engine="llamacpp", state="running", loading=30)
    report = dry_run(gateway, sim.credential())
    assert sim_statuses(report)[:3] == ["ok", "ok", "warn"]
    assert "still loading the model (HTTP 503 Loading model)" in sim_line(report, "state")
    assert report["outcome"] == "pending"
    assert report["facts"]["endpoint_state"] == "initializing"

    sim.patch(engine="llamacpp", state="running", loading=1.5)
    waited = dry_run(gateway, sim.credential(), wait=20)
    assert waited["outcome"] == "valid", waited
    assert sim_line(waited, "state").startswith("the endpoint is running")


def test_sim_sglang(sim: SimHandle, gateway: Gateway) -> None:
    sim.patch(engine="sglang")
    report = dry_run(gateway, sim.credential())

    assert sim_statuses(report) == ["ok"] * 8
    assert sim_line(report, "engine").startswith("SGLang 0.")
    facts = {k: report["facts"][k] for k in ("engine", "engine_flavour", "tokenize_route")}
    assert facts == {"engine": "openai", "engine_flavour": "sglang", "tokenize_route": "sglang"}
    assert report["facts"]["max_input_tokens"] == 4095  # /get_server_info max_req_input_len


# ---- chat through llama.cpp and SGLang, counted exactly by their own routes -------------------

LONG = "Tell me everything about the history of the harbour and its lighthouse keepers. " * 6


@pytest.mark.parametrize(
    ("engine", "counting"),
    [("llamacpp", ["POST /apply-template", "POST /tokenize"]), ("sglang", ["POST /tokenize"])],
)
def test_chat_is_counted_exactly_by_the_engine(
    sim: SimHandle, gateway: Gateway, engine: str, counting: list[str]
) -> None:
    sim.patch(engine=engine)
    added = gateway.add(sim.credential(context_window=512))
    assert added.status_code == 201, added.text
    before = sim.stats()["requests"]
    body = {"model": MODEL, "messages": [{"role": "user", "content": LONG}], "max_tokens": 16}
    with gateway.client() as client:
        answer = client.post("/v1/chat/completions", json=body)
    seen = sim.stats()["requests"]

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-hfgate-token-count"] == "exact"
    assert int(answer.headers["x-hfgate-prompt-tokens"]) == answer.json()["usage"]["prompt_tokens"]
    for route in counting:
        assert seen.get(route, 0) > before.get(route, 0), (route, seen)


def test_chat_waits_while_llamacpp_loads_its_model(sim: SimHandle, gateway: Gateway) -> None:
    sim.patch(engine="llamacpp")
    assert gateway.add(sim.credential()).status_code == 201
    sim.patch(engine="llamacpp", state="running", loading=1.5)  # the replica restarts
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    with gateway.client() as client:
        started = time.monotonic()
        answer = client.post("/v1/chat/completions", json=body)

    assert answer.status_code == 200, answer.text  # "Loading model" was a cold start, waited out
    assert time.monotonic() - started >= 1.0
    assert sim.stats()["requests"].get("GET /health", 0) >= 1  # the waker asked /health
