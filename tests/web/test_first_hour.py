"""The first hour, as a newcomer lives it, in Chromium (issue 18).

A fresh ``HFGATE_HOME`` → ``hfgate serve`` for real (a subprocess) → the one-time setup link it
prints → the owner created on /setup → the demo's simulated endpoint (started as ``hfgate demo``
starts it: scaled to zero, a few seconds of cold start, asleep again when idle) added by
pasting its credential JSON on the integrations page → the first message while the endpoint
is really scaled to zero: the waking panel, then the streamed answer → regenerate, and flip
between the versions ‹ 1 / 2 › → the sidebar's search finds the conversation → the phone
layout at 390 px.

At each step: a screenshot (in pytest's temporary folder, printed at the end, never
committed), axe-core in the light and dark themes, and not a single console error.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.peers import SimHandle, running_sim
from tests.web.a11y import assert_clean
from tests.web.support import CHROMIUM, TIMEOUT_MS
from tests.web.test_setup import LINK, PASSWORD, Serve

DEMO_NAME = "simulated/llama-2-7b-chat"  # the demo's label for its simulated model
OWNER_EMAIL = "ada@example.com"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Serve]:
    # Nothing configured but what the demo sets too: the simulator is on loopback. No owner
    # password, no admin key: the setup link is the way in.
    server = Serve(tmp_path / "home", HFGATE_ALLOW_HOSTS="127.0.0.1", HFGATE_PENDING_INTERVAL="0.5")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def demo_sim() -> Iterator[SimHandle]:
    # As ``hfgate demo`` configures it, with shorter times: asleep at first, awake after a
    # few seconds, asleep again after a few idle seconds.
    with running_sim(
        model_id="meta-llama/Llama-2-7b-chat-hf",
        state="scaled_to_zero",
        cold_start=6.0,
        idle_timeout=2.0,
        token_delay=0.03,
        reply_tokens=24,
    ) as sim:
        yield sim


class Walk:
    """The browser page of the walk: screenshots, axe, and every console error kept."""

    def __init__(self, page: Any, shots: Path) -> None:
        self.page, self.shots, self.step = page, shots, 0
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(str(message.text))

    def check(self, name: str, *, axe: bool = True) -> None:
        self.step += 1
        self.page.screenshot(path=str(self.shots / f"{self.step:02d}-{name}.png"))
        if axe:
            assert_clean(self.page, name)


def _sleeping(sim: SimHandle) -> bool:
    return bool(sim.state()["state"] == "scaled_to_zero")


def test_the_first_hour(
    browser: Any,
    served: Serve,
    demo_sim: SimHandle,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    started = time.monotonic()
    shots = tmp_path_factory.mktemp("first-hour-screenshots")
    printed = served.wait_ready()
    links = LINK.findall(printed)
    assert len(set(links)) == 1, printed
    context = browser.new_context(base_url=served.url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    walk = Walk(context.new_page(), shots)
    try:
        _setup(walk, links[0])
        _add_the_demo_endpoint(walk, demo_sim)
        first = _first_message_during_a_cold_start(walk, demo_sim)
        _regenerate_and_flip(walk, demo_sim, first)
        _search(walk)
        _phone(walk)
    finally:
        context.close()
        print(f"\nfirst-hour screenshots: {shots}")
    assert walk.errors == [], walk.errors
    assert sorted(p.name for p in shots.iterdir())[0].startswith("01-")
    assert time.monotonic() - started < 60


def _setup(walk: Walk, link: str) -> None:
    page = walk.page
    page.goto(link)
    expect(page.locator("#setup-form")).to_be_visible()
    walk.check("setup")
    page.fill("#email", OWNER_EMAIL)
    page.fill("#password", PASSWORD)
    page.fill("#password-repeat", PASSWORD)
    page.click("#setup-submit")
    expect(page).to_have_url(re.compile(r"/chat$"))
    expect(page.locator("#no-models")).to_be_visible()  # nothing yet, and it says what to do
    expect(page.locator("body")).to_have_attribute("data-role", "owner")
    walk.check("no-models-yet")


def _add_the_demo_endpoint(walk: Walk, sim: SimHandle) -> None:
    page = walk.page
    page.locator("#no-models a[href='/integrations']").click()
    expect(page).to_have_url(re.compile(r"/integrations$"))
    credential = sim.credential(name=DEMO_NAME)
    page.fill("#credential", json.dumps(credential, indent=2))
    walk.check("credential-pasted")
    page.click("#add-submit")  # "wait for a cold endpoint" is ticked: it wakes it
    expect(page.locator(".checklist-head")).to_contain_text(f"Added {DEMO_NAME}", timeout=20_000)
    card = page.locator(f'.integration:has(h3:text-is("{DEMO_NAME}"))')
    expect(card.locator(".badge")).to_be_visible()
    walk.check("endpoint-added")
    # Nothing keeps it awake: it falls asleep again, as the demo promises.
    deadline = time.monotonic() + 15
    while not _sleeping(sim):
        assert time.monotonic() < deadline, sim.state()
        time.sleep(0.2)


def _first_message_during_a_cold_start(walk: Walk, sim: SimHandle) -> str:
    page = walk.page
    wakeups = sim.stats()["wakeups"]
    page.goto("/chat")
    expect(page.locator("#model-label")).to_have_text(DEMO_NAME)
    expect(page.locator("#empty-chat")).to_be_visible()
    walk.check("first-chat")
    assert _sleeping(sim), "the first message must meet a scaled-to-zero endpoint"
    page.fill("#prompt", "Hello! What can you do?")
    page.keyboard.press("Enter")
    panel = page.locator(".msg.assistant .waking-panel")
    expect(panel).to_be_visible(timeout=10_000)
    expect(panel.locator(".waking-time")).to_have_text(re.compile(r"the endpoint… \d+ s$"))
    walk.check("waking", axe=False)  # a moving spinner: axe runs on the settled pages
    body = page.locator(".msg.assistant .msg-body")
    expect(page.locator(".msg.assistant")).to_have_attribute(
        "data-status", "complete", timeout=20_000
    )
    expect(panel).to_have_count(0)
    assert sim.stats()["wakeups"] == wakeups + 1
    walk.check("first-answer")
    return str(body.inner_text())


def _regenerate_and_flip(walk: Walk, sim: SimHandle, first: str) -> None:
    page = walk.page
    answer = page.locator(".msg.assistant").last
    sim.patch(reply_tokens=10)  # the same prompt answered shorter: a visibly different version
    answer.get_by_role("button", name="Regenerate").click()
    expect(answer.locator(".version-label")).to_have_text("2 / 2", timeout=20_000)
    answer = page.locator(".msg.assistant").last
    expect(answer).to_have_attribute("data-status", "complete")
    assert answer.locator(".msg-body").inner_text() != first
    walk.check("version-2-of-2")
    answer.get_by_role("button", name="Previous version").click()
    expect(answer.locator(".version-label")).to_have_text("1 / 2")
    expect(answer.locator(".msg-body")).to_have_text(first)
    walk.check("version-1-of-2")


def _search(walk: Walk) -> None:
    page = walk.page
    page.locator("#new-chat").click()
    expect(page.locator(".msg")).to_have_count(0)
    page.keyboard.press("Control+k")
    page.keyboard.type("what can YOU")
    rows = page.locator("#conversation-list a.conv")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_text("Hello! What can you do?")
    walk.check("search")
    rows.first.click()
    expect(page.locator(".msg.user .bubble")).to_have_text("Hello! What can you do?")


def _phone(walk: Walk) -> None:
    page = walk.page
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    walk.check("phone-chat")
    page.click("#model-button")
    menu = page.locator("#model-menu")
    expect(menu).to_be_visible()
    box = menu.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] >= 0
    assert box["y"] + box["height"] <= 844
    walk.check("phone-model-menu")
    page.keyboard.press("Escape")
    page.goto("/keys")
    page.fill("#key-name", "my first program")  # the next thing a newcomer does: a key
    page.click("#key-create")
    expect(page.locator("#new-key-value")).to_contain_text("hfg_")
    expect(page.locator("#key-rows tr")).to_have_count(1)
    expect(page.locator("#key-table")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    walk.check("phone-keys")


if not CHROMIUM.exists():  # the browser fixture skips with the reason; say it at collection too
    pytestmark = pytest.mark.skip(
        reason="the web tests need Debian's Chromium at /usr/bin/chromium"
    )
