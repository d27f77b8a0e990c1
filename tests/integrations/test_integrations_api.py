"""``/api/integrations`` beyond the checklist: 400s, names, PATCH, DELETE, revalidate, and who may.

As docs/protocols.md §8 says: 400 for an unparseable or invalid credential (with every problem,
nothing stored, the endpoint not even contacted); 409 for a model name already served, and
``"name"`` to serve the same model from two endpoints; PATCH renames, rotates the token
(re-validated first: a bad new token changes nothing) and changes the context window within the
endpoint's limit; DELETE removes the model from every list at once. Only admins manage
integrations; members list models.

One simulator and one gateway serve the module; each test starts with no integration and the
simulator at its base config.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.support.peers import MODEL, SIM_TOKEN, Gateway, SimHandle, running_gateway, running_sim

from hfgate.auth import KeyStore
from hfgate.sim import SimConfig
from hfgate.storage import Database
from hfgate.values.principal import Role

BASE_SIM = SimConfig(token=SIM_TOKEN).to_dict()
MEMBER_KEY = "hfg_test_member_key_0123456789abcdefghijklmn"
NEW_TOKEN = "hf_fake_rotatedROTATEDrotated0123456789abNEW1"
BAD_TOKEN = "hf_fake_badBADbadBAD0123456789abcdefghijBAD9"
PUBLIC_ENDPOINT = "https://abc123.us-east-1.aws.endpoints.huggingface.cloud"
CHECK_IDS = ["credential", "reach", "auth", "state", "engine", "task", "model", "context"]
SKIPPED_AFTER_CREDENTIAL = [(i, "skipped") for i in [*CHECK_IDS[1:], "chat_route"]]


async def _create_member(database_url: str) -> None:
    db = Database(database_url)
    try:
        store = KeyStore(db)
        user = await store.ensure_user("member@example.com", Role.MEMBER)
        await store.ensure_key(user.id, "member test key", MEMBER_KEY)
    finally:
        await db.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimHandle, Gateway]]:
    home = tmp_path_factory.mktemp("integrations-api") / "home"
    with running_sim() as handle, running_gateway(home, hub_url=handle.url) as gw:
        # A member straight into the gateway's database (a second connection, as a CLI would).
        asyncio.run(_create_member(gw.settings.database_url))
        yield handle, gw


@pytest.fixture(scope="module")
def admin_client(live: tuple[SimHandle, Gateway]) -> Iterator[httpx.Client]:
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
    remove_all(admin_client)
    yield admin_client
    remove_all(admin_client)


@pytest.fixture
def gateway(live: tuple[SimHandle, Gateway]) -> Gateway:
    return live[1]


def remove_all(api: httpx.Client) -> None:
    for row in api.get("/api/integrations").json()["data"]:
        api.delete(f"/api/integrations/{row['id']}").raise_for_status()


def add(api: httpx.Client, credential: dict[str, Any], expect: int = 201) -> dict[str, Any]:
    response = api.post("/api/integrations", content=json.dumps(credential))
    assert response.status_code == expect, response.text
    return response.json()


def names(api: httpx.Client, path: str) -> list[str]:
    """Model ids of /v1/models or /api/models; names of /api/integrations."""
    key = "name" if path == "/api/integrations" else "id"
    return sorted(entry[key] for entry in api.get(path).json()["data"])


def integration(api: httpx.Client, integration_id: str) -> dict[str, Any]:
    response = api.get(f"/api/integrations/{integration_id}")
    assert response.status_code == 200, response.text
    return response.json()


def chat(api: httpx.Client, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    return api.post("/v1/chat/completions", json=body)


def pairs(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(check["id"], check["status"]) for check in report["checks"]]


def mask(token: str) -> str:
    return f"hf_…{token[-4:]}"


# ---- 400: the credential itself is wrong ------------------------------------------------------

VALID_SHAPE = {
    "api_key": "hf_fake_abcdefghijklmnopqrstuvwxyz0123",
    "endpoint": PUBLIC_ENDPOINT,
    "model_name": MODEL,
    "context_window": 4096,
}


@pytest.mark.parametrize(
    ("raw", "fields", "words"),
    [
        pytest.param(
            b'{"api_key": "hf_x",\n "endpoint": }', [None], "line 2, column", id="not-json"
        ),
        pytest.param(b"", [None], "empty", id="empty-body"),
        pytest.param(b"[]", [None], "JSON object", id="not-an-object"),
        pytest.param(
            {k: v for k, v in VALID_SHAPE.items() if k != "model_name"},
            ["model_name"],
            "`model_name` is missing",
            id="missing-field",
        ),
        pytest.param(
            {**{k: v for k, v in VALID_SHAPE.items() if k != "api_key"}, "apikey": "hf_abcdefgh"},
            ["apikey"],
            "did you mean `api_key`",
            id="unknown-field",
        ),
        pytest.param(
            {**VALID_SHAPE, "context_window": "4096"},
            ["context_window"],
            "must be an integer, not a string",
            id="wrong-type",
        ),
        pytest.param(
            {**VALID_SHAPE, "model_name": "llama", "context_window": 0},
            ["model_name", "context_window"],
            "org/name",
            id="two-problems",
        ),
        pytest.param(
            {**VALID_SHAPE, "endpoint": "abc123.endpoints.huggingface.cloud"},
            ["endpoint"],
            "endpoint",
            id="endpoint-not-a-url",
        ),
        pytest.param(
            {**VALID_SHAPE, "name": "two words"}, ["name"], "name", id="bad-name-override"
        ),
    ],
)
def test_invalid_credential_is_400_with_every_problem_and_nothing_stored(
    raw: bytes | dict[str, Any],
    fields: list[str | None],
    words: str,
    sim: SimHandle,
    api: httpx.Client,
) -> None:
    content = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    for path in ("/api/integrations/validate", "/api/integrations"):
        response = api.post(path, content=content)
        assert response.status_code == 400, response.text
        body = response.json()
        report = body["report"]
        assert body["integration"] is None
        assert body["error"]["code"] == "invalid_credential"
        assert report["outcome"] == "invalid"
        assert [p["field"] for p in report["problems"]] == fields
        assert words in report["problems"][0]["message"]
        assert body["error"]["message"] == report["problems"][0]["message"]
        assert pairs(report) == [("credential", "fail"), *SKIPPED_AFTER_CREDENTIAL]
    assert names(api, "/api/integrations") == names(api, "/v1/models") == []
    assert names(api, "/api/models") == []
    assert sim.stats()["requests"] == {}, "an invalid credential must not reach the endpoint"


# ---- names: 409 and the "name" override -------------------------------------------------------


def test_duplicate_model_is_409_and_a_name_override_serves_it_twice(
    sim: SimHandle, api: httpx.Client, gateway: Gateway
) -> None:
    first = add(api, sim.credential())["integration"]
    with running_sim() as other:
        duplicate = api.post("/api/integrations", content=json.dumps(other.credential()))
        assert duplicate.status_code == 409, duplicate.text
        error = duplicate.json()["error"]
        assert error["code"] == "conflict"
        assert MODEL in error["message"] and '"name"' in error["message"]
        assert other.stats()["requests"] == {}, "a taken name is refused before any live check"
        assert names(api, "/api/integrations") == [MODEL]

        second = add(api, other.credential(name="llama-2-chat-b"))["integration"]
        assert second["model_name"] == first["model_name"] == MODEL
        assert second["endpoint"] == other.url != first["endpoint"] == sim.url
        assert names(api, "/v1/models") == sorted([MODEL, "llama-2-chat-b"])
        models = {m["id"]: m for m in api.get("/v1/models").json()["data"]}
        assert models["llama-2-chat-b"]["model_name"] == MODEL
        assert gateway.services.catalog.get("llama-2-chat-b").endpoint == other.url
        assert gateway.services.catalog.get(MODEL).endpoint == sim.url

        again = api.post(
            "/api/integrations", content=json.dumps(other.credential(name="llama-2-chat-b"))
        )
        assert again.status_code == 409, again.text
        remove_all(api)  # before the second simulator stops


# ---- PATCH ------------------------------------------------------------------------------------


def test_patch_rename_moves_the_model_in_every_list(sim: SimHandle, api: httpx.Client) -> None:
    row = add(api, sim.credential())["integration"]
    response = api.patch(f"/api/integrations/{row['id']}", json={"name": "llama-chat"})
    assert response.status_code == 200, response.text
    assert response.json()["report"] is None, "a rename needs no live check"
    assert integration(api, row["id"])["name"] == "llama-chat"
    assert names(api, "/v1/models") == ["llama-chat"]
    assert names(api, "/api/models") == ["llama-chat"]
    assert chat(api, "llama-chat").status_code == 200
    assert chat(api, MODEL).status_code == 404


def test_patch_response_shows_the_integration_as_changed(sim: SimHandle, api: httpx.Client) -> None:
    row = add(api, sim.credential())["integration"]
    renamed = api.patch(f"/api/integrations/{row['id']}", json={"name": "llama-chat"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["integration"]["name"] == "llama-chat"

    sim.patch(token=NEW_TOKEN)
    rotated = api.patch(f"/api/integrations/{row['id']}", json={"api_key": NEW_TOKEN})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["integration"]["api_key"] == mask(NEW_TOKEN)


def test_patch_rename_to_a_served_name_is_409(sim: SimHandle, api: httpx.Client) -> None:
    first = add(api, sim.credential())["integration"]
    second = add(api, sim.credential(name="second"))["integration"]
    response = api.patch(f"/api/integrations/{second['id']}", json={"name": first["name"]})
    assert response.status_code == 409, response.text
    assert integration(api, second["id"])["name"] == "second"
    assert names(api, "/v1/models") == sorted([MODEL, "second"])


def test_patch_api_key_rotation_revalidates_then_replaces(
    sim: SimHandle, api: httpx.Client
) -> None:
    row = add(api, sim.credential())["integration"]
    assert row["api_key"] == mask(SIM_TOKEN)
    sim.patch(token=NEW_TOKEN)  # the old token is revoked, the new one works

    response = api.patch(f"/api/integrations/{row['id']}", json={"api_key": NEW_TOKEN})
    assert response.status_code == 200, response.text
    report = response.json()["report"]
    assert report["outcome"] == "valid"
    assert ("auth", "ok") in pairs(report)
    assert integration(api, row["id"])["api_key"] == mask(NEW_TOKEN)
    # The gateway now calls the endpoint with the new token.
    assert chat(api, MODEL).status_code == 200
    revalidated = api.post(f"/api/integrations/{row['id']}/revalidate")
    assert revalidated.json()["report"]["outcome"] == "valid"


def test_patch_bad_api_key_is_refused_and_the_old_key_keeps_working(
    sim: SimHandle, api: httpx.Client
) -> None:
    row = add(api, sim.credential())["integration"]

    response = api.patch(f"/api/integrations/{row['id']}", json={"api_key": BAD_TOKEN})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert "not applied" in error["message"] and "401" in error["message"]
    assert ("auth", "fail") in pairs(error["report"])

    stored = integration(api, row["id"])
    assert stored["api_key"] == mask(SIM_TOKEN)
    assert stored["state"] == "ready"
    models = {m["id"]: m for m in api.get("/v1/models").json()["data"]}
    assert models[MODEL]["status"] == "ready"
    assert chat(api, MODEL).status_code == 200
    revalidated = api.post(f"/api/integrations/{row['id']}/revalidate")
    assert revalidated.status_code == 200
    assert revalidated.json()["report"]["outcome"] == "valid"


def test_patch_context_window_is_checked_against_the_endpoint_limit(
    sim: SimHandle, api: httpx.Client
) -> None:
    row = add(api, sim.credential())["integration"]

    above = api.patch(f"/api/integrations/{row['id']}", json={"context_window": 8192})
    assert above.status_code == 422, above.text
    assert "4,096" in above.json()["error"]["message"]
    assert integration(api, row["id"])["context_window"] == 4096

    within = api.patch(f"/api/integrations/{row['id']}", json={"context_window": 2048})
    assert within.status_code == 200, within.text
    assert integration(api, row["id"])["context_window"] == 2048
    models = {m["id"]: m for m in api.get("/v1/models").json()["data"]}
    assert models[MODEL]["context_window"] == 2048


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param({"endpoint": PUBLIC_ENDPOINT}, "endpoint", id="endpoint-is-not-editable"),
        pytest.param({"model_name": "org/other"}, "model_name", id="model-is-not-editable"),
        pytest.param({"context_window": "4096"}, "context_window", id="wrong-type"),
        pytest.param({"name": "two words"}, "name", id="bad-name"),
        pytest.param({}, None, id="empty-object"),
        pytest.param([], None, id="not-an-object"),
        pytest.param("not json", None, id="not-json"),
    ],
)
def test_patch_refuses_what_it_cannot_apply(
    body: Any, param: str | None, sim: SimHandle, api: httpx.Client
) -> None:
    row = add(api, sim.credential())["integration"]
    sim.reset()
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    response = api.patch(f"/api/integrations/{row['id']}", content=content)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    after = integration(api, row["id"])
    assert (after["name"], after["context_window"], after["endpoint"]) == (MODEL, 4096, sim.url)
    assert sim.stats()["requests"] == {}


def test_patch_delete_revalidate_of_an_unknown_id_are_404(api: httpx.Client) -> None:
    for method, path in [
        ("GET", "/api/integrations/nope"),
        ("PATCH", "/api/integrations/nope"),
        ("DELETE", "/api/integrations/nope"),
        ("POST", "/api/integrations/nope/revalidate"),
    ]:
        response = api.request(method, path, json={"name": "x"} if method == "PATCH" else None)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["error"]["code"] == "integration_not_found"


# ---- DELETE and revalidate --------------------------------------------------------------------


def test_delete_removes_the_model_from_every_list_at_once(
    sim: SimHandle, api: httpx.Client
) -> None:
    row = add(api, sim.credential())["integration"]
    assert names(api, "/v1/models") == names(api, "/api/models") == [MODEL]

    response = api.delete(f"/api/integrations/{row['id']}")
    assert response.status_code == 200, response.text
    assert response.json() == {"id": row["id"], "name": MODEL, "deleted": True}
    assert names(api, "/v1/models") == names(api, "/api/models") == []
    assert api.get("/api/integrations").json()["data"] == []
    assert api.get(f"/api/integrations/{row['id']}").status_code == 404
    assert chat(api, MODEL).status_code == 404
    assert api.delete(f"/api/integrations/{row['id']}").status_code == 404


def test_delete_a_pending_integration(sim: SimHandle, api: httpx.Client) -> None:
    sim.patch(state="paused")
    row = add(api, sim.credential(), expect=202)["integration"]
    assert names(api, "/api/models") == [MODEL]
    assert api.delete(f"/api/integrations/{row['id']}").status_code == 200
    assert names(api, "/api/models") == names(api, "/v1/models") == []
    assert api.get("/api/integrations").json()["data"] == []


def test_revalidate_follows_the_endpoint_through_its_states(
    sim: SimHandle, api: httpx.Client
) -> None:
    row = add(api, sim.credential())["integration"]

    def revalidate() -> tuple[dict[str, Any], dict[str, Any]]:
        response = api.post(f"/api/integrations/{row['id']}/revalidate")
        assert response.status_code == 200, response.text
        model = {m["id"]: m for m in api.get("/v1/models").json()["data"]}[MODEL]
        return response.json()["report"], model

    sim.patch(state="scaled_to_zero")
    report, model = revalidate()
    assert report["outcome"] == "pending"
    assert model["status"] == "scaled_to_zero", "an idle endpoint stays listed"

    sim.patch(state="paused")
    report, model = revalidate()
    assert report["outcome"] == "pending"
    assert model["status"] == "paused"
    assert "resume" in model["status_detail"]

    sim.patch(state="running")
    report, model = revalidate()
    assert report["outcome"] == "valid"
    assert model["status"] == "ready"
    assert integration(api, row["id"])["validated_at"] is not None
    assert sim.stats()["completed"] == 0, "revalidation never runs a generation"


def test_revalidate_with_a_revoked_token_shows_the_failure(
    sim: SimHandle, api: httpx.Client
) -> None:
    row = add(api, sim.credential())["integration"]
    sim.patch(token=NEW_TOKEN)  # the stored token was revoked on the Hub

    response = api.post(f"/api/integrations/{row['id']}/revalidate")
    assert response.status_code == 200, response.text
    report = response.json()["report"]
    assert report["outcome"] == "failed"
    assert pairs(report)[:2] == [("reach", "ok"), ("auth", "fail")]
    stored = integration(api, row["id"])
    # A served model stays listed, with a status that says why: callers then get the precise
    # upstream error (502 upstream_auth_failed), not "model not found".
    assert stored["state"] == "ready"
    assert stored["status"] == "auth_failed"
    assert "401" in stored["status_detail"]
    listed = api.get("/v1/models").json()["data"]
    assert [(m["id"], m["status"]) for m in listed] == [(row["name"], "auth_failed")]
    chat = api.post(
        "/v1/chat/completions",
        json={"model": row["name"], "messages": [{"role": "user", "content": "hi"}]},
    )
    assert chat.status_code == 502
    assert chat.json()["error"]["code"] == "upstream_auth_failed"


# ---- who may ----------------------------------------------------------------------------------

ADMIN_ROUTES = [
    ("POST", "/api/integrations"),
    ("POST", "/api/integrations/validate"),
    ("GET", "/api/integrations"),
    ("GET", "/api/integrations/{id}"),
    ("PATCH", "/api/integrations/{id}"),
    ("POST", "/api/integrations/{id}/revalidate"),
    ("DELETE", "/api/integrations/{id}"),
]


@pytest.mark.parametrize(("method", "route"), ADMIN_ROUTES, ids=[" ".join(r) for r in ADMIN_ROUTES])
def test_admin_routes_refuse_callers_without_an_admin_key(
    method: str, route: str, sim: SimHandle, api: httpx.Client, gateway: Gateway
) -> None:
    row = add(api, sim.credential())["integration"]
    sim.reset()
    path = route.format(id=row["id"])
    body = sim.credential(name="other") if method == "POST" else {"name": "renamed"}
    content = json.dumps(body) if method in ("POST", "PATCH") else None
    expected = [
        (None, 401, "invalid_api_key"),
        ("hfg_not_a_key_of_this_gateway_000000000000000", 401, "invalid_api_key"),
        (MEMBER_KEY, 403, "permission_denied"),
    ]
    for key, status, code in expected:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        with httpx.Client(base_url=gateway.url, headers=headers, timeout=30) as client:
            response = client.request(method, path, content=content)
        assert response.status_code == status, (key, response.text)
        assert response.json()["error"]["code"] == code
    after = integration(api, row["id"])
    assert (after["name"], after["state"]) == (MODEL, "ready")
    assert names(api, "/api/integrations") == [MODEL]
    assert sim.stats()["requests"] == {}, "a refused caller triggers no live check"


def test_members_list_models_and_anonymous_callers_do_not(
    sim: SimHandle, api: httpx.Client, gateway: Gateway
) -> None:
    add(api, sim.credential())
    with gateway.client(MEMBER_KEY) as member:
        for path in ("/v1/models", "/api/models"):
            response = member.get(path)
            assert response.status_code == 200, response.text
            assert [m["id"] for m in response.json()["data"]] == [MODEL]
        assert chat(member, MODEL).status_code == 200
    with httpx.Client(base_url=gateway.url, timeout=30) as anonymous:
        for path in ("/v1/models", "/api/models"):
            assert anonymous.get(path).status_code == 401
