"""Fixtures for the browser tests: Chromium (or a skip), and one gateway with its simulators."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.support.peers import running_gateway, running_sim
from tests.web.support import CHROMIUM, COLD, FLAKY, LAUNCH_ARGS, MEMBER, OWNER, SLOW, Web


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(
            "the web tests need Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def stack(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    with ExitStack() as stack:
        sims = {
            "fast": stack.enter_context(running_sim(token_delay=0.025, reply_tokens=30)),
            "slow": stack.enter_context(running_sim(token_delay=0.15, reply_tokens=400)),
            "cold": stack.enter_context(running_sim(token_delay=0.01, reply_tokens=12)),
            "flaky": stack.enter_context(running_sim(token_delay=0.01, reply_tokens=12)),
        }
        home = tmp_path_factory.mktemp("web") / "home"
        gateway = stack.enter_context(
            running_gateway(home, hub_url=sims["fast"].url, HFGATE_OWNER_PASSWORD=OWNER[1])
        )
        names = {"fast": None, "slow": SLOW, "cold": COLD, "flaky": FLAKY}
        for sim, name in names.items():
            credential = sims[sim].credential(**({"name": name} if name else {}))
            reply = gateway.add(credential)
            assert reply.status_code == 201, reply.text
        with gateway.client() as client:
            body = {"email": MEMBER[0], "password": MEMBER[1], "role": "member"}
            reply = client.post("/api/users", content=json.dumps(body))
            assert reply.status_code == 201, reply.text
        web = Web(gateway, sims, browser)
        try:
            yield web
        finally:
            for context in web.contexts:
                context.close()


@pytest.fixture
def web(stack: Web) -> Iterator[Web]:
    """The session's stack; the browser contexts a test opens are closed after it."""
    yield stack
    for context in stack.contexts:
        context.close()
    stack.contexts.clear()
