"""Hostile input on every route that takes a body: a clear 4xx, never a 5xx, nothing stored.

Every POST/PATCH route of the role matrix gets the same battery, as the owner (the caller who
reaches furthest into the code):

* whole-body attacks: malformed JSON, not UTF-8, 100,000 nested ``[``, a JSON array, numbers
  no parser should accept, a duplicated key, an empty body;
* field attacks on each string field: a lone surrogate, NUL, a right-to-left override, a
  zero-width space, CR LF (header injection), a 1 MB string, a 10,000-character Zalgo string.

It runs on SQLite and, when reachable, on PostgreSQL (whose text columns refuse NUL). The body
size limit runs on a gateway of its own with ``HFGATE_MAX_BODY_BYTES=4096``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.security.support import (
    World,
    chat_body,
    dedicated_postgres,
    owner_client,
    world_at,
)
from tests.security.test_role_matrix import ROUTES, Resolver
from tests.support.peers import MODEL, SIM_TOKEN


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hostile_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The module's world (SQLite), then one on PostgreSQL, whose text refuses NUL."""
    if request.param == "sqlite":
        yield request.getfixturevalue("world")
        return
    with dedicated_postgres() as url:
        if url is None:
            pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
        home = tmp_path_factory.mktemp("hostile") / "home"
        with world_at(home, HFGATE_DATABASE_URL=url) as running:
            yield running


def on_postgres(world: World) -> bool:
    return world.gateway.settings.database_url.startswith("postgresql")


# -- the battery -------------------------------------------------------------------------------

LONE_SURROGATE = "\ud800"
NUL = "a\u0000b"
RTL = "evil\u202egpj.exe"
ZERO_WIDTH = "ad\u200bmin"
CRLF = "x\r\nX-Injected: yes"
HUGE = "a" * 1_000_000
ZALGO = "Z" + "\u0336" * 10_000
FIELD_VALUES = {
    "a lone surrogate": LONE_SURROGATE,
    "NUL": NUL,
    "a right-to-left override": RTL,
    "a zero-width space": ZERO_WIDTH,
    "CR LF": CRLF,
}
BIG_VALUES = {"1 MB": HUGE, "10,000 combining marks": ZALGO}  # on each route's first field
DATABASE_VALUES = {"a lone surrogate": LONE_SURROGATE, "NUL": NUL}  # what differs on PostgreSQL
BODIES: dict[str, bytes] = {
    "malformed JSON": b'{"model": "x", ',
    "not UTF-8": b'{"model": "\xff\xfe"}',
    "100,000 nested [": b"[" * 100_000,
    "100,000 nested [ ] closed": b"[" * 100_000 + b"]" * 100_000,
    "100,000 nested objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "a JSON array": b"[1, 2, 3]",
    "a JSON string": b'"hello"',
    "NaN": b'{"max_tokens": NaN}',
    "1e999": b'{"max_tokens": 1e999, "context_window": 1e999}',
    "a 400-digit integer": b'{"max_tokens": ' + b"9" * 400 + b"}",
    "an empty body": b"",
    "only whitespace": b"   \n ",
    "a BOM then JSON": b"\xef\xbb\xbf{}",
}


@dataclass(frozen=True)
class Target:
    """A body route: a valid body, and its string fields that must refuse odd text (strict)
    or may store it as the person's own text (lenient: chat content, titles, passwords)."""

    body: dict[str, Any]
    strict: tuple[str, ...] = ()
    lenient: tuple[str, ...] = ()


CREDENTIAL = {"api_key": SIM_TOKEN, "model_name": MODEL, "context_window": 4096}
TARGETS: dict[tuple[str, str], Target] = {
    ("POST", "/v1/chat/completions"): Target(chat_body(max_tokens=2), ("model",), ("content",)),
    ("POST", "/v1/completions"): Target(
        {"model": MODEL, "prompt": "hi", "max_tokens": 2}, ("model",), ("prompt",)
    ),
    ("POST", "/v1/embeddings"): Target({"model": MODEL, "input": "hi"}, ("model",), ("input",)),
    ("POST", "/v1/rerank"): Target(
        {"model": MODEL, "query": "q", "documents": ["d"]}, ("model",), ("query",)
    ),
    ("POST", "/tgi/{rest:path}"): Target(
        {"inputs": "hi", "parameters": {"max_new_tokens": 2}}, (), ("inputs",)
    ),
    ("POST", "/tgi/{rest:path} tokenize"): Target({"inputs": "hi"}, (), ("inputs",)),
    ("POST", "/api/integrations"): Target(
        CREDENTIAL | {"name": "hostile"}, ("api_key", "endpoint", "model_name", "name")
    ),
    ("POST", "/api/integrations/validate"): Target(
        CREDENTIAL | {"name": "hostile"}, ("api_key", "endpoint", "model_name", "name")
    ),
    ("PATCH", "/api/integrations/{integration_id}"): Target({"name": "renamed"}, ("name",)),
    ("POST", "/api/integrations/{integration_id}/revalidate"): Target({}),
    ("POST", "/auth/login"): Target({"email": "owner@localhost", "password": "x"}, ("email",)),
    ("POST", "/auth/logout"): Target({}),
    ("POST", "/api/users"): Target(
        {"email": "fresh@example.com", "role": "member"}, ("email", "role")
    ),
    ("PATCH", "/api/users/{user_id}"): Target({"role": "member"}, ("role",)),
    ("POST", "/api/users/invite"): Target(
        {"email": "invited@example.com", "role": "member"}, ("email", "role")
    ),
    ("POST", "/api/users/{user_id}/reset-link"): Target({}),
    ("POST", "/api/keys"): Target({"name": "hostile"}, ("name", "user")),
    ("PATCH", "/api/keys/{key_id}"): Target(
        {"budget_tokens": "1000/day"}, ("budget_tokens", "budget_usd", "budget_period")
    ),
    ("PUT", "/api/users/{user_id}/budgets"): Target(
        {"budget_usd": "5/month"}, ("budget_tokens", "budget_usd", "budget_period")
    ),
    ("POST", "/api/conversations"): Target({"model": MODEL}, ("model",), ("title", "system")),
    ("PATCH", "/api/conversations/{conversation_id}"): Target(
        {"title": "t"}, ("model",), ("title",)
    ),
    ("POST", "/api/conversations/{conversation_id}/messages/{message_id}/select"): Target({}),
    ("POST", "/api/conversations/{conversation_id}/chat"): Target(
        {"content": "hi", "max_tokens": 2}, ("model",), ("content",)
    ),
    ("POST", "/api/hf/accounts"): Target(
        {"token": SIM_TOKEN, "namespace": "acme"}, ("token", "namespace")
    ),
    ("POST", "/api/hf/endpoints/import-all"): Target({}),
    ("POST", "/api/hf/endpoints/{namespace}/{name}/import"): Target(
        {"name": "imported", "context_window": 4096}, (), ("name", "api_key")
    ),
    ("POST", "/api/hf/endpoints/{namespace}/{name}/{action}"): Target({}),
    ("POST", "/api/models/{model_id:path}/wake"): Target({}),
    ("POST", "/api/costs/advice/{model:path}/apply"): Target({"timeout_minutes": 30}),
}
BODY_ROUTES = [
    key
    for key, row in ROUTES.items()
    if key[0] in ("POST", "PATCH", "PUT") and not row.kind.name.startswith("WEB")
]


def test_every_body_route_has_a_target() -> None:
    missing = sorted(set(BODY_ROUTES) - set(TARGETS))
    assert not missing, f"add a Target (valid body, string fields) for: {missing}"


def snapshot(api: httpx.Client) -> dict[str, int]:
    """How many of each thing a person can make, as the owner (``api``) sees them."""
    return {
        name: len(api.get(path).json()["data"])
        for name, path in (
            ("users", "/api/users"),
            ("keys", "/api/keys"),
            ("integrations", "/api/integrations"),
            ("conversations", "/api/conversations"),
        )
    }


def url_for(world: World, route: str) -> str:
    row = next(ROUTES[(m, route)] for m in ("POST", "PATCH", "PUT") if (m, route) in ROUTES)
    path = Resolver(world, world.owner).path(row.path)
    if route == "/api/users/{user_id}":  # a victim, so the owner never demotes themselves
        path = Resolver(world, world.owner).path("/api/users/{victim}")
    return path


def send(api: httpx.Client, method: str, path: str, content: bytes) -> httpx.Response:
    return api.request(method, path, content=content, headers={"Content-Type": "application/json"})


def describe(what: str, response: httpx.Response) -> str:
    request = response.request
    return f"{what}: {request.method} {request.url.path} → {response.status_code} {response.text[:200]}"


@pytest.mark.parametrize(("method", "route"), BODY_ROUTES, ids=[" ".join(k) for k in BODY_ROUTES])
def test_whole_body_attacks_get_a_clear_4xx(world: World, method: str, route: str) -> None:
    takes_body = bool(TARGETS[(method, route)].body)
    path = url_for(world, route)
    problems = []
    with owner_client(world.gateway) as api:
        before = snapshot(api)
        for what, content in BODIES.items():
            answer = send(api, method, path, content)
            if answer.status_code >= 500 or (takes_body and not 400 <= answer.status_code < 500):
                problems.append(describe(what, answer))
            elif takes_body:
                body = answer.json()
                error = body["error"]
                message = error["message"] if isinstance(error, dict) else error
                if not message or len(message) > 2000:
                    problems.append(describe(what + " (no clear message)", answer))
        if takes_body and snapshot(api) != before:
            problems.append("a refused body stored something")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("method", "route"), BODY_ROUTES, ids=[" ".join(k) for k in BODY_ROUTES])
def test_field_attacks_never_break_the_gateway(
    hostile_world: World, method: str, route: str
) -> None:
    world = hostile_world
    target = TARGETS[(method, route)]
    problems = []
    fields = target.strict + target.lenient
    path = url_for(world, route)
    with owner_client(world.gateway) as api:
        state = snapshot(api)
        for field in fields:
            values = FIELD_VALUES | (BIG_VALUES if field == fields[0] else {})
            for what, value in (DATABASE_VALUES if on_postgres(world) else values).items():
                body = poison(target.body, field, value)
                # ensure_ascii: a lone surrogate travels as the JSON escape \ud800, as JS sends it
                answer = send(api, method, path, json.dumps(body).encode())
                label = f"{field} = {what}"
                if answer.status_code >= 500:
                    problems.append(describe(label, answer))
                elif field in target.strict and not 400 <= answer.status_code < 500:
                    problems.append(describe(label + " (accepted)", answer))
                if "X-Injected" in answer.headers:
                    problems.append(describe(label + " (header injected)", answer))
                if answer.status_code < 400 or field in target.strict:
                    now = snapshot(api)
                    if answer.status_code >= 400 and now != state:
                        problems.append(describe(label + " (refused, yet stored)", answer))
                    state = now
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def poison(body: dict[str, Any], field: str, value: str) -> dict[str, Any]:
    poisoned = json.loads(json.dumps(body))
    if field == "content" and "messages" in poisoned:
        poisoned["messages"][0]["content"] = value
    elif field == "endpoint":
        poisoned["endpoint"] = "https://example.com/" + value
    elif field == "email":
        poisoned["email"] = f"user{value}@example.com"
    else:
        poisoned[field] = value
    return poisoned


def test_header_injection_in_credential_fields_is_refused_and_sends_nothing(
    hostile_world: World,
) -> None:
    world = hostile_world
    world.sim.reset()
    injected = "\r\nX-Injected: yes"
    cases = {
        "api_key": {"api_key": SIM_TOKEN + injected},
        "api_key (LF only)": {"api_key": SIM_TOKEN + "\nX-Injected: yes"},
        "api_key (obs-fold)": {"api_key": SIM_TOKEN + "\r\n X-Injected: yes"},
        "endpoint": {"endpoint": world.sim.url + injected},
        "endpoint (in the host)": {"endpoint": "https://example.com\r\nHost: 169.254.169.254"},
        "model_name": {"model_name": MODEL + injected},
        "name": {"name": "x" + injected},
    }
    with owner_client(world.gateway) as api:
        before = snapshot(api)
        for what, change in cases.items():
            credential = world.sim.credential(name="injected") | change
            for route in ("/api/integrations", "/api/integrations/validate"):
                answer = api.post(route, content=json.dumps(credential))
                assert answer.status_code == 400, describe(what, answer)
                assert answer.json()["error"]["code"] == "invalid_credential"
            patched = api.patch(
                f"/api/integrations/{world.integration_id}",
                json={"api_key": SIM_TOKEN + injected},
            )
            assert patched.status_code == 400, describe("PATCH api_key", patched)
        assert api.post("/api/keys", json={"name": "ci" + injected}).status_code in range(201, 500)
        signed = api.post(
            "/auth/login", json={"email": "owner@localhost" + injected, "password": "x"}
        )
        assert signed.status_code in (400, 401), describe("login", signed)
        assert "set-cookie" not in signed.headers
        after = snapshot(api)
    after["keys"] = before["keys"]  # the key name case may be accepted (it is only a label)
    assert after == before
    assert world.sim.stats()["requests"] == {}, "a refused credential reached the endpoint"


# -- body size ---------------------------------------------------------------------------------

LIMIT = 4096


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("small") / "home"
    with world_at(home, HFGATE_MAX_BODY_BYTES=str(LIMIT)) as running:
        yield running


def chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def big_chat(size: int) -> bytes:
    body = chat_body(max_tokens=2)
    padding = size - len(json.dumps(body).encode())
    body["messages"][0]["content"] = "a" * max(1, padding)
    return json.dumps(body).encode()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    "path",
    ["/v1/chat/completions", "/api/integrations", f"/tgi/{MODEL}/generate", "/auth/login"],
)
def test_a_body_over_the_limit_gets_413(small: World, path: str, chunked: bool) -> None:
    data = big_chat(LIMIT + 500)
    content: Any = chunks(data) if chunked else data
    with owner_client(small.gateway) as api:
        before = snapshot(api)
        answer = api.post(path, content=content, headers={"Content-Type": "application/json"})
        assert answer.status_code == 413, describe(path, answer)
        assert answer.json()["error"]["code"] == "payload_too_large"
        assert (answer.request.headers.get("transfer-encoding") == "chunked") is chunked
        assert snapshot(api) == before


def test_a_body_under_the_limit_is_served(small: World) -> None:
    data = big_chat(LIMIT - 200)
    with owner_client(small.gateway) as api:
        for content in (data, chunks(data)):
            answer = api.post("/v1/chat/completions", content=content)
            assert answer.status_code == 200, describe("under the limit", answer)


def test_without_credentials_a_big_body_is_never_read(small: World) -> None:
    """A declared length is refused before anything else; a chunked body is not even read."""
    with httpx.Client(base_url=small.url, timeout=30) as anonymous:
        declared = anonymous.post("/v1/chat/completions", content=b"x" * (LIMIT * 4))
        assert declared.status_code == 413
        streamed = anonymous.post("/v1/chat/completions", content=chunks(b"x" * (LIMIT * 4)))
        assert streamed.status_code in (401, 413)


def test_a_declared_length_over_the_limit_is_refused_before_the_body(small: World) -> None:
    host, port = small.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{"
        )
        reply = conn.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_oversized_headers_are_refused(small: World) -> None:
    with httpx.Client(base_url=small.url, timeout=30) as client:
        answer = client.get("/v1/models", headers={"Authorization": "Bearer " + "a" * 60_000})
    assert 400 <= answer.status_code < 500


def test_an_unknown_model_name_in_a_chat_is_a_clear_404(world: World) -> None:
    with owner_client(world.gateway) as api:
        answer = api.post("/v1/chat/completions", json=chat_body("x" * 100_000, max_tokens=2))
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "model_not_found"
