"""Helpers for the browser tests of the workspace (see conftest.py for the stack).

The workspace in a real browser: Debian's Chromium, headless, driven by Playwright.

One gateway for the whole session, with four simulated endpoints behind it:

* ``fast``  — the main model (``MODEL``): answers in about a second, token by token;
* ``slow``  — ``slow-llama``: a long answer at 0.15 s a token, to press Stop on;
* ``cold``  — ``cold-llama``: put to sleep by a test (scaled to zero, wakes in a few seconds);
* ``flaky`` — ``flaky-llama``: paused or given another token by the error tests.

The owner signs in with a password (``HFGATE_OWNER_PASSWORD``); a member is added through the
API with the admin key. Each test gets a fresh browser context (no cookies), signed in as
whoever it needs. No browser is ever downloaded: without ``/usr/bin/chromium`` the tests skip.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.peers import MODEL, Gateway, SimHandle

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OWNER = ("owner@localhost", "owner-password-123")
MEMBER = ("member@example.com", "member-password-123")
SLOW, COLD, FLAKY = "slow-llama", "cold-llama", "flaky-llama"
TIMEOUT_MS = 15_000


@dataclass
class Web:
    """The running stack: the gateway, its simulators, and helpers to drive them."""

    gateway: Gateway
    sims: dict[str, SimHandle]
    browser: Any
    contexts: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.gateway.url

    def context(self, who: tuple[str, str] | None = None, **options: Any) -> Any:
        """A fresh browser context (own cookies), signed in as ``who`` when given."""
        options.setdefault("viewport", {"width": 1280, "height": 860})
        context = self.browser.new_context(base_url=self.url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        if who is not None:
            reply = context.request.post("/auth/login", data={"email": who[0], "password": who[1]})
            assert reply.ok, reply.text()
        return context

    def page(self, who: tuple[str, str] | None = None, path: str = "/chat", **options: Any) -> Any:
        """A page of a fresh context, opened at ``path``, collecting script errors."""
        page = self.context(who, **options).new_page()
        page.script_errors = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda error: page.script_errors.append(str(error)))
        page.goto(path)
        return page

    def api(self) -> httpx.Client:
        """An API client with the admin key."""
        return self.gateway.client()


def csrf(context: Any) -> str:
    """The session's CSRF token, as the pages get it."""
    return str(context.request.get("/auth/me").json()["csrf_token"])


def member_get(context: Any, path: str) -> Any:
    reply = context.request.get(path)
    assert reply.ok, reply.text()
    return reply.json()


def wait_until(probe: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s")
        time.sleep(interval)


def conversation_id(page: Any) -> str:
    match = re.search(r"/chat/([0-9a-f-]{36})$", page.url)
    assert match, f"not a conversation URL: {page.url}"
    return match.group(1)


__all__ = [
    "COLD",
    "FLAKY",
    "MEMBER",
    "MODEL",
    "OWNER",
    "SLOW",
    "Web",
    "conversation_id",
    "csrf",
    "member_get",
    "wait_until",
]
