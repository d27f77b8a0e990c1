"""Live validation against the simulator in each of its modes, through the HTTP API.

Every case drives one branch of the checklist (docs/protocols.md §4.2) and asserts, for both
``POST /api/integrations/validate`` (stores nothing) and ``POST /api/integrations`` (§8):
the HTTP status, the ordered ``(id, status)`` checklist, the key words of the messages that
matter, the facts the gateway keeps, and what is (or is not) listed afterwards.

One simulator and one gateway serve the whole module; before each test the simulator is put
back to its base config and every integration is removed, so a case only says what it changes.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.peers import (
    MODEL,
    SIM_TOKEN,
    Gateway,
    SimHandle,
    running_gateway,
    running_sim,
)

from hfgate._server import free_port
from hfgate.sim import SimConfig

# The checklist of docs/protocols.md §4.2, in order, each check exactly once ("credential" is
# the parse step).
ALL_CHECKS = (
    "credential",
    "reach",
    "auth",
    "state",
    "engine",
    "task",
    "model",
    "context",
    "chat_route",
)
BASE_SIM = SimConfig(token=SIM_TOKEN).to_dict()
OTHER_MODEL = "mistralai/Mistral-7B-Instruct-v0.2"
WRONG_TOKEN = "hf_fake_wrongWRONGwrong0123456789abcdefgh"
# Routes that cost money on a real endpoint: validation must never call them.
GENERATION_ROUTES = (
    "POST /generate",
    "POST /generate_stream",
    "POST /v1/chat/completions",
    "POST /v1/completions",
    "POST /",
    "POST /invocations",
)


def checklist(*statuses: str) -> list[tuple[str, str]]:
    """The expected ordered checklist: the given statuses, then ``skipped`` for the rest."""
    filled = list(statuses) + ["skipped"] * (len(ALL_CHECKS) - len(statuses))
    return list(zip(ALL_CHECKS, filled, strict=True))


ALL_OK = checklist(*["ok"] * 9)


# ---- fixtures: one sim and one gateway for the module, reset before every test ----------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimHandle, Gateway]]:
    home = tmp_path_factory.mktemp("validation") / "home"
    with running_sim() as handle, running_gateway(home, hub_url=handle.url) as gw:
        yield handle, gw


@pytest.fixture(scope="module")
def admin_client(live: tuple[SimHandle, Gateway]) -> Iterator[httpx.Client]:
    """One admin client for the module (a new client per call costs an SSL context)."""
    with live[1].client() as client:
        yield client


@pytest.fixture
def sim(live: tuple[SimHandle, Gateway]) -> SimHandle:
    handle = live[0]
    handle.patch(**BASE_SIM)
    handle.reset()
    return handle


@pytest.fixture
def api(sim: SimHandle, admin_client: httpx.Client) -> Iterator[httpx.Client]:
    """The module's gateway, as an admin client, with no integration stored."""
    remove_all(admin_client)
    yield admin_client
    remove_all(admin_client)


def remove_all(api: httpx.Client) -> None:
    for row in api.get("/api/integrations").json()["data"]:
        api.delete(f"/api/integrations/{row['id']}").raise_for_status()


# ---- helpers -------------------------------------------------------------------------------


def pairs(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(check["id"], check["status"]) for check in report["checks"]]


def message(report: dict[str, Any], check_id: str) -> str:
    return next(c["message"] for c in report["checks"] if c["id"] == check_id)


def assert_words(text: str, *words: str) -> None:
    for word in words:
        assert word.lower() in text.lower(), f"{word!r} not in {text!r}"


def listed(api: httpx.Client) -> dict[str, Any]:
    """What every list says now: integrations, /v1/models and /api/models, by name."""
    return {
        "integrations": {r["name"]: r for r in api.get("/api/integrations").json()["data"]},
        "v1": {m["id"]: m for m in api.get("/v1/models").json()["data"]},
        "api": {m["id"]: m for m in api.get("/api/models").json()["data"]},
    }


def assert_nothing_stored(api: httpx.Client) -> None:
    assert listed(api) == {"integrations": {}, "v1": {}, "api": {}}


def assert_no_generation(sim: SimHandle) -> None:
    seen = sim.stats()["requests"]
    assert not [route for route in GENERATION_ROUTES if route in seen], seen


def post(api: httpx.Client, path: str, credential: dict[str, Any], **params: Any) -> httpx.Response:
    return api.post(path, content=json.dumps(credential), params=params)


def dead_endpoint(_sim: SimHandle) -> dict[str, Any]:
    return {"endpoint": f"http://127.0.0.1:{free_port()}"}


# ---- the table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    sim: dict[str, Any]
    status: int  # the answer of POST /api/integrations
    checks: list[tuple[str, str]]
    words: dict[str, tuple[str, ...]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    credential: dict[str, Any] | Callable[[SimHandle], dict[str, Any]] = field(default_factory=dict)

    def overrides(self, sim: SimHandle) -> dict[str, Any]:
        return self.credential(sim) if callable(self.credential) else self.credential

    def __str__(self) -> str:
        return self.id


CASES = [
    Case(
        "tgi",
        {},
        201,
        ALL_OK,
        words={
            "engine": ("text-generation-inference", "3.3.6"),
            "task": ("text-generation", "/info"),
            "model": (MODEL,),
            "chat_route": ("/v1/chat/completions",),
        },
        facts={
            "engine": "tgi",
            "max_total_tokens": 4096,
            "max_input_tokens": 4095,
            "chat_route": "messages",
            "tokenize_route": "chat_tokenize",
        },
    ),
    Case(
        "tgi-repository",
        {"model_id_repository": True},
        201,
        checklist("ok", "ok", "ok", "ok", "ok", "ok", "skipped", "ok", "ok"),
        words={"task": ("text-generation", "the Hub"), "model": ("/repository",)},
        facts={
            "engine": "tgi",
            "upstream_model_id": "/repository",
            "pipeline_tag": "text-generation",
        },
    ),
    Case(
        "hub-says-text-classification",
        {"model_id_repository": True, "hub_models": {MODEL: "text-classification"}},
        422,
        checklist("ok", "ok", "ok", "ok", "ok", "fail", "skipped", "ok", "ok"),
        words={"task": ("text-classification", "the Hub", "text-generation")},
    ),
    Case(
        "info-says-text-classification",
        {"pipeline_tag": "text-classification"},
        422,
        checklist("ok", "ok", "ok", "ok", "ok", "fail", "ok", "ok", "ok"),
        words={"task": ("text-classification", "/info")},
    ),
    Case(
        "hub-does-not-know-the-repo",
        {"model_id_repository": True, "hub_models": {}},
        201,
        checklist("ok", "ok", "ok", "ok", "ok", "warn", "skipped", "ok", "ok"),
        words={"task": ("could not verify the task", "401")},
    ),
    Case(
        "vllm",
        {"engine": "vllm"},
        201,
        ALL_OK,
        words={"engine": ("vLLM 0.", "OpenAI routes"), "task": ("the Hub",)},
        facts={
            "engine": "openai",
            "engine_flavour": "vllm",
            "served_models": [MODEL],
            "chat_route": "messages",
            "tokenize_route": "vllm",
        },
    ),
    Case(
        "vllm-context-above-max-model-len",
        {"engine": "vllm"},
        422,
        checklist("ok", "ok", "ok", "ok", "ok", "ok", "ok", "fail", "ok"),
        words={"context": ("100,000", "4,096")},
        credential={"context_window": 100_000},
    ),
    Case(
        "custom-container",
        {"engine": "custom"},
        422,
        checklist("ok", "ok", "ok", "ok", "fail"),
        words={"engine": ("not a text-generation-inference container",)},
    ),
    Case(
        "scaled-to-zero",
        {"state": "scaled_to_zero"},
        202,
        checklist("ok", "ok", "ok", "warn"),
        words={"state": ("scaled to zero", "503")},
        facts={"endpoint_state": "scaled_to_zero"},
    ),
    Case(
        "paused",
        {"state": "paused"},
        202,
        checklist("ok", "ok", "ok", "warn"),
        words={"state": ("paused", "will not wake by itself", "resume")},
        facts={"endpoint_state": "paused"},
    ),
    Case(
        "wrong-token",
        {},
        422,
        checklist("ok", "ok", "fail"),
        words={"auth": ("401", "rejected the token")},
        credential={"api_key": WRONG_TOKEN},
    ),
    Case(
        "token-without-permission",
        {"forbidden_tokens": [SIM_TOKEN]},
        422,
        checklist("ok", "ok", "fail"),
        words={"auth": ("403", "permission")},
    ),
    Case(
        "context-above-max-total-tokens",
        {},
        422,
        checklist("ok", "ok", "ok", "ok", "ok", "ok", "ok", "fail", "ok"),
        words={"context": ("8,192", "max_total_tokens 4,096", "4,096 or less")},
        credential={"context_window": 8192},
    ),
    Case(
        "context-below-limit",
        {},
        201,
        ALL_OK,
        words={"context": ("2,048", "up to 4,096")},
        credential={"context_window": 2048},
    ),
    Case(
        "model-mismatch",
        {"model_id": OTHER_MODEL},
        422,
        checklist("ok", "ok", "ok", "ok", "ok", "ok", "fail", "ok", "ok"),
        words={"model": (OTHER_MODEL, MODEL)},
    ),
    Case(
        "old-tgi-1.3",
        {"tgi_version": "1.3.0"},
        201,
        ALL_OK,
        words={"engine": ("1.3.0",), "chat_route": ("/generate_stream", "Messages API")},
        facts={"engine_version": "1.3.0", "chat_route": "generate", "tokenize_route": None},
    ),
    Case(
        "tgi-1.4-without-chat-tokenize",
        {"tgi_version": "1.4.0"},
        201,
        ALL_OK,
        words={"chat_route": ("/v1/chat/completions",)},
        facts={"chat_route": "messages", "tokenize_route": "tokenize"},
    ),
    Case(
        "no-chat-template",
        {"chat_template": None},
        201,
        checklist("ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "warn"),
        words={"chat_route": ("chat template", "/generate_stream")},
        facts={"chat_route": "generate", "tokenize_route": "tokenize"},
    ),
    Case(
        "unreachable-port",
        {},
        422,
        checklist("ok", "fail"),
        words={"reach": ("could not connect", "127.0.0.1")},
        credential=dead_endpoint,
    ),
]


def expected_dry_run_status(case: Case) -> int:
    return 200 if case.status in (201, 202) else case.status


@pytest.mark.parametrize("case", CASES, ids=str)
def test_validate_reports_and_stores_nothing(case: Case, sim: SimHandle, api: httpx.Client) -> None:
    sim.patch(**case.sim)
    response = post(api, "/api/integrations/validate", sim.credential(**case.overrides(sim)))

    assert response.status_code == expected_dry_run_status(case), response.text
    body = response.json()
    report = body["report"]
    assert body["integration"] is None
    for check_id, words in case.words.items():
        assert_words(message(report, check_id), *words)
    assert {k: report["facts"].get(k) for k in case.facts} == case.facts
    assert_nothing_stored(api)
    assert_no_generation(sim)
    assert pairs(report) == case.checks, "each check once, in checklist order"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_add_answers_per_design_and_lists_only_what_passed(
    case: Case, sim: SimHandle, api: httpx.Client
) -> None:
    sim.patch(**case.sim)
    credential = sim.credential(**case.overrides(sim))
    response = post(api, "/api/integrations", credential)

    assert response.status_code == case.status, response.text
    body = response.json()
    report = body["report"]
    outcome = {201: "valid", 202: "pending", 422: "failed"}[case.status]
    assert report["outcome"] == outcome
    for check_id, words in case.words.items():
        assert_words(message(report, check_id), *words)
    now = listed(api)
    if case.status == 201:
        assert body["integration"]["state"] == "ready"
        assert list(now["integrations"]) == [MODEL]
        assert now["v1"][MODEL]["status"] == "ready"
        assert now["v1"][MODEL]["context_window"] == credential["context_window"]
        assert now["api"][MODEL]["status"] == "ready"
        assert "error" not in body
    elif case.status == 202:
        assert body["integration"]["state"] == "pending"
        assert now["integrations"][MODEL]["state"] == "pending"
        assert now["v1"] == {}
        assert now["api"][MODEL]["status"] == "pending"
        assert "error" not in body
    else:
        assert body["integration"] is None
        assert body["error"]["code"] == "validation_failed"
        assert body["error"]["message"] == report["summary"]
        assert now == {"integrations": {}, "v1": {}, "api": {}}
    assert_no_generation(sim)
    assert pairs(report) == case.checks, "each check once, in checklist order"


# ---- branches that need a gateway of their own ---------------------------------------------


def test_hub_unreachable_warns_that_the_task_could_not_be_verified(
    sim: SimHandle, tmp_path: Path
) -> None:
    sim.patch(model_id_repository=True)
    dead_hub = f"http://127.0.0.1:{free_port()}"
    with running_gateway(tmp_path / "home", hub_url=dead_hub) as gw, gw.client() as client:
        response = post(client, "/api/integrations", sim.credential())
        assert response.status_code == 201, response.text
        report = response.json()["report"]
        assert_words(message(report, "task"), "could not verify the task", "not reachable")
        assert report["facts"]["pipeline_tag"] is None
        assert pairs(report) == checklist(
            "ok", "ok", "ok", "ok", "ok", "warn", "skipped", "ok", "ok"
        )
        assert MODEL in listed(client)["v1"]


def test_loopback_endpoint_is_refused_without_the_allowlist(sim: SimHandle, tmp_path: Path) -> None:
    with (
        running_gateway(tmp_path / "home", hub_url=sim.url, HFGATE_ALLOW_HOSTS="") as gw,
        gw.client() as client,
    ):
        for path in ("/api/integrations/validate", "/api/integrations"):
            response = post(client, path, sim.credential())
            assert response.status_code == 400, response.text
            body = response.json()
            report = body["report"]
            assert body["error"]["code"] == "invalid_credential"
            assert report["outcome"] == "invalid"
            assert [p["field"] for p in report["problems"]] == ["endpoint"]
            assert_words(report["problems"][0]["message"], "loopback", "HFGATE_ALLOW_HOSTS")
            assert pairs(report) == checklist("fail")
        assert_nothing_stored(client)
    assert sim.stats()["requests"] == {}, "the refused endpoint must not be contacted"


def _resolves_to_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return bool(infos) and all(info[4][0].startswith("127.") for info in infos)


def test_dns_name_resolving_to_loopback_is_refused_after_resolution(
    sim: SimHandle, tmp_path: Path
) -> None:
    host = socket.gethostname().lower()
    if "localhost" in host or not _resolves_to_loopback(host):
        pytest.skip(f"this machine's host name {host!r} is not a plain DNS name for loopback")
    port = sim.url.rsplit(":", 1)[1]
    with (
        running_gateway(tmp_path / "home", hub_url=sim.url, HFGATE_ALLOW_HOSTS="") as gw,
        gw.client() as client,
    ):
        credential = sim.credential(endpoint=f"https://{host}:{port}")
        response = post(client, "/api/integrations", credential)
        assert response.status_code == 422, response.text
        report = response.json()["report"]
        assert_words(message(report, "reach"), "loopback")
        assert pairs(report) == checklist("ok", "fail")
        assert_nothing_stored(client)
    assert sim.stats()["requests"] == {}


def test_route_suffix_is_normalised_and_the_report_says_so(
    sim: SimHandle, api: httpx.Client
) -> None:
    response = post(
        api, "/api/integrations", sim.credential(endpoint=sim.url + "/v1/chat/completions")
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["integration"]["endpoint"] == sim.url
    assert any(
        "/v1/chat/completions" in note and sim.url in note for note in body["report"]["notes"]
    )
    assert pairs(body["report"]) == ALL_OK


def test_wait_out_of_range_is_refused(sim: SimHandle, api: httpx.Client) -> None:
    for wait in ("-1", "901"):
        response = post(api, "/api/integrations", sim.credential(), wait=wait)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "wait"
    assert_nothing_stored(api)
    assert sim.stats()["requests"] == {}
