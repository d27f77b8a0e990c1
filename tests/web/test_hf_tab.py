"""The integrations page's "Hugging Face" tab: connect an account, import and operate endpoints.

A gateway of its own (not the session's ``stack``) whose management API and Hub are one
simulator's (``HFGATE_ENDPOINTS_API_URL={sim}/v2``, ``HFGATE_HUB_URL={sim}``). The simulator
serves one TGI endpoint in the namespace ``acme`` and holds two more records beside it: a custom
container hfgate cannot serve and a failed one.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.peers import SIM_TOKEN, running_gateway, running_sim
from tests.web.a11y import assert_clean
from tests.web.support import OWNER, Web

NAMESPACE = "acme"
MODEL_NAME = "hf-llama"
CUSTOM = "my-handler"
BROKEN = "broken-llm"
SLOW_MS = 20_000
NO_PAGE_OVERFLOW = """() => {
  const page = document.querySelector('.page');
  return {
    document: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    page: page.scrollWidth - page.clientWidth,
  };
}"""
TABLE_SCROLLS = """() => {
  const wrap = document.getElementById('hf-table-wrap');
  return wrap.scrollWidth > wrap.clientWidth;
}"""


@pytest.fixture(scope="module")
def hf_web(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    with ExitStack() as stack:
        sim = stack.enter_context(
            running_sim(
                token_delay=0.01,
                reply_tokens=12,
                cold_start=3.0,
                management_pending_seconds=1.0,
            )
        )
        extra = [
            {
                "name": CUSTOM,
                "model": {
                    "repository": "acme/handler",
                    "task": "custom",
                    "image": {"custom": {"url": "ghcr.io/acme/handler:1"}},
                },
            },
            {
                "name": BROKEN,
                "status": {"state": "failed", "message": "Endpoint failed to deploy: CUDA OOM"},
            },
        ]
        for record in extra:
            reply = httpx.post(f"{sim.url}/_sim/endpoints", json=record, timeout=10)
            assert reply.status_code == 201, reply.text
        home = tmp_path_factory.mktemp("hf-web") / "home"
        gateway = stack.enter_context(
            running_gateway(
                home,
                hub_url=sim.url,
                HFGATE_ENDPOINTS_API_URL=f"{sim.url}/v2",
                HFGATE_OWNER_PASSWORD=OWNER[1],
            )
        )
        web = Web(gateway, {"hf": sim}, browser)
        try:
            yield web
        finally:
            for context in web.contexts:
                context.close()


def served_name(web: Web) -> str:
    """The served endpoint's name in the management API (HF's default: from the repo id)."""
    items = httpx.get(f"{web.sims['hf'].url}/_sim/endpoints", timeout=10).json()["items"]
    served = [r["name"] for r in items if r["name"] not in (CUSTOM, BROKEN)]
    assert len(served) == 1, items
    return str(served[0])


def open_page(web: Web, path: str, **options: Any) -> tuple[Any, list[str]]:
    """A signed-in owner's page at ``path``, with every console error and script error kept."""
    page = web.context(OWNER, **options).new_page()
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda error: problems.append(f"script: {error}"))
    page.goto(path)
    return page, problems


def row(page: Any, name: str) -> Any:
    return page.locator(f'#hf-rows tr[data-endpoint="{NAMESPACE}/{name}"]')


def confirm(page: Any, button: str, expect_text: str) -> None:
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text(expect_text)
    dialog.get_by_role("button", name=button, exact=True).click()
    expect(page.locator("dialog[open]")).to_have_count(0)


def shoot(page: Any, folder: Path, name: str, copy_to: str | None = None) -> None:
    target = folder / name
    page.screenshot(path=str(target))
    if copy_to:
        shutil.copyfile(target, copy_to)


def test_an_admin_connects_imports_pauses_and_resumes_an_endpoint(
    hf_web: Web, tmp_path: Path
) -> None:
    web, served = hf_web, served_name(hf_web)
    page, problems = open_page(web, "/integrations")
    expect(page.locator("#integration-list")).not_to_have_attribute("aria-busy", "true")

    tab = page.get_by_role("tab", name="Hugging Face")
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-hf")).to_be_visible()
    expect(page.locator("#panel-paste")).to_be_hidden()
    assert page.url.endswith("#hugging-face")
    expect(page.locator("#hf-accounts")).to_contain_text("No account connected yet")
    expect(page.locator("#hf-empty")).to_contain_text("Connect an account")

    # Connect: the token field is a password field; the token never comes back.
    token = page.get_by_label("Token", exact=True)
    expect(token).to_have_attribute("type", "password")
    expect(token).to_have_attribute("autocomplete", "off")
    token.fill(SIM_TOKEN)
    page.get_by_role("button", name="Connect", exact=True).click()
    account = page.locator(".hf-account")
    expect(account).to_contain_text("sim-user")
    expect(account.locator(".chip", has_text=NAMESPACE)).to_have_count(1)
    expect(account.locator("code")).to_contain_text("hf_…")
    expect(token).to_have_value("")

    # The endpoints: the served one ready and importable, the custom one not, the failed one failed.
    endpoint = row(page, served)
    expect(endpoint).to_have_attribute("data-state", "running")
    expect(endpoint.locator(".badge")).to_have_text("Ready")
    expect(endpoint).to_contain_text("meta-llama/Llama-2-7b-chat-hf")
    expect(endpoint).to_contain_text("TGI")
    expect(endpoint).to_contain_text("nvidia-a10g")
    expect(endpoint).to_contain_text("$1.00")
    expect(endpoint).to_contain_text("after 1 h")
    # Only the operations that apply to the state are offered.
    expect(endpoint.get_by_role("button", name="Resume")).to_have_count(0)
    expect(endpoint.get_by_role("button", name="Scale to zero")).to_be_enabled()
    custom_import = row(page, CUSTOM).get_by_role("button", name="Import")
    expect(custom_import).to_be_disabled()
    expect(custom_import).to_have_attribute("title", re.compile("custom container"))
    expect(row(page, CUSTOM)).to_contain_text("cannot know which protocol")
    expect(row(page, BROKEN).locator(".badge")).to_have_text("Failed")
    expect(row(page, BROKEN)).to_contain_text("CUDA OOM")
    headers = page.locator("#hf-table thead th")
    expect(headers).to_have_count(8)
    expect(page.locator("#hf-table tbody th[scope=row]")).to_have_count(3)
    shoot(page, tmp_path, "hf-tab-connected-1280.png")
    assert_clean(page, "the Hugging Face tab with an account")

    # Import: the dialog runs the same live checklist as a pasted credential.
    endpoint.get_by_role("button", name="Import").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.get_by_role("heading")).to_have_text(f"Import {NAMESPACE}/{served}")
    expect(dialog.get_by_label("Context window (tokens)")).to_have_value("4096")
    dialog.get_by_label("Name in hfgate (optional)").fill(MODEL_NAME)
    dialog.get_by_role("button", name="Import").click()
    head = dialog.locator(".checklist-head")
    expect(head).to_have_class(re.compile(r"\bok\b"), timeout=SLOW_MS)
    expect(head).to_contain_text(f"Imported {MODEL_NAME}")
    checks = dialog.locator(".checklist .check:not([hidden])")
    expect(checks).to_have_count(9)
    for index in range(9):
        expect(checks.nth(index)).to_have_class(re.compile(r"\b(ok|warn)\b"))
    shoot(page, tmp_path, "hf-tab-import-1280.png", copy_to="/tmp/hf-tab-import-1280.png")
    assert_clean(page, "the import dialog")
    dialog.get_by_role("button", name="Done").click()
    expect(page.locator("dialog[open]")).to_have_count(0)

    link = endpoint.get_by_role("link", name=MODEL_NAME)
    expect(link).to_have_attribute("href", f"/chat?model={MODEL_NAME}")
    expect(link).to_be_focused()
    expect(endpoint.get_by_role("button", name="Import")).to_have_count(0)
    card = page.locator(f'.integration:has(h3:text-is("{MODEL_NAME}"))')
    expect(card).to_have_count(1)
    names = [i["name"] for i in page.context.request.get("/api/integrations").json()["data"]]
    assert MODEL_NAME in names

    # Wake on open: an admin's opt-in, on the model's card.
    wake = card.get_by_label("Wake on open")
    expect(wake).not_to_be_checked()
    wake.check()
    expect(page.locator(".toast").last).to_contain_text("wakes when a chat with it opens")
    stored = page.context.request.get("/api/integrations").json()["data"]
    assert next(i for i in stored if i["name"] == MODEL_NAME)["wake_on_open"] is True

    # The model is in the chat's picker.
    chat = page.context.new_page()
    chat.on(
        "console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None
    )
    chat.on("pageerror", lambda error: problems.append(f"script: {error}"))
    chat.goto("/chat")
    chat.click("#model-button")
    expect(chat.locator(f'#model-menu li[data-id="{MODEL_NAME}"]')).to_be_visible()
    chat.keyboard.press("Escape")
    chat.close()

    # Pause: a confirmation first; Cancel changes nothing.
    endpoint.get_by_role("button", name="Pause").click()
    page.locator("dialog[open]").get_by_role("button", name="Cancel").click()
    expect(endpoint).to_have_attribute("data-state", "running")
    assert web.sims["hf"].state()["state"] == "running"
    endpoint.get_by_role("button", name="Pause").click()
    confirm(page, "Pause", "does not wake on requests")
    expect(endpoint).to_have_attribute("data-state", "paused")
    expect(endpoint.locator(".badge")).to_have_text("Paused")
    expect(endpoint.get_by_role("button", name="Pause")).to_have_count(0)
    expect(endpoint.get_by_role("button", name="Resume")).to_be_focused()
    assert web.sims["hf"].state()["state"] == "paused"

    # Resume: the row shows the change as it happens, read from Hugging Face every few seconds.
    endpoint.get_by_role("button", name="Resume").click()
    confirm(page, "Resume", "$1.00 an hour")
    expect(endpoint).to_have_attribute("data-state", re.compile(r"^(pending|initializing)$"))
    expect(endpoint.locator(".badge")).to_have_text("Initializing")
    expect(endpoint.locator(".hf-state")).to_contain_text(re.compile(r"Pending…|Initializing…"))
    expect(page.locator("#hf-updated")).to_contain_text("following the change")
    expect(endpoint).to_have_attribute("data-state", "running", timeout=SLOW_MS)
    expect(endpoint.locator(".badge")).to_have_text("Ready")
    expect(endpoint.locator(".hf-state")).to_have_count(0)
    shoot(page, tmp_path, "hf-tab-1280.png", copy_to="/tmp/hf-tab-1280.png")

    assert SIM_TOKEN not in page.content()
    assert not problems, problems

    # At phone width: the table scrolls inside its box; the page never scrolls sideways.
    phone, phone_problems = open_page(
        web, "/integrations#hugging-face", viewport={"width": 390, "height": 844}
    )
    expect(phone.get_by_role("tab", name="Hugging Face")).to_have_attribute("aria-selected", "true")
    phone_row = row(phone, served)
    expect(phone_row.get_by_role("link", name=MODEL_NAME)).to_be_visible()
    assert phone.evaluate(TABLE_SCROLLS)
    assert phone.evaluate(NO_PAGE_OVERFLOW) == {"document": 0, "page": 0}
    phone.locator("#hf-table-wrap").scroll_into_view_if_needed()
    shoot(phone, tmp_path, "hf-tab-390.png", copy_to="/tmp/hf-tab-390.png")
    phone.locator(".hf-accounts-card").scroll_into_view_if_needed()
    shoot(phone, tmp_path, "hf-tab-accounts-390.png")
    assert phone.evaluate(NO_PAGE_OVERFLOW) == {"document": 0, "page": 0}
    assert not phone_problems, phone_problems


def test_import_all_imports_what_it_can_and_says_what_it_could_not(hf_web: Web) -> None:
    """One click for ``hfgate hf import-all``: the custom container is skipped, the failed
    endpoint cannot be imported and the toast says why, nothing is imported twice."""
    page, problems = open_page(hf_web, "/integrations")
    page.get_by_role("tab", name="Hugging Face").click()
    expect(row(page, BROKEN)).to_be_visible()
    page.locator("#hf-import-all").click()
    confirm(page, "Import all", "Import every endpoint")
    toast = page.locator(".toast").last
    expect(toast).to_contain_text("Imported 0")
    expect(toast).to_contain_text("skipped")
    expect(toast).to_contain_text(f"{NAMESPACE}/{BROKEN}")
    assert problems == []
    page.close()


def test_precise_errors_keyboard_tabs_and_disconnect(hf_web: Web) -> None:
    web = hf_web
    with web.api() as client:
        if not client.get("/api/hf/accounts").json()["data"]:
            reply = client.post("/api/hf/accounts", json={"token": SIM_TOKEN})
            assert reply.status_code == 201, reply.text
    page, _ = open_page(web, "/integrations")

    # The tabs work from the keyboard (arrow keys move between them).
    first = page.get_by_role("tab", name="Paste a credential")
    first.focus()
    page.keyboard.press("ArrowRight")
    hf = page.get_by_role("tab", name="Hugging Face")
    expect(hf).to_be_focused()
    expect(hf).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-hf")).to_be_visible()

    # A token Hugging Face refuses, and a namespace the token cannot list: said precisely.
    page.get_by_label("Token", exact=True).fill("hf_refused_by_hugging_face_0123456789")
    page.get_by_role("button", name="Connect", exact=True).click()
    error = page.locator("#hf-connect-error")
    expect(error).to_contain_text("rejected the token")
    expect(page.get_by_label("Token", exact=True)).to_be_focused()
    page.get_by_label("Token", exact=True).fill(SIM_TOKEN)
    page.get_by_label("Namespace (optional)").fill("someone-else")
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(error).to_contain_text("someone-else")
    assert SIM_TOKEN not in (error.text_content() or "")
    expect(page.locator(".hf-account")).to_have_count(1)

    # Hugging Face down: the namespaces it could not list are named above the table.
    web.sims["hf"].patch(management_down=True)
    try:
        page.get_by_role("button", name="Refresh").click()
        errors = page.locator("#hf-errors")
        expect(errors).to_be_visible()
        expect(errors).to_contain_text(NAMESPACE)
        expect(errors).to_contain_text("try again")
    finally:
        web.sims["hf"].patch(management_down=False)
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("#hf-errors")).to_be_hidden()
    expect(row(page, served_name(web))).to_be_visible()

    # Disconnect asks first; the imported model stays.
    before = [i["name"] for i in page.context.request.get("/api/integrations").json()["data"]]
    page.get_by_role("button", name="Disconnect sim-user").click()
    confirm(page, "Disconnect", "forgets this token")
    expect(page.locator(".hf-account")).to_have_count(0)
    expect(page.locator("#hf-empty")).to_contain_text("Connect an account")
    after = [i["name"] for i in page.context.request.get("/api/integrations").json()["data"]]
    assert after == before
