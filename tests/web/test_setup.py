"""First-run setup: the one-time link ``hfgate serve`` prints while the owner has no password.

End to end first (``hfgate serve`` in a subprocess on a fresh ``HFGATE_HOME``, as a person runs
it), then each rule on an in-process gateway: a wrong or missing token is a 403, a weak password
the usual 400, JSON works like the form, a link survives a restart only while no owner has a
password, and a renamed owner is not created again at the next start.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hfgate._server import free_port
from hfgate.auth.sessions import COOKIE
from hfgate.auth.setup import TOKEN_FILE
from tests.support.peers import Gateway, running_gateway

BIN = Path(sys.executable).parent
LINK = re.compile(r"http://127\.0\.0\.1:\d+/setup\?token=[A-Za-z0-9_-]+")
PASSWORD = "first-owner-Password-9d2c"


def _fresh_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HFGATE_")}
    return env | {"HFGATE_HOME": str(home), "HFGATE_DRAIN_SECONDS": "0"}


class Serve:
    """``hfgate serve`` on a free port; ``lines`` collects what it writes to stderr."""

    def __init__(self, home: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self.ready = threading.Event()
        argv = [str(BIN / "hfgate"), "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            argv,
            env=_fresh_env(home) | env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if "Uvicorn running" in line or "Application startup complete" in line:
                self.ready.set()
        self.ready.set()

    def wait_ready(self) -> str:
        assert self.ready.wait(60), "".join(self.lines)
        for _ in range(100):  # the socket may take a moment after the log line
            try:
                httpx.get(f"{self.url}/healthz", timeout=2)
                break
            except httpx.TransportError:
                threading.Event().wait(0.1)
        return "".join(self.lines)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for server in started:
        server.stop()


def test_serve_prints_a_link_that_creates_the_owner_and_signs_in(
    tmp_path: Path, serve: list[Serve]
) -> None:
    home = tmp_path / "home"
    first = Serve(home)
    serve.append(first)
    printed = first.wait_ready()
    links = LINK.findall(printed)
    assert links and len(set(links)) == 1, printed  # one link, however often it is shown
    assert "no password yet" in printed, printed
    with httpx.Client(base_url=first.url, timeout=30) as browser:
        page = browser.get(links[0].removeprefix(first.url))
        assert page.status_code == 200 and 'name="token"' in page.text, page.text
        token = links[0].split("token=")[1]
        done = browser.post(
            "/setup",
            data={"token": token, "email": "Ada@Example.com", "password": PASSWORD},
        )
        assert (done.status_code, done.headers["location"]) == (303, "/chat"), done.text
        assert browser.cookies.get(COOKIE)
        assert browser.get("/chat").status_code == 200
        me = browser.get("/auth/me").json()["user"]
        assert (me["email"], me["role"]) == ("ada@example.com", "owner")
        gone = browser.get(links[0].removeprefix(first.url))
        assert (gone.status_code, gone.headers["location"]) == (303, "/login")
        again = browser.post("/setup", json={"token": token, "email": "x@example.com"})
        assert again.status_code == 404 and again.json()["error"]["code"] == "setup_done"
    assert not (home / TOKEN_FILE).exists()
    first.stop()
    second = Serve(home)  # a restart: the owner can sign in, so no link and no warning
    serve.append(second)
    printed = second.wait_ready()
    assert not LINK.search(printed) and "no password yet" not in printed, printed
    with httpx.Client(base_url=second.url, timeout=30) as browser:
        signed_in = browser.post(
            "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text


# -- the rules, on an in-process gateway -------------------------------------------------------


def _issue(gateway: Gateway) -> str:
    return str(gateway.services.first_run.issue())


def test_a_wrong_or_missing_token_is_refused_with_a_clear_403(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "home") as gateway, httpx.Client(base_url=gateway.url) as web:
        _issue(gateway)
        for path in ("/setup", "/setup?token=", "/setup?token=made-up"):
            page = web.get(path)
            assert page.status_code == 403 and "not valid" in page.text, path
            assert 'name="password"' not in page.text
        form = web.post(
            "/setup", data={"token": "made-up", "email": "a@b.co", "password": PASSWORD}
        )
        assert form.status_code == 403 and "not valid" in form.text
        answer = web.post("/setup", json={"email": "a@b.co", "password": PASSWORD})
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "setup_link_invalid"
        assert COOKIE not in web.cookies


def test_a_weak_password_gets_the_usual_rule_and_the_form_again(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "home") as gateway, httpx.Client(base_url=gateway.url) as web:
        token = _issue(gateway)
        weak = web.post("/setup", json={"token": token, "email": "a@b.co", "password": "short"})
        assert weak.status_code == 400, weak.text
        assert "at least 8 characters" in weak.json()["error"]["message"]
        form = web.post("/setup", data={"token": token, "email": "a@b.co", "password": "short"})
        assert form.status_code == 400 and "at least 8 characters" in form.text
        assert 'name="password"' in form.text and 'value="a@b.co"' in form.text
        differ = {"token": token, "email": "a@b.co", "password": PASSWORD}
        differ["password_repeat"] = PASSWORD + "x"
        assert web.post("/setup", data=differ).status_code == 400
        bad_email = web.post("/setup", json={"token": token, "email": "nope", "password": PASSWORD})
        assert bad_email.status_code == 400
        assert web.get(f"/setup?token={token}").status_code == 200  # nothing was used up


def test_json_setup_signs_in_and_renames_the_owner_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with running_gateway(home) as gateway, httpx.Client(base_url=gateway.url) as web:
        token = _issue(gateway)
        body = {"token": token, "email": "root@example.com", "password": PASSWORD}
        done = web.post("/setup", json=body)
        assert done.status_code == 200, done.text
        assert done.json() == {
            "user": {"id": done.json()["user"]["id"], "email": "root@example.com", "role": "owner"},
            "next": "/chat",
        }
        assert web.get("/auth/me").json()["user"]["email"] == "root@example.com"
        assert web.post("/setup", json=body).status_code == 404
    with running_gateway(home) as gateway, gateway.client() as api:
        users = api.get("/api/users").json()["data"]  # the admin key still belongs to the owner
        assert [(u["email"], u["role"], u["has_password"]) for u in users] == [
            ("root@example.com", "owner", True)
        ]
    assert not (home / TOKEN_FILE).exists()


def test_a_link_survives_a_restart_until_the_owner_has_a_password(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with running_gateway(home) as gateway:
        token = _issue(gateway)
    with running_gateway(home) as gateway, httpx.Client(base_url=gateway.url) as web:
        assert web.get(f"/setup?token={token}").status_code == 200
    with (
        running_gateway(home, HFGATE_OWNER_PASSWORD=PASSWORD) as gateway,
        httpx.Client(base_url=gateway.url) as web,
    ):
        assert not (home / TOKEN_FILE).exists()
        assert web.get(f"/setup?token={token}").headers["location"] == "/login"
        post = web.post("/setup", json={"token": token, "email": "a@b.co", "password": PASSWORD})
        assert post.status_code == 404
