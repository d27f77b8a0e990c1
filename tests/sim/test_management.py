"""The management API (/v2), the Hub's whoami and the price list, proved with huggingface_hub.

huggingface_hub reads ``constants.INFERENCE_ENDPOINTS_ENDPOINT`` at call time, so pointing it at
the sim is a monkeypatch. Two of its habits shape these tests: ``InferenceEndpoint`` objects
keep only the token passed to the *method* (``HfApi(token=…)`` is lost: ``from_raw`` builds a
fresh ``HfApi()``), so every call passes ``token=``; and ``list_inference_endpoints("*")`` lists
the personal namespace with the ambient token (``HF_TOKEN``), not the one it was given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi, InferenceEndpointError, constants
from huggingface_hub.errors import HfHubHTTPError
from requests import HTTPError

from hfgate.sim.records import endpoint_name
from tests.sim.support import AUTH, BASE, TOKEN, Sim

NAME = endpoint_name(BASE)
PAUSED = "Bad Request: The endpoint is paused, ask a maintainer to restart it"


@pytest.fixture
def hub(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> HfApi:
    monkeypatch.setattr(constants, "INFERENCE_ENDPOINTS_ENDPOINT", f"{sim.url}/v2")
    sim.patch(cold_start=0.4, management_pending_seconds=0.2)
    return HfApi(endpoint=sim.url, token=TOKEN)


def record(sim: Sim, name: str = NAME, namespace: str = "acme") -> dict[str, Any]:
    response = httpx.get(f"{sim.url}/v2/endpoint/{namespace}/{name}", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def poll_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)


def endpoint_status(sim: Sim) -> int:
    return httpx.get(f"{sim.url}/health", headers=AUTH).status_code


# -- reading -------------------------------------------------------------------------------------


def test_list_and_get_read_the_served_endpoint(sim: Sim, hub: HfApi) -> None:
    (listed,) = hub.list_inference_endpoints(namespace="acme", token=TOKEN)
    endpoint = hub.get_inference_endpoint(NAME, namespace="acme", token=TOKEN)
    assert listed.raw == endpoint.raw
    assert (endpoint.name, endpoint.namespace, endpoint.status) == (NAME, "acme", "running")
    assert endpoint.url == sim.url and endpoint.health_route == "/health"
    assert endpoint.repository == "meta-llama/Llama-2-7b-chat-hf"
    assert (endpoint.framework, endpoint.task, endpoint.type) == (
        "pytorch",
        "text-generation",
        "protected",
    )
    assert endpoint.revision == hub.model_info(endpoint.repository).sha  # the sim's Hub agrees
    raw = endpoint.raw
    assert raw["compute"] == {
        "id": "aws-us-east-1-nvidia-a10g-x1",
        "accelerator": "gpu",
        "instanceType": "nvidia-a10g",
        "instanceSize": "x1",
        "scaling": {
            "minReplica": 0,
            "maxReplica": 1,
            "scaleToZeroTimeout": 60,
            "metric": "hardwareUsage",
            "measure": {"hardwareUsage": None},
        },
    }
    assert raw["provider"] == {"vendor": "aws", "region": "us-east-1"}
    assert list(raw["model"]["image"]) == ["tgi"]
    assert raw["model"]["env"]["MAX_TOTAL_TOKENS"] == "4096"
    assert raw["model"]["env"]["MAX_INPUT_TOKENS"] == "4095"
    status = raw["status"]
    assert (status["readyReplica"], status["targetReplica"], status["message"]) == (
        1,
        1,
        "Endpoint is ready",
    )
    assert endpoint.created_at <= endpoint.updated_at
    assert status["createdBy"]["name"] == "sim-user"


@pytest.mark.parametrize(
    ("engine", "key", "task"),
    [
        ("tgi", "tgi", "text-generation"),
        ("vllm", "vLLM", "text-generation"),
        ("tei", "tei", "sentence-embeddings"),
        ("custom", "custom", "text-generation"),
    ],
)
def test_engine_is_the_image_key(sim: Sim, hub: HfApi, engine: str, key: str, task: str) -> None:
    sim.patch(engine=engine, max_total_tokens=8192, max_input_tokens=8000)
    raw = hub.get_inference_endpoint(NAME, namespace="acme", token=TOKEN).raw
    assert list(raw["model"]["image"]) == [key]
    assert raw["model"]["image"][key]["healthRoute"] == "/health"
    assert raw["model"]["task"] == task
    if engine == "vllm":
        assert raw["model"]["args"] == ["--max-model-len", "8192"]
    if engine == "tgi":
        assert raw["model"]["env"]["MAX_TOTAL_TOKENS"] == "8192"


def test_old_tgi_names_its_input_limit_max_input_length(sim: Sim) -> None:
    sim.patch(tgi_version="2.0.4")
    env = record(sim)["model"]["env"]
    assert env["MAX_INPUT_LENGTH"] == "4095" and "MAX_INPUT_TOKENS" not in env


def test_management_calls_cost_no_request_to_the_endpoint(sim: Sim, hub: HfApi) -> None:
    hub.list_inference_endpoints(namespace="acme", token=TOKEN)
    endpoint = hub.get_inference_endpoint(NAME, namespace="acme", token=TOKEN)
    endpoint.fetch()
    hub.whoami(token=TOKEN)
    httpx.get(f"{sim.url}/v2/provider/acme", headers=AUTH)
    stats = sim.stats()
    assert stats["requests"] == {} and stats["statuses"] == {} and stats["wakeups"] == 0
    assert stats["management"] == {
        "GET /v2/endpoint/{namespace}": 1,
        "GET /v2/endpoint/{namespace}/{name}": 2,
        "GET /api/whoami-v2": 1,
        "GET /v2/provider/{namespace}": 1,
    }
    sim.reset()
    assert sim.stats()["management"] == {}


# -- the lifecycle -------------------------------------------------------------------------------


def test_pause_resume_wait_and_scale_to_zero(sim: Sim, hub: HfApi) -> None:
    endpoint = hub.get_inference_endpoint(NAME, namespace="acme", token=TOKEN)
    endpoint.pause()
    assert endpoint.status == "paused" and endpoint.url == sim.url  # pausing keeps the URL
    assert (endpoint.raw["status"]["readyReplica"], endpoint.raw["status"]["targetReplica"]) == (
        0,
        0,
    )
    paused = httpx.get(f"{sim.url}/health", headers=AUTH)
    assert (paused.status_code, paused.text) == (400, PAUSED)
    assert sim.state()["state"] == "paused"

    endpoint.resume()
    assert endpoint.status == "pending"
    assert endpoint.raw["status"]["message"] == "Endpoint waiting to be scheduled"
    assert endpoint_status(sim) == 503  # no replica yet: the proxy answers cold
    endpoint.wait(timeout=10, refresh_every=0.05)  # typed int, but only compared and slept on
    assert endpoint.status == "running" and endpoint_status(sim) == 200

    endpoint.resume(running_ok=True)  # the 400 "already running" is swallowed
    assert endpoint.status == "running"
    with pytest.raises(HfHubHTTPError, match="already running") as refused:
        hub.resume_inference_endpoint(NAME, namespace="acme", running_ok=False, token=TOKEN)
    assert refused.value.response.status_code == 400

    endpoint.scale_to_zero()
    assert endpoint.status == "scaledToZero" and sim.state()["state"] == "scaled_to_zero"
    assert (endpoint.raw["status"]["readyReplica"], endpoint.raw["status"]["targetReplica"]) == (
        0,
        0,
    )


def test_resume_goes_pending_initializing_running(sim: Sim, hub: HfApi) -> None:
    sim.patch(state="paused", cold_start=0.6, management_pending_seconds=0.3)
    hub.resume_inference_endpoint(NAME, namespace="acme", token=TOKEN)
    seen: list[tuple[str, int, int]] = []

    def observe() -> bool:
        status = record(sim)["status"]
        step = (status["state"], status["readyReplica"], status["targetReplica"])
        if not seen or seen[-1] != step:
            seen.append(step)
        return step[0] == "running"

    poll_until(observe)
    assert seen == [("pending", 0, 1), ("initializing", 0, 1), ("running", 1, 1)]
    assert sim.stats()["wakeups"] == 0  # a resume is not a wake-up by traffic


def test_traffic_wakes_a_scaled_to_zero_record(sim: Sim, hub: HfApi) -> None:
    sim.patch(state="scaled_to_zero", cold_start=1.0)  # wide enough to read it initializing
    assert record(sim)["status"]["state"] == "scaledToZero"
    assert endpoint_status(sim) == 503  # the proxy's wake-up
    woken = record(sim)["status"]
    assert (woken["state"], woken["readyReplica"], woken["targetReplica"]) == ("initializing", 0, 1)
    poll_until(lambda: record(sim)["status"]["state"] == "running")
    assert record(sim)["status"]["readyReplica"] == 1
    assert sim.stats()["wakeups"] == 1


def test_idle_timeout_shows_as_scaled_to_zero(sim: Sim) -> None:
    sim.patch(idle_timeout=0.2)
    poll_until(lambda: record(sim)["status"]["state"] == "scaledToZero")


def test_scale_to_zero_of_a_paused_endpoint_is_refused(sim: Sim, hub: HfApi) -> None:
    sim.patch(state="paused")
    with pytest.raises(HfHubHTTPError) as refused:
        hub.scale_to_zero_inference_endpoint(NAME, namespace="acme", token=TOKEN)
    assert refused.value.response.status_code == 400
    assert sim.state()["state"] == "paused"


# -- changing the record -------------------------------------------------------------------------


def test_update_deep_merges_a_partial_body(sim: Sim, hub: HfApi) -> None:
    updated = hub.update_inference_endpoint(
        NAME,
        namespace="acme",
        scale_to_zero_timeout=15,
        min_replica=1,
        env={"EXTRA": "1"},
        token=TOKEN,
    )
    scaling = updated.raw["compute"]["scaling"]
    assert (scaling["scaleToZeroTimeout"], scaling["minReplica"], scaling["maxReplica"]) == (
        15,
        1,
        1,
    )
    assert updated.raw["compute"]["instanceType"] == "nvidia-a10g"
    assert updated.raw["model"]["env"] == {
        "MAX_TOTAL_TOKENS": "4096",
        "MAX_INPUT_TOKENS": "4095",
        "MAX_CONCURRENT_REQUESTS": "128",
        "EXTRA": "1",
    }
    raw_put = httpx.put(
        f"{sim.url}/v2/endpoint/acme/{NAME}",
        headers=AUTH,
        json={"compute": {"scaling": {"scaleToZeroTimeout": 30}}, "status": {"state": "failed"}},
    )
    assert raw_put.json()["compute"]["scaling"] == {**scaling, "scaleToZeroTimeout": 30}
    assert raw_put.json()["status"]["state"] == "running"  # the status is not the caller's to set
    custom = hub.update_inference_endpoint(
        NAME,
        namespace="acme",
        custom_image={"url": "me/img:1", "health_route": "/health"},
        token=TOKEN,
    )
    assert list(custom.raw["model"]["image"]) == [
        "custom"
    ]  # the image union is replaced, not merged
    assert record(sim)["compute"]["scaling"]["scaleToZeroTimeout"] == 30
    assert sim.stats()["requests"] == {}


def test_delete_removes_the_record(sim: Sim, hub: HfApi) -> None:
    hub.delete_inference_endpoint(NAME, namespace="acme", token=TOKEN)
    with pytest.raises(HfHubHTTPError) as missing:
        hub.get_inference_endpoint(NAME, namespace="acme", token=TOKEN)
    assert missing.value.response.status_code == 404 and "error" in missing.value.response.json()
    assert hub.list_inference_endpoints(namespace="acme", token=TOKEN) == []
    assert sim.state()["management_deleted"] is True


# -- a whole namespace ---------------------------------------------------------------------------

EXTRAS: list[dict[str, Any]] = [
    {"name": "broken-abc", "status": {"state": "failed", "errorMessage": "CUDA out of memory"}},
    {
        "name": "embedder-xyz",
        "model": {
            "repository": "BAAI/bge-small-en-v1.5",
            "task": "sentence-embeddings",
            "image": {
                "tei": {
                    "url": "ghcr.io/huggingface/text-embeddings-inference:1.8",
                    "healthRoute": "/health",
                    "port": 80,
                }
            },
        },
    },
    {"name": "new-one-qrs", "status": {"state": "pending"}},
    {
        "name": "handler-def",
        "model": {
            "framework": "custom",
            "image": {"custom": {"url": "me/handler:2", "healthRoute": "/health", "port": 80}},
        },
    },
]


def test_admin_adds_static_records_beside_the_served_one(sim: Sim, hub: HfApi) -> None:
    for extra in EXTRAS:
        added = sim.admin.post("/_sim/endpoints", json=extra)
        assert added.status_code == 201, added.text
    listed = {e.name: e for e in hub.list_inference_endpoints(namespace="acme", token=TOKEN)}
    assert list(listed) == [NAME, "broken-abc", "embedder-xyz", "new-one-qrs", "handler-def"]
    broken = listed["broken-abc"]
    assert broken.status == "failed" and broken.url is None
    assert broken.raw["status"]["errorMessage"] == "CUDA out of memory"
    with pytest.raises(InferenceEndpointError, match="failed to deploy"):
        broken.wait(timeout=1)
    assert list(listed["embedder-xyz"].raw["model"]["image"]) == ["tei"]
    assert listed["embedder-xyz"].url is not None and listed["embedder-xyz"].status == "running"
    assert (
        listed["new-one-qrs"].url is None
        and listed["new-one-qrs"].raw["status"]["targetReplica"] == 1
    )
    assert listed["handler-def"].framework == "custom"
    assert broken.resume().status == "running" and broken.url is not None  # static: no timers
    assert sim.admin.delete("/_sim/endpoints/embedder-xyz").status_code == 200
    assert sim.admin.delete("/_sim/endpoints/embedder-xyz").status_code == 404
    assert len(hub.list_inference_endpoints(namespace="acme", token=TOKEN)) == 4
    assert sim.admin.post("/_sim/endpoints", json={"name": NAME}).status_code == 409
    assert sim.admin.post("/_sim/endpoints", json={"status": {}}).status_code == 400
    assert sim.stats()["requests"] == {}


def test_admin_delete_of_the_served_endpoint(sim: Sim, hub: HfApi) -> None:
    assert sim.admin.delete(f"/_sim/endpoints/{NAME}").status_code == 200
    with pytest.raises(HfHubHTTPError) as missing:
        hub.get_inference_endpoint(NAME, namespace="acme", token=TOKEN)
    assert missing.value.response.status_code == 404


def test_whoami_and_every_namespace(sim: Sim, hub: HfApi, monkeypatch: pytest.MonkeyPatch) -> None:
    sim.patch(
        management_orgs=["acme", "beta"],
        management_endpoints=[
            {"name": "mine-aaa", "namespace": "sim-user"},
            {"name": "beta-bbb", "namespace": "beta", "status": {"state": "paused"}},
            {"name": "hidden-ccc", "namespace": "gamma"},
        ],
    )
    me = hub.whoami(token=TOKEN)
    assert (me["type"], me["name"]) == ("user", "sim-user")
    assert [org["name"] for org in me["orgs"]] == ["acme", "beta"]
    token = me["auth"]["accessToken"]
    assert token["role"] == "fineGrained"
    scoped = {s["entity"]["name"]: s["permissions"] for s in token["fineGrained"]["scoped"]}
    assert set(scoped) == {"sim-user", "acme", "beta"}
    assert "inference.endpoints.write" in scoped["acme"]
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # huggingface_hub lists the personal namespace with it
    everything = hub.list_inference_endpoints(namespace="*", token=TOKEN)
    assert [(e.namespace, e.name) for e in everything] == [
        ("sim-user", "mine-aaa"),
        ("acme", NAME),
        ("beta", "beta-bbb"),
    ]
    assert everything[2].status == "paused"
    with pytest.raises(HfHubHTTPError) as foreign:  # not one of the user's orgs
        hub.list_inference_endpoints(namespace="gamma", token=TOKEN)
    assert foreign.value.response.status_code == 401


# -- refusals ------------------------------------------------------------------------------------


def test_unknown_token_is_401_and_unknown_endpoint_404(sim: Sim, hub: HfApi) -> None:
    with pytest.raises(HfHubHTTPError) as unknown:
        hub.list_inference_endpoints(namespace="acme", token="hf_nobody")
    assert unknown.value.response.status_code == 401
    assert httpx.get(f"{sim.url}/v2/endpoint/acme").status_code == 401  # no bearer at all
    with pytest.raises(HTTPError, match="Invalid user token"):
        hub.whoami(token="hf_nobody")
    bad_whoami = httpx.get(
        f"{sim.url}/api/whoami-v2", headers={"Authorization": "Bearer hf_nobody"}
    )
    assert bad_whoami.json() == {"error": "Invalid credentials in Authorization header"}
    with pytest.raises(HfHubHTTPError) as missing:
        hub.get_inference_endpoint("nope-xyz", namespace="acme", token=TOKEN)
    assert missing.value.response.status_code == 404
    for method, path in (("POST", f"/v2/endpoint/acme/{NAME}/restart"), ("GET", "/v2/other")):
        assert httpx.request(method, f"{sim.url}{path}", headers=AUTH).status_code == 404
    assert httpx.post(f"{sim.url}/v2/endpoint/acme", headers=AUTH, json={}).status_code == 405
    assert sim.stats()["requests"] == {}


def test_tokens_without_the_manage_scope_are_403(sim: Sim, hub: HfApi) -> None:
    sim.patch(management_tokens=["hf_admin"], forbidden_tokens=["hf_reader"])
    for token in (TOKEN, "hf_reader"):  # the endpoint's own token can only infer
        with pytest.raises(HfHubHTTPError) as refused:
            hub.list_inference_endpoints(namespace="acme", token=token)
        assert refused.value.response.status_code == 403
        assert refused.value.response.json() == {
            "error": "missing permissions: inference.endpoints.write"
        }
    assert len(hub.list_inference_endpoints(namespace="acme", token="hf_admin")) == 1
    scoped = hub.whoami(token=TOKEN)["auth"]["accessToken"]["fineGrained"]["scoped"]
    assert {tuple(s["permissions"]) for s in scoped} == {("inference.endpoints.infer.write",)}


def test_management_faults(sim: Sim, hub: HfApi) -> None:
    sim.patch(management_down=True)
    down = httpx.get(f"{sim.url}/v2/endpoint/acme", headers=AUTH)
    assert down.status_code == 503 and down.headers["content-type"].startswith("text/html")
    assert hub.whoami(token=TOKEN)["name"] == "sim-user"  # the Hub is another service
    assert endpoint_status(sim) == 200  # and so is the endpoint
    sim.patch(management_down=False, management_error=500)
    with pytest.raises(HfHubHTTPError) as failed:
        hub.get_inference_endpoint(NAME, namespace="acme", token=TOKEN)
    assert failed.value.response.status_code == 500
    assert failed.value.response.json() == {"error": "Internal Server Error"}
    assert sim.stats()["management"]["GET /v2/endpoint/{namespace}"] == 1


def test_config_refuses_bad_management_fields(sim: Sim) -> None:
    for bad in (
        {"management_error": 200},
        {"management_endpoints": [{"namespace": "acme"}]},
        {"management_endpoints": ["x"]},
        {"price_per_hour": -1},
        {"endpoint_type": "secret"},
        {"management_endpoints": [{"name": "a", "status": "running"}]},
    ):
        assert sim.admin.patch("/_sim/state", json=bad).status_code == 400, bad
    url = f"{sim.url}/v2/endpoint/acme/{NAME}"
    for body in (b'{"compute": "big"}', b"[1]", b"{"):
        assert httpx.put(url, headers=AUTH, content=body).status_code == 400, body
    assert sim.state()["management_overrides"] == {}


# -- the price list ------------------------------------------------------------------------------

HARDWARE_KEYS = {
    "id",
    "accelerator",
    "instanceType",
    "instanceSize",
    "architecture",
    "numAccelerators",
    "memoryGb",
    "pricePerHour",
    "status",
    "quota",
}


def hardware(sim: Sim) -> list[dict[str, Any]]:
    """Flattened as huggingface_hub's ``list_inference_endpoints_hardware`` (2026-08) reads it."""
    response = httpx.get(f"{sim.url}/v2/provider/acme", headers=AUTH)
    assert response.status_code == 200
    flat = []
    for vendor in response.json()["vendors"]:
        for region in vendor["regions"]:
            for compute in region["computes"]:
                assert set(compute) >= HARDWARE_KEYS, compute
                flat.append({**compute, "vendor": vendor["name"], "region": region["name"]})
    return flat


def test_price_list_shape_and_the_sims_own_instance(sim: Sim) -> None:
    sim.patch(price_per_hour=1.25)
    rows = {row["id"]: row for row in hardware(sim)}
    own = rows["aws-us-east-1-nvidia-a10g-x1"]
    assert (own["vendor"], own["region"], own["pricePerHour"]) == ("aws", "us-east-1", 1.25)
    assert own["quota"]["usedAccelerators"] == 1  # the running endpoint holds its GPU
    assert {row["status"] for row in rows.values()} >= {"available", "reserved", "deprecated"}
    assert "numCpus" not in rows["aws-us-east-1-intel-spr-x1"]  # as HF: absent on CPU instances
    sim.patch(state="paused")
    assert {row["id"]: row for row in hardware(sim)}[own["id"]]["quota"]["usedAccelerators"] == 0
    sim.patch(
        instance_type="nvidia-t4", instance_size="x4", price_per_hour=2.0, state="scaled_to_zero"
    )
    added = {row["id"]: row for row in hardware(sim)}["aws-us-east-1-nvidia-t4-x4"]
    assert (added["pricePerHour"], added["numAccelerators"]) == (2.0, 4)
    assert added["quota"]["usedAccelerators"] == 4  # scaled to zero still counts against quota
