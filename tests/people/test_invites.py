"""Invitations (7 days) and password resets (24 hours): one-time links an admin passes on."""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx

from hfgate.auth.sessions import COOKIE
from tests.people.support import PASSWORD, actions, browser, fresh, sql
from tests.security.support import World

NEW_PASSWORD = "chosen-Password-7b2d9f"


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def _invite(world: World, role: str = "member", key: str | None = None) -> httpx.Response:
    email = f"inv-{uuid.uuid4().hex[:8]}@example.com"
    with world.client(key or world.admin.key) as api:
        return api.post("/api/users/invite", json={"email": email, "role": role})


def _redeem(world: World, token: str, password: str = NEW_PASSWORD) -> httpx.Response:
    client = world.client(follow_redirects=False)
    return client.post("/invite", json={"token": token, "password": password})


def test_an_invitation_link_works_once_and_signs_the_person_in(world: World) -> None:
    invited = _invite(world)
    assert invited.status_code == 201, invited.text
    body = invited.json()
    assert body["user"]["has_password"] is False and body["user"]["role"] == "member"
    assert body["link"].startswith(world.url + "/invite?token=") and body["expires_at"]
    token = _token(body["link"])
    page = world.client().get("/invite", params={"token": token})
    assert page.status_code == 200 and body["user"]["email"] in page.text
    redeemed = _redeem(world, token)
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["user"]["email"] == body["user"]["email"]
    cookie = redeemed.cookies[COOKIE]
    with world.client(cookies={COOKIE: cookie}) as me:
        assert me.get("/auth/me").json()["user"]["email"] == body["user"]["email"]
    again = _redeem(world, token)
    assert again.status_code == 410 and "used already" in again.json()["error"]["message"]
    used_page = world.client().get("/invite", params={"token": token})
    assert used_page.status_code == 410 and "used already" in used_page.text
    browser(world, body["user"]["email"], NEW_PASSWORD).close()
    with world.client(world.owner.key) as api:
        assert actions(api, body["user"]["email"])[:2] == ["user.accept_invite", "user.invite"]


def test_the_form_post_redirects_to_the_workspace_with_a_session(world: World) -> None:
    token = _token(_invite(world).json()["link"])
    form = {"token": token, "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}
    answer = world.client(follow_redirects=False).post("/invite", data=form)
    assert answer.status_code == 303 and answer.headers["location"] == "/chat"
    assert COOKIE in answer.cookies


def test_a_mistyped_repeat_or_weak_password_keeps_the_link_working(world: World) -> None:
    token = _token(_invite(world).json()["link"])
    form = {"token": token, "password": NEW_PASSWORD, "password_repeat": "something-else-123"}
    answer = world.client().post("/invite", data=form)
    assert answer.status_code == 400 and "differ" in answer.text and 'name="token"' in answer.text
    weak = _redeem(world, token, "short")
    assert weak.status_code == 400 and weak.json()["error"]["param"] == "password"
    assert _redeem(world, token).status_code == 200


def test_a_wrong_token_gets_a_clear_page(world: World) -> None:
    for params in ({"token": "made-up-token"}, {}):
        page = world.client().get("/invite", params=params)
        assert page.status_code == 404
        assert "not valid" in page.text and "ask an admin for a new one" in page.text
        assert 'name="password"' not in page.text
    posted = world.client().post("/invite", data={"token": "made-up", "password": NEW_PASSWORD})
    assert posted.status_code == 404 and "not valid" in posted.text


def test_an_expired_link_is_refused(world: World) -> None:
    body = _invite(world).json()
    sql_past = "UPDATE user_tokens SET expires_at = '2020-01-01 00:00:00.000000' WHERE user_id = ?"
    sql(world, sql_past, body["user"]["id"])
    answer = _redeem(world, _token(body["link"]))
    assert answer.status_code == 410 and "expired" in answer.json()["error"]["message"]


def test_who_may_invite_whom(world: World) -> None:
    assert _invite(world, key=world.member.key).status_code == 403
    assert _invite(world, "owner", key=world.admin.key).status_code == 403
    assert _invite(world, "admin", key=world.admin.key).status_code == 201
    assert _invite(world, "owner", key=world.owner.key).status_code == 201
    with world.client(world.owner.key) as api:
        taken = api.post("/api/users/invite", json={"email": world.member.email})
        odd = api.post("/api/users/invite", json={"email": "x@example.com", "password": "p"})
    assert taken.status_code == 409 and odd.status_code == 400


def test_a_reset_link_sets_a_new_password_and_ends_old_sessions(world: World) -> None:
    person = fresh(world)
    old_session = browser(world, person.email, PASSWORD)
    with world.client(world.admin.key) as api:
        first = api.post(f"/api/users/{person.id}/reset-link")
        second = api.post(f"/api/users/{person.id}/reset-link")
    assert first.status_code == 200 and second.status_code == 200, second.text
    assert _redeem(world, _token(first.json()["link"])).status_code == 404  # voided by the second
    page = world.client().get("/invite", params={"token": _token(second.json()["link"])})
    assert "Choose a new password" in page.text
    assert _redeem(world, _token(second.json()["link"])).status_code == 200
    assert old_session.get("/auth/me").status_code == 401
    wrong = world.client().post("/auth/login", json={"email": person.email, "password": PASSWORD})
    assert wrong.status_code == 401
    browser(world, person.email, NEW_PASSWORD).close()
    with world.client(world.owner.key) as api:
        assert actions(api, person.email)[:2] == ["user.reset_password", "user.reset_link"]


def test_who_may_make_reset_links(world: World) -> None:
    with world.client(world.member.key) as api:
        assert api.post(f"/api/users/{world.other.id}/reset-link").status_code == 403
    with world.client(world.admin.key) as api:
        assert api.post(f"/api/users/{world.owner.id}/reset-link").status_code == 403
        assert api.post("/api/users/999999/reset-link").status_code == 404


def test_a_disabled_persons_link_does_not_work(world: World) -> None:
    body = _invite(world).json()
    with world.client(world.owner.key) as api:
        api.patch(f"/api/users/{body['user']['id']}", json={"disabled": True})
    answer = _redeem(world, _token(body["link"]))
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "account_disabled"


def test_only_the_hash_of_a_token_is_stored(world: World) -> None:
    body = _invite(world).json()
    token = _token(body["link"])
    stored = sql(world, "SELECT id FROM user_tokens WHERE user_id = ?", body["user"]["id"])
    assert stored and all(token not in row[0] for row in stored)
    assert re.fullmatch(r"[0-9a-f]{64}", stored[0][0])
