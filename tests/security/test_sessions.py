"""Browser sessions (SECURITY.md): the cookie, CSRF, signing out, and the password check."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager

import httpx
import pytest
from argon2 import extract_parameters

from hfgate.auth import passwords
from tests.security.support import OWNER_EMAIL, OWNER_PASSWORD, World, add_person, owner_client

COOKIE = "hfgate_session"


@contextmanager
def browser(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.url, timeout=30, follow_redirects=False) as client:
        yield client


def sign_in(client: httpx.Client, email: str, password: str, **headers: str) -> httpx.Response:
    return client.post("/auth/login", json={"email": email, "password": password}, headers=headers)


def signed_in(world: World, email: str, password: str) -> tuple[httpx.Client, str]:
    """A browser with a session; returns it and the session's CSRF token."""
    client = httpx.Client(base_url=world.url, timeout=30, follow_redirects=False)
    answer = sign_in(client, email, password)
    assert answer.status_code == 200, answer.text
    return client, answer.json()["csrf_token"]


def test_sign_in_sets_an_httponly_samesite_cookie(world: World) -> None:
    with browser(world) as client:
        answer = sign_in(client, OWNER_EMAIL, OWNER_PASSWORD)
        assert answer.status_code == 200, answer.text
        cookie = answer.headers["set-cookie"]
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert cookie.startswith(COOKIE + "=")
        assert {"httponly", "samesite", "path"} <= attributes
        assert "samesite=lax" in cookie.lower() or "samesite=strict" in cookie.lower()
        assert "secure" not in attributes  # plain http on loopback: a Secure cookie would be lost
        token = client.cookies[COOKIE]
        assert len(token) >= 32
        assert token not in answer.text  # the body carries the CSRF token, never the cookie
        assert answer.json()["user"]["email"] == OWNER_EMAIL
        assert client.get("/auth/me").json()["user"]["role"] == "owner"
    with browser(world) as client:
        behind_tls = sign_in(client, OWNER_EMAIL, OWNER_PASSWORD, **{"X-Forwarded-Proto": "https"})
        assert "secure" in behind_tls.headers["set-cookie"].lower()


def test_wrong_password_and_unknown_email_get_the_same_answer(world: World) -> None:
    with browser(world) as client:
        wrong = sign_in(client, OWNER_EMAIL, "not-the-password")
        unknown = sign_in(client, "nobody@example.com", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert COOKIE not in wrong.headers.get("set-cookie", "")


def test_an_unknown_email_takes_as_long_as_a_wrong_password(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same words are not enough: a fast 401 for unknown emails tells which accounts exist.

    What takes the time is the argon2 check, so both answers must cost exactly one, with the
    same parameters (an unknown email is checked against a decoy hash). Counted rather than
    timed: on a loaded machine, stopwatch medians of a few sign-ins differ by more than 3x."""
    checked: list[str] = []
    check = passwords._verify

    def counted(stored: str, password: str) -> bool:
        checked.append(stored)
        return check(stored, password)

    monkeypatch.setattr(passwords, "_verify", counted)
    for email in (OWNER_EMAIL, f"nobody-{uuid.uuid4().hex[:8]}@example.com"):
        with browser(world) as client:
            assert sign_in(client, email, "not-the-password").status_code == 401
    assert len(checked) == 2, "one password check per sign-in, known email or not"
    wrong, unknown = checked
    assert unknown != wrong
    assert extract_parameters(unknown) == extract_parameters(wrong), (
        "an unknown email is checked against a cheaper hash than a real one: the difference"
        " in time reveals which emails have accounts"
    )


def test_checking_passwords_does_not_stall_the_gateway(world: World) -> None:
    """argon2 is slow on purpose; run on the event loop it would stall every other request."""
    with world.api(world.member) as api:

        def median_latency() -> float:
            latencies = []
            for _ in range(7):
                started = time.perf_counter()
                assert api.get("/v1/models").status_code == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(0.01)
            return statistics.median(latencies)

        quiet = median_latency()
        with browser(world) as client:  # how long one password check takes on this machine
            check = statistics.median(
                timed(lambda: sign_in(client, OWNER_EMAIL, "wrong-password-guess"))
                for _ in range(3)
            )
        stop = threading.Event()

        def hammer() -> None:
            with browser(world) as client:
                while not stop.is_set():
                    sign_in(client, OWNER_EMAIL, "wrong-password-guess")

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.3)
            busy = median_latency()
        finally:
            stop.set()
            for thread in threads:
                thread.join()
    print(f"quiet {quiet * 1000:.1f} ms, busy {busy * 1000:.1f} ms, check {check * 1000:.0f} ms")
    # Blocked, each request waits out the password checks queued before it: at least about one
    # check's time. Off the loop, it waits only for a share of the CPU.
    assert busy < max(5 * quiet, check / 2), (
        f"GET /v1/models took {busy * 1000:.0f} ms (median; {quiet * 1000:.0f} ms when quiet,"
        f" one password check takes {check * 1000:.0f} ms) while four clients were guessing"
        " passwords: the password check blocks the event loop"
    )


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def test_a_cookie_request_that_changes_state_needs_the_csrf_token(world: World) -> None:
    client, csrf = signed_in(world, world.member.email, world.member.password or "")
    with closing(client):
        assert client.get("/api/keys").status_code == 200  # reading needs no token
        for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": ""}):
            for method, path, body in (
                ("POST", "/api/keys", {"name": "csrf"}),
                ("POST", "/api/conversations", {"model": "x"}),
                ("PATCH", f"/api/users/{world.member.id}", {"password": "Changed-by-csrf-1"}),
                ("DELETE", f"/api/keys/{world.member.key_id}", None),
                ("POST", "/v1/chat/completions", {"model": "x", "messages": []}),
            ):
                refused = client.request(method, path, json=body, headers=headers)
                assert refused.status_code == 403, f"{method} {path} {headers}: {refused.text}"
                assert refused.json()["error"]["code"] == "csrf_failed"
        made = client.post("/api/keys", json={"name": "with-csrf"}, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.text
    with world.api(world.member) as api:  # the refused requests changed nothing
        names = [k["name"] for k in api.get("/api/keys").json()["data"]]
        assert "csrf" not in names and "with-csrf" in names
        assert api.get("/v1/models").status_code == 200


def test_sign_out_ends_the_session(world: World) -> None:
    client, csrf = signed_in(world, world.member.email, world.member.password or "")
    with closing(client):
        token = client.cookies[COOKIE]
        assert client.post("/auth/logout").status_code == 200
        assert COOKIE not in client.cookies or not client.cookies[COOKIE]
    with browser(world) as replay:
        replay.cookies.set(COOKIE, token)
        assert replay.get("/auth/me").status_code == 401
        assert replay.get("/api/keys").status_code == 401
        made = replay.post("/api/keys", json={"name": "after"}, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 401


def test_a_role_change_a_new_password_and_removal_sign_the_person_out(world: World) -> None:
    password = f"Pw-{uuid.uuid4().hex}"
    person = add_person(
        world.gateway, f"signed-{uuid.uuid4().hex[:6]}@example.com", "member", password
    )
    changes = (
        {"role": "admin"},
        {"password": f"New-{uuid.uuid4().hex}"},
    )
    for change in changes:
        client, _ = signed_in(world, person.email, password)
        with closing(client), owner_client(world.gateway) as owner:
            assert client.get("/auth/me").status_code == 200
            assert owner.patch(f"/api/users/{person.id}", json=change).status_code == 200
            assert client.get("/auth/me").status_code == 401, f"still signed in after {change}"
            password = change.get("password", password)
    client, _ = signed_in(world, person.email, password)
    with closing(client), owner_client(world.gateway) as owner:
        assert owner.delete(f"/api/users/{person.id}").status_code == 200
        assert client.get("/auth/me").status_code == 401
