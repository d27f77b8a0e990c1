"""The keys page in Chromium: a key created with a budget from the form, each key's budget
with its spending, and the person's own budget flagged once it is (nearly) spent; a spent
person budget also refuses the workspace's chat (a session, no key)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chat.support import chat
from tests.support.peers import MODEL, Gateway, running_gateway, running_sim
from tests.web.support import CHROMIUM, LAUNCH_ARGS, MEMBER, OWNER, Web, csrf

PERSON_LIMIT = 50


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for this module only: Playwright's sync API holds an event loop in this
    thread while it runs, which the later tests' ``asyncio.run`` must not find."""
    if not CHROMIUM.exists():
        pytest.skip("the browser test needs Debian's Chromium at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def site(browser: Any, tmp_path: Path) -> Iterator[Web]:
    with (
        running_sim(reply_tokens=16) as sim,
        running_gateway(tmp_path / "home", hub_url=sim.url, HFGATE_OWNER_PASSWORD=OWNER[1]) as gw,
    ):
        assert gw.add(sim.credential()).status_code == 201
        _member_with_budget(gw)
        web = Web(gw, {"fast": sim}, browser)
        try:
            yield web
        finally:
            for context in web.contexts:
                context.close()


def _member_with_budget(gw: Gateway) -> None:
    with gw.client() as admin:
        body = {"email": MEMBER[0], "password": MEMBER[1], "role": "member"}
        user = admin.post("/api/users", content=json.dumps(body))
        assert user.status_code == 201, user.text
        path = f"/api/users/{user.json()['id']}/budgets"
        assert admin.put(path, json={"budget_tokens": f"{PERSON_LIMIT}/day"}).status_code == 200


def test_budgets_on_the_keys_page(site: Web, tmp_path: Path) -> None:
    page = site.page(MEMBER, "/keys")
    notice = page.locator("#my-budgets")
    notice.get_by_text(f"0 tokens of {PERSON_LIMIT} tokens per day").wait_for()
    assert "warn" not in (notice.get_attribute("class") or "")

    page.fill("#key-name", "notebook")
    page.fill("#key-budget-tokens", "1000")
    page.select_option("#key-budget-period", "day")
    page.click("#key-create")
    page.locator("#new-key").wait_for()
    key = page.locator("#new-key-value").inner_text()
    page.locator("#key-rows tr").get_by_text("0 tokens of 1,000 tokens per day").wait_for()

    with site.gateway.client(key=key) as client:
        while chat(client, MODEL).status_code == 200:
            pass  # until the person's budget refuses the key
    page.reload()
    notice.get_by_text("spent: calls are refused").wait_for()
    assert "warn" in (notice.get_attribute("class") or "")
    assert page.locator("#key-rows .budget.exhausted").count() == 0  # the key's own is not
    page.screenshot(path=str(tmp_path / "keys-budgets.png"), full_page=True)

    request = page.context.request
    headers = {"X-CSRF-Token": csrf(page.context)}
    made = request.post("/api/conversations", data={"model": MODEL}, headers=headers)
    assert made.ok, made.text()
    answer = request.post(
        f"/api/conversations/{made.json()['id']}/chat", data={"content": "hi"}, headers=headers
    )
    assert answer.status == 429
    assert answer.json()["error"]["code"] == "budget_exceeded"
    assert page.script_errors == []  # type: ignore[attr-defined]
