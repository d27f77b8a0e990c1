"""The usage page in Chromium: a week of usage, cold starts and endpoint states written into
the gateway's database, then every chart drawn (its canvas painted), its table holding the
seeded figures, members seeing only their own, no console error, axe-clean in both themes, at
1280 px and on a phone (390 px). Screenshots go to ``SHOTS`` (printed in the test output)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hfgate.storage import Database
from tests.reports.seed import MODELS, Seeded, seed, seed_spans
from tests.support.peers import Gateway, running_gateway
from tests.web.a11y import assert_clean
from tests.web.support import CHROMIUM, LAUNCH_ARGS, MEMBER, OWNER, TIMEOUT_MS

SHOTS = Path("/tmp/usage-screenshots")
# Every chart the page draws for an admin: tokens, requests, TTFT, latency, cold starts, and
# one cost chart per endpoint.
ADMIN_CHARTS = 5 + len(MODELS)


@dataclass
class Stage:
    gateway: Gateway
    seeded: Seeded
    owner_id: int
    member_id: int


def _person_and_keys(gateway: Gateway) -> tuple[int, int, int, int]:
    with gateway.client() as api:
        body = {"email": MEMBER[0], "password": MEMBER[1], "role": "member"}
        member = api.post("/api/users", content=json.dumps(body)).json()
        owner = next(u for u in api.get("/api/users").json()["data"] if u["email"] == OWNER[0])
        mine = api.post("/api/keys", content=json.dumps({"name": "ci"})).json()
        theirs = {"name": "notebook", "user": MEMBER[0]}
        their_key = api.post("/api/keys", content=json.dumps(theirs)).json()
    return owner["id"], mine["id"], member["id"], their_key["id"]


async def _seed(url: str, people: dict[int, int | None], member_id: int) -> Seeded:
    db = Database(url)
    try:
        seeded = await seed(db, people)
        workspace = await seed(db, {member_id: None}, hours=30)
        seeded.usage += workspace.usage
        seeded.cold_starts += workspace.cold_starts
        await seed_spans(db)
        return seeded
    finally:
        await db.close()


@pytest.fixture(scope="module")
def chromium(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The session's browser when other browser tests started it; else one for this module
    only, so that Playwright's loop stops with it and tests run later in the same session
    (CLI commands that call ``asyncio.run``) find no loop running in their thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:  # Playwright runs already: a second instance cannot start in this thread
        yield request.getfixturevalue("browser")
        return
    if not CHROMIUM.exists():
        pytest.skip("the web tests need Debian's Chromium at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def stage(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    home = tmp_path_factory.mktemp("usage-page") / "home"
    with running_gateway(home, HFGATE_OWNER_PASSWORD=OWNER[1]) as gateway:
        owner_id, owner_key, member_id, member_key = _person_and_keys(gateway)
        people: dict[int, int | None] = {owner_id: owner_key, member_id: member_key}
        # Playwright's loop runs in this thread: the seeding gets a thread and a loop of its own.
        with ThreadPoolExecutor(1) as pool:
            work = _seed(gateway.settings.database_url, people, member_id)
            seeded = pool.submit(asyncio.run, work).result()
        SHOTS.mkdir(parents=True, exist_ok=True)
        yield Stage(gateway, seeded, owner_id, member_id)


class Visit:
    """A signed-in page of the usage page, with every console error and script error kept."""

    def __init__(self, chromium: Any, stage: Stage, who: tuple[str, str], width: int, height: int):
        self.context = chromium.new_context(
            base_url=stage.gateway.url, viewport={"width": width, "height": height}
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        reply = self.context.request.post("/auth/login", data={"email": who[0], "password": who[1]})
        assert reply.ok, reply.text()
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def open(self, query: str = "days=7&by=model") -> Any:
        self.page.goto(f"/usage?{query}")
        self.ready(query)
        return self.page

    def ready(self, query: str) -> None:
        params = dict(part.split("=") for part in query.split("&"))
        self.page.wait_for_function(
            "want => document.body.dataset.usageReady === want", arg=params["days"] + params["by"]
        )

    def painted(self) -> list[int]:
        """Per chart canvas on the page: how many of its pixels are painted."""
        return list(
            self.page.evaluate(
                """() => [...document.querySelectorAll('.chart-canvas canvas')].map((c) => {
                  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0;
                  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
                  return n;
                })"""
            )
        )

    def figure(self, selector: str) -> float:
        """The raw figure a table cell carries (``data-value``)."""
        return float(self.page.locator(selector).get_attribute("data-value"))

    def shot(self, name: str) -> None:
        """The whole page: it scrolls inside ``.page``, so the viewport is made as tall."""
        size = self.page.viewport_size
        tall = self.page.evaluate("() => document.querySelector('.page').scrollHeight")
        self.page.set_viewport_size({"width": size["width"], "height": max(tall, size["height"])})
        self.page.wait_for_timeout(200)  # the charts follow the new size
        self.page.screenshot(path=str(SHOTS / name))
        self.page.set_viewport_size(size)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visits(chromium: Any, stage: Stage) -> Iterator[list[Visit]]:
    opened: list[Visit] = []
    yield opened
    for visit in opened:
        visit.close()


def _visit(
    visits: list[Visit],
    chromium: Any,
    stage: Stage,
    who: tuple[str, str],
    width: int = 1280,
    height: int = 800,
) -> Visit:
    visit = Visit(chromium, stage, who, width, height)
    visits.append(visit)
    return visit


def _costs_route(stage: Stage) -> bool:
    with stage.gateway.client() as api:
        return api.get("/api/costs", params={"days": 7}).status_code == 200


def test_an_admin_sees_every_chart_with_its_numbers(
    chromium: Any, stage: Stage, visits: list[Visit], capsys: pytest.CaptureFixture[str]
) -> None:
    visit = _visit(visits, chromium, stage, OWNER)
    page = visit.open()
    painted = visit.painted()
    costs = _costs_route(stage)
    assert len(painted) == (ADMIN_CHARTS if costs else 5), painted
    assert all(n > 500 for n in painted), painted
    assert visit.figure("#tokens-table tfoot td:last-child") == stage.seeded.tokens()
    assert visit.figure("#requests-table tfoot td:nth-child(2)") == len(stage.seeded.usage)
    errors = sum(1 for r in stage.seeded.usage if r["status"] >= 400)
    assert visit.figure("#requests-table tfoot td:nth-child(3)") == errors
    starts = page.locator("#coldstarts-table tbody td:nth-child(2)").evaluate_all(
        "cells => cells.map((c) => Number(c.dataset.value))"
    )
    assert sum(starts) == len(stage.seeded.cold_starts)
    assert page.locator("#latency-table tbody tr").count() == len(MODELS)
    visit.shot("usage-1280.png")
    page.evaluate("() => { document.documentElement.dataset.theme = 'dark'; }")
    page.wait_for_timeout(300)
    assert all(n > 500 for n in visit.painted())  # drawn again, in the dark theme's colours
    visit.shot("usage-1280-dark.png")
    page.locator("details.numbers").evaluate_all("all => all.forEach((d) => { d.open = true; })")
    assert_clean(page, "the usage page (admin)")
    assert visit.errors == [], visit.errors
    with capsys.disabled():
        print(f"\nusage page screenshots: {SHOTS}")
    if not costs:
        pytest.skip("GET /api/costs does not answer 200 yet: the cost charts were not checked")


def test_the_cost_charts_match_the_ledger(chromium: Any, stage: Stage, visits: list[Visit]) -> None:
    if not _costs_route(stage):
        pytest.skip("GET /api/costs does not answer 200 yet (the cost ledger is not merged)")
    with stage.gateway.client() as api:
        report = api.get("/api/costs", params={"days": 7, "group": "day"}).json()
    visit = _visit(visits, chromium, stage, OWNER)
    page = visit.open()
    assert page.locator("#costs-section .cost-plot canvas").count() >= len(report["endpoints"]) > 0
    shown = visit.figure("#costs-table tfoot td:last-child")
    assert shown == pytest.approx(report["totals"]["total_usd"], abs=0.005)
    assert page.locator("#attribution-table tbody tr").count() > 0
    assert page.locator("#advice-section .advice-slot > *").count() > 0
    assert visit.errors == [], visit.errors


def test_a_member_sees_only_their_own(chromium: Any, stage: Stage, visits: list[Visit]) -> None:
    visit = _visit(visits, chromium, stage, MEMBER)
    page = visit.open()
    assert visit.figure("#tokens-table tfoot td:last-child") == stage.seeded.tokens(stage.member_id)
    assert page.locator("#usage-by option[value='user']").count() == 0
    assert page.locator("#advice-section").count() == 0
    assert all(n > 500 for n in visit.painted())
    visit.shot("usage-1280-member.png")
    assert_clean(page, "the usage page (member)")
    assert visit.errors == [], visit.errors


def test_the_switches_redraw_by_key_and_over_a_day(
    chromium: Any, stage: Stage, visits: list[Visit]
) -> None:
    visit = _visit(visits, chromium, stage, OWNER)
    page = visit.open()
    page.select_option("#usage-by", "key")
    visit.ready("days=7&by=key")
    heads = page.locator("#tokens-table thead th").all_text_contents()
    assert {"ci", "notebook", "workspace (no key)"} <= set(heads), heads
    page.locator("#usage-range label", has_text="24 h").click()
    visit.ready("days=1&by=key")
    assert visit.figure("#tokens-table tfoot td:last-child") == stage.seeded.tokens(hours=24)
    assert page.url.endswith("/usage?days=1&by=key")
    assert all(n > 500 for n in visit.painted())
    visit.shot("usage-1280-24h-by-key.png")
    with page.expect_download() as download:
        page.locator("#tokens-section [data-csv]").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    total = sum(int(r["prompt_tokens"]) + int(r["completion_tokens"]) for r in rows)
    assert total == stage.seeded.tokens(hours=24)
    assert visit.errors == [], visit.errors


def test_on_a_phone(chromium: Any, stage: Stage, visits: list[Visit]) -> None:
    visit = _visit(visits, chromium, stage, OWNER, 390, 844)
    page = visit.open()
    assert all(n > 500 for n in visit.painted())
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    assert wide <= 390, f"the page is {wide} px wide on a 390 px screen"
    widths = page.locator(".chart-canvas canvas").evaluate_all(
        "all => all.map((c) => c.getBoundingClientRect().right)"
    )
    assert max(widths) <= 390, widths
    visit.shot("usage-390.png")
    page.evaluate("() => { document.documentElement.dataset.theme = 'dark'; }")
    page.wait_for_timeout(300)
    visit.shot("usage-390-dark.png")
    assert visit.errors == [], visit.errors
