"""``/api/hf``: connect an account, discover, import without JSON, operate, exact state.

The simulator is the endpoint *and* Hugging Face's management API (``/v2``) and Hub
(``whoami-v2``); its counters prove which requests reached the endpoint itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.peers import MODEL, SIM_TOKEN, Gateway, SimHandle, running_gateway, running_sim

NAMESPACE = "acme"
TEI_RECORD = {
    "name": "bge-embeddings",
    "namespace": NAMESPACE,
    "model": {
        "repository": "BAAI/bge-small-en-v1.5",
        "task": "sentence-embeddings",
        "image": {"tei": {"url": "ghcr.io/huggingface/text-embeddings-inference"}},
    },
    "status": {"state": "running", "url": "http://127.0.0.1:9"},
}


@pytest.fixture
def sim() -> Iterator[SimHandle]:
    with running_sim(cold_start=0.5, management_pending_seconds=0.2) as handle:
        yield handle


@pytest.fixture
def gateway(tmp_path: Path, sim: SimHandle) -> Iterator[Gateway]:
    env = {"HFGATE_ENDPOINTS_API_URL": f"{sim.url}/v2", "HFGATE_HF_STATUS_INTERVAL": "0.3"}
    with running_gateway(tmp_path / "home", hub_url=sim.url, **env) as handle:
        yield handle


@pytest.fixture
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    with gateway.client() as client:
        yield client


def wait_for(probe: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        if value := probe():
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def connect(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/api/hf/accounts", json={"token": SIM_TOKEN} | body)
    assert response.status_code == 201, response.text
    return response.json()


def served_endpoint(client: httpx.Client) -> dict[str, Any]:
    listed = client.get("/api/hf/endpoints", params={"refresh": "true"}).json()["endpoints"]
    return next(e for e in listed if e["repository"] == MODEL)


def imported(client: httpx.Client) -> dict[str, Any]:
    connect(client)
    endpoint = served_endpoint(client)
    path = f"/api/hf/endpoints/{endpoint['namespace']}/{endpoint['name']}/import"
    response = client.post(path)
    assert response.status_code == 201, response.text
    return endpoint | {"integration": response.json()["integration"]}


def model_status(client: httpx.Client) -> str:
    models = client.get("/api/models").json()["data"]
    return next(m["status"] for m in models if m["id"] == MODEL)


def endpoint_requests(sim: SimHandle) -> int:
    return sum(sim.stats()["requests"].values())


# -- connect -----------------------------------------------------------------------------------


def test_connect_checks_the_token_live_and_stores_it_masked(client: httpx.Client) -> None:
    account = connect(client)
    assert NAMESPACE in account["namespaces"] and account["user"]
    assert SIM_TOKEN not in str(account) and account["token"].startswith("hf_…")
    listed = client.get("/api/hf/accounts").json()["data"]
    assert [a["id"] for a in listed] == [account["id"]] and SIM_TOKEN not in str(listed)
    audit = client.get("/api/audit").json()["data"]
    assert any(row["action"] == "hf.connect" for row in audit)


def test_a_rejected_token_or_unknown_namespace_is_a_clear_400_and_stores_nothing(
    client: httpx.Client,
) -> None:
    bad = client.post("/api/hf/accounts", json={"token": "hf_wrong_token_0000000000000000"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "token", bad.text
    assert "hf_wrong_token" not in bad.text
    missing = client.post("/api/hf/accounts", json={"token": SIM_TOKEN, "namespace": "nobody"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] in ("namespace", "token")
    not_json = client.post("/api/hf/accounts", content=b"[1]")
    assert not_json.status_code == 400
    assert client.get("/api/hf/accounts").json()["data"] == []


def test_the_management_api_down_is_reported_not_a_500(
    client: httpx.Client, sim: SimHandle
) -> None:
    connect(client)
    sim.patch(management_down=True)
    answer = client.get("/api/hf/endpoints", params={"refresh": "true"})
    assert answer.status_code == 200
    errors = {error["namespace"]: error["message"] for error in answer.json()["errors"]}
    assert "503" in errors[NAMESPACE] and "try again" in errors[NAMESPACE]
    other = {"token": SIM_TOKEN, "namespace": "other-org"}  # not connected yet: it is checked
    refused = client.post("/api/hf/accounts", json=other)
    assert refused.status_code == 502 and "try again" in refused.json()["error"]["message"]


# -- discover and import -----------------------------------------------------------------------


def test_discovery_lists_every_endpoint_with_its_instance_and_price(
    client: httpx.Client, sim: SimHandle
) -> None:
    httpx.post(f"{sim.url}/_sim/endpoints", json=TEI_RECORD, timeout=10).raise_for_status()
    connect(client)
    before = endpoint_requests(sim)
    listed = client.get("/api/hf/endpoints", params={"refresh": "true"}).json()["endpoints"]
    served = next(e for e in listed if e["repository"] == MODEL)
    assert served["state"] == "running" and served["engine"] == "tgi"
    assert served["url"] == sim.url and served["price_per_hour"] == 1.0
    assert served["instance_type"] == "nvidia-a10g" and served["supported"] is True
    assert served["model"] is None
    tei = next(e for e in listed if e["name"] == "bge-embeddings")
    assert tei["supported"] is True and tei["unsupported_reason"] is None
    assert endpoint_requests(sim) == before, "listing never touches an endpoint"


def test_import_needs_no_json_and_answers_like_a_pasted_credential(
    client: httpx.Client,
) -> None:
    endpoint = imported(client)
    integration = endpoint["integration"]
    assert integration["model_name"] == MODEL and integration["endpoint"] == endpoint["url"]
    assert integration["hf_endpoint"] == f"{endpoint['namespace']}/{endpoint['name']}"
    assert any(m["id"] == MODEL for m in client.get("/v1/models").json()["data"])
    assert served_endpoint(client)["model"] == MODEL
    again = client.post(f"/api/hf/endpoints/{endpoint['namespace']}/{endpoint['name']}/import")
    assert again.status_code == 409


CUSTOM_RECORD = {
    "name": "my-container",
    "namespace": NAMESPACE,
    "model": {
        "repository": "acme/handler",
        "task": "custom",
        "image": {"custom": {"url": "ghcr.io/acme/handler:1"}},
    },
    "status": {"state": "running", "url": "http://127.0.0.1:9"},
}


def test_an_unsupported_engine_is_refused_before_any_request_to_it(
    client: httpx.Client, sim: SimHandle
) -> None:
    httpx.post(f"{sim.url}/_sim/endpoints", json=CUSTOM_RECORD, timeout=10).raise_for_status()
    connect(client)
    refused = client.post(f"/api/hf/endpoints/{NAMESPACE}/my-container/import")
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "engine_unsupported"
    assert "custom container" in refused.json()["error"]["message"]


def test_a_tei_endpoint_imports_without_json_and_serves_embeddings(
    client: httpx.Client, sim: SimHandle
) -> None:
    """Its record says no context window: TEI's validation reads it from /info."""
    with running_sim(
        engine="tei", tei_kind="embed", token=SIM_TOKEN, model_id="BAAI/bge-small-en-v1.5"
    ) as tei:
        record = TEI_RECORD | {"status": {"state": "running", "url": tei.url}}
        httpx.post(f"{sim.url}/_sim/endpoints", json=record, timeout=10).raise_for_status()
        connect(client)
        path = f"/api/hf/endpoints/{NAMESPACE}/bge-embeddings/import"
        answer = client.post(path, json={"api_key": SIM_TOKEN})
        assert answer.status_code == 201, answer.text
        integration = answer.json()["integration"]
        assert integration["context_window"] == tei.state()["max_input_tokens"]
        name = integration["name"]
        vectors = client.post("/v1/embeddings", json={"model": name, "input": ["a", "b"]})
        assert vectors.status_code == 200, vectors.text
        assert len(vectors.json()["data"]) == 2


def test_a_pasted_credential_finds_its_record(
    client: httpx.Client, gateway: Gateway, sim: SimHandle
) -> None:
    assert gateway.add(sim.credential()).status_code == 201
    connect(client)
    # matched as the account is connected, not at the next status refresh
    assert served_endpoint(client)["model"] == MODEL
    sim.patch(state="paused")
    assert wait_for(lambda: model_status(client) == "paused")
    integration = client.get("/api/integrations").json()["data"][0]
    assert integration["hf_endpoint"] and integration["hf_endpoint"].startswith(NAMESPACE)


# -- exact state, without waking ---------------------------------------------------------------


def test_state_comes_from_hugging_face_and_costs_the_endpoint_nothing(
    client: httpx.Client, sim: SimHandle
) -> None:
    endpoint = imported(client)
    base = f"/api/hf/endpoints/{endpoint['namespace']}/{endpoint['name']}"
    assert client.post(f"{base}/scale-to-zero").json()["state"] == "scaledToZero"
    assert wait_for(lambda: model_status(client) == "scaled_to_zero")
    before = endpoint_requests(sim)
    time.sleep(1.5)  # several status refreshes
    assert model_status(client) == "scaled_to_zero"
    assert endpoint_requests(sim) == before, "no probe reached the sleeping endpoint"


def test_a_paused_endpoint_is_refused_at_once_saying_who_can_resume_it(
    client: httpx.Client, sim: SimHandle
) -> None:
    endpoint = imported(client)
    key = f"{endpoint['namespace']}/{endpoint['name']}"
    assert client.post(f"/api/hf/endpoints/{key}/pause").json()["state"] == "paused"
    assert wait_for(lambda: model_status(client) == "paused")
    before = endpoint_requests(sim)
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    refused = client.post("/v1/chat/completions", json=chat)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "endpoint_paused"
    assert f"hfgate hf resume {key}" in refused.json()["error"]["message"]
    assert endpoint_requests(sim) == before
    resumed = client.post(f"/api/hf/endpoints/{key}/resume").json()
    assert resumed["state"] in ("pending", "initializing", "running")
    assert wait_for(lambda: model_status(client) == "ready")
    assert client.post("/v1/chat/completions", json=chat).status_code == 200
    actions = [row["action"] for row in client.get("/api/audit").json()["data"]]
    assert "hf.pause" in actions and "hf.resume" in actions


def test_a_failed_endpoint_gets_hugging_faces_message(client: httpx.Client, sim: SimHandle) -> None:
    imported(client)
    failure = {"status": {"state": "failed", "message": "CUDA out of memory while loading"}}
    sim.patch(management_overrides=failure)
    assert wait_for(lambda: model_status(client) == "failed")
    before = endpoint_requests(sim)
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    refused = client.post("/v1/chat/completions", json=chat)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "endpoint_failed"
    assert "CUDA out of memory" in refused.json()["error"]["message"]
    time.sleep(1)  # status refreshes: the failed endpoint is never probed either
    assert endpoint_requests(sim) == before


def test_an_endpoint_deleted_on_hugging_face_is_shown_not_removed(
    client: httpx.Client, sim: SimHandle
) -> None:
    imported(client)
    sim.patch(management_deleted=True)
    assert wait_for(lambda: model_status(client) == "deleted")
    models = client.get("/api/models").json()["data"]
    detail = next(m["status_detail"] for m in models if m["id"] == MODEL)
    assert "deleted on Hugging Face" in detail
    assert client.get("/api/integrations").json()["data"], "the integration is kept"


def test_an_unknown_action_or_namespace_is_a_clear_404(client: httpx.Client) -> None:
    connect(client)
    assert client.post(f"/api/hf/endpoints/{NAMESPACE}/x/explode").status_code == 404
    missing = client.post("/api/hf/endpoints/elsewhere/x/resume")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "namespace_not_connected"


# -- wake on open ------------------------------------------------------------------------------


def test_wake_on_open_starts_a_sleeping_endpoint_once(client: httpx.Client, sim: SimHandle) -> None:
    endpoint = imported(client)
    integration_id = endpoint["integration"]["id"]
    key = f"{endpoint['namespace']}/{endpoint['name']}"
    client.post(f"/api/hf/endpoints/{key}/scale-to-zero")
    assert wait_for(lambda: model_status(client) == "scaled_to_zero")
    off = client.post(f"/api/models/{MODEL}/wake").json()
    assert off["woken"] is False and "off" in off["reason"]
    patched = client.patch(f"/api/integrations/{integration_id}", json={"wake_on_open": True})
    assert patched.status_code == 200 and patched.json()["integration"]["wake_on_open"] is True
    woken = client.post(f"/api/models/{MODEL}/wake").json()
    assert woken["woken"] is True, woken
    assert client.post(f"/api/models/{MODEL}/wake").json()["woken"] is False
    assert wait_for(lambda: sim.stats()["wakeups"] >= 1)
    assert wait_for(lambda: model_status(client) == "ready")


def test_the_same_token_cannot_be_connected_twice(client: httpx.Client) -> None:
    first = connect(client)
    again = client.post("/api/hf/accounts", json={"token": SIM_TOKEN})
    assert again.status_code == 409 and first["id"] in again.json()["error"]["message"]
    assert SIM_TOKEN not in again.text


def test_a_token_without_management_rights_is_told_which_permission_it_lacks(
    client: httpx.Client, sim: SimHandle
) -> None:
    sim.patch(management_tokens=["hf_some_other_manager_token_000000"])
    refused = client.post("/api/hf/accounts", json={"token": SIM_TOKEN})
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["param"] == "token" and "Manage Inference Endpoints" in error["message"]
    assert client.get("/api/hf/accounts").json()["data"] == []


def test_a_record_without_a_url_yet_is_not_imported(client: httpx.Client, sim: SimHandle) -> None:
    fresh = {
        "name": "fresh-deploy",
        "namespace": NAMESPACE,
        "model": {
            "repository": "openai-community/gpt2",
            "task": "text-generation",
            "image": {"tgi": {"url": "ghcr.io/huggingface/text-generation-inference"}},
        },
        "status": {"state": "pending", "url": None},
    }
    httpx.post(f"{sim.url}/_sim/endpoints", json=fresh, timeout=10).raise_for_status()
    connect(client)
    refused = client.post(f"/api/hf/endpoints/{NAMESPACE}/fresh-deploy/import")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "endpoint_without_url"
    assert "no URL yet" in refused.json()["error"]["message"]


def test_the_context_window_comes_from_info_when_the_record_does_not_say(
    client: httpx.Client, sim: SimHandle
) -> None:
    unset = {"MAX_TOTAL_TOKENS": "", "MAX_INPUT_TOKENS": "", "MAX_INPUT_LENGTH": ""}
    sim.patch(management_overrides={"model": {"env": unset}})
    endpoint = imported(client)
    assert endpoint["context_window"] is None
    assert endpoint["integration"]["context_window"] == 4096


def test_a_llamacpp_endpoint_imports_with_its_window_from_props(
    client: httpx.Client, sim: SimHandle
) -> None:
    """Its record sets no --ctx-size: the running server's /props says n_ctx."""
    with running_sim(engine="llamacpp", token=SIM_TOKEN, loading=0) as server:
        record = {
            "name": "gguf-chat",
            "namespace": NAMESPACE,
            "model": {
                "repository": MODEL,
                "task": "text-generation",
                "image": {"llamacpp": {"url": "ghcr.io/ggml-org/llama.cpp:server"}},
            },
            "status": {"state": "running", "url": server.url},
        }
        httpx.post(f"{sim.url}/_sim/endpoints", json=record, timeout=10).raise_for_status()
        connect(client)
        answer = client.post(
            f"/api/hf/endpoints/{NAMESPACE}/gguf-chat/import", json={"api_key": SIM_TOKEN}
        )
        assert answer.status_code == 201, answer.text
        integration = answer.json()["integration"]
        assert integration["engine"] == "llamacpp"
        assert integration["context_window"] == server.state()["max_total_tokens"]
