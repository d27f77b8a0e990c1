"""Disabling a person: sign-in refused with a clear message, sessions end, keys stop; enabling
undoes it; the owner, oneself and (for admins) the owner's rows are out of reach."""

from __future__ import annotations

from tests.people.support import PASSWORD, actions, browser, fresh
from tests.security.support import World


def _disable(world: World, user_id: int, disabled: bool = True, key: str | None = None) -> int:
    with world.client(key or world.owner.key) as api:
        answer = api.patch(f"/api/users/{user_id}", json={"disabled": disabled})
    return answer.status_code


def test_a_disabled_person_cannot_sign_in_and_their_sessions_and_keys_end(world: World) -> None:
    person = fresh(world)
    signed_in = browser(world, person.email, PASSWORD)
    assert signed_in.get("/auth/me").status_code == 200
    with world.client(world.admin.key) as api:
        answer = api.patch(f"/api/users/{person.id}", json={"disabled": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["disabled"] is True and answer.json()["disabled_at"]
    assert signed_in.get("/auth/me").status_code == 401
    assert signed_in.get("/chat").status_code == 303  # the page goes to the sign-in
    refused = world.client().post("/auth/login", json={"email": person.email, "password": PASSWORD})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "account_disabled"
    assert "disabled" in refused.json()["error"]["message"]
    with world.client(person.key) as api:
        models = api.get("/v1/models")
    assert models.status_code == 401 and "disabled" in models.json()["error"]["message"]


def test_a_wrong_password_for_a_disabled_account_says_only_wrong_password(world: World) -> None:
    person = fresh(world)
    assert _disable(world, person.id) == 200
    answer = world.client().post(
        "/auth/login", json={"email": person.email, "password": "nope" * 4}
    )
    assert answer.status_code == 401 and "disabled" not in answer.text


def test_enabling_again_restores_sign_in_and_keys(world: World) -> None:
    person = fresh(world)
    assert _disable(world, person.id) == 200
    assert _disable(world, person.id, False) == 200
    browser(world, person.email, PASSWORD).close()
    with world.client(person.key) as api:
        assert api.get("/v1/models").status_code == 200
    with world.client(world.owner.key) as api:
        assert actions(api, person.email)[:2] == ["user.enable", "user.disable"]
        listed = {u["id"]: u for u in api.get("/api/users").json()["data"]}
    assert listed[person.id]["disabled"] is False and listed[person.id]["keys"] == 1


def test_the_owner_and_oneself_cannot_be_disabled(world: World) -> None:
    assert _disable(world, world.owner.id, key=world.admin.key) == 403  # admins: not the owner
    with world.client(world.owner.key) as api:
        answer = api.patch(f"/api/users/{world.owner.id}", json={"disabled": True})
    assert answer.status_code == 409 and "yourself" in answer.json()["error"]["message"]
    with world.client(world.admin.key) as api:
        answer = api.patch(f"/api/users/{world.admin.id}", json={"disabled": True})
    assert answer.status_code == 409


def test_another_owner_cannot_be_disabled_either(world: World) -> None:
    with world.client(world.owner.key) as api:
        created = api.post("/api/users", json={"email": "owner2@example.com", "role": "owner"})
        assert created.status_code == 201, created.text
        answer = api.patch(f"/api/users/{created.json()['id']}", json={"disabled": True})
    assert answer.status_code == 409 and "owner" in answer.json()["error"]["message"]


def test_members_cannot_disable_and_odd_values_are_refused(world: World) -> None:
    person = fresh(world)
    assert _disable(world, person.id, key=world.member.key) == 403
    assert _disable(world, world.member.id, key=world.member.key) == 403  # not even themselves
    with world.client(world.owner.key) as api:
        answer = api.patch(f"/api/users/{person.id}", json={"disabled": "yes"})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "disabled"
