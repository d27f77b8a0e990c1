"""People, roles and API keys (SECURITY.md): who may do what, and what a key can reach."""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from pathlib import Path

from tests.security.support import (
    MEMBER_PASSWORD,
    OTHER_MODEL,
    Person,
    World,
    add_person,
    chat_body,
    new_key,
    owner_client,
    wait_until,
)
from tests.support.peers import MODEL


def db_path(world: World) -> Path:
    return world.gateway.home / "hfgate.db"


def query(world: World, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db_path(world)) as conn:
        return conn.execute(sql, args).fetchall()


# -- keys --------------------------------------------------------------------------------------


def test_a_key_is_shown_once_and_stored_only_as_its_hash(world: World) -> None:
    created = new_key(world.gateway, world.member, name="shown-once")
    key = created["key"]
    assert key.startswith("hfg_") and len(key) >= 40
    assert created["prefix"] == key[:12] + "…"
    with world.api(world.member) as api:
        listed = api.get("/api/keys")
    assert listed.status_code == 200
    assert key not in listed.text
    assert all("key" not in row for row in listed.json()["data"])
    (stored,) = query(world, "SELECT key_hash FROM api_keys WHERE id = ?", created["id"])
    assert stored[0] == hashlib.sha256(key.encode()).hexdigest()
    for name in ("hfgate.db", "hfgate.db-wal"):
        path = world.gateway.home / name
        if path.exists():
            assert key.encode() not in path.read_bytes(), f"{name} holds a key in clear"


def test_last_use_is_recorded(world: World) -> None:
    created = new_key(world.gateway, world.member, name="last-used")
    assert created["last_used_at"] is None
    with world.client(created["key"]) as api:
        assert api.get("/v1/models").status_code == 200
    with world.api(world.member) as api:
        rows = {row["id"]: row for row in api.get("/api/keys").json()["data"]}
    assert rows[created["id"]]["last_used_at"] is not None


def test_revoked_and_expired_keys_say_why(world: World) -> None:
    created = new_key(world.gateway, world.member, name="revoke-me")
    with world.client(created["key"]) as api:
        assert api.get("/v1/models").status_code == 200  # cached as valid …
    with world.api(world.member) as api:
        assert api.delete(f"/api/keys/{created['id']}").status_code == 200
    with world.client(created["key"]) as api:
        refused = api.get("/v1/models")  # … and refused at once after the revocation
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error"]["message"]


def test_members_manage_only_their_own_keys(world: World) -> None:
    others = new_key(world.gateway, world.other, name="not-yours")
    with world.api(world.member) as api:
        listed = api.get("/api/keys").json()["data"]
        assert {row["owner"] for row in listed} == {world.member.email}
        assert api.delete(f"/api/keys/{others['id']}").status_code == 404
        made = api.post("/api/keys", json={"name": "x", "user": world.other.email})
        assert made.status_code == 403
    with world.client(others["key"]) as api:
        assert api.get("/v1/models").status_code == 200  # still works


def test_an_admin_cannot_mint_a_key_that_acts_as_an_owner(world: World) -> None:
    """Only an owner makes owners; an owner's key is an owner, so only an owner mints one."""
    with world.api(world.admin) as api:
        minted = api.post("/api/keys", json={"name": "escalate", "user": world.owner.email})
        assert minted.status_code == 403, (
            f"an admin minted a key for the owner ({minted.status_code}): with it the admin can"
            " make themselves owner, which only an owner may do"
        )


def test_a_model_allowlist_limits_every_route_to_its_models(world: World) -> None:
    limited = new_key(world.gateway, world.member, name="only-llama", models=[MODEL])["key"]
    with world.client(limited) as api:
        listed = api.get("/v1/models").json()["data"]
        assert [m["id"] for m in listed] == [MODEL]
        for route, body in (
            ("/v1/chat/completions", chat_body(OTHER_MODEL, max_tokens=2)),
            ("/v1/completions", {"model": OTHER_MODEL, "prompt": "hi", "max_tokens": 2}),
            (f"/tgi/{OTHER_MODEL}/generate", {"inputs": "hi"}),
            (f"/tgi/{OTHER_MODEL}", {"inputs": "hi"}),
        ):
            refused = api.post(route, json=body)
            assert refused.status_code == 403, f"{route}: {refused.text}"
            assert "model_not_allowed" in refused.text, f"{route}: {refused.text}"
        assert api.get(f"/tgi/{OTHER_MODEL}/info").status_code == 403
        assert api.get(f"/v1/models/{OTHER_MODEL}").status_code in (403, 404)
        assert api.get(f"/v1/models/{MODEL}").status_code == 200
        assert api.post("/v1/chat/completions", json=chat_body(max_tokens=2)).status_code == 200


def test_the_detailed_model_list_honours_the_allowlist_too(world: World) -> None:
    limited = new_key(world.gateway, world.member, name="only-llama-2", models=[MODEL])["key"]
    with world.client(limited) as api:
        listed = api.get("/api/models").json()["data"]
    assert [m["id"] for m in listed] == [MODEL], (
        "GET /api/models lists models the key may not use (GET /v1/models filters them)"
    )


def test_a_conversation_cannot_reach_a_model_outside_the_allowlist(world: World) -> None:
    limited = new_key(world.gateway, world.member, name="only-llama-3", models=[MODEL])["key"]
    with world.client(limited) as api:
        conversation = api.post("/api/conversations", json={"model": MODEL}).json()
        chat = api.post(
            f"/api/conversations/{conversation['id']}/chat",
            json={"content": "hi", "model": OTHER_MODEL, "max_tokens": 2},
        )
    assert chat.status_code == 403, (
        f"POST /api/conversations/{{id}}/chat answered {chat.status_code} for a model outside"
        f" the key's allowlist: {chat.text[:200]}"
    )
    assert "model_not_allowed" in chat.text


# -- roles -------------------------------------------------------------------------------------


def test_only_an_owner_makes_changes_or_removes_owners(world: World) -> None:
    email = f"owner2-{uuid.uuid4().hex[:6]}@example.com"
    with world.api(world.admin) as admin:
        assert admin.post("/api/users", json={"email": email, "role": "owner"}).status_code == 403
        helper = admin.post("/api/users", json={"email": email, "role": "member"})
        assert helper.status_code == 201
        helper_id = helper.json()["id"]
        assert admin.patch(f"/api/users/{helper_id}", json={"role": "owner"}).status_code == 403
        owner = f"/api/users/{world.owner.id}"
        assert admin.patch(owner, json={"role": "member"}).status_code == 403
        assert admin.patch(owner, json={"password": "taken-over-12345"}).status_code == 403
        assert admin.delete(owner).status_code == 403
    with owner_client(world.gateway) as owner_api:
        # the owner can make a second owner, and unmake them
        made = owner_api.patch(f"/api/users/{helper_id}", json={"role": "owner"})
        assert made.status_code == 200 and made.json()["role"] == "owner"
        with world.api(world.admin) as admin:
            assert admin.delete(f"/api/users/{helper_id}").status_code == 403
        assert owner_api.delete(f"/api/users/{helper_id}").status_code == 200


def test_the_last_owner_can_be_neither_demoted_nor_removed(world: World) -> None:
    with owner_client(world.gateway) as api:
        owners = [u for u in api.get("/api/users").json()["data"] if u["role"] == "owner"]
        assert [u["id"] for u in owners] == [world.owner.id]
        demoted = api.patch(f"/api/users/{world.owner.id}", json={"role": "admin"})
        assert demoted.status_code == 409, demoted.text
        assert "last owner" in demoted.json()["error"]["message"]
        removed = api.delete(f"/api/users/{world.owner.id}")
        assert removed.status_code == 409, removed.text
        assert api.get("/auth/me").json()["user"]["role"] == "owner"


def test_a_member_cannot_change_their_own_role(world: World) -> None:
    with world.api(world.member) as api:
        refused = api.patch(f"/api/users/{world.member.id}", json={"role": "admin"})
    assert refused.status_code == 403
    with owner_client(world.gateway) as api:
        role = {u["id"]: u["role"] for u in api.get("/api/users").json()["data"]}
    assert role[world.member.id] == "member"


def test_a_role_change_applies_to_keys_at_once(world: World) -> None:
    person = add_person(world.gateway, f"promoted-{uuid.uuid4().hex[:6]}@example.com", "member")
    with world.client(person.key) as api:
        assert api.get("/api/users").status_code == 403
        with owner_client(world.gateway) as owner:
            assert owner.patch(f"/api/users/{person.id}", json={"role": "admin"}).status_code == 200
        assert api.get("/api/users").status_code == 200
        with owner_client(world.gateway) as owner:
            assert (
                owner.patch(f"/api/users/{person.id}", json={"role": "member"}).status_code == 200
            )
        assert api.get("/api/users").status_code == 403
        with owner_client(world.gateway) as owner:
            assert owner.delete(f"/api/users/{person.id}").status_code == 200
        assert api.get("/v1/models").status_code == 401  # removed: their keys go with them


# -- nobody reads another person's data -------------------------------------------------------


def test_nobody_reads_another_persons_conversations(world: World) -> None:
    with world.api(world.other) as other:
        mine = other.post("/api/conversations", json={"model": MODEL, "title": "private"}).json()
        said = other.post(f"/api/conversations/{mine['id']}/chat", json={"content": "secret plans"})
        assert said.status_code == 200
    base = f"/api/conversations/{mine['id']}"
    for person in (world.member, world.admin, world.owner):
        with world.api(person) as api:
            listed = api.get("/api/conversations").json()["data"]
            assert mine["id"] not in {c["id"] for c in listed}
            for method, path, body in (
                ("GET", base, None),
                ("GET", base + "/export", None),
                ("GET", base + "/export?format=json", None),
                ("PATCH", base, {"title": "mine now"}),
                ("POST", base + "/chat", {"content": "and me?"}),
                ("DELETE", base + f"/messages/{uuid.uuid4()}", None),
                ("DELETE", base, None),
            ):
                answer = api.request(method, path, json=body)
                assert answer.status_code in (403, 404), f"{person.role} {method} {path}"
                assert "secret plans" not in answer.text
    with world.api(world.other) as other:
        kept = other.get(base)
    assert kept.status_code == 200
    assert kept.json()["title"] == "private"
    assert "secret plans" in kept.text


def test_members_see_only_their_own_usage(world: World) -> None:
    for person in (world.member, world.other):
        with world.api(person) as api:
            answer = api.post("/v1/chat/completions", json=chat_body(max_tokens=2))
            assert answer.status_code == 200, answer.text

    def keys_in_usage(person: Person) -> set[int]:
        with world.api(person) as api:
            response = api.get("/api/usage")
        assert response.status_code == 200, response.text
        return {row["key"] for row in response.json()["by_key"]}

    def own_keys(person: Person) -> set[int]:
        with world.api(person) as api:
            return {row["id"] for row in api.get("/api/keys").json()["data"]}

    # usage is recorded off the hot path: wait until the admin sees both
    wait_until(lambda: {world.member.key_id, world.other.key_id} <= keys_in_usage(world.admin))
    assert world.member.key_id in keys_in_usage(world.member)
    assert keys_in_usage(world.member) <= own_keys(world.member)
    assert keys_in_usage(world.other) <= own_keys(world.other)


def test_passwords_are_stored_with_argon2id(world: World) -> None:
    (row,) = query(world, "SELECT password_hash FROM users WHERE email = ?", world.member.email)
    assert str(row[0]).startswith("$argon2id$")
    assert MEMBER_PASSWORD not in str(row[0])
