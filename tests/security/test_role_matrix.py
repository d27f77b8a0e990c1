"""Authorisation everywhere: every route of the app, every kind of caller (SECURITY.md).

``ROUTES`` is the expectation table: one row per (method, path) the app serves. The first test
enumerates ``create_app(...).routes`` and fails when a route has no row (or a row no route), so
a route added without deciding who may call it fails here. Each row is then called

* with no credentials, a made-up key, a revoked key and an expired key → 401 (not for public
  routes and pages);
* with a member's key → 403 on admin routes, allowed on member routes;
* with an admin's key and the owner's key → allowed;

where *allowed* means neither 401 nor 403, and never a 5xx. Web pages are called with session
cookies instead of keys: no session → 303 to the sign-in page, a member on an admin page → 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from hfgate.app import create_app
from hfgate.storage import Database
from hfgate.storage.tables import ApiKey
from tests.security.support import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    Person,
    World,
    chat_body,
    new_key,
    owner_client,
    run,
)
from tests.support.peers import MODEL, gateway_settings


class Kind(Enum):
    PUBLIC = "anyone, no credentials needed"
    MEMBER = "any signed-in person (members included)"
    SELF_OR_ADMIN = "members on themselves, admins on anyone"
    ADMIN = "admins and owners only"
    WEB_PUBLIC = "a page anyone may see"
    WEB_MEMBER = "a page for any signed-in person"
    WEB_ADMIN = "a page for admins and owners only"
    WEB_SETUP = "first-run setup: whoever holds the one-time link, until an owner has a password"


@dataclass(frozen=True)
class Row:
    kind: Kind
    path: str  # placeholders: see ``Resolver``
    body: Any = None


TGI_GENERATE = {"inputs": "hello", "parameters": {"max_new_tokens": 4}}
NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"

# (method, route path as the app declares it) -> who may call it, and a request to make.
ROUTES: dict[tuple[str, str], Row] = {
    # FastAPI's own documentation routes: the API's shape is not a secret
    ("GET", "/openapi.json"): Row(Kind.PUBLIC, "/openapi.json"),
    ("GET", "/docs"): Row(Kind.PUBLIC, "/docs"),
    ("GET", "/docs/oauth2-redirect"): Row(Kind.PUBLIC, "/docs/oauth2-redirect"),
    ("GET", "/redoc"): Row(Kind.PUBLIC, "/redoc"),
    # health and metrics: for load balancers and Prometheus (see SECURITY.md)
    ("GET", "/healthz"): Row(Kind.PUBLIC, "/healthz"),
    ("GET", "/readyz"): Row(Kind.PUBLIC, "/readyz"),
    ("GET", "/metrics"): Row(Kind.PUBLIC, "/metrics"),
    # models and generation
    ("GET", "/v1/models"): Row(Kind.MEMBER, "/v1/models"),
    ("GET", "/v1/models/{model_id:path}"): Row(Kind.MEMBER, f"/v1/models/{MODEL}"),
    ("GET", "/api/models"): Row(Kind.MEMBER, "/api/models"),
    ("POST", "/v1/chat/completions"): Row(
        Kind.MEMBER, "/v1/chat/completions", chat_body(max_tokens=4)
    ),
    ("POST", "/v1/completions"): Row(
        Kind.MEMBER, "/v1/completions", {"model": MODEL, "prompt": "hello", "max_tokens": 4}
    ),
    ("POST", "/v1/embeddings"): Row(Kind.MEMBER, "/v1/embeddings", {"model": MODEL, "input": "hi"}),
    ("POST", "/v1/rerank"): Row(
        Kind.MEMBER, "/v1/rerank", {"model": MODEL, "query": "q", "documents": ["d"]}
    ),
    ("GET", "/api/usage"): Row(Kind.MEMBER, "/api/usage"),
    # costs: members see their own share; the advice and applying it are admins'
    ("GET", "/api/costs"): Row(Kind.MEMBER, "/api/costs"),
    ("GET", "/api/costs/advice"): Row(Kind.ADMIN, "/api/costs/advice"),
    ("POST", "/api/costs/advice/{model:path}/apply"): Row(
        Kind.ADMIN, f"/api/costs/advice/{MODEL}/apply", {"timeout_minutes": 30}
    ),
    ("GET", "/tgi/{rest:path}"): Row(Kind.MEMBER, f"/tgi/{MODEL}/info"),
    ("POST", "/tgi/{rest:path}"): Row(Kind.MEMBER, f"/tgi/{MODEL}/generate", TGI_GENERATE),
    # … and the catch-alls' other routes (see ``route_of``)
    ("GET", "/tgi/{rest:path} health"): Row(Kind.MEMBER, f"/tgi/{MODEL}/health"),
    ("POST", "/tgi/{rest:path} tokenize"): Row(
        Kind.MEMBER, f"/tgi/{MODEL}/tokenize", {"inputs": "hello"}
    ),
    # integrations: admins only
    ("POST", "/api/integrations"): Row(Kind.ADMIN, "/api/integrations", {}),
    ("POST", "/api/integrations/validate"): Row(Kind.ADMIN, "/api/integrations/validate", {}),
    ("GET", "/api/integrations"): Row(Kind.ADMIN, "/api/integrations"),
    ("GET", "/api/integrations/{integration_id}"): Row(
        Kind.ADMIN, "/api/integrations/{integration}"
    ),
    ("PATCH", "/api/integrations/{integration_id}"): Row(
        Kind.ADMIN, "/api/integrations/{integration}", {}
    ),
    ("POST", "/api/integrations/{integration_id}/revalidate"): Row(
        Kind.ADMIN, "/api/integrations/{integration}/revalidate"
    ),
    ("DELETE", "/api/integrations/{integration_id}"): Row(
        Kind.ADMIN, f"/api/integrations/{NO_SUCH_ID}"
    ),
    # Hugging Face accounts and endpoints: admins only
    ("POST", "/api/hf/accounts"): Row(Kind.ADMIN, "/api/hf/accounts", {}),
    ("GET", "/api/hf/accounts"): Row(Kind.ADMIN, "/api/hf/accounts"),
    ("DELETE", "/api/hf/accounts/{account_id}"): Row(Kind.ADMIN, f"/api/hf/accounts/{NO_SUCH_ID}"),
    ("GET", "/api/hf/endpoints"): Row(Kind.ADMIN, "/api/hf/endpoints"),
    ("POST", "/api/hf/endpoints/import-all"): Row(Kind.ADMIN, "/api/hf/endpoints/import-all"),
    ("POST", "/api/hf/endpoints/{namespace}/{name}/import"): Row(
        Kind.ADMIN, "/api/hf/endpoints/acme/none/import"
    ),
    ("POST", "/api/hf/endpoints/{namespace}/{name}/{action}"): Row(
        Kind.ADMIN, "/api/hf/endpoints/acme/none/resume"
    ),
    # wake on open: whoever may use the model
    ("POST", "/api/models/{model_id:path}/wake"): Row(Kind.MEMBER, f"/api/models/{MODEL}/wake"),
    # sign-in
    ("POST", "/auth/login"): Row(
        Kind.PUBLIC, "/auth/login", {"email": OWNER_EMAIL, "password": OWNER_PASSWORD}
    ),
    ("POST", "/auth/logout"): Row(Kind.PUBLIC, "/auth/logout"),
    ("GET", "/auth/me"): Row(Kind.MEMBER, "/auth/me"),
    # people: admins; a member may change only their own password
    ("GET", "/api/users"): Row(Kind.ADMIN, "/api/users"),
    ("POST", "/api/users"): Row(Kind.ADMIN, "/api/users", {"email": "{new_email}"}),
    ("PATCH", "/api/users/{user_id}"): Row(Kind.SELF_OR_ADMIN, "/api/users/{user}"),
    ("DELETE", "/api/users/{user_id}"): Row(Kind.ADMIN, "/api/users/{victim}"),
    ("GET", "/api/audit"): Row(Kind.ADMIN, "/api/audit"),
    ("POST", "/api/users/invite"): Row(Kind.ADMIN, "/api/users/invite", {"email": "{new_email}"}),
    ("POST", "/api/users/{user_id}/reset-link"): Row(Kind.ADMIN, "/api/users/{victim}/reset-link"),
    # the running server's facts (the settings page)
    ("GET", "/api/settings"): Row(Kind.ADMIN, "/api/settings"),
    # keys: everyone manages their own
    ("GET", "/api/keys"): Row(Kind.MEMBER, "/api/keys"),
    ("POST", "/api/keys"): Row(Kind.MEMBER, "/api/keys", {"name": "matrix"}),
    ("DELETE", "/api/keys/{key_id}"): Row(Kind.MEMBER, "/api/keys/{own_key}"),
    # budgets: a key's by its owner; a person's by admins; your own as a person
    ("PATCH", "/api/keys/{key_id}"): Row(
        Kind.MEMBER, "/api/keys/{own_key}", {"budget_tokens": "1000000/day"}
    ),
    ("PUT", "/api/users/{user_id}/budgets"): Row(
        Kind.ADMIN, "/api/users/{victim}/budgets", {"budget_usd": 5}
    ),
    ("GET", "/api/me/budgets"): Row(Kind.MEMBER, "/api/me/budgets"),
    # conversations: everyone their own
    ("GET", "/api/conversations"): Row(Kind.MEMBER, "/api/conversations"),
    ("POST", "/api/conversations"): Row(Kind.MEMBER, "/api/conversations", {"model": MODEL}),
    ("GET", "/api/conversations/{conversation_id}"): Row(
        Kind.MEMBER, "/api/conversations/{conversation}"
    ),
    ("PATCH", "/api/conversations/{conversation_id}"): Row(
        Kind.MEMBER, "/api/conversations/{conversation}", {"title": "renamed"}
    ),
    ("DELETE", "/api/conversations/{conversation_id}"): Row(
        Kind.MEMBER, "/api/conversations/{conversation}"
    ),
    ("DELETE", "/api/conversations/{conversation_id}/messages/{message_id}"): Row(
        Kind.MEMBER, f"/api/conversations/{{conversation}}/messages/{NO_SUCH_ID}"
    ),
    ("POST", "/api/conversations/{conversation_id}/messages/{message_id}/select"): Row(
        Kind.MEMBER, f"/api/conversations/{{conversation}}/messages/{NO_SUCH_ID}/select"
    ),
    ("POST", "/api/conversations/{conversation_id}/chat"): Row(
        Kind.MEMBER, "/api/conversations/{conversation}/chat", {"content": "hello"}
    ),
    ("GET", "/api/conversations/{conversation_id}/export"): Row(
        Kind.MEMBER, "/api/conversations/{conversation}/export"
    ),
    # the web workspace: pages use the session cookie
    ("GET", "/"): Row(Kind.WEB_PUBLIC, "/"),
    ("GET", "/login"): Row(Kind.WEB_PUBLIC, "/login"),
    ("GET", "/static/{path:path}"): Row(Kind.WEB_PUBLIC, "/static/css/app.css"),
    ("GET", "/chat"): Row(Kind.WEB_MEMBER, "/chat"),
    ("GET", "/chat/{conversation_id}"): Row(Kind.WEB_MEMBER, "/chat/{conversation}"),
    ("GET", "/models"): Row(Kind.WEB_MEMBER, "/models"),
    ("GET", "/keys"): Row(Kind.WEB_MEMBER, "/keys"),
    ("GET", "/integrations"): Row(Kind.WEB_ADMIN, "/integrations"),
    ("GET", "/usage"): Row(Kind.WEB_MEMBER, "/usage"),
    ("GET", "/people"): Row(Kind.WEB_ADMIN, "/people"),
    ("GET", "/audit"): Row(Kind.WEB_ADMIN, "/audit"),
    ("GET", "/settings"): Row(Kind.WEB_ADMIN, "/settings"),
    # one-time invitation and reset links (tests/people/test_invites.py): anyone holding one
    ("GET", "/invite"): Row(Kind.WEB_PUBLIC, "/invite?token=made-up"),
    ("POST", "/invite"): Row(Kind.WEB_PUBLIC, "/invite"),
    # first-run setup (tests/web/test_setup.py): here the owner has a password, so it is over
    ("GET", "/setup"): Row(Kind.WEB_SETUP, "/setup?token=made-up"),
    ("POST", "/setup"): Row(Kind.WEB_SETUP, "/setup"),
}


def app_routes(tmp_path: Path) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves; HEAD is GET's twin and is left out."""
    from fastapi import routing

    app = create_app(gateway_settings(tmp_path / "home"))
    found: set[tuple[str, str]] = set()
    contexts: Any = getattr(routing, "iter_route_contexts", lambda routes: routes)(app.routes)
    for route in contexts:
        methods = getattr(route, "methods", None)
        path = getattr(route, "path", None)
        if path is None:
            continue
        if not methods:  # a Mount (static files, a sub-app): one row for the whole prefix
            found.add(("MOUNT", path))
            continue
        found.update((method, path) for method in methods if method != "HEAD")
    return found


def route_of(key: tuple[str, str]) -> tuple[str, str]:
    """The declared route of a row: a catch-all route (``/tgi/{rest:path}``) serves several
    routes, each with a row of its own, keyed ``"{declared path} {what}"``."""
    method, path = key
    return method, path.split(" ", 1)[0]


def test_every_route_of_the_app_has_a_row(tmp_path: Path) -> None:
    served = app_routes(tmp_path)
    missing = sorted(served - {route_of(key) for key in ROUTES})
    assert not missing, (
        "routes without a row in tests/security/test_role_matrix.py ROUTES (decide who may"
        f" call them, and add the row): {missing}"
    )
    api_rows = {route_of(key) for key, row in ROUTES.items() if not row.kind.name.startswith("WEB")}
    stale = sorted(api_rows - served)
    assert not stale, f"rows for routes the app no longer serves: {stale}"


# -- calling a row as each kind of caller ------------------------------------------------------


class Resolver:
    """Fills a row's placeholders for one caller, making what the request needs."""

    def __init__(self, world: World, person: Person | None) -> None:
        self.world, self.person = world, person

    def path(self, template: str) -> str:
        values: dict[str, Callable[[], str]] = {
            "integration": lambda: self.world.integration_id,
            "conversation": self._conversation,
            "own_key": self._own_key,
            "victim": self._victim,
            "user": lambda: str(self.person.id if self.person else self.world.member.id),
        }
        for name, make in values.items():
            if "{" + name + "}" in template:
                template = template.replace("{" + name + "}", make())
        return template

    def body(self, row: Row, path: str) -> Any:
        if row.body == {"email": "{new_email}"}:
            return {"email": f"new-{uuid.uuid4().hex[:8]}@example.com", "role": "member"}
        if path.startswith("/api/users/") and row.kind is Kind.SELF_OR_ADMIN:
            return {"password": self.person.password if self.person else "whatever-1234"}
        return row.body

    def _conversation(self) -> str:
        if self.person is None:
            return NO_SUCH_ID
        with self.world.api(self.person) as api:
            created = api.post("/api/conversations", json={"model": MODEL})
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    def _own_key(self) -> str:
        if self.person is None:
            return "1"
        return str(new_key(self.world.gateway, self.person)["id"])

    def _victim(self) -> str:
        email = f"victim-{uuid.uuid4().hex[:8]}@example.com"
        with owner_client(self.world.gateway) as api:
            created = api.post("/api/users", json={"email": email, "role": "member"})
        assert created.status_code == 201, created.text
        return str(created.json()["id"])


def call(world: World, row: Row, method: str, person: Person | None, key: str | None) -> Any:
    resolver = Resolver(world, person)
    path = resolver.path(row.path)
    body = resolver.body(row, path)
    with world.client(key) as client:
        if body is None:
            return client.request(method, path)
        return client.request(method, path, json=body)


def describe(response: httpx.Response) -> str:
    return (
        f"{response.request.method} {response.request.url.path} → {response.status_code}: "
        + (response.text[:300])
    )


def assert_allowed(response: httpx.Response) -> None:
    assert response.status_code not in (401, 403), describe(response)
    assert response.status_code < 500, describe(response)


def assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, describe(response)
    body = response.json()
    # OpenAI shape everywhere, TGI's own shape on the TGI routes.
    code = body["error"]["code"] if isinstance(body["error"], dict) else body["error_type"]
    assert code == "invalid_api_key", describe(response)


def assert_forbidden(response: httpx.Response) -> None:
    assert response.status_code == 403, describe(response)
    body = response.json()
    code = body["error"]["code"] if isinstance(body["error"], dict) else body["error_type"]
    assert code == "permission_denied", describe(response)


@pytest.fixture(scope="module")
def dead_keys(world: World) -> dict[str, str]:
    """A revoked key and an expired key of the member (both were valid once)."""
    revoked = new_key(world.gateway, world.member, name="revoked")
    with world.api(world.owner) as api:
        assert api.delete(f"/api/keys/{revoked['id']}").status_code == 200
    expired = new_key(world.gateway, world.member, name="expired", expires_days=1)

    async def expire() -> None:
        db = Database(world.gateway.settings.database_url)
        try:
            async with db.session() as session:
                past = datetime.now(UTC) - timedelta(minutes=1)
                await session.execute(
                    update(ApiKey).where(ApiKey.id == expired["id"]).values(expires_at=past)
                )
                await session.commit()
        finally:
            await db.close()

    run(expire())
    return {
        "no key": "",
        "a made-up key": "hfg_" + "x" * 43,
        "a revoked key": revoked["key"],
        "an expired key": expired["key"],
    }


API_ROWS = {key: row for key, row in ROUTES.items() if not row.kind.name.startswith("WEB")}
WEB_ROWS = {key: row for key, row in ROUTES.items() if row.kind.name.startswith("WEB")}


@pytest.mark.parametrize(("method", "route"), list(API_ROWS), ids=[" ".join(k) for k in API_ROWS])
def test_api_route_authorisation(
    world: World, dead_keys: dict[str, str], method: str, route: str
) -> None:
    row = ROUTES[(method, route)]
    if row.kind is Kind.PUBLIC:
        assert_allowed(call(world, row, method, None, None))
        return
    for what, key in dead_keys.items():
        response = call(world, row, method, None, key or None)
        assert response.status_code == 401, f"with {what}: {describe(response)}"
        assert_unauthenticated(response)

    member = call(world, row, method, world.member, world.member.key)
    if row.kind is Kind.ADMIN:
        assert_forbidden(member)
    else:
        assert_allowed(member)
    if row.kind is Kind.SELF_OR_ADMIN:  # … and on someone else: refused
        other = Resolver(world, world.member).path(row.path.replace("{user}", "{victim}"))
        with world.api(world.member) as api:
            assert_forbidden(api.patch(other, json={"password": "not-mine-12345"}))
            assert_forbidden(api.patch(other, json={"role": "admin"}))

    for person in (world.admin, world.owner):
        assert_allowed(call(world, row, method, person, person.key))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    return app_routes(tmp_path_factory.mktemp("app"))


@pytest.fixture(scope="module")
def browsers(world: World) -> Iterator[dict[str, httpx.Client]]:
    """A browser per person, signed in once (argon2 is slow on purpose), and one signed out."""
    clients: dict[str, httpx.Client] = {}
    try:
        for person in (None, world.member, world.admin, world.owner):
            client = httpx.Client(base_url=world.url, timeout=30, follow_redirects=False)
            clients[person.role if person else "nobody"] = client
            if person is not None:
                signed_in = client.post(
                    "/auth/login", json={"email": person.email, "password": person.password}
                )
                assert signed_in.status_code == 200, signed_in.text
        yield clients
    finally:
        for client in clients.values():
            client.close()


@pytest.mark.parametrize(("method", "route"), list(WEB_ROWS), ids=[" ".join(k) for k in WEB_ROWS])
def test_page_authorisation(
    world: World,
    served: set[tuple[str, str]],
    browsers: dict[str, httpx.Client],
    method: str,
    route: str,
) -> None:
    if (method, route) not in served:
        pytest.skip(f"the app does not serve {method} {route} (yet)")
    row = ROUTES[(method, route)]
    for person in (None, world.member, world.admin, world.owner):
        path = Resolver(world, person).path(row.path)
        response = browsers[person.role if person else "nobody"].request(method, path)
        assert response.status_code < 500, describe(response)
        if row.kind is Kind.WEB_SETUP:  # over for everyone, signed in or not: to the sign-in
            assert response.status_code == 303, describe(response)
            assert response.headers["location"] == "/login", describe(response)
        elif row.kind is Kind.WEB_PUBLIC:
            assert response.status_code not in (401, 403), describe(response)
        elif person is None:
            assert response.status_code == 303, describe(response)
            assert response.headers["location"].startswith("/login?next="), describe(response)
        elif row.kind is Kind.WEB_ADMIN and person.role == "member":
            assert response.status_code == 403, describe(response)
        else:
            assert response.status_code == 200, describe(response)
